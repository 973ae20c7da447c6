"""API shapes for records: the body mirrors a JSON line of the import format."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from accord.agreements import Handling, Purpose
from accord.records.domain import InfoCredibility, SourceReliability, categories_of
from accord.records.models import Record

# The input is checked by the domain (meta_from: every problem listed in one 422, case and
# spaces forgiven); the document names the canonical values.
TLP_LABELS = ["TLP:CLEAR", "TLP:WHITE", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"]
HandlingIn = Annotated[str, WithJsonSchema(
    {"type": "string", "enum": [h.value for h in Handling] + TLP_LABELS})]
ReliabilityIn = Annotated[str, WithJsonSchema(
    {"type": "string", "enum": [r.value for r in SourceReliability]})]
CredibilityIn = Annotated[str, WithJsonSchema(
    {"type": "string", "enum": [c.value for c in InfoCredibility]})]
PurposeIn = Annotated[str, WithJsonSchema({"type": "string", "enum": [p.value for p in Purpose]})]


class EntityIn(BaseModel):
    """An FtM entity (``to_dict()`` shape); ``id`` may be left out on create."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str | None = Field(default=None, max_length=200)
    schema_: str = Field(alias="schema", examples=["Person"])
    properties: dict[str, list[str]] = Field(
        default_factory=dict, examples=[{"name": ["María García"], "phone": ["612 34 56 78"]}])

    def to_ftm(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": self.schema_, "properties": self.properties}
        if self.id is not None:
            data["id"] = self.id
        return data


class MetaIn(BaseModel):
    """Record metadata; ``owner`` defaults to the officer's agency."""

    model_config = ConfigDict(extra="forbid")
    owner: str | None = None
    handling: HandlingIn = Field(description="H0–H3 or a TLP 2.0 label", examples=["H1"])
    source_reliability: ReliabilityIn = Field(description="A, B, C or X", examples=["B"])
    info_credibility: CredibilityIn = Field(description="1, 2, 3 or 4", examples=["2"])
    legal_basis: str = Field(min_length=1, max_length=500)
    purpose: PurposeIn = Field(description="prevention, detection, investigation, prosecution")
    retention_until: date
    cases: list[str] = Field(default_factory=list)
    provenance: str = Field(default="", max_length=1000)


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: EntityIn
    meta: MetaIn


class MetaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handling: HandlingIn | None = None
    source_reliability: ReliabilityIn | None = None
    info_credibility: CredibilityIn | None = None
    legal_basis: str | None = Field(default=None, min_length=1, max_length=500)
    purpose: PurposeIn | None = None
    retention_until: date | None = None
    cases: list[str] | None = None
    provenance: str | None = Field(default=None, max_length=1000)


class RecordUpdate(BaseModel):
    """``properties`` replaces all the entity's properties; metadata fields change one by one."""

    model_config = ConfigDict(extra="forbid")
    properties: dict[str, list[str]] | None = None
    meta: MetaUpdate | None = None


class RecordPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    schema_: str = Field(alias="schema")
    caption: str
    properties: dict[str, list[str]]
    owner: str
    handling: Handling
    tlp: Literal["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:RED"]
    source_reliability: SourceReliability
    info_credibility: InfoCredibility
    evaluation: str = Field(pattern=r"^[ABCX][1-4]$", description="the 4x4 code, e.g. B2")
    legal_basis: str
    purpose: Purpose
    retention_until: date
    cases: list[str]
    provenance: str
    categories: list[str] = Field(description="agreement data categories of this record")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    flagged_at: datetime | None
    flag_reason: str | None

    @classmethod
    def of(cls, row: Record) -> RecordPublic:
        return cls(
            id=row.id, schema_=row.schema, caption=row.caption, properties=row.properties,
            owner=row.owner, handling=row.handling, tlp=Handling(row.handling).tlp,
            source_reliability=row.source_reliability, info_credibility=row.info_credibility,
            evaluation=f"{row.source_reliability}{row.info_credibility}",
            legal_basis=row.legal_basis, purpose=row.purpose,
            retention_until=row.retention_until, cases=list(row.cases),
            provenance=row.provenance,
            categories=sorted(c.value for c in categories_of(row.schema, row.properties)),
            created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at,
            updated_by=row.updated_by, flagged_at=row.flagged_at, flag_reason=row.flag_reason,
        )


class RecordList(BaseModel):
    items: list[RecordPublic]
    total: int = Field(description="visible records matching the filters")
    withheld: int = Field(description="matching records above your clearance or owned abroad")
    limit: int
    offset: int
