"""Login and logout (outside /api/v1: logging in is how one gets credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from accord.auth import services as auth
from accord.auth.schemas import LoginRequest, LoginResponse
from accord.web.deps import NodeDep, PrincipalDep, bearer_token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse)
def login(body: LoginRequest, node: NodeDep) -> LoginResponse:
    """Password (Argon2id) and TOTP second factor; returns a session token."""
    result = auth.login(node, username=body.username, password=body.password, totp=body.totp)
    return LoginResponse(token=result.token, username=result.username,
                         agency_id=result.agency_id, roles=result.roles,
                         idle_timeout_seconds=result.idle_timeout_seconds)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(node: NodeDep, principal: PrincipalDep,
           token: Annotated[str, Depends(bearer_token)]) -> None:
    auth.logout(node, principal, token)
