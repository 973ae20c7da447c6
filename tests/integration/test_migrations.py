"""``alembic upgrade head`` builds exactly the schema the models describe, on both engines.

Covers every revision from 0001: a table, column, index, constraint or type
the models have and the migrations lack (or the other way round) fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from accord import migrations
from accord.db import make_engine
from accord.tables import metadata
from tests.conftest import BACKENDS, IN_CI, PG_URL, _pg_reachable


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
