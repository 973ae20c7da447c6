"""Records: pure rules and value objects, no I/O.

A record is one FollowTheMoney (FtM) entity plus the metadata that police
information management needs: the owner agency, a handling code (H0–H3,
mapped to TLP 2.0 in docs/agreements.md), the 4x4 evaluation (source
reliability A/B/C/X, information credibility 1–4), legal basis, purpose,
retention date, case links and provenance.

This module turns untrusted input (an API body, one JSON line of an import)
into a :class:`RecordData` whose entity has been validated against the FtM
model and whose phone numbers are in E.164 — or raises
:class:`~accord.records.errors.RecordInvalid` listing every problem. It also
says which agreement data categories a record falls into (for the policy
decision point) and whether a reader's clearance covers it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import phonenumbers
from followthemoney import model
from followthemoney.schema import Schema
from followthemoney.types import registry
from followthemoney.util import make_entity_id

from accord.agreements import Category, Handling, Purpose
from accord.records.errors import RecordInvalid

__all__ = [
    "MAX_ID_LENGTH",
    "SCHEMA_CATEGORIES",
    "InfoCredibility",
    "Meta",
    "Reader",
    "RecordData",
    "SourceReliability",
    "ValidEntity",
    "categories_of",
    "content_digest",
    "meta_from",
    "new_entity_id",
    "normalise_phone",
    "parse_line",
    "validate_entity",
]

MAX_ID_LENGTH = 200
MAX_CASES = 100


class SourceReliability(StrEnum):
    """Evaluation of the source (the "4x4" of Europol and the EU, first letter)."""

    A = "A"  # no doubt about authenticity, trustworthiness, competence; or always reliable
    B = "B"  # source has proved reliable in most instances
    C = "C"  # source has proved unreliable in most instances
    X = "X"  # reliability cannot be assessed


class InfoCredibility(StrEnum):
    """Evaluation of the information (the "4x4", second digit)."""

    KNOWN_TRUE = "1"  # known to be true without reservation
    KNOWN_TO_SOURCE = "2"  # known personally to the source, not to the official passing it on
    CORROBORATED = "3"  # not known personally to the source, corroborated by recorded information
    UNCORROBORATED = "4"  # not known personally to the source, cannot be corroborated


# Which FtM schemata a node accepts as records, and the agreement data
# categories each falls into. A category is what the policy decision point
# checks a flow against, so the mapping errs on the side of *more* categories
# (a grant must then cover all of them): a relation between unknown ends
# counts as both person and organisation. Documents and files (Document,
# Pages, Image, …) are evidence, not records (a later capability).
SCHEMA_CATEGORIES: dict[str, frozenset[Category]] = {
    "Person": frozenset({Category.PERSON}),
    "LegalEntity": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Organization": frozenset({Category.ORGANISATION}),
    "Company": frozenset({Category.ORGANISATION}),
    "PublicBody": frozenset({Category.ORGANISATION}),
    "Vehicle": frozenset({Category.VEHICLE}),
    "Vessel": frozenset({Category.VEHICLE}),
    "Airplane": frozenset({Category.VEHICLE}),
    "Identification": frozenset({Category.DOCUMENT}),
    "Passport": frozenset({Category.DOCUMENT}),
    "Address": frozenset({Category.PERSON}),
    "BankAccount": frozenset({Category.ACCOUNT}),
    "CryptoWallet": frozenset({Category.WALLET}),
    "UserAccount": frozenset({Category.CYBER_INDICATOR}),
    "Email": frozenset({Category.EMAIL}),
    "Event": frozenset({Category.PERSON}),
    "Trip": frozenset({Category.PERSON}),
    "Associate": frozenset({Category.PERSON}),
    "Family": frozenset({Category.PERSON}),
    "Membership": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Employment": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Directorship": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Representation": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Ownership": frozenset({Category.PERSON, Category.ORGANISATION}),
    "UnknownLink": frozenset({Category.PERSON, Category.ORGANISATION}),
    "Payment": frozenset({Category.ACCOUNT}),
    "Call": frozenset({Category.PHONE}),
}

# Values of these FtM property types add a category whatever the schema.
_TYPE_CATEGORIES: dict[str, Category] = {
    "phone": Category.PHONE,
    "email": Category.EMAIL,
}
# Properties that reference a vehicle or an account add that category.
_PROP_CATEGORIES: dict[str, Category] = {
    "vehicle": Category.VEHICLE,
    "iban": Category.ACCOUNT,
    "passportNumber": Category.DOCUMENT,
}

# Properties whose values hint at the country of a national phone number,
# in order of preference.
_REGION_PROPS = ("country", "nationality", "citizenship", "jurisdiction", "mainCountry")


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads or writes records: the authorization object handed to services.

    ``clearance`` is the highest handling code the reader may see. The command
    line acts as the node operator (``Reader.operator()``) unless it names an
    officer with ``--as``.
    """

    actor: str
    agency_id: str | None
    clearance: Handling
    credential: str = ""  # the session or API token acting (Principal.audit_credential)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clearance", Handling(self.clearance))

    @property
    def country(self) -> str | None:
        return self.agency_id[:2] if self.agency_id else None

    def covers(self, handling: Handling) -> bool:
        return handling.rank <= self.clearance.rank

    @classmethod
    def operator(cls, actor: str = "cli") -> Reader:
        """The node operator at the command line: sees everything hosted here."""
        return cls(actor=actor, agency_id=None, clearance=Handling.H3)


