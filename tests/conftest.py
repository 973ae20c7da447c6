"""Test fixtures: a node on a real database engine — SQLite and PostgreSQL.

Every test that takes ``node`` runs twice, once per engine. PostgreSQL is at
``ACCORD_TEST_PG_URL`` (default: the local server's ``test`` database); each
worker gets its own schema, emptied after each test. With ``CI=true`` an
unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text

from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.db import make_engine
from accord.lifecycle import AgencySpec, initialise
from accord.settings import Settings
from accord.tables import metadata

PG_URL = os.environ.get("ACCORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = [p.strip() for p in os.environ.get("ACCORD_TEST_BACKENDS", "sqlite,postgresql").split(",")]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# No wall-clock deadlines (a loaded 2-core CI machine is slow, not wrong); CI runs
# the same examples every time, so a red run is reproducible.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("ci" if IN_CI else "dev")
AGENCIES = [AgencySpec("ES-PN", "Policía Nacional", "police"),
            AgencySpec("ES-SVA", "Servicio de Vigilancia Aduanera", "customs")]


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def require_postgres() -> None:
    """Skip without PostgreSQL — but fail under CI=true, where it must run."""
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")


@contextmanager
def empty_pg_schema(prefix: str) -> Iterator[str]:
    """A URL whose search path is a new, empty schema, dropped afterwards."""
    require_postgres()
    schema = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    with empty_pg_schema("t") as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables), for migration tests; on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    with empty_pg_schema("mig") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'accord.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_schema_url")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def make_settings(tmp_path: Path, db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "mode": "test", "data_dir": tmp_path, "database_url": db_url, "node_id": "es-node",
        "country": "ES", "base_url": "http://127.0.0.1:8401", "secret_key": "t" * 48,
        "key_passphrase": "test-key-passphrase", "audit_checkpoint_seconds": 3600,
        "agreements_recheck_seconds": 0,
    }
    values.update(overrides)
    # Argon2's minimum cost for sealing keys: many nodes per run (allowed in test mode only)
    values.setdefault("unsafe_fast_key_sealing", values["mode"] == "test")
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def node(db_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Node]:
    n = build_node(make_settings(tmp_path, db_url), clock=clock)
    initialise(n, AGENCIES, migrate=False)
    yield n
    n.dispose()


@pytest.fixture
def engine(node: Node) -> Engine:
    return node.engine
