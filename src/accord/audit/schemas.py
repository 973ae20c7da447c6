"""API shapes for the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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


class HeldCheckpointPublic(BaseModel):
    """A checkpoint of a peer's log held by this node as its witness."""

    origin: str
    witness: str
    size: int
    root_hash: str
    checkpoint: str  # the log's signed note followed by this witness's cosignature line
    cosigned_at: datetime


class WitnessStatePublic(BaseModel):
    """What a peer (a witness) holds of this node's log, as far as this node knows."""

    peer: str
    size: int
    root_hash: str | None
    cosigned_at: datetime | None
    attempted_at: datetime | None
    error: str
    checkpoint: str | None


class CheckpointEvidence(BaseModel):
    size: int
    root_hash: str
    checkpoint: str
    proof: list[str] = []


class AlarmPublic(BaseModel):
    """A witness alarm: a peer's log contradicted a checkpoint this node had witnessed."""

    id: int
    raised_at: datetime
    origin: str
    peer: str
    kind: Literal["fork", "inconsistent", "rollback"]
    held: CheckpointEvidence
    presented: CheckpointEvidence
    statement: str  # a note signed by this node's key (as witness) stating the alarm
    key_id: str
