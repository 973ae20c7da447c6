"""The OpenAPI document tells the truth (issue 7, finding 7).

It documents the problem responses each route can give, as the document the
server actually sends (application/problem+json, the ``Problem`` schema), enums
as enums, and the same bounds the server enforces. Routes are read from the
document itself, so a new route is held to this the moment it exists.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from accord.agreements import Action, Handling, Purpose
from accord.auth.permissions import roles_granting
from accord.bootstrap import Node
from accord.exchange.domain import Priority
from accord.parties.domain import Role
from accord.web.app import create_app
from accord.web.bounds import MAX_OFFSET, MAX_TREE_INDEX
from accord.web.openapi import permission_of, walk_routes
from tests.factories.officers import make_officer

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def app(node: Node) -> Any:
    return create_app(node, background=False)


@pytest.fixture
def doc(app: Any) -> dict[str, Any]:
    return dict(app.openapi())


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def documents_problem(op: dict[str, Any], status: int) -> bool:
    response = op["responses"].get(str(status))
    if response is None:
        return False
    return bool(response.get("content") == {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}})


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def enum_of(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The enum a (possibly referenced, nullable or array) schema allows."""
    schema = resolve(doc, schema)
    if "enum" in schema:
        return set(schema["enum"])
    if "items" in schema:
        return enum_of(doc, schema["items"])
    for branch in schema.get("anyOf", []):
        if resolve(doc, branch).get("type") != "null":
            return enum_of(doc, branch)
    return set()


def prop(doc: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][model]["properties"][name])


