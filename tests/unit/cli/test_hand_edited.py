"""A data folder edited by hand: a clear message and a non-zero exit, never a traceback.

The node's database deleted, replaced by another file, or left at an older or
unknown schema revision; a port past 16 bits in the TOML file. ``serve`` refuses
to start on such a folder (rather than answering 500 to every request).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord import migrations
from accord.cli.main import app
from tests.unit.cli.test_node_cli import data_dir  # noqa: F401 - the fixture

runner = CliRunner()


def _delete(d: Path) -> None:
    (d / "accord.db").unlink()


def _garbage(d: Path) -> None:
    (d / "accord.db").write_bytes(b"not a database, edited by hand\n" * 100)


def _revision(rev: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        conn = sqlite3.connect(d / "accord.db")
        with conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (rev,))
        conn.close()
    return edit


EDITS = {
    "deleted": (_delete, "holds no Accord schema"),
    "garbage": (_garbage, "file is not a database"),
    "older": (_revision("0003"), "run `accord db upgrade`"),
    "unknown": (_revision("9999"), "does not know"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_serve_refuses_a_database_edited_by_hand(data_dir: Path, name: str) -> None:  # noqa: F811
    edit, message = EDITS[name]
    edit(data_dir)
    r = runner.invoke(app, ["--data-dir", str(data_dir), "serve"])
    assert r.exit_code == 1, r.output
    assert message in " ".join(r.output.split())
    assert "Traceback" not in r.output


@pytest.mark.parametrize("name", ["deleted", "garbage"])
def test_commands_report_a_broken_database_in_one_line(data_dir: Path, name: str) -> None:  # noqa: F811
    EDITS[name][0](data_dir)
    r = runner.invoke(app, ["--data-dir", str(data_dir), "officers", "list"])
    assert r.exit_code == 1
    assert r.output.startswith("Database error:")
    assert "Traceback" not in r.output
    assert isinstance(r.exception, SystemExit)  # typer.Exit, not an escaped database error


def test_an_intact_database_is_at_the_newest_revision(data_dir: Path) -> None:  # noqa: F811
    migrations.check_current(f"sqlite:///{data_dir / 'accord.db'}")  # does not raise


def test_a_port_past_16_bits_is_refused(data_dir: Path) -> None:  # noqa: F811
    config = data_dir / "accord.toml"
    config.write_text("\n".join(
        "port = 99999999999999999999999" if line.startswith("port =") else line
        for line in config.read_text().splitlines()) + "\n")
    r = runner.invoke(app, ["--data-dir", str(data_dir), "officers", "list"])
    assert r.exit_code == 1
    assert "port" in r.output and "65535" in r.output
