"""API shapes for parties (separate from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AgencyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    country: str
    name: str
    kind: str
    node_id: str
    hosted: bool
    points_of_contact: list[dict[str, Any]]


class OfficerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=80)
    display_name: str = Field(min_length=1, max_length=200)
    agency_id: str
    roles: list[str] = Field(min_length=1)
    clearance: str = Field(pattern=r"^H[0-3]$")
    password: str = Field(min_length=12, max_length=1024)


class OfficerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str
    display_name: str
    agency_id: str
    roles: list[str]
    clearance: str
    active: bool
    locked_until: datetime | None
    created_at: datetime


class OfficerCreated(OfficerPublic):
    totp_secret: str = Field(description="shown once: enrol it in an authenticator app")


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
    alg: str
    fingerprint: str
    created_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str
