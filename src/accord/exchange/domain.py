"""Messages between agencies: pure rules and value objects, no I/O.

* :class:`Priority` and :class:`RecipientState` with its forward-only state
  machine (queued → sent → delivered → read → acknowledged; refused is final;
  dead-letter gives way only to proof of delivery).
* The two payloads that travel in envelopes: :class:`MessagePayload`
  (``accord/message``) and :class:`StatusPayload` (``accord/message-status``,
  a recipient's read or acknowledgement travelling back to the sender).
* :func:`categories_of`: the data categories a message carries, for the policy
  decision point, derived from the FollowTheMoney schemas and property types
  of the attached records — never taken from what a sender declares.
* :func:`backoff_delay`: exponential backoff with jitter for the outbox.

Categories of a message
=======================

Free text (subject and body) counts as the category ``person``: an officer's
prose about a case names or describes people more often than not, the node
cannot tell when it does, and so Accord treats it as personal data — the
strictest reading that still lets messages flow under every agreement that
grants ``message`` (each grants ``person``). A message therefore always
carries ``person`` plus what its records add:

=================================================  ===================
FtM schema (or a descendant)                       category
=================================================  ===================
Person, Address, Family, Associate                 person
Organization (Company, PublicBody)                 organisation
LegalEntity (itself: person *or* organisation)     person, organisation
Vehicle (Airplane, Vessel)                         vehicle
Identification (Passport)                          document
BankAccount                                        account
CryptoWallet                                       wallet
UserAccount                                        cyber-indicator
=================================================  ===================

and, whatever the schema, a property of FtM type ``phone`` adds ``phone``,
``email`` adds ``email``, ``iban`` adds ``account``, ``ip`` adds
``cyber-indicator``; a property that points to another entity (FtM type
``entity``, e.g. ``Payment.payerAccount``) adds the categories of its range
schema, because the relation reveals that entity's kind. The receiver
recomputes the categories from the payload it decrypted.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from followthemoney import model
from followthemoney.schema import Schema
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from accord.agreements import Category, Handling, Purpose, is_iccs_code

__all__ = [
    "CONTENT_MESSAGE",
    "CONTENT_STATUS",
    "FREE_TEXT_CATEGORY",
    "PROGRESS",
    "EvidenceRef",
    "MessagePayload",
    "Priority",
    "RecipientState",
    "Record",
    "StatusPayload",
    "advance",
    "backoff_delay",
    "categories_of",
    "validate_records",
]

CONTENT_MESSAGE = "accord/message"
CONTENT_STATUS = "accord/message-status"
FREE_TEXT_CATEGORY = Category.PERSON

AGENCY_RE = r"^[A-Z]{2}-[A-Z0-9]{2,12}$"
MESSAGE_ID_RE = r"^[a-f0-9]{32}$"
_LANG_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
MAX_RECORDS = 500
MAX_PROPERTY_VALUES = 200
MAX_VALUE_CHARS = 10_000


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        """0 for urgent, listed first."""
        return {"urgent": 0, "high": 1, "normal": 2}[self.value]


class RecipientState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    REFUSED = "refused"
    DEAD_LETTER = "dead-letter"


PROGRESS: tuple[RecipientState, ...] = (
    RecipientState.QUEUED,
    RecipientState.SENT,
    RecipientState.DELIVERED,
    RecipientState.READ,
    RecipientState.ACKNOWLEDGED,
)


def advance(current: RecipientState, new: RecipientState) -> bool:
    """May a recipient in state ``current`` move to ``new``?

    States only move forward along :data:`PROGRESS`. ``refused`` is final.
    ``dead-letter`` is reached from queued or sent, and gives way only to proof
    that the recipient has the message after all (delivered, read,
    acknowledged). Moving to the current state is not a move (False).
    """
    if current is RecipientState.REFUSED or current == new:
        return False
    if new is RecipientState.REFUSED:
        return current in (RecipientState.QUEUED, RecipientState.SENT)
    if new is RecipientState.DEAD_LETTER:
        return current in (RecipientState.QUEUED, RecipientState.SENT)
    if current is RecipientState.DEAD_LETTER:
        return PROGRESS.index(new) >= PROGRESS.index(RecipientState.DELIVERED)
    return PROGRESS.index(new) > PROGRESS.index(current)


# --------------------------------------------------------------------------- payloads

Agency = Annotated[str, StringConstraints(pattern=AGENCY_RE)]
MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_RE)]
ShortText = Annotated[str, StringConstraints(max_length=200)]


class Record(BaseModel):
    """An attached FollowTheMoney entity (``{"id", "schema", "properties"}``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    schema_: str = Field(alias="schema", min_length=1, max_length=64)
    properties: dict[str, list[Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)]]] = {}

    @model_validator(mode="after")
    def _ftm(self) -> Record:
        schema = _schema(self.schema_)
        for name, values in self.properties.items():
            if schema.get(name) is None:
                raise ValueError(f"{self.schema_} has no property {name!r}")
            if len(values) > MAX_PROPERTY_VALUES:
                raise ValueError(f"{self.schema_}.{name} has more than {MAX_PROPERTY_VALUES} values")
        return self

    def to_ftm(self) -> dict[str, Any]:
        return {"id": self.id, "schema": self.schema_, "properties": self.properties}


