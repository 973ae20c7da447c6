"""Login, sessions and tokens: each failure has its own problem document and audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.web.app import create_app
from tests.factories.officers import OfficerHandle, make_officer


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


def audit_actions(node: Node) -> list[str]:
    with node.uow() as s:
        return [e.action for e in node.audit.query(s, limit=1000)]


def login(client: TestClient, node: Node, o: OfficerHandle, *, password: str | None = None,
          totp: str | None = None) -> dict:
    r = client.post("/auth/login", json={"username": o.username, "password": password or o.password,
                                         "totp": totp or o.code(node)})
    return {"status": r.status_code, "body": r.json(), "ctype": r.headers["content-type"]}


def assert_problem(result: dict, status: int, slug: str) -> None:
    assert result["status"] == status, result
    assert result["ctype"].startswith("application/problem+json")
    assert result["body"]["type"].endswith("/" + slug)
    assert result["body"]["status"] == status
    assert result["body"]["detail"]


def test_login_ok_and_me(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    r = login(client, node, o)
    assert r["status"] == 200
    token = r["body"]["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "garcia"
    assert Action.LOGIN_OK in audit_actions(node)


def test_wrong_password(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    assert_problem(login(client, node, o, password="wrong password!!"), 401, "wrong-password")
    assert Action.LOGIN_WRONG_PASSWORD in audit_actions(node)


def test_unknown_user_looks_like_wrong_password(client: TestClient, node: Node) -> None:
    r = client.post("/auth/login", json={"username": "nobody", "password": "x" * 12, "totp": "123456"})
    assert r.status_code == 401 and r.json()["type"].endswith("/wrong-password")
    assert Action.LOGIN_WRONG_PASSWORD in audit_actions(node)


def test_wrong_totp(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    good = o.code(node)
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    assert_problem(login(client, node, o, totp=bad), 401, "wrong-totp")
    assert Action.LOGIN_WRONG_TOTP in audit_actions(node)


def test_five_failures_lock_for_ten_minutes(client: TestClient, node: Node, clock: ManualClock) -> None:
    o = make_officer(node)
    for _ in range(5):
        assert_problem(login(client, node, o, password="wrong password!!"), 401, "wrong-password")
    # Locked now, even with the right password and code.
    locked = login(client, node, o)
    assert_problem(locked, 423, "account-locked")
    assert "locked_until" in locked["body"]
    assert Action.LOGIN_LOCKED in audit_actions(node)
    clock.advance(timedelta(minutes=9, seconds=50))
    assert_problem(login(client, node, o), 423, "account-locked")
    clock.advance(timedelta(seconds=11))
    assert login(client, node, o)["status"] == 200


def test_session_expires_after_30_minutes_idle(client: TestClient, node: Node, clock: ManualClock) -> None:
    o = make_officer(node)
    token = login(client, node, o)["body"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(timedelta(minutes=29))
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # activity renews
    clock.advance(timedelta(minutes=29))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=30, seconds=1))
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["type"].endswith("/session-expired")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert Action.SESSION_EXPIRED in audit_actions(node)
    # An expired session stays dead.
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["type"].endswith("/not-authenticated")


def _admin_token(client: TestClient, node: Node) -> dict[str, str]:
    admin = make_officer(node, "admin", roles=["admin"])
    return {"Authorization": f"Bearer {login(client, node, admin)['body']['token']}"}


def test_expired_api_token(client: TestClient, node: Node, clock: ManualClock) -> None:
    headers = _admin_token(client, node)
    make_officer(node, "robot", roles=["officer", "dpo"])
    r = client.post("/api/v1/tokens", headers=headers,
                    json={"username": "robot", "roles": ["dpo"], "days": 1})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    with node.uow() as s:  # only the hash is stored
        from accord.parties.models import ApiToken

        stored = s.get(ApiToken, r.json()["id"])
        assert stored is not None and token not in stored.token_hash
    machine = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/audit/entries", headers=machine).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    r = client.get("/api/v1/audit/entries", headers=machine)
    assert r.status_code == 401 and r.json()["type"].endswith("/token-expired")
    assert Action.TOKEN_EXPIRED in audit_actions(node)


def test_out_of_scope_api_token(client: TestClient, node: Node) -> None:
    headers = _admin_token(client, node)
    make_officer(node, "robot", roles=["officer", "dpo"])
    r = client.post("/api/v1/tokens", headers=headers,
                    json={"username": "robot", "roles": ["officer"], "days": 5})
    machine = {"Authorization": f"Bearer {r.json()['token']}"}
    # The officer holds dpo, but the token is scoped to officer only.
    r = client.get("/api/v1/audit/entries", headers=machine)
    assert r.status_code == 403 and r.json()["type"].endswith("/token-out-of-scope")
    assert Action.TOKEN_OUT_OF_SCOPE in audit_actions(node)


def test_token_cannot_exceed_officer_roles(client: TestClient, node: Node) -> None:
    headers = _admin_token(client, node)
    make_officer(node, "robot", roles=["officer"])
    r = client.post("/api/v1/tokens", headers=headers,
                    json={"username": "robot", "roles": ["admin"], "days": 5})
    assert r.status_code == 422 and r.json()["type"].endswith("/validation")


def test_role_denied_is_audited(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    token = login(client, node, o)["body"]["token"]
    r = client.get("/api/v1/audit/entries", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    assert Action.ROLE_DENIED in audit_actions(node)


def test_logout_ends_session(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    headers = {"Authorization": f"Bearer {login(client, node, o)['body']['token']}"}
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_garbage_credentials(client: TestClient) -> None:
    for value in ("Bearer nonsense", "Bearer acs_nope", "Bearer act_nope", "Basic abc"):
        r = client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
