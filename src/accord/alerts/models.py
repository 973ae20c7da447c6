"""Tables of alerts: the alerts a node holds and the hits on them.

* ``alerts``: one row per copy of an alert on this node. The issuing agency's
  node keeps the ``own`` copy (``holder`` = the issuer) with, per peer agency,
  what became of its propagation (``propagation``: queued with the envelope id,
  or refused with the clause and reason). Each receiving agency keeps a
  ``foreign`` copy (``holder`` = that agency) with the receiver's decision. The
  subject is the FtM entity as the issuer sent it. ``reminded`` lists the
  reminders already written (:class:`accord.alerts.domain.Reminder` keys), so
  each fires once per alert and date.
* ``alert_hits``: the follow-up record of one hit, on both sides: the node where
  the subject was met (``reporter``) and the issuer's node hold a row with the
  same ``hit_id`` (one row when both are the same node). ``ref`` (the record id
  that matched) is kept only on the reporting side; the issuer learns who,
  where and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime

__all__ = ["Alert", "AlertHit"]


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("alert_id", "holder", name="uq_alerts_copy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(32), index=True)
    holder: Mapped[str] = mapped_column(String(20), index=True)  # whose copy
    origin: Mapped[str] = mapped_column(String(7))  # own | foreign
    issuer: Mapped[str] = mapped_column(String(20), index=True)
    issuer_officer: Mapped[str] = mapped_column(String(200))
    issuer_node: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject_schema: Mapped[str] = mapped_column(String(64))
    subject_caption: Mapped[str] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(Text)
    remarks: Mapped[str] = mapped_column(Text)
    crime_area: Mapped[str | None] = mapped_column(String(10), nullable=True)
    handling: Mapped[str] = mapped_column(String(2))
    purpose: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSON)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    review_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(10), index=True)  # active | withdrawn | expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    envelope_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # foreign copies: the receiver's decision (basis, obligations)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # own copies: agency -> {"state": queued|refused, "envelope_id"?, "code"?, "reason"?, "clause"?}
    propagation: Mapped[dict[str, Any]] = mapped_column(JSON)
    reminded: Mapped[list[str]] = mapped_column(JSON)


class AlertHit(Base):
    __tablename__ = "alert_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hit_id: Mapped[str] = mapped_column(String(32), unique=True)
    alert_id: Mapped[str] = mapped_column(String(32), index=True)
    issuer: Mapped[str] = mapped_column(String(20), index=True)
    reporter: Mapped[str] = mapped_column(String(20), index=True)
    officer: Mapped[str] = mapped_column(String(200))
    node_id: Mapped[str] = mapped_column(String(100))
    place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(10))  # search | record
    ref: Mapped[str | None] = mapped_column(String(200), nullable=True)  # reporting side only
    band: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answer_due: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_source: Mapped[str] = mapped_column(String(300))  # the clause, or "default"
    handling: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(10))  # open | answered
    envelope_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # issuer's inbox
    basis: Mapped[str] = mapped_column(String(300))