@dataclass(frozen=True, slots=True)
class Meta:
    """The metadata that travels with an entity."""

    owner: str
    handling: Handling
    source_reliability: SourceReliability
    info_credibility: InfoCredibility
    legal_basis: str
    purpose: Purpose
    retention_until: date
    cases: tuple[str, ...] = ()
    provenance: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "handling": self.handling.value,
            "source_reliability": self.source_reliability.value,
            "info_credibility": self.info_credibility.value,
            "legal_basis": self.legal_basis,
            "purpose": self.purpose.value,
            "retention_until": self.retention_until.isoformat(),
            "cases": list(self.cases),
            "provenance": self.provenance,
        }

    @property
    def evaluation(self) -> str:
        """The 4x4 code, e.g. ``B2``."""
        return f"{self.source_reliability.value}{self.info_credibility.value}"


@dataclass(frozen=True, slots=True)
class ValidEntity:
    """An FtM entity checked against the model, in FtM's cleaned form."""

    id: str
    schema: str
    properties: dict[str, list[str]]
    caption: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "schema": self.schema, "properties": self.properties}


@dataclass(frozen=True, slots=True)
class RecordData:
    entity: ValidEntity
    meta: Meta
    digest: str = field(default="")

    @property
    def id(self) -> str:
        return self.entity.id

    @property
    def categories(self) -> frozenset[Category]:
        return categories_of(self.entity.schema, self.entity.properties)


# --------------------------------------------------------------------------- rules


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, loc: str, message: str) -> None:
        self.items.append({"field": loc, "message": message})

    def raise_if_any(self, what: str) -> None:
        if self.items:
            first = self.items[0]
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise RecordInvalid(f"{what}: {first['field']}: {first['message']}{more}",
                                errors=self.items)


def new_entity_id(*parts: str) -> str:
    """A fresh FtM-style entity id (SHA-1 digest of the parts)."""
    entity_id = make_entity_id(*parts)
    assert entity_id is not None
    return entity_id


