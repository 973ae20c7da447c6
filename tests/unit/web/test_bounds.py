"""Bad numbers are 422 problem documents, never 500s (issue 7, finding 5).

``offset=9223372036854775808`` on messages, records and audit entries, and that
index on the inclusion-proof route, answered 500 (``OverflowError`` in the
database driver). Every numeric parameter is now bounded: the routes are read
from the OpenAPI document, so a new numeric parameter is covered the moment it
exists, and each is sent 2**63, -1 and a number far past 64 bits.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from accord.audit.errors import WitnessBadRequest
from accord.audit.witness import parse_add_checkpoint
from accord.bootstrap import Node
from accord.crypto.note import Checkpoint as NoteCheckpoint
from accord.crypto.note import NoteSigner, sign_checkpoint
from accord.parties.domain import Role
from accord.web.app import create_app
from accord.web.bounds import MAX_OFFSET, MAX_TREE_INDEX
from tests.factories.officers import make_officer

BAD = [2**63, -1, 10**30, -(2**64)]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "agreements"


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


@pytest.fixture
def headers(node: Node, client: TestClient) -> dict[str, str]:
    """An officer holding every role, so that no route refuses it before validation."""
    o = make_officer(node, "everything", roles=[r.value for r in Role], clearance="H3")
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def assert_422(r: Any, name: str) -> None:
    assert r.status_code == 422, f"{r.request.url}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert doc["type"].endswith("/validation") and doc["status"] == 422
    assert any(e["loc"][-1] == name for e in doc["errors"]), doc


def _numeric(schema: dict[str, Any]) -> bool:
    kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
    return "integer" in kinds or "number" in kinds


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    for s in [schema, *schema.get("anyOf", [])]:
        if "minimum" in s or "maximum" in s:
            return s
    return {}


def _valid(schema: dict[str, Any]) -> str:
    s = _bounds(schema) or schema
    if "enum" in s:
        return str(s["enum"][0])
    if s.get("type") in ("integer", "number"):
        return str(s.get("minimum", 0))
    return "x1"


def numeric_parameters(app: Any) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, operation, parameter name) for every numeric query or path parameter."""
    found = []
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if _numeric(p["schema"]):
                    found.append((method.upper(), path, op, p["name"]))
    return found


def test_every_numeric_parameter_is_bounded_in_the_document(client: TestClient) -> None:
    params = numeric_parameters(client.app)
    assert len(params) >= 9
    unbounded = [f"{m} {p} {n}" for m, p, op, n in params
                 if not {"minimum", "maximum"} <= set(_bounds(
                     next(x for x in op["parameters"] if x["name"] == n)["schema"]))]
    assert not unbounded, unbounded


def test_every_numeric_parameter_refuses_out_of_range_with_422(
        client: TestClient, headers: dict[str, str]) -> None:
    checked = 0
    for (method, path, op, name), value in itertools.product(numeric_parameters(client.app), BAD):
        if path.startswith("/testing/"):
            continue
        query: dict[str, str] = {}
        url = path
        for p in op["parameters"]:
            text = str(value) if p["name"] == name else _valid(p["schema"])
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", text)
            elif p["name"] == name or p.get("required"):
                query[p["name"]] = text
        url = re.sub(r"\{[^}]+\}", "x1", url)
        r = client.request(method, url, params=query, headers=headers)
        assert_422(r, name)
        checked += 1
    assert checked >= 9 * len(BAD)


def test_the_reported_offset_is_a_problem_not_a_crash(client: TestClient,
                                                      headers: dict[str, str]) -> None:
    for path in ["/api/v1/messages", "/api/v1/records", "/api/v1/audit/entries"]:
        r = client.get(path, params={"offset": "9223372036854775808"}, headers=headers)
        assert_422(r, "offset")
        r = client.get(path, params={"offset": str(MAX_OFFSET)}, headers=headers)
        assert r.status_code == 200, r.text
        r = client.get(path, params={"offset": str(MAX_OFFSET + 1)}, headers=headers)
        assert_422(r, "offset")


