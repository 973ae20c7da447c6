"""The records table: one row per FtM entity hosted on this node."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime


class Record(Base):
    """An FtM entity with its owner, handling code, evaluation and retention.

    ``digest`` is the SHA-256 of the canonical entity and metadata, so a
    re-import can skip unchanged records without comparing JSON. ``audit_idx``
    is the index of the audit entry that covers the last write of the row
    (one entry per record for single writes, one per batch for imports).
    """

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    schema: Mapped[str] = mapped_column(String(64), index=True)
    properties: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    caption: Mapped[str] = mapped_column(String(500), index=True)
    owner: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    handling: Mapped[str] = mapped_column(String(2), index=True)
    source_reliability: Mapped[str] = mapped_column(String(1))
    info_credibility: Mapped[str] = mapped_column(String(1))
    legal_basis: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(20))
    retention_until: Mapped[date] = mapped_column(Date, index=True)
    cases: Mapped[list[str]] = mapped_column(JSON)
    provenance: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    flag_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    audit_idx: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True)

    def entity(self) -> dict[str, Any]:
        return {"id": self.id, "schema": self.schema, "properties": self.properties}

    def meta(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "handling": self.handling,
            "source_reliability": self.source_reliability,
            "info_credibility": self.info_credibility,
            "legal_basis": self.legal_basis,
            "purpose": self.purpose,
            "retention_until": self.retention_until.isoformat(),
            "cases": list(self.cases),
            "provenance": self.provenance,
        }
