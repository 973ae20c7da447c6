"""The outbox worker: backoff with jitter, dead letters with an alert, lost answers,
forged receipts and refusals by the receiver — driven by the ManualClock."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.audit.tags import Action
from accord.exchange.domain import backoff_delay
from accord.exchange.events import broker_of
from accord.exchange.models import Message, OutboxEntry, Recipient
from accord.exchange.transport import Delivery, Outcome, Route
from accord.exchange.worker import DeliveryWorker
from tests.unit.exchange.conftest import World, audit_count, count_rows, person_message


def outbox(world: World) -> list[OutboxEntry]:
    with world.es.uow() as s:
        return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def recipient(world: World, agency: str = "FR-PN") -> Recipient:
    with world.es.uow() as s:
        return s.scalars(select(Recipient).where(Recipient.agency == agency)
                         .order_by(Recipient.id.desc())).first()  # type: ignore[return-value]


def test_backoff_delays_grow_with_jitter_in_bounds() -> None:
    rng = random.Random(1)
    for attempt in range(1, 15):
        ceiling = min(300.0, 1.0 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, base=1.0, cap=300.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered, not one value
    with pytest.raises(ValueError):
        backoff_delay(0, base=1, cap=2, rng=rng)


def test_retries_back_off_then_dead_letter_with_an_alert(world: World) -> None:
    st = world.es.settings
    world.transport.down.add("fr-node")
    events: list[dict[str, Any]] = []
    broker_of(world.es).subscribe("ES-PN", events.append)
    sent = world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    worker = world.worker(world.es)
    expected = random.Random(7)  # the worker's seed: the same draws
    t0 = world.clock.now()

    at = t0
    for attempt in range(1, 12):
        assert worker.run_once() == 1
        (row,) = outbox(world)
        delay = backoff_delay(attempt, base=st.exchange_retry_base_seconds,
                              cap=st.exchange_retry_max_seconds, rng=expected)
        assert row.attempts == attempt
        assert row.next_attempt_at == at + timedelta(seconds=delay)
        assert row.state == "pending" and row.last_error == "ConnectError"
        # not before its time
        world.clock.set(row.next_attempt_at - timedelta(milliseconds=1))
        assert worker.run_once() == 0
        world.clock.set(row.next_attempt_at)
        at = row.next_attempt_at
    assert recipient(world).state == "sent"
    assert row.next_attempt_at - t0 < timedelta(seconds=st.exchange_dead_letter_after_seconds)

    # past the dead-letter time: one more failed attempt makes it a dead letter
    world.clock.set(t0 + timedelta(seconds=st.exchange_dead_letter_after_seconds))
    worker.drain()
    (row,) = outbox(world)
    assert row.state == "dead"
    rec = recipient(world)
    assert rec.state == "dead-letter" and rec.dead_at == world.clock.now()
    assert audit_count(world.es, Action.MESSAGE_DEAD_LETTER) == 1
    with world.es.uow() as s:
        alert = s.scalars(select(Message).where(Message.direction == "sys")).one()
    assert alert.owner == "ES-PN" and alert.in_reply_to == sent.message_id
    assert alert.subject.startswith("Undeliverable: FR-PN")
    assert [e["kind"] for e in events] == ["dead-letter"]

    # the peer comes back: a dead letter is not sent again
    world.transport.down.clear()
    world.clock.advance(timedelta(days=1))
    assert worker.drain() == 0
    assert count_rows(world.fr)["inbox"] == 0


def test_jitter_spreads_retries_after_an_outage(world: World) -> None:
    world.transport.down.add("fr-node")
    for i in range(20):
        world.send(world.es, "garcia", **person_message(to=["FR-PN"], subject=f"n{i}"))
    world.worker(world.es).drain()
    times = {row.next_attempt_at for row in outbox(world)}
    assert len(times) == 20
    now = world.clock.now()
    assert all(timedelta(seconds=0.5) <= t - now <= timedelta(seconds=1) for t in times)


def test_lost_answer_is_retried_and_delivered_exactly_once(world: World) -> None:
    sent = world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    world.transport.lose_answers(1)
    worker = world.worker(world.es)
    assert worker.run_once() == 1
    assert recipient(world).state == "sent"  # FR has it, ES does not know yet
    assert count_rows(world.fr)["inbox"] == 1
    world.clock.advance(timedelta(seconds=5))
    world.pump()
    rec = recipient(world)
    assert rec.state == "delivered" and rec.receipt is not None
    with world.fr.uow() as s:
        copies = s.scalars(select(Message).where(Message.message_id == sent.message_id)).all()
    assert len(copies) == 1
    assert audit_count(world.fr, Action.ENVELOPE_DUPLICATE) == 1
    (row,) = outbox(world)
    assert row.attempts == 2 and row.state == "done"


class ForgingTransport:
    """A peer (or a man in the middle) that answers with a receipt it signed itself."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def send(self, route: Route, envelope: bytes) -> Delivery:
        real = self.inner.send(route, envelope)
        if real.outcome is not Outcome.ACCEPTED or real.receipt is None:
            return real
        forged = {"body": {**real.receipt["body"], "received_at": "1999-01-01T00:00:00+00:00"},
                  "signature": real.receipt["signature"]}
        return Delivery(Outcome.ACCEPTED, receipt=forged)

    def close(self) -> None:
        return None


