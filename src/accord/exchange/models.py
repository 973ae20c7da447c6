"""Tables of the exchange: messages, their recipients, the outbox and the inbox.

* ``exchange_messages``: one row per mailbox copy of a message. The sender's
  node keeps an ``out`` copy (owner = the sending agency); each receiving
  agency gets an ``in`` copy (owner = that agency). Agencies on the same node
  each have their own copy, exactly as across nodes.
* ``exchange_recipients``: on the sender's copy, one row per recipient agency
  with its state and the time of each state, the refusal (clause and reason)
  and the signed receipt that proves delivery.
* ``exchange_outbox``: envelopes waiting for delivery, written in the same
  transaction as the message (transactional outbox), with attempts and the
  time of the next one.
* ``exchange_inbox``: every envelope this node accepted, keyed by envelope id
  (deduplication), with the signed header and signature kept as proof and the
  signed receipt returned (sent again, unchanged, for a duplicate).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accord.db import Base, UTCDateTime


class Message(Base):
    __tablename__ = "exchange_messages"
    __table_args__ = (UniqueConstraint("message_id", "owner", name="uq_exchange_messages_copy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(20), index=True)  # whose mailbox
    direction: Mapped[str] = mapped_column(String(3))  # out | in | sys
    thread_id: Mapped[str] = mapped_column(String(32), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sender: Mapped[str] = mapped_column(String(20), index=True)
    sender_officer: Mapped[str] = mapped_column(String(200))
    to: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int] = mapped_column(Integer, index=True)
    handling: Mapped[str] = mapped_column(String(2))
    case_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    crime_area: Mapped[str | None] = mapped_column(String(10), nullable=True)
    purpose: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSON)
    records: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    envelope_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # the receiver's decision on arrival (basis and obligations), or None on the sender
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    recipients: Mapped[list[Recipient]] = relationship(
        back_populates="message", order_by="Recipient.agency", lazy="selectin")


class Recipient(Base):
    __tablename__ = "exchange_recipients"
    __table_args__ = (UniqueConstraint("message_pk", "agency", name="uq_exchange_recipients_agency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("exchange_messages.id"), index=True)
    agency: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16), index=True)
    envelope_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # {"side": "sender"|"receiver", "code", "reason", "basis": {...} | None}
    refusal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the receiver's signed receipt: proof of delivery
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    message: Mapped[Message] = relationship(back_populates="recipients")


class OutboxEntry(Base):
    __tablename__ = "exchange_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    envelope_id: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(20))
    node_id: Mapped[str] = mapped_column(String(100), index=True)  # where the recipient lives
    recipient_pk: Mapped[int | None] = mapped_column(
        ForeignKey("exchange_recipients.id"), nullable=True, index=True)
    envelope: Mapped[str] = mapped_column(Text)  # the sealed envelope, canonical JSON
    state: Mapped[str] = mapped_column(String(10), index=True)  # pending | done | rejected | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class InboxEntry(Base):
    __tablename__ = "exchange_inbox"

    envelope_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(20), index=True)
    sender: Mapped[str] = mapped_column(String(20), index=True)
    sender_kid: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(64))
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    signed_header: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(100))
    payload_digest: Mapped[str] = mapped_column(String(64))
    payload_salt: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("exchange_messages.id"), nullable=True)


# The tables themselves, for the hot paths that write with SQLAlchemy Core (multi-row
# inserts, set-based updates): services.store_messages, receiving a batch, the worker.
MESSAGES = cast(Table, Message.__table__)
RECIPIENTS = cast(Table, Recipient.__table__)
OUTBOX = cast(Table, OutboxEntry.__table__)
INBOX = cast(Table, InboxEntry.__table__)
