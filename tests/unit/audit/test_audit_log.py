"""The audit log: appends, checkpoints, proofs, and detection of every kind of tampering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update

from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.audit.services import EntryIn, entry_bytes
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from accord.crypto.note import NoteVerifier, open_checkpoint
from accord.parties.keys import KeyStore


def fill(node: Node, clock: ManualClock, n: int = 20) -> int:
    with node.uow() as s:
        base = node.audit.size(s)
        for i in range(n):
            clock.advance(timedelta(seconds=1))
            node.record(s, actor="ES-PN/garcia", action="records:record:read",
                        object=f"record:{i}", purpose="investigation", basis="eu-2023-977@1#art-4")
    return base + n


def checkpoint(node: Node) -> None:
    with node.uow() as s:
        node.audit.checkpoint(s, at=node.now())


def findings(node: Node) -> list[tuple[str, int | None]]:
    with node.uow() as s:
        report = node.audit.verify(s)
    return [(f.kind, f.index) for f in report.findings]


def test_intact_log_verifies(node: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    fill(node, clock, 5)
    checkpoint(node)
    with node.uow() as s:
        report = node.audit.verify(s)
    assert report.ok, report.findings
    assert report.checkpoints == 3  # the one from initialise() and ours


def test_checkpoint_is_a_signed_note_over_the_root(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        cp = node.audit.latest_checkpoint(s)
        assert cp is not None and cp.size == size
        pub = KeyStore.verification_key(s, cp.key_id)
        parsed = open_checkpoint(cp.note, NoteVerifier.from_public_key(node.audit.origin, pub))
        assert parsed.size == size and parsed.root_hash == node.audit.root(s, size)
        lines = cp.note.splitlines()
        assert lines[0] == node.audit.origin and lines[1] == str(size)
        assert any(line.startswith("— ") for line in lines)


def test_inclusion_and_consistency_proofs_verify(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock, 30)
    with node.uow() as s:
        for idx in (0, 7, size - 1):
            p = node.audit.inclusion_proof(s, idx)
            verify_inclusion(bytes.fromhex(p["leaf_hash"]), idx, p["size"],
                             [bytes.fromhex(h) for h in p["proof"]], bytes.fromhex(p["root"]))
            row = s.get(AuditEntry, idx)
            assert row is not None
            assert leaf_hash(entry_bytes(idx, row.at, row)).hex() == p["leaf_hash"]
        c = node.audit.consistency_proof(s, 10)
        verify_consistency(10, c["new_size"], [bytes.fromhex(h) for h in c["proof"]],
                           bytes.fromhex(c["old_root"]), bytes.fromhex(c["new_root"]))


def test_rolled_back_entries_leave_no_gap(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 3)
    with pytest.raises(RuntimeError), node.uow() as s:
        node.record(s, actor="x", action="y")
        raise RuntimeError("crash mid-transaction")
    fill(node, clock, 3)
    checkpoint(node)
    assert findings(node) == []


def test_changed_entry_detected_with_index(node: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        s.execute(update(AuditEntry).where(AuditEntry.idx == 7).values(actor="ES-PN/someone-else"))
    assert ("changed", 7) in findings(node)


def test_changed_entry_with_recomputed_hash_fails_the_checkpoint(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        row = s.get(AuditEntry, 5)
        assert row is not None
        row.purpose = "curiosity"
        row.leaf_hash = leaf_hash(entry_bytes(5, row.at, row))
    found = findings(node)
    assert ("checkpoint", size) in found
    assert all(kind != "changed" for kind, _ in found)


def test_deleted_entry_detected_with_index(node: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx == 4))
    assert ("deleted", 4) in findings(node)


def test_deleted_tail_detected(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx == size - 1))
        s.execute(update(LogHead).values(size=size - 1))
    found = findings(node)
    assert ("deleted", size - 1) in found


def test_deleted_and_renumbered_detected(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx == 6))
        for idx in range(7, size):
            s.execute(update(AuditEntry).where(AuditEntry.idx == idx).values(idx=idx - 1))
        s.execute(update(LogHead).values(size=size - 1))
    found = findings(node)
    assert ("moved", 6) in found  # entry 7 now stands at 6


def test_inserted_entry_detected(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    fake = EntryIn(actor="ES-PN/ghost", action="records:record:read", object="record:x")
    at = node.now()
    with node.uow() as s:
        s.execute(AuditEntry.__table__.insert(), [{
            "idx": size, "at": at, "actor": fake.actor, "action": fake.action,
            "object": fake.object, "purpose": "", "basis": "", "outcome": "ok", "detail": {},
            "leaf_hash": leaf_hash(entry_bytes(size, at, fake)),
        }])
    assert ("inserted", size) in findings(node)


def test_inserted_in_the_middle_detected(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        for idx in range(size - 1, 9, -1):  # shift 10.. up by one, from the top
            s.execute(update(AuditEntry).where(AuditEntry.idx == idx).values(idx=idx + 1))
        fake = EntryIn(actor="ES-PN/ghost", action="records:record:read")
        at = node.now()
        s.execute(AuditEntry.__table__.insert(), [{
            "idx": 10, "at": at, "actor": fake.actor, "action": fake.action, "object": "",
            "purpose": "", "basis": "", "outcome": "ok", "detail": {},
            "leaf_hash": leaf_hash(entry_bytes(10, at, fake)),
        }])
    found = findings(node)
    assert ("moved", 11) in found  # the old entry 10 was pushed to 11
    assert ("inserted", size) in found  # the log now runs past its head


def test_reordered_entries_detected(node: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        s.execute(update(AuditEntry).where(AuditEntry.idx == 3).values(idx=-1))
        s.execute(update(AuditEntry).where(AuditEntry.idx == 8).values(idx=3))
        s.execute(update(AuditEntry).where(AuditEntry.idx == -1).values(idx=8))
    found = findings(node)
    assert ("moved", 3) in found and ("moved", 8) in found


def test_forged_checkpoint_detected(node: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    with node.uow() as s:
        cp = s.scalars(select(Checkpoint).order_by(Checkpoint.id.desc())).first()
        assert cp is not None
        cp.note = cp.note.replace(f"\n{cp.size}\n", f"\n{cp.size - 1}\n")
    assert any(kind == "signature" for kind, _ in findings(node))


def test_query_filters(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 5)
    with node.uow() as s:
        assert len(node.audit.query(s, actor="ES-PN/garcia")) == 5
        assert len(node.audit.query(s, obj="record:3")) == 1
        assert len(node.audit.query(s, since=node.now() - timedelta(seconds=2))) == 3  # inclusive
        s.execute(text("SELECT 1"))