def test_inclusion_proof_index_and_size(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/api/v1/audit/proof/inclusion/9223372036854775808", headers=headers)
    assert_422(r, "index")
    # The largest index is valid input: there is no such entry.
    r = client.get(f"/api/v1/audit/proof/inclusion/{MAX_TREE_INDEX}", headers=headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/api/v1/audit/proof/inclusion/0", params={"size": str(2**64)}, headers=headers)
    assert_422(r, "size")
    r = client.get("/api/v1/audit/proof/inclusion/0", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["index"] == 0


def test_consistency_proof_sizes(client: TestClient, headers: dict[str, str]) -> None:
    for params, name in [({"old": "-1"}, "old"), ({"old": str(2**63)}, "old"),
                         ({"old": "1", "new": str(2**63)}, "new")]:
        assert_422(client.get("/api/v1/audit/proof/consistency", params=params, headers=headers),
                   name)
    # In range but beyond the log: the domain's 422, not a crash.
    r = client.get("/api/v1/audit/proof/consistency", params={"old": str(MAX_TREE_INDEX)},
                   headers=headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_numbers_in_bodies_are_bounded(client: TestClient, headers: dict[str, str]) -> None:
    for days in [0, -1, 2**63, 10**30, 1.5]:
        r = client.post("/api/v1/tokens", headers=headers, json={"roles": ["officer"], "days": days})
        assert_422(r, "days")
    for seconds in [-1, 1e308, 2**64]:  # the test-mode clock
        assert_422(client.post("/testing/v1/clock", json={"seconds": seconds}), "seconds")


def test_stream_heartbeat_and_limit_are_bounded(client: TestClient, headers: dict[str, str]) -> None:
    for value in ["9223372036854775808", "-1", "1e400", "nan", "inf"]:
        r = client.get("/api/v1/messages/stream", params={"heartbeat": value}, headers=headers)
        assert_422(r, "heartbeat")
        if value.lstrip("-").isdigit():
            r = client.get("/api/v1/messages/stream", params={"limit": value}, headers=headers)
            assert_422(r, "limit")


def test_a_witnessed_tree_size_past_64_signed_bits_is_a_bad_request() -> None:
    """The add-checkpoint body (C2SP tlog-witness text, outside the OpenAPI document) carries
    sizes too: a note allows 2**64 - 1, the database holds 2**63 - 1."""
    key = Ed25519PrivateKey.generate()
    for old, size in [(0, 2**63), (2**63, 2**63), (0, 2**64 - 1)]:
        cp = NoteCheckpoint(origin="es-node/audit", size=size, root_hash=bytes(32))
        note = sign_checkpoint(cp, NoteSigner("es-node/audit", key))
        with pytest.raises(WitnessBadRequest):
            parse_add_checkpoint(f"old {old}\n\n{note}".encode())
    cp = NoteCheckpoint(origin="es-node/audit", size=MAX_TREE_INDEX, root_hash=bytes(32))
    note = sign_checkpoint(cp, NoteSigner("es-node/audit", key))
    assert parse_add_checkpoint(f"old 0\n\n{note}".encode()).checkpoint.size == MAX_TREE_INDEX


def test_instants_out_of_range_are_problems_not_crashes(node: Node, client: TestClient,
                                                       headers: dict[str, str]) -> None:
    """An offset that leaves datetime's range, or a far year, was a 500 (OverflowError, or a
    naive datetime handed to the database); now 422, and a naive time means UTC."""
    for params in [{"since": "0001-01-01T00:00:00+23:59"}, {"until": "9999-12-31T23:59:59-23:59"},
                   {"since": "0001-01-01"}, {"until": "9999-12-31T23:59:59"}]:
        assert_422(client.get("/api/v1/audit/entries", params=params, headers=headers),
                   next(iter(params)))
    r = client.get("/api/v1/audit/entries", params={"since": "2026-03-02T08:00:00"}, headers=headers)
    assert r.status_code == 200 and r.json(), r.text  # the login above, at 09:00 UTC
    r = client.get("/api/v1/audit/entries", params={"since": "2026-03-02T10:00:00"}, headers=headers)
    assert r.status_code == 200, r.text
    assert all(e["at"] >= "2026-03-02T10:00:00" for e in r.json())
    shutil.copytree(EXAMPLES, node.settings.resolved_agreements_dir, dirs_exist_ok=True)
    ask = {"from": "ES-PN", "to": "MA-DGSN", "action": "message", "purpose": "investigation",
           "categories": "person", "crime_area": "0601", "handling": "H2"}
    for at in ["9999-12-31", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1066-10-14"]:
        r = client.get("/api/v1/policy/explain", params={**ask, "at": at}, headers=headers)
        assert r.status_code == 422 and r.json()["field"] == "at", (at, r.text)
    r = client.get("/api/v1/policy/explain", params={**ask, "at": "2030-01-01"}, headers=headers)
    assert r.status_code == 200 and r.json()["decision"]["allowed"] is True, r.text
