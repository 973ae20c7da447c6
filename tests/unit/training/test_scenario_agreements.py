"""The generated agreements load and validate with accord.agreements, and refuse what
the scenario means them to refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from accord.agreements import (
    Actor,
    Resource,
    decide,
    load_agreement_file,
    load_registry,
    validate_paths,
)
from accord.training.scenario import ScenarioSummary, generate_scenario

AT = datetime(2025, 6, 1, 12, tzinfo=UTC)


def test_every_agreement_loads_and_validates(scenario: tuple[Path, ScenarioSummary]) -> None:
    out, summary = scenario
    files = sorted((out / "agreements").glob("*.yaml"))
    assert [f.name for f in files] == sorted(summary.agreements)
    assert len(files) == 3
    for path in files:
        (agreement,) = load_agreement_file(path)
        assert agreement.id == path.stem
        text = path.read_text("utf-8")
        assert "NOT LEGAL ADVICE" in text
    report = validate_paths([out / "agreements"])
    assert not report.issues, report.issues


def test_instruments(scenario: tuple[Path, ScenarioSummary]) -> None:
    out, _ = scenario
    by_id = {a.id: a for p in (out / "agreements").glob("*.yaml")
             for a in load_agreement_file(p)}
    assert by_id["scenario-eu-es-fr"].instrument == "eu-instrument"
    assert by_id["scenario-es-ma-police"].instrument == "bilateral-treaty"
    assert by_id["scenario-fr-ma-police"].parties == ("FR", "MA")


def test_decisions_allow_and_refuse(scenario: tuple[Path, ScenarioSummary]) -> None:
    out, _ = scenario
    registry = load_registry(out / "agreements")
    drugs = "0601"
    ok = decide(Actor("ES-PN", "MA-DGSN"), "message",
                Resource({"person", "phone"}, drugs, "H2"), "investigation", AT,
                registry=registry)
    assert ok.allowed, ok.reason
    accounts = decide(Actor("ES-PN", "MA-DGSN"), "message",
                      Resource({"account"}, drugs, "H1"), "investigation", AT,
                      registry=registry)
    assert not accounts.allowed
    eu = decide(Actor("ES-PN", "FR-PN"), "message",
                Resource({"account", "wallet"}, drugs, "H2"), "investigation", AT,
                registry=registry)
    assert eu.allowed, eu.reason
    alert_back = decide(Actor("MA-DGSN", "ES-PN"), "alert-propagation",
                        Resource({"person"}, drugs, "H1"), "detection", AT, registry=registry)
    assert not alert_back.allowed


def test_generic_countries_get_agreements(tmp_path: Path) -> None:
    summary = generate_scenario(3, "DE,IT,MA,TN", 60, tmp_path)
    assert sorted(summary.agreements) == [
        "scenario-de-ma-police.yaml", "scenario-de-tn-police.yaml", "scenario-eu-de-it.yaml",
        "scenario-it-ma-police.yaml", "scenario-it-tn-police.yaml", "scenario-ma-tn-mou.yaml"]
    report = validate_paths([tmp_path / "agreements"])
    assert not report.issues, report.issues
