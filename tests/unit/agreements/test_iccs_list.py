"""Shape and content of the shipped ICCS v1.0 code list (accord/data/iccs.json)."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from accord.agreements import iccs_codes, iccs_name, is_iccs_code
from accord.agreements.iccs import iccs_metadata

LEVEL_BY_LENGTH = {2: 1, 4: 2, 5: 3, 6: 4}


def _raw_codes() -> list[dict[str, object]]:
    text = resources.files("accord").joinpath("data/iccs.json").read_text("utf-8")
    return json.loads(text)["codes"]


def test_codes_are_unique() -> None:
    raw = [c["code"] for c in _raw_codes()]
    assert len(raw) == len(set(raw))
    assert len(iccs_codes()) == len(raw)


def test_every_code_has_the_shape_of_its_level() -> None:
    for code in iccs_codes().values():
        assert re.fullmatch(r"\d{2}|\d{4}|\d{5}|\d{6}", code.code), code.code
        assert code.level == LEVEL_BY_LENGTH[len(code.code)], code.code


def test_names_are_non_empty_and_trimmed() -> None:
    for code in iccs_codes().values():
        assert code.name.strip(), code.code
        assert code.name == code.name.strip(), code.code


def test_every_section_is_listed_without_parent() -> None:
    codes = iccs_codes()
    for n in range(1, 12):
        section = codes[f"{n:02d}"]
        assert section.level == 1
        assert section.parent is None


def test_every_division_has_its_section_as_parent() -> None:
    codes = iccs_codes()
    divisions = [c for c in codes.values() if c.level == 2]
    assert divisions
    for division in divisions:
        assert division.parent == division.code[:2], division.code
        assert division.parent in codes, division.code


def test_parent_is_the_nearest_listed_ancestor() -> None:
    codes = iccs_codes()
    for code in codes.values():
        if code.level == 1:
            continue
        assert code.parent is not None, code.code
        assert code.parent in codes, code.code
        assert code.code.startswith(code.parent), code.code
        assert len(code.parent) < len(code.code), code.code
        between = [code.code[:n] for n in (2, 4, 5) if len(code.parent) < n < len(code.code)]
        assert not any(a in codes for a in between), code.code


def test_every_code_names_a_declared_source() -> None:
    sources = iccs_metadata()["sources"]
    for code in iccs_codes().values():
        assert code.source in sources, code.code
        assert sources[code.source].strip()


def test_all_divisions_of_sections_01_and_02() -> None:
    codes = iccs_codes()
    expected_01 = {"0101", "0102", "0103", "0104", "0105", "0106", "0107", "0109"}
    expected_02 = {f"02{n:02d}" for n in range(1, 12)} | {"0219"}
    for section, expected in (("01", expected_01), ("02", expected_02)):
        listed = {c.code for c in codes.values() if c.level == 2 and c.parent == section}
        assert listed == expected


# Spot checks: each code and name was read in the source given in iccs.json.
SPOT_CHECKS = [
    # Eurostat crim_off_cat labels
    ("02011", "Assault"),
    ("020111", "Serious assault"),
    ("02022", "Deprivation of liberty"),
    ("020221", "Kidnapping"),
    ("02041", "Trafficking in persons for sexual exploitation"),
    ("030221", "Child pornography"),
    ("07031", "Bribery"),
    ("1001", "Acts that cause environmental pollution or degradation"),
    ("1002", "Acts involving the movement or dumping of waste"),
    ("1003", "Trade or possession of protected or prohibited species of fauna and flora"),
    ("1004", "Acts that result in the depletion or degradation of natural resources"),
    # OAS IOS glossary entries quoting ICCS v1.0
    ("020222", "Illegal restraint"),
    ("02021", "Abduction of a minor"),
    ("05022", "Theft of personal property"),
    ("0504", "Property damage"),
    ("030223", "Sexual grooming of children"),
    ("0802", "Acts against public order sexual standards"),
    ("08051", "Smuggling of migrants offences"),
    ("09012", "Trafficking of weapons and explosives"),
    ("09031", "Unlawful access to a computer system"),
    ("09061", "Participation in a terrorist group"),
    ("07041", "Money laundering"),
]


@pytest.mark.parametrize(("code", "name"), SPOT_CHECKS)
def test_spot_checks(code: str, name: str) -> None:
    assert is_iccs_code(code)
    assert iccs_name(code) == name


def test_spot_check_sources() -> None:
    codes = iccs_codes()
    assert codes["09031"].source == "oas-ios-glossary-83"
    assert codes["1003"].source == "eurostat-crim_off_cat"
    assert "id=83" in iccs_metadata()["sources"]["oas-ios-glossary-83"]


@pytest.mark.parametrize("code", ["0601", "07041", "09051", "08"])
def test_codes_used_by_the_scenario_generator_are_listed(code: str) -> None:
    assert is_iccs_code(code)


@pytest.mark.parametrize("code", ["9999", "12", "0108", "0", "060", "0601111"])
def test_unknown_or_malformed_codes_are_refused(code: str) -> None:
    assert not is_iccs_code(code)
