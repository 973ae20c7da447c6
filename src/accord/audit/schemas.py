"""API shapes for the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AuditEntryPublic(BaseModel):
    """An audit entry. On a damaged log (a row edited by hand) a time or detail that cannot
    be read as such is given as its stored text and named in ``unreadable``."""

    model_config = ConfigDict(from_attributes=True)
    idx: int
    at: datetime | str
    actor: str
    action: str
    object: str
    purpose: str
    basis: str
    outcome: str
    detail: dict[str, Any] | str
    credential: str = ""  # the session or API token that acted
    unreadable: list[Literal["at", "detail"]] = []


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
