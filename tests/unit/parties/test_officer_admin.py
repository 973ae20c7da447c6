"""Issue 7, finding 3: an admin cannot act as another officer.

The attack as reported: an H0 admin got an API token for an H3 analyst, read an
H3 record with it (the audit trail showing the analyst), and created an H3
officer, in its own agency and in another agency of the node, receiving the new
officer's TOTP secret. Each step is refused now, the refusals are audited, and
every audit entry names the session or token that acted.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.auth import services as auth
from accord.bootstrap import Node
from accord.errors import PermissionDenied
from accord.parties.models import ApiToken
from accord.records.domain import Reader
from accord.records.services import create_record
from accord.web.app import create_app
from tests.factories.officers import OfficerHandle, make_officer

H3_META = {"handling": "H3", "source_reliability": "B", "info_credibility": "2",
           "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
           "retention_until": "2031-01-01", "cases": ["ES-2026-001"], "provenance": "test"}


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


def headers_of(client: TestClient, node: Node, o: OfficerHandle) -> dict[str, str]:
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def new_officer(agency: str = "ES-PN", clearance: str = "H0", username: str = "mole",
                roles: list[str] | None = None) -> dict[str, Any]:
    return {"username": username, "display_name": username.title(), "agency_id": agency,
            "roles": roles or ["analyst"], "clearance": clearance}


def entries(node: Node, action: str) -> list[Any]:
    with node.uow() as s:
        return node.audit.query(s, action=action, limit=1000)


@pytest.fixture
def admin(client: TestClient, node: Node) -> dict[str, str]:
    """The H0 admin of ES-PN from the report."""
    return headers_of(client, node, make_officer(node, "admin", roles=["admin"], clearance="H0"))


def test_the_reported_attack_fails(client: TestClient, node: Node, admin: dict[str, str]) -> None:
    make_officer(node, "analyst", roles=["analyst"], clearance="H3")
    # 1. A token for the analyst: the request cannot name another officer.
    r = client.post("/api/v1/tokens", headers=admin,
                    json={"username": "analyst", "roles": ["analyst"], "days": 30})
    assert r.status_code == 422, r.text
    with node.uow() as s:
        assert s.query(ApiToken).count() == 0
    # 2. An H3 officer in its own agency: above the admin's clearance.
    r = client.post("/api/v1/officers", headers=admin, json=new_officer(clearance="H3"))
    assert r.status_code == 403 and r.json()["reason"] == "clearance-above-own", r.text
    # 3. An officer in another agency of the node, even at H0.
    r = client.post("/api/v1/officers", headers=admin, json=new_officer("ES-SVA"))
    assert r.status_code == 403 and r.json()["reason"] == "other-agency", r.text
    # Neither was created; both refusals are audited with the admin's session.
    with node.uow() as s:
        from accord.parties.models import Officer

        assert s.query(Officer).filter(Officer.username == "mole").count() == 0
    denied = entries(node, Action.OFFICER_DENIED)
    assert [(e.actor, e.detail["attempt"], e.detail["reason"]) for e in denied] == [
        ("ES-PN/admin", Action.OFFICER_CREATED, "clearance-above-own"),
        ("ES-PN/admin", Action.OFFICER_CREATED, "other-agency")]
    assert all(e.credential.startswith("session:") for e in denied)
    # 4. What it may do: an officer of its agency at its clearance — with no secret in sight.
    r = client.post("/api/v1/officers", headers=admin, json=new_officer())
    assert r.status_code == 201, r.text
    assert "totp_secret" not in r.json() and r.json()["enrolment_code"]


def test_the_service_refuses_a_token_for_someone_else(node: Node) -> None:
    admin = make_officer(node, "admin", roles=["admin"], clearance="H0")
    make_officer(node, "analyst", roles=["analyst"], clearance="H3")
    client = TestClient(create_app(node, background=False))
    token = headers_of(client, node, admin)["Authorization"].removeprefix("Bearer ")
    principal = auth.authenticate(node, token)
    with node.uow() as s, pytest.raises(PermissionDenied, match="only for oneself"):
        auth.create_api_token(node, s, by=principal, username="analyst", roles=["admin"], days=1)


def test_an_admin_manages_only_its_agency(client: TestClient, node: Node,
                                          admin: dict[str, str]) -> None:
    make_officer(node, "vega", agency="ES-SVA", clearance="H0")
    make_officer(node, "garcia", agency="ES-PN", clearance="H0")
    assert [o["username"] for o in client.get("/api/v1/officers", headers=admin).json()] == \
        ["admin", "garcia"]
    for method, path in (("GET", "/api/v1/officers/vega"),
                         ("GET", "/api/v1/officers?agency=ES-SVA"),
                         ("POST", "/api/v1/officers/vega/unlock"),
                         ("POST", "/api/v1/officers/vega/enrolment")):
        r = client.request(method, path, headers=admin)
        assert r.status_code == 403 and r.json()["reason"] == "other-agency", (path, r.text)
    assert client.post("/api/v1/officers/garcia/unlock", headers=admin).status_code == 200
    assert len(entries(node, Action.OFFICER_DENIED)) == 4


def test_an_admin_cannot_take_over_a_higher_cleared_account(client: TestClient, node: Node,
                                                            admin: dict[str, str]) -> None:
    """Resetting an enrolment hands out a code that logs in as the officer: the same rule as
    creating one applies (its agency, a clearance no higher than the admin's)."""
    make_officer(node, "analyst", roles=["analyst"], clearance="H3")
    r = client.post("/api/v1/officers/analyst/enrolment", headers=admin)
    assert r.status_code == 403 and r.json()["reason"] == "clearance-above-own"


def test_only_a_node_admin_grants_node_admin(client: TestClient, node: Node) -> None:
    root = headers_of(client, node, make_officer(node, "root", roles=["node-admin"],
                                                 clearance="H2"))
    admin = headers_of(client, node, make_officer(node, "admin", roles=["admin"], clearance="H2"))
    r = client.post("/api/v1/officers", headers=admin,
                    json=new_officer(roles=["node-admin"]))
    assert r.status_code == 403 and r.json()["reason"] == "role-above-own"
    # A node-admin acts for every agency of the node, still within its clearance.
    r = client.post("/api/v1/officers", headers=root, json=new_officer("ES-SVA", "H2"))
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/officers", headers=root, json=new_officer("ES-SVA", "H3", "x"))
    assert r.status_code == 403 and r.json()["reason"] == "clearance-above-own"
    names = {o["username"] for o in client.get("/api/v1/officers", headers=root).json()}
    assert {"root", "admin", "mole"} <= names
    assert client.get("/api/v1/officers/mole", headers=root).status_code == 200


def test_keys_of_another_agency_or_the_node_take_a_node_admin(client: TestClient, node: Node,
                                                              admin: dict[str, str]) -> None:
    for owner in ("ES-SVA", node.settings.node_id):
        r = client.post("/api/v1/keys/rotate", headers=admin, json={"owner": owner})
        assert r.status_code == 403, r.text
    assert client.post("/api/v1/keys/rotate", headers=admin, json={"owner": "ES-PN"}).status_code == 200
    root = headers_of(client, node, make_officer(node, "root", roles=["node-admin"]))
    assert client.post("/api/v1/keys/rotate", headers=root, json={"owner": "ES-SVA"}).status_code == 200


def test_every_audit_entry_names_the_credential(client: TestClient, node: Node) -> None:
    """The H3 record read from the report: the entry names the session, or the token, that read."""
    analyst = make_officer(node, "analyst", roles=["analyst"], clearance="H3")
    record = create_record(node, {"id": "p-h3", "schema": "Person",
                                  "properties": {"name": ["Ana Ruiz"]}},
                           {**H3_META, "owner": "ES-PN"}, reader=Reader.operator("test"))
    session = headers_of(client, node, analyst)
    assert client.get(f"/api/v1/records/{record.id}", headers=session).status_code == 200
    r = client.post("/api/v1/tokens", headers=session, json={"roles": ["analyst"], "days": 1})
    assert r.status_code == 201, r.text
    token_id, token = r.json()["id"], r.json()["token"]
    machine = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/records/{record.id}", headers=machine).status_code == 200
    reads = entries(node, Action.RECORD_READ)
    assert [e.actor for e in reads] == ["ES-PN/analyst", "ES-PN/analyst"]
    [login_ok] = [e for e in entries(node, Action.LOGIN_OK) if e.actor == "ES-PN/analyst"]
    assert login_ok.credential.startswith("session:")
    assert [e.credential for e in reads] == [login_ok.credential, f"token:{token_id}"]
    [created] = entries(node, Action.TOKEN_CREATED)
    assert created.credential == login_ok.credential
    # And the API shows it to the DPO.
    dpo = headers_of(client, node, make_officer(node, "dpo", roles=["dpo"]))
    shown = client.get("/api/v1/audit/entries", headers=dpo,
                       params={"action": Action.RECORD_READ}).json()
    assert [e["credential"] for e in shown] == [login_ok.credential, f"token:{token_id}"]
    # The log still verifies (the credential is part of each leaf).
    with node.uow() as s:
        assert node.audit.verify(s).ok
