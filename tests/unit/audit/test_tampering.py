"""Acceptance (issue 7, finding 2): 23 hand edits of a stopped node's audit log, each detected.

The log: entries, a signed checkpoint of size C witnessed by the peer FR, then a tail of
entries up to the head H that no checkpoint covers yet (the server would sign it within
``audit_checkpoint_seconds``). The node is then stopped, its database edited by hand, and
``verify`` (plus the witness check of ``verify --witnesses``) is run by a process started
afresh.

* modify, delete, insert, reorder × before / after the last checkpoint × with / without
  recomputed leaf hashes (16);
* the head raised (a forged row appended), the head lowered, the tail cut;
* a consistent rewrite (entries changed, leaf hashes and tree recomputed) with the
  checkpoints kept, deleted, or re-signed with the node's own key (caught by the witness);
* a row past the head (a copy of an entry; it also stops every audited action).

Edits with recomputed leaf hashes in the tail, and a forged row appended with the head
raised, look exactly like entries appended since the last checkpoint: no signature covers
them yet. They are reported as ``uncovered`` (a warning naming the range: "a change there
cannot be detected until one is signed"), which is what bounding the tail is for; every
other edit is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from accord.audit.errors import AuditLogDamaged
from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.audit.services import EntryIn, entry_bytes
from accord.audit.verify import VerifyReport
from accord.audit.witness import InMemoryWitnessClient, check_witnesses, witness_once
from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.crypto.merkle import leaf_hash
from tests.unit.audit.conftest import checkpoint, fill

pytestmark = pytest.mark.usefixtures("pinned")
TAIL = 6


@dataclass(frozen=True)
class Log:
    covered: int  # C: the size of the last (witnessed) checkpoint
    head: int  # H


def rehash(s: Session, idx: int) -> None:
    row = s.get(AuditEntry, idx)
    assert row is not None
    row.leaf_hash = leaf_hash(entry_bytes(idx, row.at, row))
    s.flush()


def renumber(s: Session, old: int, new: int) -> None:
    s.execute(update(AuditEntry).where(AuditEntry.idx == old).values(idx=new))


def set_head(s: Session, size: int) -> None:
    s.execute(update(LogHead).values(size=size))


def forged_row(idx: int, at: object) -> dict[str, object]:
    fake = EntryIn(actor="ES-PN/ghost", action="records:record:read", object="record:forged")
    return {"idx": idx, "at": at, "actor": fake.actor, "action": fake.action, "object": fake.object,
            "purpose": "", "basis": "", "outcome": "ok", "detail": {}, "credential": "",
            "leaf_hash": leaf_hash(entry_bytes(idx, at, fake))}  # type: ignore[arg-type]


def modify(s: Session, log: Log, i: int, recompute: bool) -> None:
    s.execute(update(AuditEntry).where(AuditEntry.idx == i).values(actor="ES-PN/someone-else"))
    if recompute:
        rehash(s, i)


def remove(s: Session, log: Log, i: int, recompute: bool) -> None:
    s.execute(delete(AuditEntry).where(AuditEntry.idx == i))
    if recompute:  # close the gap: renumber what follows, rehash it, lower the head
        for j in range(i + 1, log.head):
            renumber(s, j, j - 1)
            rehash(s, j - 1)
        set_head(s, log.head - 1)


def insert(s: Session, log: Log, i: int, recompute: bool) -> None:
    at = s.get(AuditEntry, i).at  # type: ignore[union-attr]
    for j in range(log.head - 1, i - 1, -1):  # make room, from the top
        renumber(s, j, j + 1)
        if recompute:
            rehash(s, j + 1)
    s.execute(AuditEntry.__table__.insert(), [forged_row(i, at)])
    set_head(s, log.head + 1)


def reorder(s: Session, log: Log, i: int, recompute: bool) -> None:
    renumber(s, i, -1)
    renumber(s, i + 1, i)
    renumber(s, -1, i + 1)
    if recompute:
        rehash(s, i)
        rehash(s, i + 1)


Edit = Callable[[Session, Log, int, bool], None]
Expect = Callable[[Log, int], tuple[str, int]]
CASES: list[tuple[str, Edit, str, Expect]] = [
    ("modify", modify, "changed", lambda log, i: ("changed", i)),
    ("delete", remove, "deleted", lambda log, i: ("deleted", i)),
    ("insert", insert, "moved", lambda log, i: ("moved", i + 1)),
    ("reorder", reorder, "moved", lambda log, i: ("moved", i)),
]


@pytest.fixture
def log(node: Node, peer: Node, clock: ManualClock) -> Log:
    """A log with a witnessed checkpoint and an uncovered tail; the node is then stopped."""
    wire = InMemoryWitnessClient([node, peer])
    fill(node, clock, 20)
    covered = checkpoint(node)
    assert witness_once(node, wire)[0].ok
    clock.advance(timedelta(minutes=1))
    head = fill(node, clock, TAIL)
    node.dispose()  # stopped; its data folder is at the attacker's hands
    return Log(covered, head)


def verify(node: Node, peer: Node, clock: ManualClock) -> VerifyReport:
    """``accord audit verify --witnesses``, by a process started afresh on the edited database."""
    fresh = build_node(node.settings, clock=clock)
    try:
        with fresh.read() as s:
            report = fresh.audit.verify(s)
        check_witnesses(fresh, report, InMemoryWitnessClient([fresh, peer]))
        report.sort()
        return report
    finally:
        fresh.dispose()


def found(report: VerifyReport) -> list[tuple[str, int | None]]:
    return [(f.kind, f.index) for f in report.errors]


def uncovered_range(report: VerifyReport) -> tuple[int, int]:
    [finding] = [f for f in report.findings if f.kind == "uncovered"]
    assert finding.severity == "warning" and finding.index is not None
    return finding.index, report.size


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("recompute", [False, True], ids=["leaf-kept", "leaf-recomputed"])
@pytest.mark.parametrize(("name", "edit", "kind", "expect"), CASES, ids=[c[0] for c in CASES])
def test_edit_of_an_entry_is_detected(node: Node, peer: Node, clock: ManualClock, log: Log,
                                      name: str, edit: Edit, kind: str, expect: Expect,
                                      where: str, recompute: bool) -> None:
    i = 5 if where == "before" else log.covered + 2
    with node.uow() as s:
        edit(s, log, i, recompute)
    report = verify(node, peer, clock)
    if not recompute:  # the entry no longer matches its leaf hash, wherever it is
        assert expect(log, i) in found(report), report.findings
        assert not report.ok
    elif where == "before":  # under the signed, witnessed checkpoint: its root no longer matches
        assert ("checkpoint", log.covered) in found(report), report.findings
        assert ("witness", log.covered) in found(report), report.findings
        assert not report.ok
    else:  # in the tail, rehashed: as if appended since the checkpoint, which is what it says
        first, end = uncovered_range(report)
        assert first == log.covered and first <= i < end
        assert report.errors == [], report.findings


def test_head_raised_with_a_forged_row(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    with node.uow() as s:
        s.execute(AuditEntry.__table__.insert(), [forged_row(log.head, node.now())])
        set_head(s, log.head + 1)
    report = verify(node, peer, clock)
    first, end = uncovered_range(report)  # covered by no signature: said, with its range
    assert first == log.covered and end == log.head + 1


def test_head_raised_without_rows(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    with node.uow() as s:
        set_head(s, log.head + 3)
    assert ("deleted", log.head) in found(verify(node, peer, clock))


def test_head_lowered(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    with node.uow() as s:
        set_head(s, log.covered - 3)
    report = verify(node, peer, clock)
    assert ("inserted", log.covered - 3) in found(report)  # rows past the head
    assert ("deleted", log.covered - 3) in found(report)  # the checkpoint covers more
    assert ("witness", log.covered - 3) in found(report)  # and so does the witness


def test_tail_cut(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    cut = log.covered - 3
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx >= cut))
        s.execute(delete(Checkpoint).where(Checkpoint.size > cut))  # and what covered them
        set_head(s, cut)
    report = verify(node, peer, clock)
    assert ("witness", cut) in found(report)  # the witness holds more than the log has


def test_tail_cut_checkpoints_kept(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    cut = log.covered - 3
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx >= cut))
        set_head(s, cut)
    assert ("deleted", cut) in found(verify(node, peer, clock))


def rewrite(s: Session) -> None:
    """A consistent rewrite: entry 3 changed, its leaf hash recomputed (the tree with it)."""
    s.execute(update(AuditEntry).where(AuditEntry.idx == 3).values(purpose="curiosity"))
    rehash(s, 3)


def test_consistent_rewrite_checkpoints_kept(node: Node, peer: Node, clock: ManualClock,
                                             log: Log) -> None:
    with node.uow() as s:
        rewrite(s)
    report = verify(node, peer, clock)
    assert ("checkpoint", log.covered) in found(report)
    assert ("witness", log.covered) in found(report)


def test_consistent_rewrite_checkpoints_deleted(node: Node, peer: Node, clock: ManualClock,
                                                log: Log) -> None:
    with node.uow() as s:
        rewrite(s)
        s.execute(delete(Checkpoint))
    report = verify(node, peer, clock)
    assert ("uncovered", 0) in found(report)  # no signed checkpoint at all
    assert ("witness", log.covered) in found(report)


def test_consistent_rewrite_resigned_with_the_node_key(node: Node, peer: Node, clock: ManualClock,
                                                       log: Log) -> None:
    with node.uow() as s:
        rewrite(s)
        s.execute(delete(Checkpoint))
    attacker = build_node(node.settings, clock=clock)  # holds the node key (dev: in the folder)
    try:
        checkpoint(attacker)
    finally:
        attacker.dispose()
    report = verify(node, peer, clock)
    assert [f for f in report.findings if f.kind != "witness"] == []  # locally, all is well
    [finding] = report.errors
    assert (finding.kind, finding.index, finding.peer) == ("witness", log.covered, "fr-node")
    assert "rewritten" in finding.detail


def test_row_past_the_head(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    with node.uow() as s:
        row = s.get(AuditEntry, 3)
        assert row is not None
        copy = {c.name: getattr(row, c.name) for c in AuditEntry.__table__.columns}
        s.execute(AuditEntry.__table__.insert(), [{**copy, "idx": log.head}])
    report = verify(node, peer, clock)
    assert ("inserted", log.head) in found(report)
    restarted = build_node(node.settings, clock=clock)
    try:
        with pytest.raises(AuditLogDamaged), restarted.uow() as s:
            restarted.record(s, actor="ES-PN/garcia", action="records:record:read")
    finally:
        restarted.dispose()


def test_the_untouched_log_is_clean(node: Node, peer: Node, clock: ManualClock, log: Log) -> None:
    report = verify(node, peer, clock)
    assert report.errors == [] and report.witnesses == 1
    assert uncovered_range(report) == (log.covered, log.head)
    with node.read() as s:
        assert s.scalar(select(LogHead.size)) == log.head
