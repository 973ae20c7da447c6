"""GET /api/v1/policy/explain: the node's PDP, explained and audited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.web.app import create_app
from tests.factories.officers import make_officer

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agreements"
ASK = {"from": "ES-PN", "to": "MA-DGSN", "action": "message", "crime_area": "0601",
       "handling": "H2", "purpose": "investigation"}


@pytest.fixture
def client(node: Node) -> TestClient:
    shutil.copytree(EXAMPLES, node.settings.resolved_agreements_dir, dirs_exist_ok=True)
    return TestClient(create_app(node, background=False))


@pytest.fixture
def headers(node: Node, client: TestClient) -> dict[str, str]:
    o = make_officer(node, "garcia", roles=["legal"])
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def decisions(node: Node) -> list:
    with node.uow() as s:
        return node.audit.query(s, action=Action.POLICY_DECISION)


def test_allow_names_the_clause_and_the_obligations(client: TestClient, node: Node,
                                                    headers: dict[str, str]) -> None:
    r = client.get("/api/v1/policy/explain", headers=headers,
                   params={**ASK, "categories": "person,phone"})
    assert r.status_code == 200, r.text
    d = r.json()["decision"]
    assert d["allowed"] is True and d["code"] == "allowed"
    assert d["basis"] == {"agreement_id": "es-ma-police", "version": 2, "clause_id": "art-3"}
    assert d["obligations"]["no_onward_transfer"] is True
    assert d["obligations"]["notify_owner"] is True
    assert d["obligations"]["delete_by"].startswith("2029-03-02")  # P3Y from the node's now
    req = r.json()["request"]
    assert req["actor"]["agency"] == "ES-PN" and req["actor"]["officer"] == "ES-PN/garcia"
    assert req["resource"]["categories"] == ["person", "phone"]
    [entry] = decisions(node)
    assert entry.actor == "ES-PN/garcia" and entry.outcome == "allow"
    assert entry.basis == "es-ma-police@2#art-3" and entry.detail["side"] == "local"
    assert entry.object == "flow:ES-PN->MA-DGSN:message"


def test_deny_gives_the_code_and_the_reason(client: TestClient, node: Node,
                                            headers: dict[str, str]) -> None:
    r = client.get("/api/v1/policy/explain", headers=headers,
                   params={**ASK, "categories": "person,account"})
    assert r.status_code == 200
    d = r.json()["decision"]
    assert d["allowed"] is False and d["code"] == "category-not-granted"
    assert "account" in d["reason"] and d["obligations"] is None
    assert decisions(node)[0].outcome == "deny"


@pytest.mark.parametrize(("change", "code"), [
    ({"to": "US-FBI"}, "no-agreement"),
    ({"at": "2018-06-01"}, "not-yet-valid"),
    ({"crime_area": "0101"}, "crime-area-not-granted"),
    ({"handling": "H3"}, "handling-too-high"),
    ({"purpose": "prosecution"}, "purpose-not-granted"),
    ({"action": "evidence-transfer"}, "action-not-granted"),
    ({"clearance": "H1"}, "clearance-too-low"),
    ({"to": "XX-NOPE"}, "unknown-actor"),
])
def test_each_failing_condition_is_explained(client: TestClient, headers: dict[str, str],
                                             change: dict[str, str], code: str) -> None:
    r = client.get("/api/v1/policy/explain", headers=headers,
                   params={**ASK, "categories": "person", **change})
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["code"] == code
    assert r.json()["decision"]["reason"].startswith("Denied")


def test_at_is_honoured(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/api/v1/policy/explain", headers=headers,
                   params={**ASK, "categories": "person", "at": "2020-06-01T10:00:00"})
    d = r.json()["decision"]
    assert d["basis"]["version"] == 1
    assert r.json()["request"]["at"] == "2020-06-01T10:00:00+00:00"


@pytest.mark.parametrize("bad", [{"categories": "person,spaceship"}, {"action": "hug"},
                                 {"purpose": "curiosity"}, {"handling": "H5"},
                                 {"at": "yesterday"}])
def test_bad_questions_are_problems(client: TestClient, headers: dict[str, str],
                                    bad: dict[str, str]) -> None:
    r = client.get("/api/v1/policy/explain", headers=headers, params={**ASK, **bad})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_needs_a_login(client: TestClient, node: Node) -> None:
    assert client.get("/api/v1/policy/explain", params=ASK).status_code == 401
    o = make_officer(node, "nobody", roles=["officer"])
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/policy/explain", headers=h,
                      params={**ASK, "categories": "person"}).status_code == 200
