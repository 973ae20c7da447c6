"""Schemas of hit/no-hit search: the officer's request and result (API) and the two payloads
that travel inside envelopes (``accord/search-query``, ``accord/search-answer``).

Bounds everywhere: at most :data:`MAX_ITEMS` identifiers a request, values of at most 300
characters, references of at most 200. In the privacy-preserving mode the query payload is
:class:`PrivateQueryPayload`: no clear value at all — per query its index, its kind, and a
keyed Bloom-filter encoding (persons) or a keyed hash (other identifiers), with the
agreement, epoch and key id of the linkage key they were made under. The answer payload has no field that could carry a
name, a date or a record id: per query only its index, an outcome, a band and an opaque
reference (docs/search.md, "Hit/no-hit protocol").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.agreements import Handling, Purpose

__all__ = [
    "CATEGORY_OF",
    "MAX_ITEMS",
    "AnswerItem",
    "AnswerPayload",
    "FollowUp",
    "ItemResult",
    "Kind",
    "LinkageRef",
    "Outcome",
    "PeerAnswer",
    "PeerResult",
    "PeerStatus",
    "PrivateQueryItem",
    "PrivateQueryPayload",
    "QueryItem",
    "QueryPayload",
    "SearchCreate",
    "SearchItem",
    "SearchResult",
]

MAX_ITEMS = 10_000


class Kind(StrEnum):
    """What an identifier is; each kind belongs to one agreement category (:data:`CATEGORY_OF`)."""

    PERSON = "person"
    DOCUMENT = "document"
    PLATE = "plate"
    VIN = "vin"
    PHONE = "phone"
    EMAIL = "email"
    IBAN = "iban"
    WALLET = "wallet"


CATEGORY_OF: dict[Kind, str] = {
    Kind.PERSON: "person", Kind.DOCUMENT: "document", Kind.PLATE: "vehicle",
    Kind.VIN: "vehicle", Kind.PHONE: "phone", Kind.EMAIL: "email", Kind.IBAN: "account",
    Kind.WALLET: "wallet",
}

Value = Annotated[str, Field(min_length=1, max_length=300)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
Dob = Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$|^\d{8}$",
                           description="YYYY, YYYY-MM, YYYY-MM-DD or YYYYMMDD")]
Gender = Literal["male", "female", "other"]
Ref = Annotated[str, Field(min_length=1, max_length=400, pattern=r"^[A-Za-z0-9._~-]+$")]
QueryId = Annotated[str, Field(pattern=r"^[a-f0-9]{32}$")]


class SearchItem(BaseModel):
    """One identifier to look for."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    value: Value = Field(description="a name in any script, a document number, a plate, …")
    country: Country | None = Field(default=None, description="plates: the issuing country; "
                                    "phones written without their country code: the region")
    dob: Dob | None = Field(default=None, description="persons: date of birth")
    nationality: Country | None = None
    gender: Gender | None = None

    @model_validator(mode="after")
    def _person_fields(self) -> SearchItem:
        if self.kind is not Kind.PERSON and (self.dob or self.nationality or self.gender):
            raise ValueError("dob, nationality and gender are for persons only")
        return self


class SearchCreate(BaseModel):
    """An officer's search: one identifier (``kind`` + ``value`` …) or a batch (``items``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = None
    value: Value | None = None
    country: Country | None = None
    dob: Dob | None = None
    nationality: Country | None = None
    gender: Gender | None = None
    items: list[SearchItem] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    purpose: Purpose = Purpose.INVESTIGATION
    crime_area: str | None = Field(default=None, pattern=r"^\d{2,6}$",
                                   description="ICCS code, if the search is for one")
    handling: Handling = Field(default=Handling.H0,
                               description="handling code of the query itself")
    where: str | None = Field(default=None, min_length=1, max_length=200,
                              description="where the check happens (a border post, a road): "
                              "told to an alert's issuer when the search hits an alert")

    @model_validator(mode="after")
    def _one_or_batch(self) -> SearchCreate:
        single = self.kind is not None or self.value is not None
        if single == (self.items is not None):
            raise ValueError("give either kind and value, or items")
        if single and (self.kind is None or self.value is None):
            raise ValueError("a single search needs both kind and value")
        if single:
            assert self.kind is not None and self.value is not None
            self.items = [SearchItem(kind=self.kind, value=self.value, country=self.country,
                                     dob=self.dob, nationality=self.nationality,
                                     gender=self.gender)]
        return self

    @property
    def queries(self) -> list[SearchItem]:
        assert self.items is not None
        return self.items


# --------------------------------------------------------------------------- wire payloads


class QueryItem(SearchItem):
    """One query on the wire: the officer's identifier and its position in the request."""

    i: int = Field(ge=0, lt=MAX_ITEMS)


