"""Agreements and decisions as pure value objects (no I/O, no clock).

Every class here is a frozen dataclass. Constructors are lenient about the
*shape* of what they get (any iterable for a set, plain strings for enums,
``"P2Y"`` for a duration, ISO text for a date) and strict about the *values*
(an unknown category or a bad duration raises ``ValueError``). Validation of
things that need reference data (countries, ICCS codes, languages) and of
cross-field rules lives in :mod:`accord.agreements.validate`.

Vocabulary of the format, one ``StrEnum`` each: :class:`Instrument`,
:class:`Action`, :class:`RequestType`, :class:`Category`, :class:`Purpose`,
:class:`Handling`, :class:`OnwardTransfer`, :class:`SearchMode`, :class:`Urgency`,
:class:`DeadlineStage`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from accord.agreements.duration import Duration, parse_duration

__all__ = [
    "ALL_CRIME_AREAS",
    "Action",
    "Actor",
    "Agreement",
    "Basis",
    "Category",
    "Clause",
    "Deadline",
    "DeadlineStage",
    "Decision",
    "DecisionCode",
    "Grant",
    "Handling",
    "Instrument",
    "Obligations",
    "OnwardTransfer",
    "PointOfContact",
    "Purpose",
    "RequestType",
    "Resource",
    "SearchMode",
    "Urgency",
    "party_country",
    "party_matches",
]

ALL_CRIME_AREAS = "all"
"""The crime-area wildcard in a grant: every ICCS code."""

AGENCY_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,12}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --------------------------------------------------------------------------- vocabulary


class Instrument(StrEnum):
    BILATERAL_TREATY = "bilateral-treaty"
    MULTILATERAL_CONVENTION = "multilateral-convention"
    MLA_TREATY = "mla-treaty"
    EU_INSTRUMENT = "eu-instrument"
    JIT_AGREEMENT = "jit-agreement"
    MOU = "mou"


class RequestType(StrEnum):
    INFORMATION = "information"
    HIT_FOLLOW_UP = "hit-follow-up"
    MLA = "mla"
    EIO = "eio"
    FREEZING = "freezing"
    SEIZURE = "seizure"
    EXTRADITION = "extradition"
    JOINT_OPERATION = "joint-operation"
    SPONTANEOUS_INFORMATION = "spontaneous-information"


class Action(StrEnum):
    """What a clause lets one party do towards another."""

    MESSAGE = "message"
    HIT_NO_HIT_SEARCH = "hit-no-hit-search"
    RECORD_ACCESS_AFTER_HIT = "record-access-after-hit"
    ALERT_PROPAGATION = "alert-propagation"
    JOINT_OPERATION = "joint-operation"
    EVIDENCE_TRANSFER = "evidence-transfer"
    REQUEST_INFORMATION = "request:information"
    REQUEST_HIT_FOLLOW_UP = "request:hit-follow-up"
    REQUEST_MLA = "request:mla"
    REQUEST_EIO = "request:eio"
    REQUEST_FREEZING = "request:freezing"
    REQUEST_SEIZURE = "request:seizure"
    REQUEST_EXTRADITION = "request:extradition"
    REQUEST_JOINT_OPERATION = "request:joint-operation"
    REQUEST_SPONTANEOUS_INFORMATION = "request:spontaneous-information"

    @classmethod
    def request(cls, request_type: RequestType | str) -> Action:
        return cls(f"request:{RequestType(request_type).value}")

    @property
    def request_type(self) -> RequestType | None:
        if self.value.startswith("request:"):
            return RequestType(self.value.removeprefix("request:"))
        return None


class Category(StrEnum):
    PERSON = "person"
    VEHICLE = "vehicle"
    DOCUMENT = "document"
    PHONE = "phone"
    EMAIL = "email"
    ACCOUNT = "account"
    WALLET = "wallet"
    ORGANISATION = "organisation"
    CYBER_INDICATOR = "cyber-indicator"


class Purpose(StrEnum):
    PREVENTION = "prevention"
    DETECTION = "detection"
    INVESTIGATION = "investigation"
    PROSECUTION = "prosecution"


_TLP = {"H0": "TLP:CLEAR", "H1": "TLP:GREEN", "H2": "TLP:AMBER", "H3": "TLP:RED"}
_FROM_TLP = {
    "TLP:CLEAR": "H0",
    "TLP:WHITE": "H0",
    "TLP:GREEN": "H1",
    "TLP:AMBER": "H2",
    "TLP:AMBER+STRICT": "H3",
    "TLP:RED": "H3",
}


class Handling(StrEnum):
    """Handling codes, lowest (H0) to highest (H3), mapped to TLP 2.0.

    Export is conservative: H3 is shown as ``TLP:RED``. Import rounds up:
    ``TLP:AMBER+STRICT`` becomes H3, so a marking is never loosened by a round
    trip (see docs/agreements.md, "Handling codes and TLP 2.0").
    """

    H0 = "H0"
    H1 = "H1"
    H2 = "H2"
    H3 = "H3"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    @property
    def tlp(self) -> str:
        return _TLP[self.value]

    @classmethod
    def from_tlp(cls, label: str) -> Handling:
        try:
            return cls(_FROM_TLP[label.strip().upper()])
        except KeyError:
            raise ValueError(f"unknown TLP label {label!r}") from None


class OnwardTransfer(StrEnum):
    FORBIDDEN = "forbidden"
    WITH_OWNER_CONSENT = "with-owner-consent"
    FREE = "free"

    @property
    def restrictiveness(self) -> int:
        """Higher is stricter: forbidden 2, with-owner-consent 1, free 0."""
        return {"forbidden": 2, "with-owner-consent": 1, "free": 0}[self.value]


class SearchMode(StrEnum):
    """How a ``hit-no-hit-search`` granted by a clause compares identifiers.

    ``clear``: the query carries the identifiers as the officer typed them. ``bloom``:
    the privacy-preserving mode — no clear identifier leaves the asking node; persons
    travel as keyed Bloom-filter encodings compared by Dice similarity, other
    identifiers as keyed HMACs, under a linkage secret the parties hold for the
    agreement (docs/search-privacy.md).
    """

    CLEAR = "clear"
    BLOOM = "bloom"

    @property
    def strictness(self) -> int:
        """Higher is stricter: bloom 1, clear 0."""
        return 1 if self is SearchMode.BLOOM else 0


class Urgency(StrEnum):
    """Urgency of a request, most urgent first.

    ``urgent-direct`` is an urgent request for information the requested
    party holds in a database its officers can query directly (Directive (EU)
    2023/977 art. 5(1)(a)).
    """

    URGENT_DIRECT = "urgent-direct"
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def fallbacks(self) -> tuple[Urgency, ...]:
        """This urgency then each less urgent one: the lookup order for deadlines."""
        order = list(Urgency)
        return tuple(order[order.index(self) :])


class DeadlineStage(StrEnum):
    DECIDE = "decide"
    DECIDE_EXTENSION = "decide_extension"
    RESPOND = "respond"


# --------------------------------------------------------------------------- helpers


def _frozen(values: Iterable[Any] | None, kind: Any) -> frozenset[Any]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    return frozenset(kind(v) for v in values)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _duration(value: Duration | str) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


def _date(value: date | str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"expected a date, not a datetime: {value!r}")
    return value if isinstance(value, date) else date.fromisoformat(value)


def party_country(ref: str) -> str:
    """The country of a party reference: ``ES`` for ``ES`` and for ``ES-PN``."""
    return ref[:2]


def party_matches(party: str, ref: str) -> bool:
    """Does agreement party ``party`` cover actor ``ref``?

    A country party covers the country and every agency of it; an agency
    party covers only that agency. A bare country actor is covered only by a
    country party.
    """
    return party == ref or (len(party) == 2 and party == ref[:2] and len(ref) > 2)


# --------------------------------------------------------------------------- agreements


@dataclass(frozen=True, slots=True)
class Deadline:
    """Deadlines for one request type at one urgency.

    ``respond``: to answer or execute; ``decide``: to decide on recognition
    or acceptance (EIO); ``decide_extension``: the most that ``decide`` may be
    extended by. All exact (days/hours), never months.
    """

    request: RequestType
    urgency: Urgency
    respond: Duration
    decide: Duration | None = None
    decide_extension: Duration | None = None

    if TYPE_CHECKING:  # the constructor accepts plain strings too

        def __init__(
            self,
            request: RequestType | str,
            urgency: Urgency | str,
            respond: Duration | str,
            decide: Duration | str | None = None,
            decide_extension: Duration | str | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        _set(self, "request", RequestType(self.request))
        _set(self, "urgency", Urgency(self.urgency))
        _set(self, "respond", _duration(self.respond))
        if self.decide is not None:
            _set(self, "decide", _duration(self.decide))
        if self.decide_extension is not None:
            _set(self, "decide_extension", _duration(self.decide_extension))

    def stage(self, stage: DeadlineStage | str) -> Duration | None:
        value: Duration | None = getattr(self, DeadlineStage(stage).value)
        return value


@dataclass(frozen=True, slots=True)
class Grant:
    """What one clause grants. Everything not listed is refused.

    ``crime_areas`` holds ICCS codes or ``"all"``; a code covers every code
    below it (``06`` covers ``0601`` and ``06011``). ``search_mode`` says how a
    ``hit-no-hit-search`` under the clause compares (:class:`SearchMode`).
    """

    actions: frozenset[Action]
    categories: frozenset[Category]
    crime_areas: frozenset[str]
    max_handling: Handling
    purposes: frozenset[Purpose]
    retention: Duration
    onward_transfer: OnwardTransfer = OnwardTransfer.FORBIDDEN
    notify_owner: bool = False
    deadlines: tuple[Deadline, ...] = ()
    search_mode: SearchMode = SearchMode.CLEAR

    if TYPE_CHECKING:  # the constructor accepts any iterable and plain strings

        def __init__(
            self,
            actions: Iterable[Action | str],
            categories: Iterable[Category | str],
            crime_areas: Iterable[str],
            max_handling: Handling | str,
            purposes: Iterable[Purpose | str],
            retention: Duration | str,
            onward_transfer: OnwardTransfer | str = OnwardTransfer.FORBIDDEN,
            notify_owner: bool = False,
            deadlines: Iterable[Deadline] = (),
            search_mode: SearchMode | str = SearchMode.CLEAR,
        ) -> None: ...

    def __post_init__(self) -> None:
        _set(self, "actions", _frozen(self.actions, Action))
        _set(self, "categories", _frozen(self.categories, Category))
        _set(self, "crime_areas", _frozen(self.crime_areas, str))
        _set(self, "max_handling", Handling(self.max_handling))
        _set(self, "purposes", _frozen(self.purposes, Purpose))
        _set(self, "retention", _duration(self.retention))
        _set(self, "onward_transfer", OnwardTransfer(self.onward_transfer))
        _set(self, "search_mode", SearchMode(self.search_mode))
        if not isinstance(self.notify_owner, bool):
            raise ValueError(f"notify_owner must be true or false, not {self.notify_owner!r}")
        order = list(Urgency)
        deadlines = sorted(self.deadlines, key=lambda d: (d.request.value, order.index(d.urgency)))
        _set(self, "deadlines", tuple(deadlines))

    @property
    def all_crime_areas(self) -> bool:
        return ALL_CRIME_AREAS in self.crime_areas

    def covers_crime_area(self, code: str | None) -> bool:
        """Is ICCS ``code`` inside this grant? ``None`` (no crime area) needs ``all``."""
        if ALL_CRIME_AREAS in self.crime_areas:
            return True
        if code is None:
            return False
        areas = self.crime_areas
        return any(code[:n] in areas for n in range(2, len(code) + 1))


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause: its text and its grant.

    ``from_parties`` / ``to_parties`` (YAML ``from`` / ``to``) make the grant
    directional: only a party in ``from_parties`` may act towards a party in
    ``to_parties``. ``None`` (the default) means every party towards every
    other party.
    """

    id: str
    text: str
    grants: Grant
    from_parties: frozenset[str] | None = None
    to_parties: frozenset[str] | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            id: str,
            text: str,
            grants: Grant,
            from_parties: Iterable[str] | None = None,
            to_parties: Iterable[str] | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        if self.from_parties is not None:
            _set(self, "from_parties", _frozen(self.from_parties, str))
        if self.to_parties is not None:
            _set(self, "to_parties", _frozen(self.to_parties, str))

    def allows_direction(self, from_party: str, to_party: str) -> bool:
        """Given the agreement parties that matched each side."""
        if self.from_parties is not None and from_party not in self.from_parties:
            return False
        return self.to_parties is None or to_party in self.to_parties


