"""``accord scenario generate`` through Typer."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from accord.cli.scenario import app


def test_generate_writes_a_scenario(tmp_path: Path) -> None:
    out = tmp_path / "scn"
    result = CliRunner().invoke(app, ["generate", "--seed", "4", "--countries", "ES,FR,MA",
                                      "--persons", "120", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["persons"] == 120
    assert doc["countries"] == ["ES", "FR", "MA"]
    assert (out / "ground_truth.json").is_file()
    again = CliRunner().invoke(app, ["generate", "--seed", "4", "--persons", "120",
                                     "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert not list(tmp_path.glob(".scn*"))  # no partial or old folder left behind


def test_unknown_country_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--countries", "ES,XX", "--persons", "10",
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "XX" in result.output
    assert not (tmp_path / "x").exists()


def test_refuses_a_folder_that_is_not_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["generate", "--persons", "10", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"
