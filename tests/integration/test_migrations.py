"""``alembic upgrade head`` builds exactly the schema the models describe, on both engines.

Covers every revision from 0001: a table, column, index, constraint or type
the models have and the migrations lack (or the other way round) fails here.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from accord import migrations
from accord.db import make_engine
from accord.tables import metadata


def test_upgrade_head_matches_the_models(empty_db: str) -> None:
    migrations.upgrade(empty_db)
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() is not None
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_repeatable(empty_db: str) -> None:
    migrations.upgrade(empty_db)
    first = migrations.current(empty_db)
    migrations.upgrade(empty_db)
    assert migrations.current(empty_db) == first
