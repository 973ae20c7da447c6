"""Demo nodes are created once and reused; their logins are stable across runs."""

from __future__ import annotations

from pathlib import Path

from accord.demo import prepare_node


def test_prepare_reuses_existing_node(tmp_path: Path) -> None:
    first = prepare_node(tmp_path, "FR", 18502)
    config = (first.data_dir / "accord.toml").read_text()
    again = prepare_node(tmp_path, "FR", 18502)
    assert (again.data_dir / "accord.toml").read_text() == config  # not re-initialised
    assert [vars(lg) for lg in again.logins] == [vars(lg) for lg in first.logins]
    assert {lg.agency for lg in first.logins} <= {"FR-PN", "FR-DGDDI"}
    assert all(len(lg.totp_secret) >= 16 for lg in first.logins)
