"""Every /api/v1 route needs authentication, and refuses a role that may not use it.

Routes are enumerated from the OpenAPI schema, so a new route is covered the
moment it exists. Each route's dependency names its permission; the test
finds a role lacking it and expects 403.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from accord.auth.permissions import Permission, roles_granting
from accord.bootstrap import Node
from accord.parties.domain import Role
from accord.web.app import create_app
from accord.web.openapi import permission_of, walk_routes
from tests.factories.officers import make_officer

# Permissions every role holds: one's own profile and API tokens, and explaining a policy
# decision (agreements are not personal data, and every role must be able to see why a
# flow is allowed or refused).
UNIVERSAL = {Permission.SELF_READ, Permission.TOKENS_OWN, Permission.POLICY_EXPLAIN}


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def _api_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    schema = app.openapi()
    routes = {(r.path, m): r for r in walk_routes(app.routes) for m in r.methods}
    found = []
    for path, ops in schema["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method in ops:
            found.append((method.upper(), path, routes[(path, method.upper())]))
    return found


def test_every_api_route_declares_a_permission(node: Node) -> None:
    app = create_app(node, background=False)
    routes = _api_routes(app)
    assert len(routes) >= 10
    missing = [f"{m} {p}" for m, p, r in routes if permission_of(r) is None]
    assert not missing, f"routes without a permission check: {missing}"


def test_every_api_route_is_401_without_credentials_and_403_for_other_roles(node: Node) -> None:
    app = create_app(node, background=False)
    client = TestClient(app)
    tokens: dict[Role, str] = {}
    for role in Role:
        o = make_officer(node, f"only-{role.value}", roles=[role.value], clearance="H3")
        r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                             "totp": o.code(node)})
        assert r.status_code == 200, r.text
        tokens[role] = r.json()["token"]
    checked_403 = 0
    for method, path, route in _api_routes(app):
        url = _fill(path)
        r = client.request(method, url)
        assert r.status_code == 401, f"{method} {path} answered {r.status_code} without credentials"
        assert r.headers["content-type"].startswith("application/problem+json")
        permission = permission_of(route)
        assert permission is not None
        outsiders = [role for role in Role if role not in roles_granting(permission)]
        if not outsiders:
            assert permission in UNIVERSAL, f"{method} {path}: every role may use it"
            continue
        role = outsiders[0]
        r = client.request(method, url, headers={"Authorization": f"Bearer {tokens[role]}"},
                           json={})
        assert r.status_code == 403, f"{method} {path} as {role}: {r.status_code} {r.text}"
        assert r.json()["type"].endswith("/forbidden")
        checked_403 += 1
    assert checked_403 >= 10


@pytest.mark.parametrize("path", ["/healthz", "/federation/v1/node", "/api/v1/openapi.json"])
def test_public_routes(node: Node, path: str) -> None:
    client = TestClient(create_app(node, background=False))
    assert client.get(path).status_code == 200


def test_unknown_route_is_a_problem_document(node: Node) -> None:
    client = TestClient(create_app(node, background=False))
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unexpected_error_leaks_no_stack_trace(node: Node) -> None:
    app = create_app(node, background=False)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "secret-internal-detail" not in r.text and "Traceback" not in r.text
