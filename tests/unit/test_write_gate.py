"""The SQLite write gate: nothing bound to a thread, and never an endless wait.

FastAPI runs a sync dependency's enter and exit in different worker threads; a
``threading.RLock`` taken on enter could then never be released, and every later
writer waited forever (the outside review's hang). The gate is owned by the
connection, taken only when a write transaction begins, and a writer that
waits too long fails with a 503 problem, logged.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from accord.audit.models import AuditEntry
from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.db import write_gate
from accord.errors import WriterBusy
from accord.web.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def quick_node(db_url: str, tmp_path: Path, clock: ManualClock) -> Node:
    """A node whose writers give up after 0.5 s (no initialisation needed)."""
    n = build_node(make_settings(tmp_path, db_url, database_write_wait_seconds=0.5), clock=clock)
    yield n  # type: ignore[misc]
    n.dispose()


def _audit_rows(node: Node) -> int:
    with node.read() as s:
        return int(s.execute(text("SELECT count(*) FROM audit_entries")).scalar_one())


def test_transaction_opened_in_one_thread_and_closed_in_another(node: Node) -> None:
    cm = node.uow()
    with ThreadPoolExecutor(1) as a:
        session = a.submit(cm.__enter__).result()
        a.submit(node.record, session, actor="t", action="test:enter").result()
    with ThreadPoolExecutor(1) as b:  # another thread ends it, as FastAPI may
        assert b.submit(cm.__exit__, None, None, None).result() is False
    gate = write_gate(node.engine)
    assert gate is None or not gate.held  # PostgreSQL has no gate
    # the next writer, in a third thread, gets in at once and commits
    with ThreadPoolExecutor(1) as c:
        def write() -> None:
            with node.uow() as s:
                node.record(s, actor="t", action="test:after")
        c.submit(write).result(timeout=30)
    assert _audit_rows(node) >= 2


def test_a_session_that_writes_nothing_takes_no_gate(node: Node) -> None:
    with node.uow() as outer:  # opened, never used: holds nothing
        with node.uow() as inner:
            node.record(inner, actor="t", action="test:inner")
        assert outer is not inner


def _hold_the_writer(node: Node) -> Session:
    """A write transaction left open: SQLite's writer, or PostgreSQL's log-head row lock."""
    held = node.sessions()
    node.record(held, actor="t", action="test:held")
    held.flush()
    return held


def test_a_stuck_writer_makes_others_fail_with_503_and_a_log_line(
        quick_node: Node, caplog: pytest.LogCaptureFixture) -> None:
    from accord.lifecycle import initialise
    from tests.conftest import AGENCIES
    initialise(quick_node, AGENCIES, migrate=False)
    held = _hold_the_writer(quick_node)
    try:
        with (caplog.at_level(logging.ERROR, logger="accord.db"), pytest.raises(WriterBusy) as err,
              quick_node.uow() as s):
            quick_node.record(s, actor="t", action="test:blocked")
        assert err.value.status == 503
        assert err.value.to_problem()["type"].endswith("/writer-busy")
        gate = write_gate(quick_node.engine)
        if gate is not None:  # SQLite: the wait is logged with how long the holder held on
            assert gate.timeouts == 1
            assert any("waited 0.5 s for the write lock" in r.getMessage() for r in caplog.records)
    finally:
        held.rollback()
        held.close()
    with quick_node.uow() as s:  # the gate or lock came back with the rollback
        quick_node.record(s, actor="t", action="test:after")


def test_503_problem_with_retry_after(quick_node: Node) -> None:
    from accord.lifecycle import initialise
    from tests.conftest import AGENCIES
    initialise(quick_node, AGENCIES, migrate=False)
    client = TestClient(create_app(quick_node, background=False))
    held = _hold_the_writer(quick_node)
    try:  # a failed login must be written (counter, audit entry): it cannot be now
        r = client.post("/auth/login", json={"username": "nobody", "password": "x" * 12,
                                             "totp": "123456"})
    finally:
        held.rollback()
        held.close()
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("/writer-busy")


def test_many_requests_without_a_token_leave_the_node_writable(node: Node) -> None:
    """The finding itself, in process: 8 clients, 400 unauthenticated requests, then a write."""
    client = TestClient(create_app(node, background=False))
    before = _audit_rows(node)

    def anonymous(_: int) -> int:
        return client.get("/api/v1/officers").status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(anonymous, range(400)))
    assert set(statuses) == {401}
    gate = write_gate(node.engine)
    assert gate is None or not gate.held
    done = threading.Event()

    def write() -> None:
        with node.uow() as s:
            node.record(s, actor="t", action="test:still-writable")
        done.set()

    t = threading.Thread(target=write, daemon=True)
    t.start()
    t.join(30)
    assert done.is_set(), "a writer is still waiting: the write lock leaked"
    assert _audit_rows(node) == before + 1
    with node.read() as s:
        assert s.query(AuditEntry).filter_by(action="test:still-writable").count() == 1
