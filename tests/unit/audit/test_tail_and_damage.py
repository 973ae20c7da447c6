"""The unsigned tail is bounded and reported; the cache holds committed leaves only; a damaged
log makes audited actions fail loudly, and verify and show still work on it."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from accord.audit.errors import AuditLogDamaged
from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.audit.services import EntryIn, entry_bytes
from accord.bootstrap import Node, build_node
from accord.cli.main import app as cli_app
from accord.clock import ManualClock
from accord.crypto.merkle import leaf_hash, verify_inclusion
from accord.web.app import _checkpoint_if_grown, create_app
from tests.factories.officers import make_officer
from tests.unit.audit.conftest import checkpoint, fill


def checkpoints(node: Node) -> list[tuple[int, str]]:
    with node.read() as s:
        return [(c.size, c.root_hash.hex()) for c in
                s.scalars(select(Checkpoint).order_by(Checkpoint.id))]


def report(node: Node):  # type: ignore[no-untyped-def]
    with node.read() as s:
        return node.audit.verify(s)


def kinds(node: Node) -> list[tuple[str, int | None, str]]:
    return [(f.kind, f.index, f.severity) for f in report(node).findings]


def head(node: Node) -> int:
    with node.read() as s:
        return node.audit.size(s)


def test_crossing_a_multiple_of_n_signs_a_checkpoint_with_the_entries(node: Node,
                                                                       clock: ManualClock) -> None:
    node.audit.checkpoint_entries = 10
    start = head(node)
    before = checkpoints(node)
    size = start
    while size // 10 == start // 10:  # up to the boundary: nothing signed
        size = fill(node, clock, 1)
    signed = checkpoints(node)[len(before):]
    assert [s for s, _ in signed] == [size]  # signed in the transaction that crossed
    with node.read() as s:
        assert signed[0][1] == node.audit.root(s, size).hex()
    assert report(node).findings == []
    # one transaction crossing several multiples: one checkpoint, of its end
    size = fill(node, clock, 35)
    assert checkpoints(node)[-1][0] == size
    assert report(node).findings == []


def test_a_rolled_back_crossing_leaves_no_checkpoint_and_a_sound_cache(node: Node,
                                                                        clock: ManualClock) -> None:
    node.audit.checkpoint_entries = 10
    start = fill(node, clock, 3)
    checkpoint(node)  # the cache is synced
    before = checkpoints(node)
    with pytest.raises(RuntimeError), node.uow() as s:
        for i in range(12):
            node.record(s, actor="ES-PN/ghost", action="records:record:read", object=f"rolled:{i}")
        raise RuntimeError("the action failed after its entries were appended")
    assert checkpoints(node) == before and head(node) == start
    clock.advance(timedelta(seconds=5))
    size = fill(node, clock, 12, actor="ES-PN/other")  # other entries at the same indexes
    assert checkpoints(node)[-1][0] == size
    assert report(node).findings == []
    with node.read() as s:
        proof = node.audit.inclusion_proof(s, start + 5)
        row = s.get(AuditEntry, start + 5)
        assert row is not None and row.actor == "ES-PN/other"
        verify_inclusion(leaf_hash(entry_bytes(row.idx, row.at, row)), start + 5, proof["size"],
                         [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root"]))


def test_the_server_signs_what_any_process_appended(node: Node, clock: ManualClock) -> None:
    other = build_node(node.settings, clock=clock)  # e.g. the command line beside the server
    try:
        checkpoint(node)
        size = fill(other, clock, 4)
        assert _checkpoint_if_grown(node) is True
        assert checkpoints(node)[-1][0] == size
        assert _checkpoint_if_grown(node) is False  # nothing new: nothing signed
        size = fill(node, clock, 2)
        with other.uow() as s:  # the other process's cache follows
            assert other.audit.checkpoint(s, at=other.now()).size == size
    finally:
        other.dispose()
    assert report(node).findings == []


def test_the_uncovered_tail_is_a_finding(node: Node, clock: ManualClock) -> None:
    covered = checkpoint(node)
    size = fill(node, clock, 5)
    assert kinds(node) == [("uncovered", covered, "warning")]
    [finding] = report(node).findings
    assert f"entries {covered}–{size - 1} (5)" in finding.detail
    assert report(node).ok  # within the bound: the server signs it soon
    node.audit.checkpoint_entries = 5  # as many as the bound allows: checkpoints are missing
    assert kinds(node) == [("uncovered", covered, "error")]


def test_a_log_without_any_checkpoint_is_an_error(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 3)
    with node.uow() as s:
        s.execute(delete(Checkpoint))
    assert kinds(node) == [("uncovered", 0, "error")]


def test_a_checkpoint_signed_by_a_stranger_does_not_cover(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 3)
    size = checkpoint(node)
    with node.uow() as s:
        s.execute(update(Checkpoint).values(key_id="ed25519:unknown"))
    found = kinds(node)
    assert ("signature", size, "error") in found and ("uncovered", 0, "error") in found


def insert_past_head(node: Node, *, at_head: bool = True) -> int:
    """A row where the next append will go (the head left as it is)."""
    with node.uow() as s:
        idx = node.audit.size(s) + (0 if at_head else 3)
        fake = EntryIn(actor="ES-PN/ghost", action="records:record:read")
        s.execute(AuditEntry.__table__.insert(), [{
            "idx": idx, "at": node.now(), "actor": fake.actor, "action": fake.action,
            "object": "", "purpose": "", "basis": "", "outcome": "ok", "detail": {},
            "credential": "", "leaf_hash": leaf_hash(entry_bytes(idx, node.now(), fake)),
        }])
    return idx


def test_a_row_past_the_head_refuses_audited_actions_with_a_clear_error(
        node: Node, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    fill(node, clock, 3)
    idx = insert_past_head(node)
    with pytest.raises(AuditLogDamaged) as damaged, node.uow() as s:
        node.record(s, actor="ES-PN/garcia", action="records:record:read")
    assert damaged.value.status == 503 and "accord audit verify" in damaged.value.detail
    assert "audit log damaged" in caplog.text
    assert head(node) == idx  # nothing moved
    found = kinds(node)
    assert ("inserted", idx, "error") in found


def test_over_http_a_damaged_log_is_a_503_problem_not_a_traceback(node: Node,
                                                                   clock: ManualClock) -> None:
    officer = make_officer(node, "garcia")
    insert_past_head(node)
    client = TestClient(create_app(node, background=False), raise_server_exceptions=False)
    r = client.post("/auth/login", json={"username": officer.username, "password": officer.password,
                                         "totp": officer.code(node)})
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/audit-log-damaged")
    assert "Traceback" not in r.text


def test_the_cache_refuses_a_history_changed_under_the_process(node: Node,
                                                                 clock: ManualClock) -> None:
    size = fill(node, clock, 5)
    checkpoint(node)  # the running process has seen the log up to here
    with node.uow() as s:  # someone edits the last entry it saw, and its leaf hash
        row = s.get(AuditEntry, size - 1)
        assert row is not None
        row.object = "record:edited"
        row.leaf_hash = leaf_hash(entry_bytes(row.idx, row.at, row))
    with pytest.raises(AuditLogDamaged), node.uow() as s:
        node.audit.checkpoint(s, at=node.now())
    with pytest.raises(AuditLogDamaged), node.read() as s:
        node.audit.inclusion_proof(s, 0)
    with node.uow() as s:  # puts the entry back, then cuts the tail and lowers the head
        row = s.get(AuditEntry, size - 1)
        assert row is not None
        row.object = "record:4"
        row.leaf_hash = leaf_hash(entry_bytes(row.idx, row.at, row))
        s.execute(delete(AuditEntry).where(AuditEntry.idx >= size - 2))
        s.execute(update(LogHead).values(size=size - 2))
    with node.read() as s:  # a session behind the cache is not an alarm by itself ...
        node.audit.consistency_proof(s, 1)
    other = build_node(node.settings, clock=clock)  # ... until entries take the old indexes
    try:
        fill(other, clock, 3, actor="ES-PN/other")
        with pytest.raises(AuditLogDamaged), node.uow() as s:
            node.audit.checkpoint(s, at=node.now())
        with other.uow() as s:  # a process started afresh signs what it finds ...
            other.audit.checkpoint(s, at=other.now())
    finally:
        other.dispose()
    found = kinds(node)  # ... and verify still shows what happened
    assert ("checkpoint", size, "error") in found


def test_verify_survives_an_absurd_head_and_gaps(node: Node, clock: ManualClock) -> None:
    size = fill(node, clock, 5)
    checkpoint(node)
    with node.uow() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.idx.in_([2, 3])))
        s.execute(update(LogHead).values(size=10**15))
    found = report(node)
    assert ("deleted", 2) in [(f.kind, f.index) for f in found.findings]
    assert ("deleted", size) in [(f.kind, f.index) for f in found.findings]
    assert any("999999999999999" in f.detail for f in found.findings)
    assert not found.ok


def test_verify_reports_a_copied_entry_as_a_duplicate(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 5)
    checkpoint(node)
    with node.uow() as s:
        row = s.get(AuditEntry, 3)
        assert row is not None
        copy = {c.name: getattr(row, c.name) for c in AuditEntry.__table__.columns}
        idx = node.audit.size(s)
        s.execute(AuditEntry.__table__.insert(), [{**copy, "idx": idx}])
        s.execute(update(LogHead).values(size=idx + 1))
    assert ("duplicate", idx, "error") in kinds(node)


# -- the command line on a damaged log --------------------------------------------------
runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ACCORD_DATA_DIR", "ACCORD_CONFIG", "ACCORD_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    d = tmp_path / "es"
    r = runner.invoke(cli_app, ["--data-dir", str(d), "init", "--node-id", "es-node", "--country",
                                "ES", "--agency", "ES-PN:Policía Nacional:police",
                                "--mode", "development", "--port", "18998"])
    assert r.exit_code == 0, r.output
    return d


def cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(cli_app, ["--data-dir", str(data_dir), *args])
    return r.exit_code, r.stdout, r.stderr


def entries(data_dir: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(data_dir / "accord.db")
    try:
        return list(db.execute("SELECT idx, action FROM audit_entries ORDER BY idx"))
    finally:
        db.close()


def test_verify_reports_before_it_records_and_stays_clean(data_dir: Path) -> None:
    code, out, _ = cli(data_dir, "audit", "verify", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["ok"] and first["findings"] == []
    # its own entry comes after what it read, under a checkpoint: the next run is clean too
    assert entries(data_dir)[-1] == (first["size"], "audit:log:verified")
    code, out, _ = cli(data_dir, "audit", "verify", "--json", "--strict")
    assert code == 0 and json.loads(out)["findings"] == []


def test_verify_and_show_work_on_a_damaged_log(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "accord.db")
    size = db.execute("SELECT size FROM log_heads").fetchone()[0]
    db.execute("INSERT INTO audit_entries SELECT ?, at, actor, action, object, purpose, basis, "
               "outcome, detail, credential, leaf_hash FROM audit_entries WHERE idx = 0", (size,))
    db.commit()
    db.close()
    code, out, err = cli(data_dir, "audit", "verify", "--json")
    assert code == 1
    found = json.loads(out)  # the report came out ...
    assert {"kind": "inserted", "index": size, "severity": "error"}.items() <= found["findings"][-1].items() \
        or any(f["kind"] == "inserted" and f["index"] == size for f in found["findings"])
    assert "could not be recorded" in err  # ... and the failure to record it is said
    code, out, err = cli(data_dir, "audit", "show", "--json")
    assert code == 0
    assert [d["idx"] for d in json.loads(out)][-1] == size
    assert "damaged" in err and "Traceback" not in out + err
    code, out, err = cli(data_dir, "audit", "verify")
    assert code == 1 and "tampered or damaged" in out


def test_verify_survives_an_unreadable_row(data_dir: Path) -> None:
    db = sqlite3.connect(data_dir / "accord.db")
    db.execute("UPDATE audit_entries SET detail = '{not json' WHERE idx = 1")
    db.execute("UPDATE audit_entries SET at = 'yesterday' WHERE idx = 2")
    db.commit()
    db.close()
    code, out, err = cli(data_dir, "audit", "verify", "--json")
    assert code == 1, out + err
    found = json.loads(out)
    assert any(f["kind"] == "unreadable" for f in found["findings"])
    assert "Traceback" not in out + err
    code, out, err = cli(data_dir, "audit", "show", "--json")
    assert code == 0, out + err
    shown = {d["idx"]: d for d in json.loads(out)}
    assert shown[1]["detail"] == "{not json" and shown[1]["unreadable"] == ["detail"]
    assert shown[2]["at"] == "yesterday" and shown[2]["unreadable"] == ["at"]
    assert "unreadable" not in shown[0]


def test_a_reader_whose_snapshot_is_behind_the_cache_is_no_alarm(node: Node,
                                                                 clock: ManualClock) -> None:
    size = checkpoint(node)
    with node.read() as s:
        assert node.audit.size(s) == size  # this reader's snapshot (SQLite) starts here
        fill(node, clock, 3)  # another thread commits; its leaves join the cache
        proof = node.audit.inclusion_proof(s, size - 1)
        assert proof["size"] in (size, size + 3)  # SQLite: its snapshot; PostgreSQL: the head
    with node.uow() as s:
        assert node.audit.checkpoint(s, at=node.now()).size == size + 3
    assert report(node).findings == []


def test_read_entries_gives_plain_values_on_both_engines(node: Node, clock: ManualClock) -> None:
    fill(node, clock, 3)
    with node.read() as s:
        rows = node.audit.read_entries(s, obj="record:1")
        entries = node.audit.query(s, obj="record:1")
        assert [r["idx"] for r in rows] == [e.idx for e in entries]
        assert rows[0]["at"] == entries[0].at.isoformat() and rows[0]["detail"] == entries[0].detail
        assert "unreadable" not in rows[0] and "leaf_hash" not in rows[0]


def test_verify_with_only_witness_warnings_still_covers_its_own_entry(data_dir: Path) -> None:
    code, out, _ = cli(data_dir, "audit", "verify", "--witnesses", "--json")
    assert code == 0 and [f["kind"] for f in json.loads(out)["findings"]] == ["witness-none"]
    code, out, _ = cli(data_dir, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["findings"] == []
