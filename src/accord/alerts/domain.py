"""Alerts: pure rules and value objects, no I/O.

An alert is an agency's request to every peer it may signal to: *if you meet
this person, vehicle or document, do this and tell us at once*. This module
holds its vocabulary and the rules that need no store:

* :class:`AlertType` — the seven kinds (arrest for surrender or extradition,
  missing person, discreet check, specific check, refusal of entry, stolen
  vehicle or document, witness or evidence), each with the FtM schemas its
  subject may have (:func:`check_subject`) and the action taken on a hit by
  default (:data:`DEFAULT_ACTIONS`).
* :class:`AlertState` — ``active`` → ``withdrawn`` (by the issuer) or
  ``expired`` (its validity passed); both are final.
* The three payloads that travel as envelopes (content types
  ``accord/alert``, ``accord/alert-withdrawal``, ``accord/alert-hit``). A hit
  report says *who* (agency and officer), *where* (node, agency, place if
  given), *when*, on what occasion (a search or a record) and the match band —
  never what was searched or the record that matched: the issuer learns that
  its subject was met, the personal data stay with the reporting agency until
  a follow-up request is answered.
* :func:`due_reminders` — which reminders an alert owes at a time (review date,
  expiry notice, expiry), each once per alert and date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from followthemoney import model
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, model_validator

from accord.agreements import Handling, Purpose, is_iccs_code
from accord.exchange.domain import Record

__all__ = [
    "CONTENT_ALERT",
    "CONTENT_HIT",
    "CONTENT_WITHDRAWAL",
    "DEFAULT_ACTIONS",
    "AlertPayload",
    "AlertState",
    "AlertType",
    "HitKind",
    "HitPayload",
    "Reminder",
    "WithdrawalPayload",
    "check_subject",
    "describe_hit",
    "due_reminders",
    "subject_schemas",
    "validity_window",
]

CONTENT_ALERT = "accord/alert"
CONTENT_WITHDRAWAL = "accord/alert-withdrawal"
CONTENT_HIT = "accord/alert-hit"


class AlertType(StrEnum):
    ARREST = "arrest"  # for surrender or extradition
    MISSING_PERSON = "missing-person"
    DISCREET_CHECK = "discreet-check"
    SPECIFIC_CHECK = "specific-check"
    REFUSAL_OF_ENTRY = "refusal-of-entry"
    STOLEN_OBJECT = "stolen-object"  # a vehicle or an identity document
    WITNESS = "witness"  # sought as a witness or for evidence


class AlertState(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class HitKind(StrEnum):
    SEARCH = "search"  # an officer's search matched the subject
    RECORD = "record"  # a record created or changed matched the subject


_PERSON = ("Person",)
_OBJECTS = ("Vehicle", "Identification")
_SCHEMAS: dict[AlertType, tuple[str, ...]] = {
    AlertType.ARREST: _PERSON,
    AlertType.MISSING_PERSON: _PERSON,
    AlertType.DISCREET_CHECK: _PERSON + _OBJECTS,
    AlertType.SPECIFIC_CHECK: _PERSON + _OBJECTS,
    AlertType.REFUSAL_OF_ENTRY: _PERSON,
    AlertType.STOLEN_OBJECT: _OBJECTS,
    AlertType.WITNESS: _PERSON,
}

DEFAULT_ACTIONS: dict[AlertType, str] = {
    AlertType.ARREST: "Arrest the person for surrender or extradition and contact the issuer at once.",
    AlertType.MISSING_PERSON: "Place the person under protection if needed; tell the issuer where "
                              "the person was found.",
    AlertType.DISCREET_CHECK: "Do not alert the person; note the circumstances, companions and "
                              "vehicle, and report to the issuer.",
    AlertType.SPECIFIC_CHECK: "Search the person or object as national law allows and report "
                              "to the issuer.",
    AlertType.REFUSAL_OF_ENTRY: "Refuse entry or stay and tell the issuer.",
    AlertType.STOLEN_OBJECT: "Seize the vehicle or document and tell the issuer.",
    AlertType.WITNESS: "Establish the place of residence and tell the issuer; the person is "
                       "sought for judicial proceedings.",
}


def subject_schemas(kind: AlertType) -> tuple[str, ...]:
    """The FtM schemas (and their descendants) a subject of ``kind`` may have."""
    return _SCHEMAS[kind]


def check_subject(kind: AlertType, schema: str) -> None:
    """Raise ``ValueError`` unless an entity of ``schema`` may be the subject of ``kind``."""
    found = model.get(schema)
    if found is None:
        raise ValueError(f"{schema!r} is not an FtM schema")
    allowed = _SCHEMAS[kind]
    if not any(found.is_a(name) for name in allowed):
        raise ValueError(f"an alert of type {kind.value} needs a subject of schema "
                         f"{' or '.join(allowed)} (or a descendant), not {schema}")


Text = Annotated[str, StringConstraints(max_length=2000)]
Id = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
AgencyId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9-]{1,16}$")]


class AlertPayload(BaseModel):
    """``accord/alert``: an alert as a peer receives it (the issuer's subject record included)."""

    model_config = ConfigDict(extra="forbid")

    alert_id: Id
    issuer: AgencyId
    issuer_officer: Annotated[str, StringConstraints(max_length=200)]
    issuer_node: Annotated[str, StringConstraints(max_length=100)]
    type: AlertType
    subject: Record
    action: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    remarks: Text = ""
    crime_area: Annotated[str, StringConstraints(max_length=10)] | None = None
    handling: Handling
    purpose: Purpose
    valid_until: AwareDatetime
    review_at: AwareDatetime
    created: AwareDatetime

    @model_validator(mode="after")
    def _rules(self) -> AlertPayload:
        check_subject(self.type, self.subject.schema_)
        if self.crime_area is not None and not is_iccs_code(self.crime_area):
            raise ValueError(f"{self.crime_area!r} is not a known ICCS code")
        if self.review_at > self.valid_until:
            raise ValueError("the review date is after the end of validity")
        return self


class WithdrawalPayload(BaseModel):
    """``accord/alert-withdrawal``: the issuer withdrew an alert; every copy goes."""

    model_config = ConfigDict(extra="forbid")

    alert_id: Id
    issuer: AgencyId
    at: AwareDatetime
    reason: Text = ""


class HitPayload(BaseModel):
    """``accord/alert-hit``: who met the subject of an alert, where and when — nothing more."""

    model_config = ConfigDict(extra="forbid")

    hit_id: Id
    alert_id: Id
    issuer: AgencyId
    reporter: AgencyId  # the agency whose officer searched or wrote the record
    officer: Annotated[str, StringConstraints(max_length=200)]
    node: Annotated[str, StringConstraints(max_length=100)]
    place: Annotated[str, StringConstraints(max_length=200)] | None = None
    at: AwareDatetime
    kind: HitKind
    band: Annotated[str, StringConstraints(max_length=20)]
    answer_due: AwareDatetime
    basis: Annotated[str, StringConstraints(max_length=300)] = ""


@dataclass(frozen=True)
class Reminder:
    """One reminder an alert owes: ``kind`` (review, expiry-notice, expired) at ``due``."""

    kind: Literal["review", "expiry-notice", "expired"]
    due: datetime

    @property
    def key(self) -> str:
        """Identifies the reminder among those sent: once per alert, kind and date."""
        return f"{self.kind}@{self.due.isoformat()}"


def due_reminders(*, review_at: datetime, valid_until: datetime, now: datetime,
                  sent: Iterable[str], expiry_notice: timedelta) -> list[Reminder]:
    """The reminders due at ``now`` and not yet ``sent`` (keys of :class:`Reminder`).

    The review reminder is due at the review date; the expiry notice
    ``expiry_notice`` before the end of validity; the expiry itself at the end.
    A changed date owes a new reminder (its key differs).
    """
    done = set(sent)
    candidates = [Reminder("review", review_at),
                  Reminder("expiry-notice", valid_until - expiry_notice),
                  Reminder("expired", valid_until)]
    return [r for r in candidates if r.due <= now and r.key not in done]


def describe_hit(payload: HitPayload) -> dict[str, Any]:
    """The who / where / when of a hit, as stored and shown."""
    return {"who": {"agency": payload.reporter, "officer": payload.officer},
            "where": {"node": payload.node, "agency": payload.reporter, "place": payload.place},
            "when": payload.at.isoformat(), "kind": payload.kind.value, "band": payload.band}


def validity_window(created: datetime, valid_until: datetime, review_at: datetime,
                    *, max_days: int) -> None:
    """Raise ``ValueError`` if the dates do not make a valid alert created at ``created``."""
    if valid_until <= created:
        raise ValueError("valid_until must be in the future")
    if valid_until - created > timedelta(days=max_days):
        raise ValueError(f"an alert is valid for at most {max_days} days before it is reviewed "
                         "and extended")
    if review_at < created or review_at > valid_until:
        raise ValueError("review_at must fall between now and valid_until")

