"""Enrolment: the TOTP secret is shown once, to the officer, never to the admin.

An admin creates an officer and gets a one-time enrolment code; the officer
sends it with a password of their choosing to ``POST /auth/enrolment`` and
gets the TOTP secret (and its otpauth URI). Every refused enrolment is one
answer; the reason is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.web.app import create_app
from tests.factories.officers import make_officer

PASSWORD = "my own long passphrase"


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


@pytest.fixture
def admin(client: TestClient, node: Node) -> dict[str, str]:
    o = make_officer(node, "admin", roles=["admin"], clearance="H2")
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def create(client: TestClient, admin: dict[str, str], username: str = "garcia") -> dict[str, Any]:
    r = client.post("/api/v1/officers", headers=admin, json={
        "username": username, "display_name": username.title(), "agency_id": "ES-PN",
        "roles": ["officer"], "clearance": "H2"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def enrol(client: TestClient, code: str, username: str = "garcia",
          password: str = PASSWORD) -> Any:
    return client.post("/auth/enrolment", json={"username": username, "enrolment_code": code,
                                                "password": password})


def actions(node: Node, action: str) -> list[Any]:
    with node.uow() as s:
        return node.audit.query(s, action=action, limit=1000)


def test_admin_gets_a_code_the_officer_gets_the_secret(client: TestClient, node: Node,
                                                       admin: dict[str, str]) -> None:
    created = create(client, admin)
    assert "totp_secret" not in created and "password" not in created
    assert created["enrolled_at"] is None and created["enrolment_expires_at"]
    assert len(created["enrolment_code"].replace("-", "")) == 20
    r = enrol(client, created["enrolment_code"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    secret = r.json()["totp_secret"]
    uri = urlparse(r.json()["provisioning_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [secret]
    assert "garcia" in uri.path
    # The officer logs in with the password they chose and their authenticator's code.
    r = client.post("/auth/login", json={"username": "garcia", "password": PASSWORD,
                                         "totp": pyotp.TOTP(secret).at(node.now())})
    assert r.status_code == 200, r.text
    # The admin sees the officer enrolled, and never the secret.
    record = client.get("/api/v1/officers/garcia", headers=admin).json()
    assert record["enrolled_at"] is not None and record["enrolment_expires_at"] is None
    assert secret not in str(record)
    # Nowhere in the audit trail either.
    with node.uow() as s:
        assert all(secret not in str(e.detail) for e in node.audit.query(s, limit=1000))
    assert len(actions(node, Action.ENROLMENT_OK)) == 2  # the admin's (factory) and garcia's


def test_the_code_is_good_once(client: TestClient, node: Node, admin: dict[str, str]) -> None:
    code = create(client, admin)["enrolment_code"]
    assert enrol(client, code).status_code == 200
    again = enrol(client, code, password="another long passphrase")
    assert again.status_code == 401 and again.json()["type"].endswith("/enrolment-failed")
    [failed] = actions(node, Action.ENROLMENT_FAILED)
    assert failed.detail["reason"].startswith("no enrolment pending")


def test_every_refused_enrolment_is_one_answer(client: TestClient, node: Node,
                                               admin: dict[str, str], clock: ManualClock) -> None:
    code = create(client, admin)["enrolment_code"]
    late = create(client, admin, "late")["enrolment_code"]
    answers = {
        "wrong code": enrol(client, "AAAA-BBBB-CCCC-DDDD-EEEE"),
        "unknown user": enrol(client, code, username="nobody"),
    }
    clock.advance(timedelta(hours=node.settings.enrolment_hours, seconds=1))
    answers["code expired"] = enrol(client, late, username="late")
    bodies = [(r.status_code, {k: v for k, v in r.json().items() if k != "instance"})
              for r in answers.values()]
    assert all(b == bodies[0] for b in bodies) and bodies[0][0] == 401
    assert sorted(e.detail["reason"] for e in actions(node, Action.ENROLMENT_FAILED)) == \
        sorted(answers)


def test_login_before_enrolment_fails_like_any_other(client: TestClient, node: Node,
                                                     admin: dict[str, str]) -> None:
    create(client, admin)
    r = client.post("/auth/login", json={"username": "garcia", "password": PASSWORD,
                                         "totp": "123456"})
    assert r.status_code == 401 and r.json()["type"].endswith("/login-failed")
    assert len(actions(node, Action.LOGIN_NOT_ENROLLED)) == 1


def test_a_short_password_is_refused_before_anything(client: TestClient, node: Node,
                                                     admin: dict[str, str]) -> None:
    code = create(client, admin)["enrolment_code"]
    assert enrol(client, code, password="short").status_code == 422
    assert enrol(client, code).status_code == 200  # the code was not spent


def test_reset_ends_the_login_and_issues_a_new_code(client: TestClient, node: Node,
                                                    admin: dict[str, str], clock: ManualClock) -> None:
    o = make_officer(node, "garcia", clearance="H1")
    r = client.post("/auth/login", json={"username": "garcia", "password": o.password,
                                         "totp": o.code(node)})
    session = {"Authorization": f"Bearer {r.json()['token']}"}
    t = client.post("/api/v1/tokens", headers=session, json={"roles": ["officer"], "days": 5})
    assert t.status_code == 201, t.text
    machine = {"Authorization": f"Bearer {t.json()['token']}"}
    assert client.get("/api/v1/me", headers=machine).status_code == 200
    reset = client.post("/api/v1/officers/garcia/enrolment", headers=admin)
    assert reset.status_code == 200, reset.text
    assert reset.json()["enrolled_at"] is None and "totp_secret" not in reset.json()
    assert client.get("/api/v1/me", headers=session).status_code == 401  # its sessions ended
    assert client.get("/api/v1/me", headers=machine).status_code == 401  # and its API tokens
    clock.advance(timedelta(seconds=30))
    r = client.post("/auth/login", json={"username": "garcia", "password": o.password,
                                         "totp": o.code(node)})
    assert r.status_code == 401  # the old password and secret are gone
    r = enrol(client, reset.json()["enrolment_code"])
    assert r.status_code == 200 and r.json()["totp_secret"] != o.totp_secret
    assert len(actions(node, Action.OFFICER_ENROLMENT_RESET)) == 1


def test_enrolment_route_is_public_and_documented(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/auth/enrolment" in schema["paths"]
    created = schema["components"]["schemas"]["OfficerEnrolment"]["properties"]
    assert "enrolment_code" in created and "totp_secret" not in created