class EvidenceRef(BaseModel):
    """A reference to an evidence item (the item itself travels by evidence transfer)."""

    model_config = ConfigDict(extra="forbid")

    ref: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] = ""


class MessagePayload(BaseModel):
    """What an ``accord/message`` envelope carries; checked on both sides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["message"] = "message"
    message_id: MessageId
    thread_id: MessageId
    in_reply_to: MessageId | None = None
    sender: Agency
    sender_officer: ShortText
    to: list[Agency] = Field(min_length=1, max_length=256)
    subject: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    body: Annotated[str, StringConstraints(max_length=100_000)] = ""
    language: Annotated[str, StringConstraints(pattern=_LANG_RE)] = "en"
    priority: Priority = Priority.NORMAL
    handling: Handling = Handling.H1
    case_ref: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    crime_area: str | None = None
    purpose: Purpose = Purpose.INVESTIGATION
    records: list[Record] = Field(default=[], max_length=MAX_RECORDS)
    evidence: list[EvidenceRef] = Field(default=[], max_length=100)
    created: datetime

    @field_validator("crime_area")
    @classmethod
    def _iccs(cls, value: str | None) -> str | None:
        if value is not None and not is_iccs_code(value):
            raise ValueError(f"{value!r} is not an ICCS code")
        return value

    @field_validator("to")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a recipient is listed twice")
        return value

    @field_validator("created")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created must carry a time zone")
        return value

    @property
    def categories(self) -> frozenset[Category]:
        return categories_of(self.records)


class StatusPayload(BaseModel):
    """A recipient's read or acknowledgement, sent back to the message's sender."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["status"] = "status"
    message_id: MessageId
    agency: Agency
    state: Literal["read", "acknowledged"]
    at: datetime
    by: ShortText = ""


# --------------------------------------------------------------------------- categories

_SCHEMA_CATEGORIES: tuple[tuple[str, frozenset[Category]], ...] = (
    ("Person", frozenset({Category.PERSON})),
    ("Address", frozenset({Category.PERSON})),
    ("Family", frozenset({Category.PERSON})),
    ("Associate", frozenset({Category.PERSON})),
    ("Organization", frozenset({Category.ORGANISATION})),
    ("Vehicle", frozenset({Category.VEHICLE})),
    ("Identification", frozenset({Category.DOCUMENT})),
    ("BankAccount", frozenset({Category.ACCOUNT})),
    ("CryptoWallet", frozenset({Category.WALLET})),
    ("UserAccount", frozenset({Category.CYBER_INDICATOR})),
)
_LEGAL_ENTITY = frozenset({Category.PERSON, Category.ORGANISATION})
_TYPE_CATEGORIES: dict[str, Category] = {
    "phone": Category.PHONE,
    "email": Category.EMAIL,
    "iban": Category.ACCOUNT,
    "ip": Category.CYBER_INDICATOR,
}


def _schema(name: str) -> Schema:
    schema = model.get(name)
    if schema is None:
        raise ValueError(f"unknown FollowTheMoney schema {name!r}")
    if schema.abstract:
        raise ValueError(f"FollowTheMoney schema {name!r} is abstract")
    return schema


def schema_categories(schema: Schema) -> frozenset[Category]:
    """The categories an entity of ``schema`` is, by its schema alone."""
    if schema.name == "LegalEntity":
        return _LEGAL_ENTITY
    found: set[Category] = set()
    for name, cats in _SCHEMA_CATEGORIES:
        parent = model.get(name)
        if parent is not None and schema.is_a(parent):
            found |= cats
    return frozenset(found)


def record_categories(record: Record) -> frozenset[Category]:
    schema = _schema(record.schema_)
    found = set(schema_categories(schema))
    for name, values in record.properties.items():
        prop = schema.get(name)
        if prop is None or not values:
            continue
        if prop.type.name in _TYPE_CATEGORIES:
            found.add(_TYPE_CATEGORIES[prop.type.name])
        elif prop.type.name == "entity" and prop.range is not None:
            found |= schema_categories(prop.range)
    return frozenset(found)


def categories_of(records: Iterable[Record], *, free_text: bool = True) -> frozenset[Category]:
    """The categories a message carries (see the module docstring)."""
    found: set[Category] = {FREE_TEXT_CATEGORY} if free_text else set()
    for record in records:
        found |= record_categories(record)
    return frozenset(found)


def validate_records(records: Sequence[dict[str, Any]]) -> list[Record]:
    """Parse attached FtM records; raises ``ValueError`` on the first bad one."""
    return [Record.model_validate(r) for r in records]


# --------------------------------------------------------------------------- delivery

_SAFE_SUBJECT = re.compile(r"[\x00-\x1f\x7f]")


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, …).

    Exponential with "equal jitter": the ceiling ``min(cap, base * 2**(attempt-1))``
    is halved and the other half drawn uniformly, so the delay grows with the
    attempts (never below half the ceiling) while retries of many envelopes
    after one outage spread out instead of arriving together.
    """
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def clean_subject(subject: str) -> str:
    """A one-line subject (control characters become spaces)."""
    return _SAFE_SUBJECT.sub(" ", subject).strip()
