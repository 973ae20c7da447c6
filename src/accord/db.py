"""Engine, sessions and the declarative base; one code path for SQLite and PostgreSQL.

SQLite (embedded default) runs in WAL mode with foreign keys on and
``synchronous=FULL`` so a committed write survives a crash. PostgreSQL is
reached by URL through psycopg 3 (``postgresql+psycopg://…``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from accord.errors import WriterBusy

log = logging.getLogger("accord.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# 64-bit integers; SQLite's INTEGER is already 64-bit and only it autoincrements.
BigInt = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and route it to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, write_wait_seconds: float = 15.0, pool_size: int = 10,
                max_overflow: int = 40, **kwargs: Any) -> Engine:
    """An engine for ``url``.

    The pool holds as many connections as the request thread pool may use at
    once (FastAPI's default is 40 threads); a request that still finds none
    within ``write_wait_seconds`` fails with :class:`~accord.errors.WriterBusy`
    (503), never hangs. On SQLite, writers of one process queue on a
    :class:`WriteGate` (see there).
    """
    url = normalise_url(url)
    pool_args: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow,
                                 "pool_timeout": write_wait_seconds}
    if "poolclass" in kwargs:  # e.g. NullPool for migrations: no pool to size
        pool_args = {}
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        gate = WriteGate(write_wait_seconds, url.rsplit("/", 1)[-1])
        engine = create_engine(
            url, connect_args={"timeout": 30, "factory": _GatedConnection},
            **({} if memory else pool_args), **kwargs)
        _GATES[engine] = gate

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions, so BEGIN
            # IMMEDIATE below takes the write lock at the start.
            dbapi_conn.isolation_level = None
            dbapi_conn.gate = gate
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the lock up front (no deadlock on upgrade); readers
            # (see read_only()) begin deferred and never wait for writers (WAL).
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_conn = conn.connection.dbapi_connection
            dbapi_conn.take_gate()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_conn.leave_gate()
                raise

        return engine
    engine = create_engine(url, pool_pre_ping=True, **pool_args, **kwargs)
    lock_ms = max(1, int(write_wait_seconds * 1000))

    @event.listens_for(engine, "connect")
    def _pg_lock_timeout(dbapi_conn: Any, _record: Any) -> None:
        # A writer waits for a row lock (e.g. the audit log head) at most this long,
        # then fails with SQLSTATE 55P03, answered as a 503 (see is_busy()).
        dbapi_conn.execute(f"SET lock_timeout = {lock_ms}")
        dbapi_conn.commit()

    return engine


LOCK_NOT_AVAILABLE = "55P03"


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "busy, retry later" rather than a fault.

    True for a pool with no free connection in time, PostgreSQL's lock timeout
    (55P03) and SQLite's "database is locked" after its busy timeout.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        if isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig):
            return True
    return False


class WriteGate:
    """One SQLite writer at a time in this process, in arrival order, never forever.

    SQLite allows one writer per database; its busy handler makes a waiting
    writer poll with sleeps of up to 100 ms. Writers of one process queue here
    instead, so the next starts as soon as the previous commits. (Other
    processes, e.g. a CLI beside a server, still meet SQLite's busy timeout.)

    The gate is taken when a write transaction *begins* (the engine's ``begin``
    event, just before ``BEGIN IMMEDIATE``) and given back when the DBAPI
    connection commits, rolls back or closes (:class:`_GatedConnection`) —
    whichever thread does that: FastAPI may open a dependency's transaction in
    one worker thread and close it in another, so the gate is a semaphore, owned
    by the connection, not by a thread. Nothing is held across a ``yield``:
    a session opened but never used takes no gate.

    A writer that waits longer than ``wait_seconds`` fails with
    :class:`~accord.errors.WriterBusy` (a 503 problem) and is logged together
    with how long the current holder has held the gate, so a stuck writer is
    seen, not silently waited for.
    """

    def __init__(self, wait_seconds: float, name: str = "") -> None:
        self.wait_seconds = wait_seconds
        self.name = name
        self._sem = threading.BoundedSemaphore(1)
        self._since: float | None = None
        self.timeouts = 0

    def acquire(self) -> None:
        if not self._sem.acquire(timeout=self.wait_seconds):
            self.timeouts += 1
            since = self._since
            held = f"{time.monotonic() - since:.1f} s" if since is not None else "an unknown time"
            log.error("database %s: a writer waited %.1f s for the write lock, held for %s; "
                      "request refused with 503", self.name, self.wait_seconds, held)
            raise WriterBusy(f"the database is busy; no write slot within "
                             f"{self.wait_seconds:g} s; retry later",
                             retry_after=max(1, int(self.wait_seconds)))
        self._since = time.monotonic()

    def release(self) -> None:
        self._since = None
        self._sem.release()

    @property
    def held(self) -> bool:
        return self._since is not None


class _GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that gives its :class:`WriteGate` back when its transaction ends."""

    gate: WriteGate | None = None
    _holding = False

    def take_gate(self) -> None:
        if self.gate is not None and not self._holding:
            self.gate.acquire()
            self._holding = True

    def leave_gate(self) -> None:
        if self._holding:
            self._holding = False
            assert self.gate is not None
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_gate()


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> WriteGate | None:
    """The write gate of a SQLite engine (None on PostgreSQL)."""
    return _GATES.get(engine)


READ_ONLY = "accord_read_only"


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for writing, or (``read_only``) for reading without taking SQLite's write lock."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads; it is always rolled back."""
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    Holds nothing bound to a thread: enter and exit may run in different
    threads (see :class:`WriteGate`).
    """
    session = factory()
    try:
        yield session
        session.commit()
    except sa_exc.SQLAlchemyError as exc:
        session.rollback()
        if is_busy(exc):
            raise WriterBusy("the database is busy; retry later", retry_after=1) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def tx_cache(session: Session, name: str) -> dict[Any, Any]:
    """A dict that lives as long as the session's current transaction: for lookups a
    use case repeats many times in one transaction (a batch), which that transaction
    does not change. A new transaction gets a new, empty dict."""
    transaction = session.get_transaction()
    caches = session.info.get("accord.tx_cache")
    if not isinstance(caches, tuple) or caches[0] is not transaction:
        caches = session.info["accord.tx_cache"] = (transaction, {})
    return caches[1].setdefault(name, {})  # type: ignore[no-any-return]
