"""Group commit: concurrent units share transactions; a failing unit is rolled back alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.errors import AuditLogDamaged
from accord.audit.models import AuditEntry
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.commit import GroupCommit
from accord.errors import ValidationFailed
from accord.parties.models import Agency
from tests.unit.audit.test_tail_and_damage import insert_past_head


def _unit(node: Node, i: int, slow: threading.Event | None = None) -> Callable[[Session], int]:
    def fn(s: Session) -> int:
        if slow is not None:
            slow.wait(5)  # hold the first batch open while the others queue up
        s.add(Agency(id=f"XX-{i}", name=f"agency {i}", kind="police", country="XX", node_id="x",
                     hosted=False, created_at=node.now()))
        node.record_at_commit(s, actor="test", action="test:unit", object=f"unit:{i}")
        node.record(s, actor="test", action="test:unit-now", object=f"unit:{i}")
        if i % 5 == 4:
            raise ValidationFailed(f"unit {i} refuses")
        return i
    return fn


def test_units_share_commits_and_fail_alone(node: Node) -> None:
    group = GroupCommit(node.sessions, mark=node.audit.mark, rewind=node.audit.rewind, max_batch=64)
    gate = threading.Event()
    results: dict[int, object] = {}

    def run(i: int) -> None:
        try:
            results[i] = group.run(_unit(node, i, gate if i == 0 else None))
        except ValidationFailed as exc:
            results[i] = exc

    with ThreadPoolExecutor(20) as pool:
        first = pool.submit(run, 0)
        time.sleep(0.2)
        others = [pool.submit(run, i) for i in range(1, 20)]
        time.sleep(0.3)
        gate.set()
        for f in [first, *others]:
            f.result(30)

    assert group.units == 20 and group.batches < 20  # the queued ones committed together
    for i in range(20):
        if i % 5 == 4:
            assert isinstance(results[i], ValidationFailed)
        else:
            assert results[i] == i
    with node.read() as s:
        stored = set(s.scalars(select(Agency.id).where(Agency.id.like("XX-%"))))
        objects = list(s.scalars(select(AuditEntry.object).where(AuditEntry.actor == "test")))
        idx = list(s.scalars(select(AuditEntry.idx).order_by(AuditEntry.idx)))
    assert stored == {f"XX-{i}" for i in range(20) if i % 5 != 4}
    assert sorted(objects) == sorted([f"unit:{i}" for i in range(20) if i % 5 != 4] * 2)
    assert idx == list(range(len(idx)))  # gap-free: the refused units left no trace
    with node.uow() as s:  # the process's cached tree agrees with the stored log
        node.audit.checkpoint(s, at=node.now())


def test_a_failed_commit_fails_every_unit_of_the_batch(node: Node, clock: ManualClock) -> None:
    """The deferred audit entries are written at commit; a damaged log fails the commit, and
    then every unit of the batch gets the error and nothing of the batch is stored."""
    insert_past_head(node, at_head=False)  # a row 3 past the head: the batch's entries hit it
    group = GroupCommit(node.sessions, mark=node.audit.mark, rewind=node.audit.rewind)
    gate = threading.Event()
    errors: list[BaseException] = []

    def run(i: int) -> None:
        def fn(s: Session) -> None:
            if i == 0:
                gate.wait(5)
            s.add(Agency(id=f"YY-{i}", name="y", kind="police", country="YY", node_id="x",
                         hosted=False, created_at=node.now()))
            node.record_at_commit(s, actor="test", action="test:unit", object=f"unit:{i}")
        try:
            group.run(fn)
        except AuditLogDamaged as exc:
            errors.append(exc)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(run, 0)]
        time.sleep(0.2)
        futures += [pool.submit(run, i) for i in range(1, 6)]
        time.sleep(0.3)
        gate.set()
        for f in futures:
            f.result(30)
    # unit 0 led a batch of its own (taken before the others queued); the five queued
    # meanwhile formed one batch, whose entries run into the row: all five failed together
    assert len(errors) == 5
    with node.read() as s:
        assert set(s.scalars(select(Agency.id).where(Agency.id.like("YY-%")))) == {"YY-0"}


def test_node_grouped_returns_the_result(node: Node) -> None:
    assert node.grouped(lambda s: 42) == 42
