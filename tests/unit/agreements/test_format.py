"""The file format: samples, round trips, the YAML pitfalls, and broken files."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from accord.agreements import (
    AgreementInvalid,
    Registry,
    agreement_schema,
    dump_agreement,
    dump_agreements,
    iccs_codes,
    load_agreement_file,
    load_agreements,
    validate_paths,
)
from accord.agreements.validate import validate_text

from .conftest import BROKEN, EXAMPLES, make_agreement


def test_samples_validate() -> None:
    report = validate_paths([EXAMPLES])
    assert report.issues == []
    assert len(report.files) >= 5
    ids = {a.id for a in report.agreements}
    assert {"eu-2023-977", "eu-eio-2014-41", "eu-prum", "es-ma-police", "jit-es-fr-estrecho"} <= ids


def test_samples_say_model_not_legal_advice() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        head = path.read_text(encoding="utf-8").split("\nid:")[0]
        assert "NOT LEGAL ADVICE" in head, path.name


def test_samples_round_trip(examples: Registry) -> None:
    for agreement in examples:
        assert load_agreements(dump_agreement(agreement)) == [agreement]


def test_multi_version_dump_round_trip(examples: Registry) -> None:
    versions = list(examples.versions("es-ma-police"))
    assert len(versions) == 2 and versions[1].amends == 1
    assert load_agreements(dump_agreements(versions)) == versions


def test_constructed_agreement_round_trips() -> None:
    agreement = make_agreement(parties=("ES", "NO"))  # NO: Norway, not a boolean
    text = dump_agreement(agreement)
    assert load_agreements(text) == [agreement]


def test_yaml_pitfalls_are_strings() -> None:
    text = dump_agreement(make_agreement()).replace("'06'", "06").replace("'0701'", "0701")
    assert "- 06\n" in text
    (loaded,) = load_agreements(text)
    assert loaded.clauses[0].grants.crime_areas == frozenset({"06", "0701"})


def test_published_schema_is_valid_and_matches_package_file() -> None:
    schema = agreement_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    text = resources.files("accord").joinpath("data/agreement.schema.json").read_text("utf-8")
    assert json.loads(text) == schema


def test_iccs_list_has_every_section_with_source() -> None:
    codes = iccs_codes()
    assert {f"{n:02d}" for n in range(1, 12)} <= set(codes)
    assert codes["0601"].name == "Unlawful acts involving controlled drugs or precursors"
    for code in codes.values():
        assert code.source
        assert code.parent is None or code.code.startswith(code.parent)


# file, code, line, field
BROKEN_CASES = [
    ("01-unknown-key.yaml", "unknown-key", 8, "partys"),
    ("02-unknown-iccs.yaml", "unknown-iccs", 14, "clauses[0].grants.crime_areas[1]"),
    ("03-unknown-country.yaml", "unknown-country", 6, "parties[1]"),
    ("04-bad-duration.yaml", "bad-duration", 17, "clauses[0].grants.retention"),
    ("05-impossible-dates.yaml", "impossible-dates", 8, "valid_until"),
    ("06-overlapping-versions.yaml", "overlapping-versions", 26, "valid_from"),
    ("07-bad-handling.yaml", "bad-value", 15, "clauses[0].grants.max_handling"),
    ("08-unknown-action.yaml", "bad-value", 12, "clauses[0].grants.actions[1]"),
    ("09-impossible-date.yaml", "impossible-date", 7, "valid_from"),
    ("10-from-not-a-party.yaml", "unknown-party", 10, "clauses[0].from[0]"),
    ("11-unknown-agency-country.yaml", "unknown-country", 6, "parties[1]"),
]


def test_every_broken_file_is_tested() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == {case[0] for case in BROKEN_CASES}
    assert len(BROKEN_CASES) >= 10


@pytest.mark.parametrize(("name", "code", "line", "field"), BROKEN_CASES)
def test_broken_file_fails_with_expected_error(name: str, code: str, line: int, field: str) -> None:
    report = validate_paths([BROKEN / name])
    assert [(i.code, i.line, i.field) for i in report.issues] == [(code, line, field)]
    assert report.issues[0].file.endswith(name)


def test_loader_raises_with_every_issue() -> None:
    with pytest.raises(AgreementInvalid) as info:
        load_agreement_file(BROKEN / "02-unknown-iccs.yaml")
    assert info.value.issues[0].code == "unknown-iccs"
    assert info.value.to_problem()["issues"][0]["line"] == 14


def test_one_pass_reports_all_errors() -> None:
    text = (BROKEN / "03-unknown-country.yaml").read_text().replace("H2", "H9").replace(
        "P1Y", "one year"
    ) + "extra: 1\n"
    issues, found = validate_text(text, "x.yaml")
    assert found == []
    assert {i.code for i in issues} == {"unknown-country", "bad-value", "bad-duration", "unknown-key"}


def test_duplicate_key_and_syntax_errors_have_lines() -> None:
    issues, _ = validate_text("id: a\nid: b\n", "dup.yaml")
    assert ("duplicate-key", 2, "id") in {(i.code, i.line, i.field) for i in issues}
    issues, _ = validate_text("id: [a\nversion: 1\n", "bad.yaml")
    assert issues[0].code == "yaml-syntax" and issues[0].line >= 2


def test_missing_keys_and_deadline_rules() -> None:
    text = dump_agreement(make_agreement())
    issues, _ = validate_text(text.replace("title: Test agreement\n", ""), "t.yaml")
    assert [(i.code, i.field) for i in issues] == [("missing-key", "")]
    bad = text.replace("urgent: P3D", "urgent: P1M")
    issues, _ = validate_text(bad, "t.yaml")
    assert [(i.code, i.field) for i in issues] == [("bad-duration", "clauses[0].grants.deadlines.information.urgent")]
    ungranted = text.replace("information:\n", "eio:\n")
    issues, _ = validate_text(ungranted, "t.yaml")
    assert [i.code for i in issues] == ["deadline-not-granted"]


def test_duplicate_version_across_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    agreement = make_agreement()
    (tmp_path / "a.yaml").write_text(dump_agreement(agreement))
    (tmp_path / "b.yaml").write_text(dump_agreement(agreement))
    report = validate_paths([tmp_path])
    assert [i.code for i in report.issues] == ["duplicate-version"]
    assert report.issues[0].file.endswith("b.yaml")
