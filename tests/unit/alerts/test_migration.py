"""Migration 0007 creates exactly the alert tables the models describe, and drops them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from accord import migrations
from accord.db import make_engine
from accord.tables import metadata

ALERTS = {"alerts", "alert_hits"}


def test_upgrade_matches_the_models_and_downgrade_drops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
            assert set(inspect(conn).get_table_names()) >= ALERTS
    finally:
        engine.dispose()
    assert [d for d in diff if "alert" in repr(d)] == []

    command.downgrade(migrations.alembic_config(url), "0006")
    assert migrations.current(url) == "0006"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) & ALERTS == set()
    finally:
        engine.dispose()
