"""The OpenAPI document tells the truth about errors.

FastAPI documents a route's success response and a 422 in a shape of its own
(``HTTPValidationError``) that this API never sends. :func:`install` amends the
generated document once, from the routes themselves, so a new route is
documented the moment it exists:

- every error response is ``application/problem+json`` with the ``Problem``
  schema (:class:`accord.web.problems.Problem`), the document actually sent;
  ``HTTPValidationError`` and ``ValidationError`` are gone;
- **401** on every operation with a security requirement (a bearer token);
- **403** where the route requires a permission that some role lacks;
- **404** where the path names an item (it has a path parameter);
- **422** where the operation takes input (parameters or a body);
- **400** where it takes a body (one that is not even JSON);
- **503** everywhere: a write that waited too long for the database (``writer-busy``), or
  an audit log found damaged (``audit-log-damaged``);
- the statuses a route declares itself with ``responses=problem_responses(409, …)``
  (conflicts, peers, envelopes, a failed login).

``tests/unit/web/test_openapi.py`` reads the document back, and the schemathesis
run (``tests/e2e/test_openapi_schemathesis.py``) holds a real node to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from accord.auth.permissions import Permission, roles_granting
from accord.parties.domain import Role
from accord.web.problems import PROBLEM_JSON, Problem

__all__ = ["DESCRIPTIONS", "amend", "install", "permission_of", "problem_responses", "walk_routes"]

PROBLEM_REF = "#/components/schemas/Problem"
DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: the body is not JSON, a cryptographic check failed, or a peer's "
         "fingerprint does not match",
    401: "Not authenticated: no bearer token, or an unknown, expired or ended session or token",
    403: "Forbidden: the roles lack the permission, or clearance or policy refuses",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Too large",
    422: "Validation failed: the input does not match this document, or the domain refuses it",
    502: "A peer node failed",
    503: "Unavailable: the database could not take the write in time (retry later), or the "
         "audit log is damaged and the node refuses audited actions",
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses it can answer besides the implied ones."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route's dependencies require (:func:`accord.web.deps.require`)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        perm = getattr(dep.call, "permission", None)
        if isinstance(perm, Permission):
            return perm
        stack.extend(dep.dependencies)
    return None


def walk_routes(routes: Iterable[Any]) -> list[APIRoute]:
    """APIRoutes, also inside included routers (FastAPI wraps those)."""
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        inner = getattr(r, "original_router", None)
        if inner is not None:
            found.extend(walk_routes(inner.routes))
    return found


def _implied(path: str, op: dict[str, Any], route: APIRoute | None) -> set[int]:
    statuses = {503}
    if op.get("security"):
        statuses.add(401)
    permission = None if route is None else permission_of(route)
    if permission is not None and set(roles_granting(permission)) != set(Role):
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if op.get("parameters") or op.get("requestBody"):
        statuses.add(422)
    if op.get("requestBody"):
        statuses.add(400)  # a body that is not JSON at all
    return statuses


def amend(doc: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Document every problem response of every operation in ``doc`` (in place)."""
    by_key = {(r.path, m.lower()): r for r in walk_routes(routes) for m in (r.methods or ())}
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in problem.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas["Problem"] = problem
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(declared | _implied(path, op, by_key.get((path, method)))):
                response = responses.setdefault(str(status), {})
                if status == 422 or not response.get("description"):
                    response["description"] = DESCRIPTIONS.get(status, "Error")
                response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
            op["responses"] = dict(sorted(responses.items()))
    text = repr(doc.get("paths"))
    for name in _FASTAPI_VALIDATION:
        if f"/{name}'" not in text:
            schemas.pop(name, None)
    return doc


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/api/v1/openapi.json``) return the amended document."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    amended: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        doc = generate()
        if not any(doc is seen for seen in amended):  # FastAPI caches it: amend each one once
            amend(doc, app.routes)
            amended[:] = [doc]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
