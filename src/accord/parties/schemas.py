"""API shapes for parties (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from accord.crypto.keys import Alg
from accord.parties.domain import Handling, Role


class AgencyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    country: str
    name: str
    kind: str = Field(description="police, customs, … (a peer's agencies may name other kinds)")
    node_id: str
    hosted: bool
    points_of_contact: list[dict[str, Any]]


class OfficerCreate(BaseModel):
    """A new officer of the admin's agency; it sets its own password at enrolment."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=80)
    display_name: str = Field(min_length=1, max_length=200)
    agency_id: str
    roles: list[Role] = Field(min_length=1)
    clearance: Handling = Field(description="at most the clearance of the admin creating it")


class OfficerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str
    display_name: str
    agency_id: str
    roles: list[Role]
    clearance: Handling
    active: bool
    enrolled_at: datetime | None = Field(description="when the officer enrolled; null until then")
    enrolment_expires_at: datetime | None = Field(
        description="until when the pending enrolment code is valid; null if none is pending")
    failed_attempts: int
    locked_until: datetime | None = Field(description="locked after failed logins until then")
    created_at: datetime


class OfficerEnrolment(OfficerPublic):
    """An officer with a pending enrolment. The code is for the officer: it is used once,
    with a password of the officer's choosing, at ``POST /auth/enrolment``, which returns
    the TOTP secret. Nobody else ever sees that secret."""

    enrolment_code: str = Field(description="shown once; only its hash is stored")


class PeerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", max_length=300)
    fingerprint: str = Field(min_length=64, max_length=100)


class PeerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    node_id: str
    base_url: str
    country: str
    fingerprint: str
    added_at: datetime
    refreshed_at: datetime


class KeyPublic(BaseModel):
    kid: str
    owner: str
    alg: Alg
    fingerprint: str
    created_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str