def normalise_phone(value: str, region: str | None = None) -> str:
    """A phone number in E.164 (``+34612345678``), or ``ValueError``.

    A number without ``+`` needs ``region`` (ISO 3166-1 alpha-2) to be read;
    the number must be valid for its country, not merely well formed.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty phone number")
    hint = region.upper() if region else None
    try:
        number = phonenumbers.parse(text, hint)
    except phonenumbers.NumberParseException as exc:
        if hint is None and not text.startswith(("+", "00")):
            raise ValueError(
                f"phone number {value!r} has no country code and no country is known "
                "to read it in"
            ) from exc
        raise ValueError(f"phone number {value!r} cannot be read: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"phone number {value!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _region_hint(properties: Mapping[str, Any], default_region: str | None) -> str | None:
    for name in _REGION_PROPS:
        values = properties.get(name)
        if isinstance(values, list):
            for raw in values:
                if isinstance(raw, str):
                    code = registry.country.clean(raw)
                    if code and len(code) == 2 and code not in ("zz", "eu"):
                        return code.upper()
    return default_region


def _as_values(raw: Any) -> list[Any] | None:
    if isinstance(raw, list):
        return raw
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return [raw]
    return None


def validate_entity(data: Any, *, default_region: str | None = None,
                    generate_id: bool = False) -> ValidEntity:
    """Check an FtM entity dict against the model; return it cleaned.

    Every problem is collected and raised at once as ``RecordInvalid`` (422)
    with ``errors: [{field, message}]``. Unknown schemata and properties,
    values that FtM cannot clean (dates, countries, e-mail addresses, …),
    phone numbers that are not valid numbers, and missing required
    properties are errors. Phones come out in E.164, every value as FtM
    cleans it. ``default_region`` reads national phone numbers when the
    entity names no country.
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise RecordInvalid("an entity must be a JSON object with id, schema and properties",
                            errors=[{"field": "entity", "message": "not an object"}])
    unknown = sorted(set(data) - {"id", "schema", "properties", "caption", "datasets",
                                  "referents", "first_seen", "last_seen", "last_change"})
    for key in unknown:
        problems.add(f"entity.{key}", "unknown key")

    schema_name = data.get("schema")
    schema: Schema | None = model.get(schema_name) if isinstance(schema_name, str) else None
    if schema is None:
        problems.add("schema", f"unknown FtM schema {schema_name!r}")
    elif schema.name not in SCHEMA_CATEGORIES:
        problems.add("schema", f"schema {schema.name!r} is not accepted as a record; accepted: "
                               f"{', '.join(sorted(SCHEMA_CATEGORIES))}")

    entity_id = data.get("id")
    if entity_id is None and generate_id:
        pass
    elif not isinstance(entity_id, str) or not entity_id.strip():
        problems.add("id", "an entity needs an id (a non-empty string)")
        entity_id = None
    else:
        entity_id = entity_id.strip()
        if len(entity_id) > MAX_ID_LENGTH:
            problems.add("id", f"ids are at most {MAX_ID_LENGTH} characters")
        elif registry.entity.clean(entity_id) != entity_id:
            problems.add("id", f"{entity_id!r} is not a valid FtM entity id")

    raw_props = data.get("properties", {})
    if not isinstance(raw_props, Mapping):
        problems.add("properties", "properties must be an object of lists")
        raw_props = {}

    cleaned: dict[str, list[str]] = {}
    if schema is not None and schema.name in SCHEMA_CATEGORIES:
        region = _region_hint(raw_props, default_region)
        for name in sorted(raw_props):
            loc = f"properties.{name}"
            prop = schema.get(name)
            if prop is None:
                problems.add(loc, f"{schema.name} has no property {name!r}")
                continue
            values = _as_values(raw_props[name])
            if values is None:
                problems.add(loc, "values must be a list of strings")
                continue
            out: list[str] = []
            for raw in values:
                if not isinstance(raw, str | int | float) or isinstance(raw, bool):
                    problems.add(loc, f"value {raw!r} is not a string")
                    continue
                text = str(raw).strip()
                if not text:
                    continue
                if prop.type is registry.phone:
                    try:
                        value: str | None = normalise_phone(text, region)
                    except ValueError as exc:
                        problems.add(loc, str(exc))
                        continue
                else:
                    value = prop.type.clean(text)
                    if not value:
                        problems.add(loc, f"invalid {prop.type.name} {text!r}")
                        continue
                assert value is not None
                if len(value) > prop.type.max_length:
                    problems.add(loc, f"value longer than {prop.type.max_length} characters")
                    continue
                if value not in out:
                    out.append(value)
            if out:
                cleaned[name] = out
        for name in sorted(schema.required):
            if name not in cleaned and not any(i["field"] == f"properties.{name}"
                                               for i in problems.items):
                problems.add(f"properties.{name}", f"{schema.name} requires {name!r}")

    problems.raise_if_any("invalid entity")
    assert schema is not None
    if entity_id is None:
        entity_id = new_entity_id(schema.name, uuid.uuid4().hex)
    proxy = model.get_proxy({"id": entity_id, "schema": schema.name, "properties": cleaned},
                            cleaned=True)
    caption = str(proxy.caption or schema.label)[:500]
    return ValidEntity(id=entity_id, schema=schema.name, properties=cleaned, caption=caption)


