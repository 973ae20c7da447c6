"""API shapes for login, enrolment and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from accord.parties.domain import Handling, Role


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1024)
    totp: str = Field(min_length=6, max_length=10)


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    username: str
    agency_id: str
    roles: list[Role]
    idle_timeout_seconds: int
    expires_at: datetime = Field(description="the session ends then however active it is")


class EnrolmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=80)
    enrolment_code: str = Field(min_length=1, max_length=64,
                                description="the one-time code the admin handed over")
    password: str = Field(min_length=12, max_length=1024, description="the password you choose")


class EnrolmentResponse(BaseModel):
    username: str
    totp_secret: str = Field(description="shown once: add it to an authenticator app")
    provisioning_uri: str = Field(
        description="the same secret as an otpauth:// URI (authenticator apps read it, "
                    "also as a QR code)")


class Me(BaseModel):
    username: str
    agency_id: str
    country: str
    roles: list[Role]
    clearance: Handling
    via: Literal["session", "token"]


class TokenCreate(BaseModel):
    """An API token for the signed-in officer (only for oneself; the request names nobody)."""

    model_config = ConfigDict(extra="forbid")
    roles: list[Role] = Field(min_length=1, description="a subset of the session's roles")
    days: int = Field(ge=1, le=3650)
    description: str = Field(default="", max_length=500)


class TokenCreated(BaseModel):
    id: str
    token: str = Field(description="shown once; only its hash is stored")
    username: str
    roles: list[Role]
    expires_at: datetime


class TokenPublic(BaseModel):
    id: str
    username: str
    roles: list[Role]
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