@dataclass(frozen=True, slots=True)
class PointOfContact:
    agency: str
    role: str
    channel: str
    crime_areas: frozenset[str] = frozenset({ALL_CRIME_AREAS})

    if TYPE_CHECKING:

        def __init__(
            self,
            agency: str,
            role: str,
            channel: str,
            crime_areas: Iterable[str] = frozenset({ALL_CRIME_AREAS}),
        ) -> None: ...

    def __post_init__(self) -> None:
        _set(self, "crime_areas", _frozen(self.crime_areas, str))


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Agreement:
    """One version of an agreement.

    Validity is in UTC days: in force from ``valid_from`` 00:00 UTC up to and
    including the whole of ``valid_until`` (if any). A new version of an
    amended agreement keeps the ``id``, increments ``version`` and names the
    version it amends in ``amends``; the old version stays (shortened by its
    ``valid_until``) so past decisions keep their basis.
    """

    id: str
    version: int
    title: str
    instrument: Instrument
    parties: tuple[str, ...]
    valid_from: date
    clauses: tuple[Clause, ...]
    valid_until: date | None = None
    amends: int | None = None
    languages: tuple[str, ...] = ()
    points_of_contact: tuple[PointOfContact, ...] = ()
    reference: str | None = None
    starts_at: datetime = field(init=False, repr=False, compare=False)
    ends_at: datetime | None = field(init=False, repr=False, compare=False)

    if TYPE_CHECKING:  # the constructor accepts any iterable, strings and ISO dates

        def __init__(
            self,
            id: str,
            version: int,
            title: str,
            instrument: Instrument | str,
            parties: Iterable[str],
            valid_from: date | str,
            clauses: Iterable[Clause],
            valid_until: date | str | None = None,
            amends: int | None = None,
            languages: Iterable[str] = (),
            points_of_contact: Iterable[PointOfContact] = (),
            reference: str | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool):
            raise ValueError(f"version must be an integer, not {self.version!r}")
        _set(self, "instrument", Instrument(self.instrument))
        _set(self, "parties", tuple(self.parties))
        _set(self, "valid_from", _date(self.valid_from))
        if self.valid_until is not None:
            _set(self, "valid_until", _date(self.valid_until))
        _set(self, "clauses", tuple(self.clauses))
        _set(self, "languages", tuple(self.languages))
        _set(self, "points_of_contact", tuple(self.points_of_contact))
        _set(self, "starts_at", _utc_midnight(self.valid_from))
        ends = None if self.valid_until is None else _utc_midnight(self.valid_until) + timedelta(days=1)
        _set(self, "ends_at", ends)

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(f"agreement {self.id} v{self.version} has no clause {clause_id!r}")

    def validity_at(self, at: datetime) -> str:
        """``in-force``, ``not-yet-valid`` or ``expired`` at aware datetime ``at``."""
        if at < self.starts_at:
            return "not-yet-valid"
        if self.ends_at is not None and at >= self.ends_at:
            return "expired"
        return "in-force"

    def in_force(self, at: datetime) -> bool:
        return self.validity_at(at) == "in-force"

    def overlaps(self, other: Agreement) -> bool:
        """Do the validity periods of two versions share at least one day?"""
        self_end = self.valid_until or date.max
        other_end = other.valid_until or date.max
        return self.valid_from <= other_end and other.valid_from <= self_end

    def party_for(self, ref: str) -> str | None:
        """The party entry that covers ``ref`` (agency before country), if any."""
        if ref in self.parties:
            return ref
        for party in self.parties:
            if party_matches(party, ref):
                return party
        return None


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts towards whom.

    ``agency`` initiates the action (sends the message, runs the search, makes
    the request, propagates the alert, transfers the evidence) towards
    ``counterpart``. Either may be an agency (``ES-PN``) or a whole country
    (``ES``). ``clearance`` is the officer's highest handling code, if known.
    """

    agency: str
    counterpart: str
    officer: str | None = None
    clearance: Handling | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            agency: str,
            counterpart: str,
            officer: str | None = None,
            clearance: Handling | str | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        if self.clearance is not None:
            _set(self, "clearance", Handling(self.clearance))

    @property
    def country(self) -> str:
        return party_country(self.agency)

    @property
    def counterpart_country(self) -> str:
        return party_country(self.counterpart)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "counterpart": self.counterpart,
            "officer": self.officer,
            "clearance": None if self.clearance is None else self.clearance.value,
        }


@dataclass(frozen=True, slots=True)
class Resource:
    """What the flow carries: data categories, the crime area (ICCS), handling code.

    ``crime_area=None`` means the flow is not tied to one crime area; only a
    grant with ``crime_areas: [all]`` covers it.
    """

    categories: frozenset[Category]
    crime_area: str | None
    handling: Handling

    if TYPE_CHECKING:

        def __init__(
            self,
            categories: Iterable[Category | str],
            crime_area: str | None,
            handling: Handling | str,
        ) -> None: ...

    def __post_init__(self) -> None:
        _set(self, "categories", _frozen(self.categories, Category))
        _set(self, "handling", Handling(self.handling))

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": sorted(c.value for c in self.categories),
            "crime_area": self.crime_area,
            "handling": self.handling.value,
        }


class DecisionCode(StrEnum):
    """Machine-readable outcome of a decision."""

    ALLOWED = "allowed"
    UNKNOWN_ACTOR = "unknown-actor"
    CLEARANCE_TOO_LOW = "clearance-too-low"
    UNKNOWN_CRIME_AREA = "unknown-crime-area"
    NO_AGREEMENT = "no-agreement"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    DIRECTION_NOT_GRANTED = "direction-not-granted"
    ACTION_NOT_GRANTED = "action-not-granted"
    CATEGORY_NOT_GRANTED = "category-not-granted"
    CRIME_AREA_NOT_GRANTED = "crime-area-not-granted"
    HANDLING_TOO_HIGH = "handling-too-high"
    PURPOSE_NOT_GRANTED = "purpose-not-granted"


@dataclass(frozen=True, slots=True)
class Basis:
    """The one clause a decision rests on."""

    agreement_id: str
    version: int
    clause_id: str

    def __str__(self) -> str:
        return f"{self.agreement_id} v{self.version} clause {self.clause_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "version": self.version,
            "clause_id": self.clause_id,
        }


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the receiver must do with what it got under an allow, and (``search_mode``)
    how both sides must carry out a hit/no-hit search under it."""

    delete_by: datetime
    onward_transfer: OnwardTransfer
    notify_owner: bool
    search_mode: SearchMode = SearchMode.CLEAR

    @property
    def no_onward_transfer(self) -> bool:
        return self.onward_transfer is OnwardTransfer.FORBIDDEN

    @property
    def onward_needs_owner_consent(self) -> bool:
        return self.onward_transfer is OnwardTransfer.WITH_OWNER_CONSENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "delete_by": self.delete_by.isoformat(),
            "onward_transfer": self.onward_transfer.value,
            "no_onward_transfer": self.no_onward_transfer,
            "onward_needs_owner_consent": self.onward_needs_owner_consent,
            "notify_owner": self.notify_owner,
            "search_mode": self.search_mode.value,
        }

    def describe(self) -> list[str]:
        lines = [f"delete by {self.delete_by.isoformat()}"]
        if self.no_onward_transfer:
            lines.append("no onward transfer")
        elif self.onward_needs_owner_consent:
            lines.append("onward transfer only with the owner's consent")
        else:
            lines.append("onward transfer allowed")
        if self.notify_owner:
            lines.append("notify the owner of any use")
        if self.search_mode is SearchMode.BLOOM:
            lines.append("hit/no-hit search in privacy-preserving mode (keyed Bloom filters)")
        return lines


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of the policy decision point.

    An allow always has a ``basis`` and ``obligations``; a deny never has
    obligations and has a ``basis`` only when one clause came closest (the
    clause whose condition failed is then named in ``reason``).
    """

    allowed: bool
    code: DecisionCode
    reason: str
    basis: Basis | None = None
    obligations: Obligations | None = None

    def __post_init__(self) -> None:
        if self.allowed and (self.basis is None or self.obligations is None or self.code is not DecisionCode.ALLOWED):
            raise ValueError("an allow needs a basis, obligations and code 'allowed'")
        if not self.allowed and (self.obligations is not None or self.code is DecisionCode.ALLOWED):
            raise ValueError("a deny has no obligations and a deny code")

    @classmethod
    def deny(cls, code: DecisionCode, reason: str, basis: Basis | None = None) -> Self:
        return cls(allowed=False, code=code, reason=reason, basis=basis)

    def require(self) -> Self:
        """Return self if allowed; raise :class:`PolicyDenied` otherwise."""
        if not self.allowed:
            from accord.agreements.errors import raise_denied

            raise_denied(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": self.code.value,
            "reason": self.reason,
            "basis": None if self.basis is None else self.basis.to_dict(),
            "obligations": None if self.obligations is None else self.obligations.to_dict(),
        }


def deadline_map(deadlines: Mapping[str, Mapping[str, Any]]) -> tuple[Deadline, ...]:
    """Build deadlines from the YAML shape ``{request: {urgency: value}}``.

    ``value`` is a duration string (the ``respond`` deadline) or a mapping
    with ``respond`` and optionally ``decide`` and ``decide_extension``.
    """
    out: list[Deadline] = []
    for request, by_urgency in deadlines.items():
        for urgency, value in by_urgency.items():
            if isinstance(value, str | Duration):
                out.append(Deadline(RequestType(request), Urgency(urgency), _duration(value)))
            else:
                out.append(
                    Deadline(
                        RequestType(request),
                        Urgency(urgency),
                        respond=value["respond"],
                        decide=value.get("decide"),
                        decide_extension=value.get("decide_extension"),
                    )
                )
    return tuple(out)