def categories_of(schema: str, properties: Mapping[str, Iterable[str]]) -> frozenset[Category]:
    """The agreement data categories a record falls into (see ``SCHEMA_CATEGORIES``)."""
    found = set(SCHEMA_CATEGORIES.get(schema, frozenset({Category.PERSON, Category.ORGANISATION})))
    ftm = model.get(schema)
    for name, values in properties.items():
        if not values:
            continue
        if name in _PROP_CATEGORIES:
            found.add(_PROP_CATEGORIES[name])
        prop = ftm.get(name) if ftm is not None else None
        if prop is not None and prop.type.name in _TYPE_CATEGORIES:
            found.add(_TYPE_CATEGORIES[prop.type.name])
    return frozenset(found)


_META_KEYS = frozenset({"owner", "handling", "source_reliability", "info_credibility",
                        "legal_basis", "purpose", "retention_until", "cases", "provenance"})
_REQUIRED_META = ("owner", "handling", "source_reliability", "info_credibility",
                  "legal_basis", "purpose", "retention_until")


def _enum(problems: _Problems, kind: Any, value: Any, loc: str) -> Any:
    if isinstance(value, str) and kind is Handling and value.upper().startswith("TLP:"):
        try:
            return Handling.from_tlp(value)
        except ValueError:
            pass
    try:
        text = str(value).strip()
        return kind(text.lower() if kind is Purpose else text.upper())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        problems.add(loc, f"{value!r} is not one of {allowed}")
        return None


