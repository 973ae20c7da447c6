"""Typed dependencies: the node, the principal, the authorization check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from accord.auth import services as auth
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.errors import NotAuthenticated, PermissionDenied

_bearer = HTTPBearer(auto_error=False, description="a session token (acs_…) or an API token (act_…)")


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def get_session(node: NodeDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with node.uow() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_read_session(node: NodeDep) -> Iterator[Session]:
    """A read-only transaction, for routes that write nothing (not even an audit entry)."""
    with node.read() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def bearer_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if creds is None or not creds.credentials:
        raise NotAuthenticated("this route needs a bearer token: log in or use an API token")
    return creds.credentials


def get_principal(node: NodeDep, token: Annotated[str, Depends(bearer_token)]) -> Principal:
    return auth.authenticate(node, token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates and checks the permission (audited when refused)."""

    def _check(request: Request, node: NodeDep, principal: PrincipalDep) -> Principal:
        try:
            principal.require(permission)
        except PermissionDenied as exc:
            auth.deny(node, principal, permission, exc, request.url.path)
            raise
        return principal

    _check.permission = permission  # type: ignore[attr-defined]  # read by the route-coverage test
    return _check
