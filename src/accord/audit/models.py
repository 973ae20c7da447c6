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