def meta_from(data: Mapping[str, Any], *, today: date | None = None) -> Meta:
    """Build and check the metadata of a record (``RecordInvalid`` listing every problem).

    ``handling`` accepts H0–H3 or a TLP 2.0 label (``TLP:AMBER`` → H2, rounding
    up). A ``retention_until`` before ``today`` is refused: such a record
    would be deleted by the next retention run, so it is not taken in.
    """
    problems = _Problems()
    for key in sorted(set(data) - _META_KEYS):
        problems.add(f"meta.{key}", "unknown key")
    for key in _REQUIRED_META:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.add(f"meta.{key}", "required")
    owner = str(data.get("owner") or "").strip().upper()
    if owner and not (len(owner) >= 5 and owner[2] == "-" and owner[:2].isalpha()):
        problems.add("meta.owner", f"{owner!r} is not an agency id (ES-PN)")
    handling = _enum(problems, Handling, data["handling"], "meta.handling") \
        if data.get("handling") else None
    reliability = _enum(problems, SourceReliability, data["source_reliability"],
                        "meta.source_reliability") if data.get("source_reliability") else None
    credibility = _enum(problems, InfoCredibility, data["info_credibility"],
                        "meta.info_credibility") if data.get("info_credibility") else None
    purpose = _enum(problems, Purpose, data["purpose"], "meta.purpose") \
        if data.get("purpose") else None
    retention: date | None = None
    raw_retention = data.get("retention_until")
    if raw_retention:
        try:
            retention = (raw_retention if isinstance(raw_retention, date)
                         else date.fromisoformat(str(raw_retention)[:10]))
        except ValueError:
            problems.add("meta.retention_until", f"{raw_retention!r} is not a date (YYYY-MM-DD)")
        else:
            if today is not None and retention < today:
                problems.add("meta.retention_until",
                             f"{retention.isoformat()} is already past (today is {today.isoformat()})")
    legal_basis = str(data.get("legal_basis") or "").strip()
    if len(legal_basis) > 500:
        problems.add("meta.legal_basis", "at most 500 characters")
    provenance = str(data.get("provenance") or "").strip()
    if len(provenance) > 1000:
        problems.add("meta.provenance", "at most 1000 characters")
    raw_cases = data.get("cases") or []
    cases: list[str] = []
    if isinstance(raw_cases, str):
        raw_cases = [raw_cases]
    if not isinstance(raw_cases, list) or not all(isinstance(c, str) for c in raw_cases):
        problems.add("meta.cases", "cases must be a list of case references")
    else:
        for c in raw_cases:
            ref = c.strip()
            if ref and ref not in cases:
                cases.append(ref)
        if len(cases) > MAX_CASES or any(len(c) > 100 for c in cases):
            problems.add("meta.cases", f"at most {MAX_CASES} case references of 100 characters")
    problems.raise_if_any("invalid metadata")
    assert handling and reliability and credibility and purpose and retention
    return Meta(owner=owner, handling=handling, source_reliability=reliability,
                info_credibility=credibility, legal_basis=legal_basis, purpose=purpose,
                retention_until=retention, cases=tuple(cases), provenance=provenance)


def content_digest(entity: ValidEntity, meta: Meta) -> str:
    """SHA-256 over the canonical JSON of entity and metadata: equal digest, same record."""
    payload = json.dumps({"entity": entity.to_dict(), "meta": meta.to_dict()},
                         sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def parse_line(obj: Any, *, defaults: Mapping[str, Any], today: date | None = None,
               default_region_of: Mapping[str, str] | None = None) -> RecordData:
    """One import line: ``{"entity": …, "meta": …}`` or a plain FtM entity.

    Metadata on the line wins over ``defaults`` (the command-line options).
    """
    if not isinstance(obj, Mapping):
        raise RecordInvalid("a line must be a JSON object",
                            errors=[{"field": "line", "message": "not a JSON object"}])
    if "entity" in obj:
        extra = sorted(set(obj) - {"entity", "meta"})
        if extra:
            raise RecordInvalid(f"unknown key(s) on the line: {', '.join(extra)}",
                                errors=[{"field": k, "message": "unknown key"} for k in extra])
        entity_data, line_meta = obj["entity"], obj.get("meta") or {}
        if not isinstance(line_meta, Mapping):
            raise RecordInvalid("meta must be an object",
                                errors=[{"field": "meta", "message": "not an object"}])
    else:
        entity_data, line_meta = obj, {}
    merged = {**{k: v for k, v in defaults.items() if v is not None}, **line_meta}
    meta_problem: RecordInvalid | None = None
    meta: Meta | None = None
    try:
        meta = meta_from(merged, today=today)
    except RecordInvalid as exc:
        meta_problem = exc
    owner = str(merged.get("owner") or "")
    region = (default_region_of or {}).get(owner) or (owner[:2] if len(owner) >= 2 else None)
    try:
        entity = validate_entity(entity_data, default_region=region)
    except RecordInvalid as exc:
        if meta_problem is not None:
            errors = list(exc.extra.get("errors", [])) + list(meta_problem.extra.get("errors", []))
            raise RecordInvalid(exc.detail, errors=errors) from None
        raise
    if meta_problem is not None:
        raise meta_problem
    assert meta is not None
    return RecordData(entity=entity, meta=meta, digest=content_digest(entity, meta))
