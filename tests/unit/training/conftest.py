"""A small scenario generated once per test session (200 persons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from accord.training.scenario import ScenarioSummary, generate_scenario

SEED = 20250630
COUNTRIES = "ES,FR,MA"
PERSONS = 200


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScenarioSummary]:
    out = tmp_path_factory.mktemp("scenario")
    summary = generate_scenario(SEED, COUNTRIES, PERSONS, out)
    return out, summary


@pytest.fixture(scope="session")
def records(scenario: tuple[Path, ScenarioSummary]) -> dict[str, list[dict[str, Any]]]:
    out, summary = scenario
    result = {}
    for country in summary.countries:
        path = out / "records" / f"{country}.ftm.jsonl"
        result[country] = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    return result


@pytest.fixture(scope="session")
def truth(scenario: tuple[Path, ScenarioSummary]) -> dict[str, Any]:
    out, _ = scenario
    doc: dict[str, Any] = json.loads((out / "ground_truth.json").read_text("utf-8"))
    return doc