def param(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    op = doc["paths"][path][method.lower()]
    return dict(next(p for p in op["parameters"] if p["name"] == name)["schema"])


def test_every_authenticated_operation_documents_401(doc: dict[str, Any]) -> None:
    api = [(m, p, op) for m, p, op in operations(doc) if p.startswith("/api/v1")]
    assert len(api) >= 25
    assert not [f"{m} {p}" for m, p, op in api if not op.get("security")]
    missing = [f"{m} {p}" for m, p, op in operations(doc)
               if op.get("security") and not documents_problem(op, 401)]
    assert not missing, missing


def test_login_documents_its_one_failure_answer(doc: dict[str, Any]) -> None:
    assert documents_problem(doc["paths"]["/auth/login"]["post"], 401)


def test_permission_routes_document_403(app: Any, doc: dict[str, Any]) -> None:
    routes = {(r.path, m): r for r in walk_routes(app.routes) if isinstance(r, APIRoute)
              for m in r.methods}
    checked = 0
    for method, path, op in operations(doc):
        route = routes.get((path, method))
        permission = None if route is None else permission_of(route)
        if permission is None or set(roles_granting(permission)) == set(Role):
            continue
        assert documents_problem(op, 403), f"{method} {path} needs {permission} but has no 403"
        checked += 1
    assert checked >= 20


def test_every_operation_with_input_documents_422_as_a_problem(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        if op.get("parameters") or op.get("requestBody"):
            assert documents_problem(op, 422), f"{method} {path}"
        if "{" in path:
            assert documents_problem(op, 404), f"{method} {path}"
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert documents_problem(op, int(status)), f"{method} {path} {status}"
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert "HTTPValidationError" not in str(doc)


def test_conflicts_are_documented_where_they_occur(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert documents_problem(paths["/api/v1/records"]["post"], 409)
    assert documents_problem(paths["/api/v1/messages/{message_id}/recipients/{agency}/retry"]["post"],
                             409)
    assert documents_problem(paths["/api/v1/officers"]["post"], 409)
    for peer_call in (paths["/api/v1/peers"]["post"], paths["/api/v1/peers/{node_id}/refresh"]["post"]):
        for status in (400, 409, 502):  # fingerprint, a claimed agency, the peer itself
            assert documents_problem(peer_call, status), status
    envelopes = paths["/federation/v1/envelopes"]["post"]
    for status in (400, 403, 409, 413, 422):
        assert documents_problem(envelopes, status), status


def test_problem_schema_names_the_standard_and_extension_members(doc: dict[str, Any]) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"type", "title", "status", "detail", "instance", "errors", "field", "reason",
            "basis", "permission", "handling", "clearance"} <= set(problem["properties"])
    assert problem["additionalProperties"] is True
    assert problem["properties"]["status"]["minimum"] == 400


def test_enums_are_enums(doc: dict[str, Any]) -> None:
    roles = {r.value for r in Role}
    handling = {h.value for h in Handling}
    assert enum_of(doc, prop(doc, "OfficerCreate", "roles")) == roles
    assert enum_of(doc, prop(doc, "OfficerPublic", "roles")) == roles
    assert enum_of(doc, prop(doc, "Me", "roles")) == roles
    assert enum_of(doc, prop(doc, "TokenCreate", "roles")) == roles
    assert enum_of(doc, prop(doc, "OfficerCreate", "clearance")) == handling
    assert enum_of(doc, prop(doc, "OfficerPublic", "clearance")) == handling
    assert enum_of(doc, prop(doc, "Me", "clearance")) == handling
    assert enum_of(doc, prop(doc, "RecordPublic", "handling")) == handling
    assert handling <= enum_of(doc, prop(doc, "MetaIn", "handling"))
    assert enum_of(doc, prop(doc, "MessageCreate", "handling")) == handling
    assert enum_of(doc, prop(doc, "MessageSummary", "handling")) == handling
    assert enum_of(doc, prop(doc, "MessageCreate", "priority")) == {p.value for p in Priority}
    assert enum_of(doc, prop(doc, "MessageSummary", "priority")) == {p.value for p in Priority}
    purposes = {p.value for p in Purpose}
    assert enum_of(doc, prop(doc, "MessageCreate", "purpose")) == purposes
    assert enum_of(doc, prop(doc, "RecordPublic", "purpose")) == purposes
    assert enum_of(doc, prop(doc, "MetaIn", "purpose")) == purposes
    assert enum_of(doc, param(doc, "GET", "/api/v1/records", "handling")) == handling
    assert enum_of(doc, param(doc, "GET", "/api/v1/records", "purpose")) == purposes
    assert enum_of(doc, param(doc, "GET", "/api/v1/messages", "box")) == {"inbox", "sent", "all"}
    explain = "/api/v1/policy/explain"
    assert enum_of(doc, param(doc, "GET", explain, "action")) == {a.value for a in Action}
    assert enum_of(doc, param(doc, "GET", explain, "purpose")) == purposes
    assert enum_of(doc, param(doc, "GET", explain, "handling")) == handling


def test_bounds_are_the_ones_enforced(doc: dict[str, Any]) -> None:
    for path in ("/api/v1/messages", "/api/v1/records", "/api/v1/audit/entries"):
        offset = param(doc, "GET", path, "offset")
        assert (offset["minimum"], offset["maximum"]) == (0, MAX_OFFSET), path
        assert param(doc, "GET", path, "limit")["minimum"] == 1, path
    index = param(doc, "GET", "/api/v1/audit/proof/inclusion/{index}", "index")
    assert (index["minimum"], index["maximum"]) == (0, MAX_TREE_INDEX)
    old = param(doc, "GET", "/api/v1/audit/proof/consistency", "old")
    assert (old["minimum"], old["maximum"]) == (0, MAX_TREE_INDEX)
    days = prop(doc, "TokenCreate", "days")
    assert (days["minimum"], days["maximum"]) == (1, 3650)


def _numbers_in(doc: dict[str, Any], schema: dict[str, Any], where: str,
                seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every integer or number schema reachable from ``schema`` (through refs, arrays, unions)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _numbers_in(doc, doc["components"]["schemas"][name], name, seen)
    found: list[tuple[str, dict[str, Any]]] = []
    if schema.get("type") in ("integer", "number"):
        found.append((where, schema))
    for key, sub in schema.get("properties", {}).items():
        found += _numbers_in(doc, sub, f"{where}.{key}", seen)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _numbers_in(doc, branch, where, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _numbers_in(doc, schema[key], f"{where}[]", seen)
    return found


def test_every_number_in_a_request_body_is_bounded(doc: dict[str, Any]) -> None:
    numbers: list[tuple[str, dict[str, Any]]] = []
    for method, path, op in operations(doc):
        for media in op.get("requestBody", {}).get("content", {}).values():
            numbers += _numbers_in(doc, media["schema"], f"{method} {path}", set())
    assert numbers, "no number in any body: this test would check nothing"
    unbounded = [where for where, s in numbers if not {"minimum", "maximum"} <= set(s)]
    assert not unbounded, unbounded


def test_the_served_document_is_the_amended_one(app: Any, doc: dict[str, Any]) -> None:
    served = TestClient(app).get("/api/v1/openapi.json").json()
    assert served == doc


def test_problems_actually_sent_match_the_documented_schema(node: Node, app: Any,
                                                            doc: dict[str, Any]) -> None:
    validator = Draft202012Validator({"$ref": PROBLEM_REF, "components": doc["components"]})
    client = TestClient(app)
    o = make_officer(node, "garcia", roles=["officer"], clearance="H1")
    r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                         "totp": o.code(node)})
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    answers = [
        client.get("/api/v1/records"),                                            # 401
        client.get("/api/v1/audit/entries", headers=h),                           # 403
        client.get("/api/v1/records/nope", headers=h),                            # 404
        client.get("/api/v1/records", params={"offset": -1}, headers=h),          # 422
        client.post("/api/v1/records", json={"entity": {}}, headers=h),           # 422
        client.post("/auth/login", json={"username": "x", "password": "y" * 12,
                                         "totp": "000000"}),                      # 401
        client.post("/federation/v1/envelopes", content=b"{}"),                   # 400
    ]
    assert sorted({a.status_code for a in answers}) == [400, 401, 403, 404, 422]
    for answer in answers:
        assert answer.headers["content-type"].startswith(PROBLEM)
        errors = [e.message for e in validator.iter_errors(answer.json())]
        assert not errors, (answer.request.url, answer.json(), errors)
