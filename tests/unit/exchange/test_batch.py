"""Batches of envelopes: each checked on its own, the accepted ones stored together.

One bad envelope never sinks a batch: it is refused with its own reason and
nothing of it is stored, while the others are stored with their audit entries
and answered with receipts that each verify alone. The HTTP batch route answers
the same, and the delivery worker sends one request per peer and batch.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.models import AuditEntry
from accord.audit.tags import Action
from accord.crypto.canonical import canonical_json, sha256_hex
from accord.crypto.envelope import EnvelopeRejected, SenderKey
from accord.crypto.keys import load_public
from accord.errors import AccordError
from accord.exchange import services
from accord.exchange.receipts import verify_receipt
from accord.exchange.services import Received
from accord.exchange.transport import BATCH_PATH, Outcome, Route, batch_body, classify_item
from accord.parties.models import KeyRecord
from accord.web.app import create_app
from tests.unit.exchange.conftest import World, audit_count, count_rows, person_message
from tests.unit.exchange.test_tamper import craft, payload


def _raw(env: dict[str, Any]) -> bytes:
    return canonical_json(env)


def _check_receipt(world: World, raw: bytes, receipt: dict[str, Any]) -> None:
    env = json.loads(raw)
    with world.fr.read() as s:
        key = s.get(KeyRecord, receipt["body"]["kid"])
        assert key is not None and key.owner == "FR-PN"
        pub = load_public("ed25519", key.public_key)
    verify_receipt(receipt, envelope_id=env["header"]["id"], recipient="FR-PN",
                   envelope_sha256=sha256_hex(canonical_json(env)), public_key=pub)  # type: ignore[arg-type]


def test_one_bad_envelope_does_not_sink_the_batch(world: World) -> None:
    good = [_raw(craft(world)) for _ in range(5)]
    forged = craft(world, sender=SenderKey("ES-PN", "ed25519:nobody", Ed25519PrivateKey.generate()))
    wrong_sender = craft(world, data=payload(world, sender="ES-SVA"))  # the payload lies
    batch = [good[0], _raw(forged), good[1], good[2], _raw(wrong_sender), good[3], b"{}", good[4]]
    before = count_rows(world.fr)
    accepted_before = audit_count(world.fr, Action.ENVELOPE_ACCEPTED)

    answers = services.receive_batch(world.fr, batch)

    assert len(answers) == len(batch)
    for raw, answer in zip(batch, answers, strict=True):
        if raw in good:
            assert isinstance(answer, Received) and not answer.duplicate
            _check_receipt(world, raw, answer.receipt)  # each receipt verifies alone
        else:
            assert isinstance(answer, EnvelopeRejected)
    reasons = [a.reason for a in answers if isinstance(a, EnvelopeRejected)]
    assert reasons == ["unknown-key", "invalid-payload", "malformed"]
    after = count_rows(world.fr)
    assert after["messages"] == before["messages"] + 5  # the good ones, nothing of the bad
    assert after["inbox"] == before["inbox"] + 5
    assert audit_count(world.fr, Action.ENVELOPE_ACCEPTED) == accepted_before + 5


def test_a_repeated_envelope_in_a_batch_gets_its_original_receipt(world: World) -> None:
    raw = _raw(craft(world))
    first = services.receive_batch(world.fr, [raw])[0]
    again = services.receive_batch(world.fr, [raw, raw])
    assert isinstance(first, Received)
    assert all(isinstance(a, Received) and a.duplicate and a.receipt == first.receipt for a in again)
    assert count_rows(world.fr)["inbox"] == 1


def test_the_audit_log_stays_whole_after_rolled_back_envelopes(world: World) -> None:
    """Savepoints rolled back take their audit entries with them: the log verifies, gap-free."""
    bad = _raw(craft(world, data=payload(world, sender="ES-SVA")))
    for _ in range(3):
        services.receive_batch(world.fr, [_raw(craft(world)), bad, _raw(craft(world))])
    with world.fr.read() as s:
        idx = list(s.scalars(select(AuditEntry.idx).order_by(AuditEntry.idx)))
    assert idx == list(range(len(idx)))
    with world.fr.uow() as s:  # the cached tree matches the stored log (else AuditLogDamaged)
        world.fr.audit.checkpoint(s, at=world.clock.now())


def test_http_batch_route(world: World) -> None:
    good = _raw(craft(world))
    bad = _raw(craft(world, data=payload(world, sender="ES-SVA")))
    with TestClient(create_app(world.fr, background=False)) as client:
        r = client.post(BATCH_PATH, content=batch_body([good, bad]),
                        headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        ok, refused = (classify_item(item) for item in results)
        assert ok.outcome is Outcome.ACCEPTED and ok.receipt is not None
        _check_receipt(world, good, ok.receipt)
        assert refused.outcome is Outcome.REJECTED and refused.problem is not None
        assert refused.problem["reason"] == "invalid-payload"
        too_many = batch_body([good] * (world.fr.settings.exchange_send_batch + 1))
        r = client.post(BATCH_PATH, content=too_many, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["reason"] == "too-large"
        r = client.post(BATCH_PATH, content=b'{"envelopes": 3}',
                        headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["reason"] == "malformed"


def test_the_worker_sends_one_batch_per_peer(world: World) -> None:
    for i in range(10):
        world.send(world.es, "garcia", **person_message(subject=f"batch {i}"))
    batches: list[int] = []
    original = world.transport.send_batch

    def counting(route: Route, envelopes: list[bytes]) -> list[Any]:
        batches.append(len(envelopes))
        return original(route, envelopes)

    world.transport.send_batch = counting  # type: ignore[method-assign]
    world.worker(world.es).drain()
    assert sorted(batches) == [10, 10]  # FR and MA, ten envelopes each, one request each
    assert count_rows(world.fr)["messages"] == 10 and count_rows(world.ma)["messages"] == 10
    with world.es.read() as s:
        from accord.exchange.models import Recipient
        states = list(s.scalars(select(Recipient.state)))
    assert states.count("delivered") == 20


def test_an_unexpected_failure_is_a_retry_for_that_envelope_only(world: World, monkeypatch: Any) -> None:
    good, boom = _raw(craft(world)), _raw(craft(world))
    boom_id = json.loads(boom)["header"]["id"]
    real = services._open_in

    def failing(node: Any, s: Any, raw: bytes, env_id: str, *args: Any) -> Any:
        if env_id == boom_id:
            raise RuntimeError("disk on fire")
        return real(node, s, raw, env_id, *args)

    monkeypatch.setattr(services, "_open_in", failing)
    answers = services.receive_batch(world.fr, [boom, good])
    assert isinstance(answers[0], AccordError) and answers[0].status == 500
    assert "disk on fire" not in answers[0].detail  # no internals in the answer
    assert isinstance(answers[1], Received)


def test_a_failed_attempt_is_logged_and_counted(world: World, caplog: Any) -> None:
    world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    world.transport.down.add("fr-node")
    with caplog.at_level("WARNING", logger="accord.exchange"):
        world.worker(world.es).run_once()
    failed = [r.getMessage() for r in caplog.records if "delivery failed" in r.getMessage()]
    assert len(failed) == 1
    assert "peer fr-node" in failed[0] and "attempt 1" in failed[0] and "next try at" in failed[0]
    assert "Ana Ruiz" not in failed[0]  # nothing of the content
    with world.es.read() as s:
        assert services.outbox_summary(s) == {"pending": 1, "failed_attempts": 1}
    world.transport.down.clear()
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_retry_max_seconds + 1))
    world.worker(world.es).run_once()
    with world.es.read() as s:
        assert services.outbox_summary(s) == {"done": 1, "failed_attempts": 1}