def test_a_receipt_that_does_not_verify_is_not_proof_of_delivery(world: World) -> None:
    world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    worker = DeliveryWorker(world.es, transport=ForgingTransport(world.transport),
                            rng=random.Random(3), concurrency=1)
    try:
        assert worker.run_once() == 1
    finally:
        worker.stop()
    (row,) = outbox(world)
    assert row.state == "pending" and row.last_error is not None
    assert row.last_error.startswith("bad receipt")
    assert recipient(world).state == "sent"
    world.clock.advance(timedelta(seconds=5))
    world.pump()  # the honest answer (the original receipt) settles it
    assert recipient(world).state == "delivered"


def test_refusal_by_the_receiver_reaches_the_sender_with_clause(world: World) -> None:
    # MA's node no longer holds the Spain–Morocco agreement; ES's still does
    (world.ma.settings.resolved_agreements_dir / "es-ma-police-cooperation.yaml").unlink()
    events: list[dict[str, Any]] = []
    broker_of(world.es).subscribe("ES-PN", events.append)
    sent = world.send(world.es, "garcia", **person_message(to=["FR-PN", "MA-DGSN"]))
    world.pump()
    ma = recipient(world, "MA-DGSN")
    assert ma.state == "refused"
    assert ma.refusal is not None and ma.refusal["side"] == "receiver"
    assert ma.refusal["problem"] == "policy-denied" and ma.refusal["code"] == "no-agreement"
    assert recipient(world, "FR-PN").state == "delivered"
    assert count_rows(world.ma)["messages"] == 0
    with world.es.uow() as s:
        alert = s.scalars(select(Message).where(Message.direction == "sys")).one()
    assert alert.subject.startswith("Refused: MA-DGSN") and alert.in_reply_to == sent.message_id
    assert [e["kind"] for e in events] == ["refused"]


def test_concurrent_delivery_of_a_batch(world: World) -> None:
    for i in range(30):
        world.send(world.es, "garcia", **person_message(to=["FR-PN", "ES-SVA"], subject=f"m{i}"))
    worker = DeliveryWorker(world.es, transport=world.transport, concurrency=4, batch=16)
    try:
        assert worker.drain() == 60
    finally:
        worker.stop()
    assert {r.state for r in outbox(world)} == {"done"}
    assert count_rows(world.fr)["inbox"] == 30


def test_several_delivery_rounds_in_flight_send_each_envelope_once(world: World) -> None:
    """``exchange_worker_rounds`` loops claim in turn while other rounds are out: every
    envelope is attempted once and delivered once (the manual clock never moves, so no lease
    runs out and nothing is tried twice)."""
    for i in range(40):
        world.send(world.es, "garcia", **person_message(to=["FR-PN"], subject=f"m{i}"))
    worker = DeliveryWorker(world.es, transport=world.transport, concurrency=2, batch=4, rounds=3)
    worker.start()
    try:
        assert len(worker._threads) == 3
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {r.state for r in outbox(world)} != {"done"}:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert worker._threads == []
    rows = outbox(world)
    assert len(rows) == 40 and {r.state for r in rows} == {"done"}
    assert {r.attempts for r in rows} == {1}
    assert count_rows(world.fr)["inbox"] == 40 and count_rows(world.fr)["messages"] == 40