class QueryPayload(BaseModel):
    """The plaintext of an ``accord/search-query`` envelope."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    query_id: QueryId
    sender: str = Field(pattern=r"^[A-Z]{2}-[A-Za-z0-9_-]{1,32}$")
    officer: str = Field(min_length=1, max_length=200)
    purpose: Purpose
    crime_area: str | None = Field(default=None, pattern=r"^\d{2,6}$")
    handling: Handling
    mode: Literal["clear"] = "clear"
    items: list[QueryItem] = Field(min_length=1, max_length=MAX_ITEMS)


class LinkageRef(BaseModel):
    """Which linkage key a privacy-preserving query was encoded under (never the secret)."""

    model_config = ConfigDict(extra="forbid")

    agreement: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,80}$")
    epoch: int = Field(ge=1)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")


class PrivateQueryItem(BaseModel):
    """One query in the privacy-preserving mode: a person as a keyed Bloom-filter encoding
    (``Encoding.to_text()``), any other identifier as the keyed hash of its match key."""

    model_config = ConfigDict(extra="forbid")

    i: int = Field(ge=0, lt=MAX_ITEMS)
    kind: Kind
    encoding: str | None = Field(default=None, min_length=28, max_length=4096,
                                 pattern=r"^[A-Za-z0-9_-]+$")
    token: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @model_validator(mode="after")
    def _one_form(self) -> PrivateQueryItem:
        if self.kind is Kind.PERSON:
            if self.encoding is None or self.token is not None:
                raise ValueError("a person travels as an encoding")
        elif self.token is None or self.encoding is not None:
            raise ValueError("an identifier travels as a keyed hash (token)")
        return self


class PrivateQueryPayload(BaseModel):
    """The plaintext of an ``accord/search-query`` envelope in the privacy-preserving mode."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    query_id: QueryId
    sender: str = Field(pattern=r"^[A-Z]{2}-[A-Za-z0-9_-]{1,32}$")
    officer: str = Field(min_length=1, max_length=200)
    purpose: Purpose
    crime_area: str | None = Field(default=None, pattern=r"^\d{2,6}$")
    handling: Handling
    mode: Literal["bloom"] = "bloom"
    linkage: LinkageRef
    items: list[PrivateQueryItem] = Field(min_length=1, max_length=MAX_ITEMS)


class Outcome(StrEnum):
    HIT = "hit"
    NO_HIT = "no-hit"
    NO_ANSWER = "no-answer"
    NOT_ASKED = "not-asked"
    REFUSED = "refused"  # asked, and the peer's own policy refused that category


class AnswerItem(BaseModel):
    """One query's answer on the wire: nothing but index, outcome, band and reference."""

    model_config = ConfigDict(extra="forbid")

    i: int = Field(ge=0, lt=MAX_ITEMS)
    outcome: Literal["hit", "no-hit", "refused"]
    band: Literal["strong", "possible"] | None = None
    ref: Ref | None = None

    @model_validator(mode="after")
    def _hit_has_ref(self) -> AnswerItem:
        if (self.outcome == "hit") != (self.ref is not None and self.band is not None):
            raise ValueError("a hit, and only a hit, has a band and a reference")
        return self


class AnswerPayload(BaseModel):
    """The plaintext of an ``accord/search-answer`` envelope."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    query_id: QueryId
    query_envelope_id: str = Field(min_length=1, max_length=128)
    results: list[AnswerItem] = Field(max_length=MAX_ITEMS)


# --------------------------------------------------------------------------- result (API)


class PeerStatus(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    NOT_ASKED = "not-asked"
    REFUSED = "refused"
    PARTIAL = "partial"  # some chunks answered, some not


class FollowUp(BaseModel):
    """What a one-click follow-up request needs (the requests module builds it)."""

    agency: str
    reference: str
    clause: str | None = Field(description="the clause granting record-access-after-hit, "
                               "as agreement@version#clause; null when none does")
    request_clause: str | None = Field(default=None, description="the clause granting "
                                       "request:hit-follow-up, if any")
    reason: str = ""


class PeerAnswer(BaseModel):
    agency: str
    outcome: Outcome
    band: str | None = None
    reference: str | None = None
    follow_up: FollowUp | None = None


class ItemResult(BaseModel):
    index: int
    kind: Kind
    hits: int
    answers: list[PeerAnswer]


class PeerResult(BaseModel):
    agency: str
    node_id: str
    status: PeerStatus
    asked: int = Field(description="identifiers sent to this peer")
    hits: int = 0
    categories: list[str] = Field(default_factory=list)
    clause: str | None = Field(default=None, description="the clause that allowed (asked) or "
                               "came closest (not asked)")
    code: str | None = None
    reason: str | None = None
    latency_ms: float | None = None


class SearchResult(BaseModel):
    query_id: str
    at: datetime
    purpose: str
    count: int
    hits: int
    peers: list[PeerResult]
    results: list[ItemResult]
