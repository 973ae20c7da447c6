"""Tables of the audit trail: entries (Merkle leaves), the log head, signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, BigInt, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    idx: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    object: Mapped[str] = mapped_column(String(300), index=True)
    purpose: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the session ("session:<hash prefix>") or API token ("token:<id>") that acted; "" if none
    credential: Mapped[str] = mapped_column(String(80), default="")
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogHead(Base):
    """The size of each log; its row lock serialises appends on PostgreSQL."""

    __tablename__ = "log_heads"

    log: Mapped[str] = mapped_column(String(40), primary_key=True)
    size: Mapped[int] = mapped_column(BigInt)


class Checkpoint(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInt, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- witnessing (C2SP tlog-witness) ------------------------------------------------
class WitnessedCheckpoint(Base):
    """As a witness: the latest checkpoint of a peer's log this node verified and cosigned."""

    __tablename__ = "audit_witnessed"

    origin: Mapped[str] = mapped_column(String(200), primary_key=True)
    peer_id: Mapped[str] = mapped_column(String(100), index=True)
    size: Mapped[int] = mapped_column(BigInt)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the log's signed checkpoint, as received
    cosignature: Mapped[str] = mapped_column(Text)  # our cosignature line over it
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WitnessState(Base):
    """As a log: what each peer (witness) holds of this node's log, as far as we know."""

    __tablename__ = "audit_witness_states"

    peer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    size: Mapped[int] = mapped_column(BigInt)  # the size the witness holds (0: nothing)
    root_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    cosigned_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # checkpoint + cosignature
    cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(String(500), default="")


class WitnessAlarm(Base):
    """As a witness: a peer's log presented a checkpoint that contradicts the one held.

    ``statement`` is a note signed by this node's key (as witness) stating the alarm;
    ``held_note`` and ``presented_note`` are the two checkpoints, both signed by the log.
    """

    __tablename__ = "audit_alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    origin: Mapped[str] = mapped_column(String(200), index=True)
    peer_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # fork | inconsistent | rollback
    held_size: Mapped[int] = mapped_column(BigInt)
    held_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    held_note: Mapped[str] = mapped_column(Text)
    presented_size: Mapped[int] = mapped_column(BigInt)
    presented_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    presented_note: Mapped[str] = mapped_column(Text)
    proof: Mapped[list[str]] = mapped_column(JSON)  # base64 hashes, as sent
    statement: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(80))
