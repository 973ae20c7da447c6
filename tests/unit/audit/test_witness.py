"""Witnesses (C2SP tlog-witness): ES's checkpoints cosigned by FR, alarms, and the checks of
``verify --witnesses`` — two nodes in one process, joined by the in-memory witness client."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from accord.audit.errors import (
    WitnessBadRequest,
    WitnessInconsistent,
    WitnessStaleSize,
    WitnessUnknownLog,
    WitnessUntrusted,
)
from accord.audit.models import AuditEntry, Checkpoint, WitnessAlarm, WitnessedCheckpoint, WitnessState
from accord.audit.services import entry_bytes
from accord.audit.witness import (
    ADD_CHECKPOINT_PATH,
    HELD_PATH,
    InMemoryWitnessClient,
    add_checkpoint,
    check_witnesses,
    log_origin,
    sign_request,
    witness_name,
    witness_once,
)
from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.crypto.cosignature import open_cosignature
from accord.crypto.merkle import leaf_hash
from accord.crypto.note import Checkpoint as NoteCheckpoint
from accord.crypto.note import NoteSigner, NoteVerifier, open_note, sign_checkpoint
from accord.parties.keys import KeyStore
from accord.web.app import create_app
from tests.factories.officers import make_officer
from tests.unit.audit.conftest import checkpoint, fill

pytestmark = pytest.mark.usefixtures("pinned")
ES = log_origin("es-node")


def node_key(node: Node):  # type: ignore[no-untyped-def]
    with node.read() as s:
        return node.keys.signing_key(s, node.settings.node_id)[1]


def latest_note(node: Node) -> str:
    with node.read() as s:
        cp = node.audit.latest_checkpoint(s)
        assert cp is not None
        return cp.note


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
    return f"old {old}\n{lines}\n{note}".encode()


def signed(node: Node, witness: Node, data: bytes) -> dict[str, str]:
    with node.read() as s:
        return sign_request(node, s, purpose="add-checkpoint", witness=witness.settings.node_id,
                            body=data)


def held(witness: Node) -> WitnessedCheckpoint | None:
    with witness.read() as s:
        row = s.get(WitnessedCheckpoint, ES)
        s.expunge_all()  # kept readable after the read-only transaction ends
        return row


def alarms(witness: Node) -> list[WitnessAlarm]:
    with witness.read() as s:
        rows = list(s.scalars(select(WitnessAlarm).order_by(WitnessAlarm.id)))
        s.expunge_all()
        return rows


def rewrite_and_resign(node: Node, clock: ManualClock, idx: int = 3) -> Node:
    """Stopped node, data folder at hand: change entry ``idx``, recompute its leaf hash,
    delete the checkpoints and sign a new one with the node's own key. Returns the node as
    a process started afresh on that database."""
    with node.uow() as s:
        row = s.get(AuditEntry, idx)
        assert row is not None
        row.purpose = "curiosity"
        row.leaf_hash = leaf_hash(entry_bytes(idx, row.at, row))
        s.execute(delete(Checkpoint))
    restarted = build_node(node.settings, clock=clock)
    checkpoint(restarted)
    return restarted


def test_checkpoints_are_witnessed_and_cosigned(node: Node, peer: Node, clock: ManualClock,
                                                wire: InMemoryWitnessClient) -> None:
    size = fill(node, clock)
    checkpoint(node)
    [result] = witness_once(node, wire)
    assert result.ok and result.size == size
    first = held(peer)
    assert first is not None and first.size == size and first.peer_id == "es-node"
    with node.read() as s:
        state = s.get(WitnessState, "fr-node")
        assert state is not None and state.size == size and state.error == ""
        fr_key = KeyStore.verification_key(s, KeyStore.keys_of(s, "fr-node")[0].kid)
        assert state.cosigned_note is not None
        cosig = open_cosignature(state.cosigned_note, name=witness_name("fr-node"), key=fr_key)
    assert cosig.timestamp == int(clock.now().timestamp())
    # nothing new: nothing sent
    posted = len(wire.posted)
    assert witness_once(node, wire)[0].skipped and len(wire.posted) == posted
    # the log grows: sent with a consistency proof from the size the witness holds
    clock.advance(timedelta(minutes=1))
    bigger = fill(node, clock, 7)
    checkpoint(node)
    [result] = witness_once(node, wire)
    assert result.ok and result.size == bigger
    assert wire.posted[-1][1].startswith(f"old {size}\n".encode())
    second = held(peer)
    assert second is not None and second.size == bigger


def test_a_stale_old_size_gets_409_and_the_log_catches_up(node: Node, peer: Node, clock: ManualClock,
                                                         wire: InMemoryWitnessClient) -> None:
    fill(node, clock)
    checkpoint(node)
    witness_once(node, wire)
    with node.uow() as s:  # the log forgets what the witness holds
        s.execute(delete(WitnessState))
    size = fill(node, clock, 3)
    checkpoint(node)
    with pytest.raises(WitnessStaleSize) as stale:
        add_checkpoint(peer, body(0, [], latest_note(node)))
    held_before = held(peer)
    assert held_before is not None and stale.value.size == held_before.size
    [result] = witness_once(node, wire)
    assert result.ok and result.size == size  # 409 named the size; sent again from there


def test_the_http_route_speaks_tlog_witness(node: Node, peer: Node, clock: ManualClock) -> None:
    fill(node, clock)
    checkpoint(node)
    client = TestClient(create_app(peer, background=False))
    note = latest_note(node)
    r = client.post(ADD_CHECKPOINT_PATH, content=body(0, [], note))
    assert r.status_code == 200, r.text
    assert r.text.startswith(f"— {witness_name('fr-node')} ") and r.text.endswith("\n")
    r = client.post(ADD_CHECKPOINT_PATH, content=body(0, [], note))
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("text/x.tlog.size")
    assert r.text == f"{held(peer).size}\n"  # type: ignore[union-attr]
    for bad, status in [(b"", 400), (b"old x\n\n" + note.encode(), 400),
                        (b"old 0\nnot-base64!\n\n" + note.encode(), 400),
                        (b"\xff\xfe", 400),
                        (body(10**6, [], note), 400)]:
        r = client.post(ADD_CHECKPOINT_PATH, content=bad)
        assert r.status_code == status, (bad[:40], r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post(ADD_CHECKPOINT_PATH, content=b"x" * 200_000).status_code == 400


def test_unknown_and_untrusted_logs_are_refused(node: Node, peer: Node, clock: ManualClock) -> None:
    fill(node, clock)
    key = node_key(node)
    root = bytes(32)
    stranger = sign_checkpoint(NoteCheckpoint("xx-node.accord/audit", 3, root),
                               NoteSigner("xx-node.accord/audit", key))
    with pytest.raises(WitnessUnknownLog):
        add_checkpoint(peer, body(0, [], stranger))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = sign_checkpoint(NoteCheckpoint(ES, 3, root), NoteSigner(ES, Ed25519PrivateKey.generate()))
    with pytest.raises(WitnessUntrusted):
        add_checkpoint(peer, body(0, [], forged))
    assert held(peer) is None


def test_a_rewritten_log_is_refused_with_a_signed_alarm_for_the_dpo(
        node: Node, peer: Node, clock: ManualClock, wire: InMemoryWitnessClient) -> None:
    fill(node, clock)
    checkpoint(node)
    assert witness_once(node, wire)[0].ok
    witnessed = held(peer)
    assert witnessed is not None
    clock.advance(timedelta(minutes=1))
    restarted = rewrite_and_resign(node, clock)
    try:
        fill(restarted, clock, 2)
        checkpoint(restarted)
        [result] = witness_once(restarted, InMemoryWitnessClient([restarted, peer]))
    finally:
        restarted.dispose()
    assert not result.ok and "HTTP 422" in result.error
    after = held(peer)
    assert after is not None and after.size == witnessed.size  # the witness kept what it saw
    [alarm] = alarms(peer)
    assert alarm.kind == "inconsistent" and alarm.origin == ES and alarm.peer_id == "es-node"
    assert alarm.held_size == witnessed.size and alarm.presented_size > witnessed.size
    # the statement is a note signed by the witness's node key
    with peer.read() as s:
        fr_key = node.keys.verification_key(s, alarm.key_id)
        text = open_note(alarm.statement, [NoteVerifier(witness_name("fr-node"), fr_key)]).text
        assert f"log {ES}\nkind inconsistent\n" in text
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "audit:witness:alarm")).one()
        assert entry.outcome == "alarm" and entry.detail["alarm"] == alarm.id
    # the DPO sees it; an officer may not
    client = TestClient(create_app(peer, background=False))
    tokens = {}
    for role in ("dpo", "officer"):
        o = make_officer(peer, f"fr-{role}", roles=[role], agency="FR-PN")
        r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                             "totp": o.code(peer)})
        assert r.status_code == 200, r.text
        tokens[role] = r.json()["token"]
    r = client.get("/api/v1/audit/alarms", headers={"Authorization": f"Bearer {tokens['dpo']}"})
    assert r.status_code == 200, r.text
    [shown] = r.json()
    assert shown["kind"] == "inconsistent" and shown["statement"] == alarm.statement
    assert shown["held"]["checkpoint"] == witnessed.note
    r = client.get("/api/v1/audit/alarms", headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert r.status_code == 403


def test_the_same_alarm_is_raised_once(node: Node, peer: Node, clock: ManualClock,
                                       wire: InMemoryWitnessClient) -> None:
    fill(node, clock)
    checkpoint(node)
    witness_once(node, wire)
    restarted = rewrite_and_resign(node, clock)
    try:
        fill(restarted, clock, 2)
        checkpoint(restarted)
        again = InMemoryWitnessClient([restarted, peer])
        witness_once(restarted, again)
        witness_once(restarted, again)
    finally:
        restarted.dispose()
    assert len(alarms(peer)) == 1


def test_two_checkpoints_of_one_size_are_a_fork_whoever_sends_them(
        node: Node, peer: Node, clock: ManualClock, wire: InMemoryWitnessClient) -> None:
    size = fill(node, clock)
    checkpoint(node)
    witness_once(node, wire)
    other = sign_checkpoint(NoteCheckpoint(ES, size, bytes(32)), NoteSigner(ES, node_key(node)))
    with pytest.raises(WitnessStaleSize):  # unsigned request: still evidence
        add_checkpoint(peer, body(size, [], other))
    [alarm] = alarms(peer)
    assert alarm.kind == "fork" and alarm.presented_size == alarm.held_size == size


def test_a_garbage_proof_from_someone_else_raises_no_alarm(
        node: Node, peer: Node, clock: ManualClock, wire: InMemoryWitnessClient) -> None:
    size = fill(node, clock)
    checkpoint(node)
    witness_once(node, wire)
    fill(node, clock, 5)
    checkpoint(node)
    note = latest_note(node)
    garbage = body(size, [bytes(32)] * 3, note)
    with pytest.raises(WitnessInconsistent):
        add_checkpoint(peer, garbage)  # anybody may replay a signed checkpoint
    assert alarms(peer) == []
    with pytest.raises(WitnessInconsistent):
        add_checkpoint(peer, garbage, signed(node, peer, garbage))  # the log itself: evidence
    assert [a.kind for a in alarms(peer)] == ["inconsistent"]


def test_a_log_that_shrinks_raises_a_rollback_alarm(node: Node, peer: Node, clock: ManualClock,
                                                    wire: InMemoryWitnessClient) -> None:
    small = fill(node, clock)
    checkpoint(node)
    small_note = latest_note(node)
    big = fill(node, clock, 5)
    checkpoint(node)
    witness_once(node, wire)
    request = body(big, [], small_note)  # "my latest is this smaller one"
    with pytest.raises(WitnessBadRequest):
        add_checkpoint(peer, request)
    assert alarms(peer) == []
    with pytest.raises(WitnessBadRequest):
        add_checkpoint(peer, request, signed(node, peer, request))
    [alarm] = alarms(peer)
    assert alarm.kind == "rollback" and (alarm.held_size, alarm.presented_size) == (big, small)


def test_only_the_log_itself_may_read_what_a_witness_holds(
        node: Node, peer: Node, clock: ManualClock, wire: InMemoryWitnessClient) -> None:
    fill(node, clock)
    checkpoint(node)
    witness_once(node, wire)
    client = TestClient(create_app(peer, background=False))
    url = HELD_PATH + ES
    r = client.get(url)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    with node.read() as s:
        headers = sign_request(node, s, purpose="read", witness="fr-node")
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["size"] == held(peer).size  # type: ignore[union-attr]
    r = client.get(HELD_PATH + log_origin("fr-node"), headers=headers)  # not its own log
    assert r.status_code == 403
    r = client.get(url, headers={**headers, "Accord-Signature": base64.b64encode(bytes(64)).decode()})
    assert r.status_code == 403
    clock.advance(timedelta(hours=1))  # a replay, too late
    assert client.get(url, headers=headers).status_code == 401


def test_verify_with_witnesses(node: Node, peer: Node, clock: ManualClock,
                               wire: InMemoryWitnessClient) -> None:
    fill(node, clock)
    checkpoint(node)

    def report_of(n: Node, client: InMemoryWitnessClient):  # type: ignore[no-untyped-def]
        with n.read() as s:
            report = n.audit.verify(s)
        check_witnesses(n, report, client)
        return report

    report = report_of(node, wire)  # not witnessed yet: a warning, named
    assert report.ok and [(f.kind, f.peer) for f in report.findings] == [("witness-none", "fr-node")]
    witness_once(node, wire)
    report = report_of(node, wire)
    assert report.ok and report.findings == [] and report.witnesses == 1
    wire.down.add(peer.settings.base_url)
    report = report_of(node, wire)
    [finding] = report.findings
    assert finding.kind == "witness-unreachable" and finding.severity == "warning"
    assert "fr-node" in finding.detail and report.ok
    wire.down.clear()
    restarted = rewrite_and_resign(node, clock)
    try:
        local = report_of(restarted, InMemoryWitnessClient([restarted]))  # no witness reachable
        assert local.ok, local.findings  # re-signed with the node's own key: locally clean
        report = report_of(restarted, InMemoryWitnessClient([restarted, peer]))
    finally:
        restarted.dispose()
    assert not report.ok
    [finding] = report.errors
    assert finding.kind == "witness" and finding.peer == "fr-node" and "rewritten" in finding.detail


def test_the_witness_tables_hold_one_row_per_log(node: Node, peer: Node, clock: ManualClock,
                                                 wire: InMemoryWitnessClient) -> None:
    for _ in range(3):
        fill(node, clock, 2)
        checkpoint(node)
        assert witness_once(node, wire)[0].ok
    with peer.read() as s:
        assert s.scalar(select(func.count()).select_from(WitnessedCheckpoint)) == 1
    with node.read() as s:
        assert s.scalar(select(func.count()).select_from(WitnessState)) == 1
