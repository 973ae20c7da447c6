"""Pure rules of records: FtM validation, phone normalisation, categories, metadata."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from followthemoney import model

from accord.agreements import Category, Handling, Purpose
from accord.records import (
    RecordInvalid,
    SourceReliability,
    categories_of,
    meta_from,
    normalise_phone,
    parse_line,
    validate_entity,
)

META: dict[str, Any] = {
    "owner": "ES-PN", "handling": "H1", "source_reliability": "B", "info_credibility": "2",
    "legal_basis": "LO 7/2021", "purpose": "investigation", "retention_until": "2031-01-01",
    "cases": ["ES-2026-001"], "provenance": "test",
}


def person(**props: list[str]) -> dict[str, Any]:
    return {"id": "p1", "schema": "Person", "properties": {"name": ["Ana Ruiz"], **props}}


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+34 612 34 56 78", None, "+34612345678"),
    ("612 34 56 78", "ES", "+34612345678"),
    ("0034612345678", "ES", "+34612345678"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("+212 6 12 34 56 78", "ES", "+212612345678"),
    ("0612-345678", "MA", "+212612345678"),
])
def test_phones_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(("raw", "region", "why"), [
    ("612 34 56 78", None, "no country code"),
    ("+34 12", None, "not a valid number"),
    ("call me", "ES", "cannot be read"),
    ("", "ES", "empty"),
])
def test_bad_phones_are_refused_with_a_reason(raw: str, region: str | None, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_phone(raw, region)


def test_entity_phones_use_the_entity_country_then_the_default_region() -> None:
    fr = validate_entity(person(phone=["06 12 34 56 78"], country=["fr"]), default_region="ES")
    assert fr.properties["phone"] == ["+33612345678"]
    es = validate_entity(person(phone=["612345678"]), default_region="ES")
    assert es.properties["phone"] == ["+34612345678"]


def test_valid_entity_is_cleaned_like_ftm_does() -> None:
    e = validate_entity(person(birthDate=["1980-05-01"], nationality=["ES"],
                               email=["ana@example.org"]))
    assert e.caption == "Ana Ruiz"
    assert e.properties["nationality"] == ["es"]
    proxy = model.get_proxy(e.to_dict(), cleaned=False)
    assert proxy.to_dict()["properties"] == e.properties


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RecordInvalid) as info:
        validate_entity({"id": "p1", "schema": "Person",
                         "properties": {"birthDate": ["not a date"], "colour": ["red"],
                                        "phone": ["+34 12"], "email": ["nope"]}})
    fields = {e["field"] for e in info.value.extra["errors"]}
    assert fields == {"properties.birthDate", "properties.colour", "properties.phone",
                      "properties.email", "properties.name"}
    assert info.value.status == 422


@pytest.mark.parametrize(("data", "field"), [
    ({"id": "x", "schema": "Nonsense", "properties": {}}, "schema"),
    ({"id": "x", "schema": "Document", "properties": {}}, "schema"),
    ({"schema": "Person", "properties": {"name": ["A"]}}, "id"),
    ({"id": "has space", "schema": "Person", "properties": {"name": ["A"]}}, "id"),
    ({"id": "x", "schema": "Passport", "properties": {"number": ["X1"]}}, "properties.holder"),
    ({"id": "x", "schema": "Person", "properties": {"name": "A", "alias": [{"x": 1}]}},
     "properties.alias"),
    ({"id": "x", "schema": "Person", "properties": {"name": ["A"]}, "colour": 1}, "entity.colour"),
])
def test_invalid_entities(data: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordInvalid) as info:
        validate_entity(data)
    assert field in {e["field"] for e in info.value.extra["errors"]}


def test_supported_schemata_validate() -> None:
    samples = [
        {"schema": "Organization", "properties": {"name": ["Acme"]}},
        {"schema": "Company", "properties": {"name": ["Acme SL"], "jurisdiction": ["es"]}},
        {"schema": "Vehicle", "properties": {"registrationNumber": ["1234ABC"]}},
        {"schema": "Passport", "properties": {"holder": ["p1"], "number": ["XAB123"]}},
        {"schema": "Identification", "properties": {"holder": ["p1"], "number": ["123Z"]}},
        {"schema": "Address", "properties": {"full": ["Calle Mayor 1, Madrid"]}},
        {"schema": "BankAccount", "properties": {"iban": ["ES9121000418450200051332"]}},
        {"schema": "CryptoWallet", "properties": {"publicKey": ["bc1qxy2k"]}},
        {"schema": "UserAccount", "properties": {"username": ["ana"], "email": ["a@b.org"]}},
        {"schema": "Event", "properties": {"name": ["Border crossing"], "date": ["2025-01-01"]}},
        {"schema": "Associate", "properties": {"person": ["p1"], "associate": ["p2"]}},
        {"schema": "Family", "properties": {"person": ["p1"], "relative": ["p2"]}},
        {"schema": "Membership", "properties": {"member": ["p1"], "organization": ["o1"]}},
        {"schema": "Ownership", "properties": {"owner": ["p1"], "asset": ["v1"]}},
        {"schema": "Payment", "properties": {"payer": ["p1"], "beneficiary": ["p2"],
                                             "amount": ["1000"]}},
        {"schema": "Call", "properties": {"callerNumber": ["+34612345678"],
                                          "receiverNumber": ["+33612345678"]}},
        {"schema": "Trip", "properties": {"name": ["Tanger-Algeciras"], "startLocation": ["a1"],
                                          "endLocation": ["a2"]}},
    ]
    for i, sample in enumerate(samples):
        validate_entity({"id": f"e{i}", **sample})


@pytest.mark.parametrize(("schema", "props", "expected"), [
    ("Person", {"name": ["A"]}, {Category.PERSON}),
    ("Person", {"name": ["A"], "phone": ["+34612345678"], "email": ["a@b.org"]},
     {Category.PERSON, Category.PHONE, Category.EMAIL}),
    ("Company", {"name": ["A"]}, {Category.ORGANISATION}),
    ("Vehicle", {}, {Category.VEHICLE}),
    ("Passport", {}, {Category.DOCUMENT}),
    ("BankAccount", {"iban": ["ES91"]}, {Category.ACCOUNT}),
    ("CryptoWallet", {}, {Category.WALLET}),
    ("Call", {"callerNumber": ["+34612345678"]}, {Category.PHONE}),
    ("Trip", {"vehicle": ["v1"]}, {Category.PERSON, Category.VEHICLE}),
    ("Ownership", {}, {Category.PERSON, Category.ORGANISATION}),
    ("UserAccount", {"email": ["a@b.org"]}, {Category.CYBER_INDICATOR, Category.EMAIL}),
])
def test_categories(schema: str, props: dict[str, list[str]], expected: set[Category]) -> None:
    assert categories_of(schema, props) == expected


def test_meta_accepts_tlp_and_checks_every_field() -> None:
    m = meta_from({**META, "handling": "TLP:AMBER+STRICT", "purpose": "Prosecution"})
    assert m.handling is Handling.H3 and m.purpose is Purpose.PROSECUTION
    assert m.source_reliability is SourceReliability.B and m.evaluation == "B2"
    with pytest.raises(RecordInvalid) as info:
        meta_from({**META, "handling": "H9", "source_reliability": "D", "info_credibility": "5",
                   "purpose": "curiosity", "retention_until": "soon", "legal_basis": "",
                   "colour": "red"})
    fields = {e["field"] for e in info.value.extra["errors"]}
    assert fields == {"meta.handling", "meta.source_reliability", "meta.info_credibility",
                      "meta.purpose", "meta.retention_until", "meta.legal_basis", "meta.colour"}


def test_meta_refuses_a_retention_date_already_past() -> None:
    with pytest.raises(RecordInvalid, match="already past"):
        meta_from(META, today=date(2032, 1, 1))


def test_parse_line_both_shapes_and_defaults() -> None:
    line = parse_line({"entity": person(), "meta": META}, defaults={})
    assert line.meta.owner == "ES-PN" and line.meta.cases == ("ES-2026-001",)
    plain = parse_line(person(), defaults={**META, "owner": "ES-SVA"})
    assert plain.meta.owner == "ES-SVA"
    # Line metadata wins over the defaults; the digest depends on content.
    mixed = parse_line({"entity": person(), "meta": {"handling": "H2"}}, defaults=META)
    assert mixed.meta.handling is Handling.H2 and mixed.digest != line.digest
    assert parse_line({"entity": person(), "meta": META}, defaults={}).digest == line.digest
