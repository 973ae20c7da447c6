"""API schemas of the exchange: commands (Create) and views (Public)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accord.agreements import Category, Handling, Purpose
from accord.exchange.domain import EvidenceRef, Priority, RecipientState

__all__ = [
    "BatchItem",
    "MessageBatchCreate",
    "MessageBatchResult",
    "MessageCreate",
    "MessagePublic",
    "MessageSummary",
    "RecipientPublic",
    "ReplyCreate",
    "SendResult",
]

AgencyId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{2,12}$")]


class MessageCreate(BaseModel):
    """Compose a message. ``records`` are FollowTheMoney entities (``id``, ``schema``, ``properties``)."""

    model_config = ConfigDict(extra="forbid")

    to: list[AgencyId] = Field(min_length=1, max_length=256)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    body: Annotated[str, StringConstraints(max_length=100_000)] = ""
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "en"
    priority: Priority = Priority.NORMAL
    handling: Handling = Handling.H1
    case_ref: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    crime_area: Annotated[str, StringConstraints(max_length=10)] | None = None
    purpose: Purpose = Purpose.INVESTIGATION
    records: list[dict[str, Any]] = Field(default=[], max_length=500)
    evidence: list[EvidenceRef] = Field(default=[], max_length=100)
    in_reply_to: Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{32}$")] | None = None


class ReplyCreate(BaseModel):
    """Reply in the thread; unset fields are taken from the message replied to."""

    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(max_length=100_000)]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    reply_all: bool = False
    priority: Priority | None = None
    handling: Handling | None = None
    records: list[dict[str, Any]] = Field(default=[], max_length=500)
    evidence: list[EvidenceRef] = Field(default=[], max_length=100)


class RecipientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    agency: str
    state: RecipientState
    queued_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    acknowledged_at: datetime | None
    refused_at: datetime | None
    dead_at: datetime | None
    refusal: dict[str, Any] | None
    receipt: dict[str, Any] | None


class MessageSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    direction: Literal["in", "out", "sys"]
    thread_id: str
    in_reply_to: str | None
    sender: str
    to: list[str]
    subject: str
    priority: Priority
    handling: Handling
    case_ref: str | None
    created_at: datetime
    received_at: datetime | None
    read_at: datetime | None
    acknowledged_at: datetime | None
    recipients: list[RecipientPublic] = []


class MessagePublic(MessageSummary):
    sender_officer: str
    body: str
    language: str
    crime_area: str | None
    purpose: Purpose
    categories: list[Category]
    records: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    decision: dict[str, Any] | None
    read_by: str | None
    acknowledged_by: str | None
    proof: dict[str, Any] | None = None


class SendResult(MessagePublic):
    """The message as sent, with each recipient's state; refused ones carry the clause and reason."""

    refused: list[RecipientPublic] = []


#: The most messages one ``POST /api/v1/messages/batch`` may carry.
BATCH_MAX = 1000


class MessageBatchCreate(BaseModel):
    """Several messages sent in one request (``POST /api/v1/messages/batch``)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[MessageCreate] = Field(min_length=1, max_length=BATCH_MAX)


class BatchRecipient(BaseModel):
    agency: str
    state: RecipientState
    refusal: dict[str, Any] | None = None


class BatchItem(BaseModel):
    """One message of a batch: ``status`` 201 with the message id and each recipient's state
    (a refused recipient with the clause and reason), or the problem document that refused it."""

    index: int
    status: int
    message_id: str | None = None
    created_at: datetime | None = None
    recipients: list[BatchRecipient] = []
    problem: dict[str, Any] | None = None


class MessageBatchResult(BaseModel):
    sent: int
    failed: int
    results: list[BatchItem]
