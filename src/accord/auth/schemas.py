"""API shapes for login and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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
    roles: list[str]
    idle_timeout_seconds: int


class Me(BaseModel):
    username: str
    agency_id: str
    country: str
    roles: list[str]
    clearance: str
    via: str


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    roles: list[str] = Field(min_length=1)
    days: int = Field(ge=1, le=3650)
    description: str = Field(default="", max_length=500)


class TokenCreated(BaseModel):
    id: str
    token: str = Field(description="shown once; only its hash is stored")
    username: str
    roles: list[str]
    expires_at: datetime


class TokenPublic(BaseModel):
    id: str
    username: str
    roles: list[str]
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
