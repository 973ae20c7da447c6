"""A generated scenario imports into its country's node without a single rejected line."""

from __future__ import annotations

import json
from pathlib import Path

from accord.agreements import Actor, Resource
from accord.bootstrap import build_node
from accord.clock import ManualClock
from accord.demo import install_agreements
from accord.lifecycle import AgencySpec, initialise
from accord.records.services import import_records
from accord.training.scenario import generate_scenario
from tests.conftest import make_settings


def test_scenario_records_import_cleanly_and_agreements_decide(
    db_url: str, tmp_path: Path, clock: ManualClock,
) -> None:
    out = tmp_path / "scenario"
    generate_scenario(3, ["ES", "FR", "MA"], 150, out)
    parties = json.loads((out / "parties.json").read_text(encoding="utf-8"))
    agencies = [AgencySpec(a["id"], a["name"], a["kind"]) for a in parties["agencies"]
                if a["country"] == "ES"]
    node = build_node(make_settings(tmp_path / "node", db_url), clock=clock)
    try:
        initialise(node, agencies, migrate=False)
        lines = (out / "records" / "ES.ftm.jsonl").read_bytes().splitlines()
        report = import_records(node, lines, by="test", source="ES.ftm.jsonl")
        assert report.errors == []
        assert report.lines == len(lines) > 100

        assert install_agreements(node.settings.resolved_agreements_dir, out / "agreements") >= 3
        ok = node.policy.decide(Actor("ES-PN", "FR-PN"), "message",
                                Resource({"person", "account"}, "0601", "H1"), "investigation")
        refused = node.policy.decide(Actor("ES-PN", "MA-DGSN"), "message",
                                     Resource({"person", "account"}, "0601", "H1"), "investigation")
        assert ok.allowed and not refused.allowed and refused.code == "category-not-granted"
    finally:
        node.dispose()
