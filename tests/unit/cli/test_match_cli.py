"""``accord match explain`` and ``accord match pairs``: no node, no database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from accord.cli.main import app

runner = CliRunner()


def test_explain_prints_score_band_and_fields() -> None:
    r = runner.invoke(app, ["match", "explain", "Владимир Путин", "Vladimir Putin",
                            "--dob1", "1952-10-07", "--dob2", "1952"])
    assert r.exit_code == 0, r.output
    assert "band strong" in r.output
    assert "name" in r.output and "birth_date" in r.output and "partial" in r.output


def test_explain_json() -> None:
    r = runner.invoke(app, ["match", "explain", "محمد بن سلمان", "Mohammed bin Salman", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["band"] == "possible" and 0.2 <= doc["score"] < 0.9
    assert doc["explanation"][0]["field"] == "name"
    assert doc["explanation"][0]["level"] == "equivalent"


def test_explain_bad_date_exits_2_with_one_line() -> None:
    r = runner.invoke(app, ["match", "explain", "A B", "A B", "--dob1", "1970-13-01"])
    assert r.exit_code == 2
    assert "--dob1" in r.output and "not a possible date" in r.output


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_pairs_writes_rows_back_with_score_and_band(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", [
        ["id", "left", "right", "dob_left", "dob_right"],
        ["1", "Усама бен Ладен", "Osama bin Laden", "1957-03-10", "1957"],
        ["2", "Jean Dupont", "Mohammed Salman", "1970", "1990"],
        ["3", "习近平", "Xi Jinping", "", ""],
    ])
    r = runner.invoke(app, ["match", "pairs", str(src)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["id"] for row in rows] == ["1", "2", "3"]
    assert [row["band"] for row in rows] == ["strong", "none", "possible"]
    assert all(0.0 <= float(row["score"]) <= 1.0 for row in rows)
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["match", "pairs", str(src), "-o", str(out)])
    assert r.exit_code == 0
    assert list(csv.DictReader(out.open(encoding="utf-8"))) == rows


def test_pairs_missing_column_exits_2(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", [["left", "other"], ["a", "b"]])
    r = runner.invoke(app, ["match", "pairs", str(src)])
    assert r.exit_code == 2
    assert "missing column right" in r.output


def test_pairs_bad_date_exits_2_naming_the_line(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", [["left", "right", "dob_left"], ["a b", "a b", "1970"], ["a b", "a b", "May 70"]])
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["match", "pairs", str(src), "-o", str(out)])
    assert r.exit_code == 2
    assert ":3: dob_left" in r.output
    assert not out.exists()


def test_pairs_large_file(tmp_path: Path) -> None:
    rows = [["left", "right"]] + [[f"Ali Hassan {i}", f"Hassan Ali {i}"] for i in range(1200)]
    src = write(tmp_path / "in.csv", rows)
    r = runner.invoke(app, ["match", "pairs", str(src), "-o", str(tmp_path / "out.csv")])
    assert r.exit_code == 0, r.output
    assert len(list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))) == 1200
