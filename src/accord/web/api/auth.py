"""Login, enrolment and logout (outside /api/v1: they are how one gets credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from accord.auth import services as auth
from accord.auth.schemas import EnrolmentRequest, EnrolmentResponse, LoginRequest, LoginResponse
from accord.web.deps import NodeDep, PrincipalDep, bearer_token
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse, responses=problem_responses(401))
def login(body: LoginRequest, node: NodeDep, response: Response) -> LoginResponse:
    """Password (Argon2id) and TOTP second factor; returns a session token.

    Every refusal is the same 401 ``login-failed`` problem, whatever the cause
    (unknown user, wrong password or code, a code used before, a locked or not
    yet enrolled account); the cause is audited and a lock shows in the
    officer's record.
    """
    result = auth.login(node, username=body.username, password=body.password, totp=body.totp)
    response.headers["Cache-Control"] = "no-store"
    return LoginResponse(token=result.token, username=result.username,
                         agency_id=result.agency_id, roles=result.roles,
                         idle_timeout_seconds=result.idle_timeout_seconds,
                         expires_at=result.expires_at)


@router.post("/enrolment", response_model=EnrolmentResponse, responses=problem_responses(401))
def enrolment(body: EnrolmentRequest, node: NodeDep, response: Response) -> EnrolmentResponse:
    """The officer's first step: the one-time enrolment code from the admin and a password of
    the officer's choosing give the TOTP secret, shown this once. Every refusal is the same
    401 ``enrolment-failed`` problem."""
    result = auth.enrol(node, username=body.username, code=body.enrolment_code,
                        password=body.password)
    response.headers["Cache-Control"] = "no-store"
    return EnrolmentResponse(username=result.username, totp_secret=result.totp_secret,
                             provisioning_uri=result.provisioning_uri)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(node: NodeDep, principal: PrincipalDep,
           token: Annotated[str, Depends(bearer_token)]) -> None:
    auth.logout(node, principal, token)
