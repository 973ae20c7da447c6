from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from accord.agreements import AGREEMENTS_DIR_ENV
from accord.cli.agreements import app as agreements_app
from accord.cli.policy import app as policy_app

from .conftest import BROKEN, EXAMPLES

runner = CliRunner()
EXPLAIN = [
    "explain",
    "--from",
    "ES-PN",
    "--to",
    "FR-PN",
    "--action",
    "message",
    "--categories",
    "person,phone",
    "--crime-area",
    "0601",
    "--handling",
    "H2",
    "--purpose",
    "investigation",
    "--at",
    "2027-06-01",
    "--agreements",
    str(EXAMPLES),
]


def test_validate_samples_ok() -> None:
    result = runner.invoke(agreements_app, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_validate_broken_reports_file_line_field_and_exits_nonzero() -> None:
    result = runner.invoke(agreements_app, ["validate", str(BROKEN / "02-unknown-iccs.yaml")])
    assert result.exit_code == 1
    assert "02-unknown-iccs.yaml:14:" in result.output
    assert "clauses[0].grants.crime_areas[1]" in result.output


def test_validate_json() -> None:
    result = runner.invoke(agreements_app, ["validate", "--json", str(BROKEN)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert not data["ok"]
    assert len({i["file"] for i in data["issues"]}) == len(list(BROKEN.glob("*.yaml")))


def test_list_and_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AGREEMENTS_DIR_ENV, str(EXAMPLES))
    result = runner.invoke(agreements_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    assert {"id": "es-ma-police", "version": 2}.items() <= next(
        a for a in json.loads(result.output) if a["version"] == 2 and a["id"] == "es-ma-police"
    ).items()
    shown = runner.invoke(agreements_app, ["show", "es-ma-police", "--version", "1"])
    assert shown.exit_code == 0 and "valid_until: 2023-12-31" in shown.output
    assert runner.invoke(agreements_app, ["list"]).exit_code == 0


def test_list_without_folder_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AGREEMENTS_DIR_ENV, raising=False)
    result = runner.invoke(agreements_app, ["list"])
    assert result.exit_code == 1
    assert AGREEMENTS_DIR_ENV in result.output


def test_explain_allow_shows_clause_and_obligations() -> None:
    result = runner.invoke(policy_app, EXPLAIN)
    assert result.exit_code == 0, result.output
    assert "ALLOW" in result.output and "art-4-5" in result.output
    assert "delete by 2029-06-01" in result.output


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"--to": "DE-BKA"}, "no-agreement"),
        ({"--to": "ZZ-PN"}, "unknown-actor"),
        ({"--at": "2010-01-01"}, "not-yet-valid"),
        ({"--action": "alert-propagation"}, "action-not-granted"),
        (
            {
                "--from": "MA-DGSN",
                "--to": "ES-PN",
                "--action": "alert-propagation",
                "--purpose": "detection",
                "--handling": "H1",
            },
            "direction-not-granted",
        ),
        ({"--from": "MA-DGSN", "--categories": "person,wallet", "--handling": "H1"}, "category-not-granted"),
        ({"--from": "MA-DGSN", "--crime-area": "0101", "--handling": "H1"}, "crime-area-not-granted"),
        ({"--handling": "H3"}, "handling-too-high"),
        ({"--purpose": "prosecution"}, "purpose-not-granted"),
    ],
)
def test_explain_deny_json(change: dict[str, str], code: str) -> None:
    args = list(EXPLAIN)
    for option, value in change.items():
        args[args.index(option) + 1] = value
    result = runner.invoke(policy_app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["decision"]["code"] == code
    assert data["decision"]["reason"].startswith("Denied")


def test_explain_expired(tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = list(EXPLAIN)
    args[args.index("--from") + 1] = "MA-DGSN"
    args[args.index("--to") + 1] = "ES-PN"
    args[args.index("--agreements") + 1] = str(tmp_path)
    (tmp_path / "a.yaml").write_text((EXAMPLES / "es-ma-police-cooperation.yaml").read_text().split("\n---\n")[0])
    result = runner.invoke(policy_app, [*args, "--json"])
    assert json.loads(result.output)["decision"]["code"] == "expired"


def test_explain_deny_panel_and_bad_option() -> None:
    args = list(EXPLAIN)
    args[args.index("--handling") + 1] = "H3"
    result = runner.invoke(policy_app, args)
    assert result.exit_code == 1 and "DENY" in result.output and "H3" in result.output
    args[args.index("--handling") + 1] = "H9"
    result = runner.invoke(policy_app, args)
    assert result.exit_code == 2 and "--handling" in result.output


def test_deadline_command() -> None:
    result = runner.invoke(
        policy_app,
        [
            "deadline",
            "--agreement",
            "eu-2023-977",
            "--request",
            "information",
            "--urgency",
            "urgent-direct",
            "--agreements",
            str(EXAMPLES),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "8 hour(s)" in result.output
