"""Migration 0003 creates exactly the exchange tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from accord import migrations
from accord.db import make_engine
from accord.tables import metadata

EXCHANGE = {"exchange_messages", "exchange_recipients", "exchange_outbox", "exchange_inbox"}


def test_upgrade_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert set(conn.dialect.get_table_names(conn)) >= EXCHANGE
    finally:
        engine.dispose()

    def touches_exchange(item: object) -> bool:
        return "exchange_" in repr(item)

    assert [d for d in diff if touches_exchange(d)] == []
