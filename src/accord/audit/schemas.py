"""API shapes for the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    idx: int
    at: datetime
    actor: str
    action: str
    object: str
    purpose: str
    basis: str
    outcome: str
    detail: dict[str, Any]
    credential: str = ""  # the session or API token that acted


class CheckpointPublic(BaseModel):
    size: int
    root_hash: str
    note: str
    key_id: str
    created_at: datetime
