"""The files a scenario writes: determinism, FtM validity, ground truth, parties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from followthemoney import model

from accord.errors import ValidationFailed
from accord.training.scenario import ScenarioSummary, generate_scenario
from accord.training.scenario.names import is_arabic_script

from .conftest import COUNTRIES, PERSONS, SEED


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(
    scenario: tuple[Path, ScenarioSummary], tmp_path: Path
) -> None:
    first, _ = scenario
    generate_scenario(SEED, COUNTRIES, PERSONS, tmp_path)
    assert _files(tmp_path) == _files(first)


def test_country_order_does_not_matter(
    scenario: tuple[Path, ScenarioSummary], tmp_path: Path
) -> None:
    first, _ = scenario
    generate_scenario(SEED, "MA, fr,ES", PERSONS, tmp_path)
    assert _files(tmp_path) == _files(first)


def test_other_seed_gives_other_records(
    scenario: tuple[Path, ScenarioSummary], tmp_path: Path
) -> None:
    first, _ = scenario
    generate_scenario(SEED + 1, COUNTRIES, PERSONS, tmp_path)
    other = _files(tmp_path)
    mine = _files(first)
    assert set(other) == set(mine)
    for name in ("records/ES.ftm.jsonl", "records/FR.ftm.jsonl", "records/MA.ftm.jsonl",
                 "ground_truth.json", "parties.json"):
        assert other[name] != mine[name], name


def test_layout(scenario: tuple[Path, ScenarioSummary]) -> None:
    out, summary = scenario
    assert (out / "parties.json").is_file()
    assert (out / "ground_truth.json").is_file()
    assert sorted(p.name for p in (out / "records").iterdir()) == [
        "ES.ftm.jsonl", "FR.ftm.jsonl", "MA.ftm.jsonl"]
    assert sorted(p.name for p in (out / "agreements").iterdir()) == sorted(summary.agreements)
    assert summary.persons == PERSONS
    assert summary.person_records > PERSONS
    assert summary.networks >= 1


def test_every_entity_round_trips_through_the_ftm_model(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    for country, lines in records.items():
        for line in lines:
            entity = line["entity"]
            proxy = model.get_proxy(entity, cleaned=False)
            assert proxy.to_dict()["properties"] == entity["properties"], (country, entity)
            assert proxy.id == entity["id"]


def test_entity_ids_are_unique_and_references_resolve_within_the_file(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    for country, lines in records.items():
        ids = [line["entity"]["id"] for line in lines]
        assert len(ids) == len(set(ids)), country
        known = set(ids)
        for line in lines:
            entity = line["entity"]
            schema = model.get(entity["schema"])
            assert schema is not None
            for name, values in entity["properties"].items():
                prop = schema.get(name)
                assert prop is not None, (entity["schema"], name)
                if prop.type.name == "entity":
                    for value in values:
                        assert value in known, (country, entity["schema"], name)


def test_metadata_envelope(records: dict[str, list[dict[str, Any]]]) -> None:
    owners = {"ES": {"ES-PN", "ES-AEAT"}, "FR": {"FR-PN", "FR-DGDDI"},
              "MA": {"MA-DGSN", "MA-ADII"}}
    for country, lines in records.items():
        for line in lines:
            assert set(line) == {"entity", "meta"}
            meta = line["meta"]
            assert set(meta) == {"owner", "handling", "source_reliability", "info_credibility",
                                 "legal_basis", "purpose", "retention_until", "cases",
                                 "provenance"}
            assert meta["owner"] in owners[country]
            assert meta["handling"] in {"H0", "H1", "H2", "H3"}
            assert meta["source_reliability"] in {"A", "B", "C", "X"}
            assert meta["info_credibility"] in {"1", "2", "3", "4"}
            assert meta["purpose"] in {"prevention", "detection", "investigation",
                                       "prosecution"}
            assert len(meta["retention_until"]) == 10
            assert isinstance(meta["cases"], list)


def test_phones_are_valid_e164(records: dict[str, list[dict[str, Any]]]) -> None:
    seen = 0
    for lines in records.values():
        for line in lines:
            props = line["entity"]["properties"]
            for key in ("phone", "callerNumber", "receiverNumber"):
                for value in props.get(key, []):
                    number = phonenumbers.parse(value)
                    assert phonenumbers.is_valid_number(number), value
                    assert value == phonenumbers.format_number(
                        number, phonenumbers.PhoneNumberFormat.E164)
                    seen += 1
    assert seen > PERSONS / 2


def test_schemas_cover_the_brief(records: dict[str, list[dict[str, Any]]]) -> None:
    schemas = {line["entity"]["schema"] for lines in records.values() for line in lines}
    assert {"Person", "Passport", "Identification", "Vehicle", "Ownership", "Address",
            "BankAccount", "CryptoWallet", "Trip", "Event", "Membership", "Organization",
            "Call", "Payment", "Family", "Associate"} <= schemas


def test_arabic_script_in_moroccan_records_and_latin_elsewhere(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    persons = {c: [ln["entity"] for ln in lines if ln["entity"]["schema"] == "Person"]
               for c, lines in records.items()}
    ma_arabic = [e for e in persons["MA"] if is_arabic_script(e["properties"]["name"][0])]
    assert len(ma_arabic) > len(persons["MA"]) / 3
    for country in ("ES", "FR"):
        assert not any(is_arabic_script(e["properties"]["name"][0]) for e in persons[country])
    # accents at home, their ASCII forms abroad
    assert any(any(ord(ch) > 127 for ch in e["properties"]["name"][0]) for e in persons["ES"])


def test_ground_truth_references_existing_records(
    truth: dict[str, Any], records: dict[str, list[dict[str, Any]]]
) -> None:
    index = {c: {ln["entity"]["id"]: ln["entity"] for ln in lines}
             for c, lines in records.items()}
    assert len(truth["persons"]) == PERSONS
    for person in truth["persons"]:
        assert person["records"], person["id"]
        assert person["records"][0]["country"] == person["home"] or any(
            r["country"] == person["home"] for r in person["records"])
        for rec in person["records"]:
            entity = index[rec["country"]][rec["id"]]
            assert entity["schema"] == "Person"
            assert entity["properties"]["name"] == [rec["name"]]
    for group in truth["same_person"]:
        assert len(group) >= 2
        for rec in group:
            assert rec["id"] in index[rec["country"]]
    for net in truth["networks"]:
        for leg in net["legs"]:
            for side in leg["records"].values():
                assert index[side["country"]][side["id"]]["schema"] == "Trip"


def test_cross_border_persons_are_spelled_differently(truth: dict[str, Any]) -> None:
    multi = [p for p in truth["persons"] if len({r["country"] for r in p["records"]}) >= 2]
    assert len(multi) >= PERSONS / 10
    differing = [p for p in multi if len({r["name"] for r in p["records"]}) > 1]
    assert len(differing) >= 0.8 * len(multi)
    moroccans = [p for p in multi if p["home"] == "MA" and p["name_arabic"]]
    assert moroccans
    for p in moroccans:
        names = {r["country"]: r["name"] for r in p["records"]}
        assert any(not is_arabic_script(n) for c, n in names.items() if c != "MA")
    variants = {v.split(":")[0] for p in truth["persons"] for r in p["records"]
                for v in r["variants"]}
    assert {"romanisation", "script", "typo", "dob"} <= variants


def test_network_roles_and_routes(truth: dict[str, Any]) -> None:
    from accord.agreements import is_iccs_code

    persons = {p["id"]: p for p in truth["persons"]}
    assert truth["networks"]
    for net in truth["networks"]:
        roles = {m["role"] for m in net["members"]}
        assert {"organiser", "broker", "courier", "supplier"} <= roles
        assert net["route"][0] == "MA"
        for code in net["crime_areas"]:
            assert is_iccs_code(code), code
        for m in net["members"]:
            assert persons[m["person"]]["role"] == m["role"]
            assert persons[m["person"]]["network"] == net["id"]
        brokers = [persons[m["person"]] for m in net["members"] if m["role"] == "broker"]
        assert any(len({r["country"] for r in b["records"]}) >= 2 for b in brokers)
        assert net["legs"]
    assert [r["path"] for r in truth["routes"]] == [n["route"] for n in truth["networks"]]


def test_parties(scenario: tuple[Path, ScenarioSummary]) -> None:
    out, _ = scenario
    parties = json.loads((out / "parties.json").read_text("utf-8"))
    ids = {a["id"] for a in parties["agencies"]}
    assert ids == {"ES-PN", "ES-AEAT", "FR-PN", "FR-DGDDI", "MA-DGSN", "MA-ADII"}
    assert {a["kind"] for a in parties["agencies"]} == {"police", "customs"}
    usernames = [o["username"] for o in parties["officers"]]
    assert len(usernames) == len(set(usernames))
    for officer in parties["officers"]:
        assert officer["agency"] in ids
        assert officer["clearance"] in {"H0", "H1", "H2", "H3"}
        assert set(officer["roles"]) <= {"officer", "analyst", "spoc", "legal", "dpo", "admin"}
        assert not any("password" in key or "totp" in key for key in officer)
    assert {r for o in parties["officers"] for r in o["roles"]} == {
        "officer", "analyst", "spoc", "legal", "dpo", "admin"}


def test_generic_countries(tmp_path: Path) -> None:
    summary = generate_scenario(7, "DE,IT,TN", 150, tmp_path)
    assert summary.countries == ("DE", "IT", "TN")
    truth = json.loads((tmp_path / "ground_truth.json").read_text("utf-8"))
    assert truth["networks"][0]["route"][0] == "TN"
    parties = json.loads((tmp_path / "parties.json").read_text("utf-8"))
    assert {a["id"] for a in parties["agencies"]} >= {"DE-BKA", "IT-PS", "TN-DGSN"}
    for line in (tmp_path / "records" / "TN.ftm.jsonl").read_text("utf-8").splitlines():
        entity = json.loads(line)["entity"]
        assert model.get_proxy(entity, cleaned=False).to_dict()["properties"] == (
            entity["properties"])


@pytest.mark.parametrize(("countries", "persons"), [("ES", 10), ("ES,XX", 10), ("ES,FR", 0)])
def test_bad_input_is_refused(tmp_path: Path, countries: str, persons: int) -> None:
    with pytest.raises(ValidationFailed):
        generate_scenario(1, countries, persons, tmp_path)


def test_identical_across_processes_with_other_hash_seeds(
    scenario: tuple[Path, ScenarioSummary], tmp_path: Path
) -> None:
    """No set or dict-hash order leaks into the output (PYTHONHASHSEED differs)."""
    import os
    import subprocess
    import sys

    first, _ = scenario
    code = (
        "import sys; from accord.training.scenario import generate_scenario; "
        f"generate_scenario({SEED}, {COUNTRIES!r}, {PERSONS}, sys.argv[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], check=True, env=env)
    assert _files(tmp_path / "s") == _files(first)
