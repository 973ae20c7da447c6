"""Queueing a dead letter again: a fresh envelope, attempts from zero, audited; refused (409)
for a recipient in any other state, and for officers of other agencies or roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.models import AuditEntry
from accord.audit.tags import Action
from accord.errors import PermissionDenied
from accord.exchange import services
from accord.exchange.errors import MessageNotFound, NotDeadLetter, RecipientNotFound
from accord.exchange.models import OutboxEntry, Recipient
from accord.web.app import create_app
from tests.factories.officers import make_officer
from tests.unit.exchange.conftest import World, audit_count, count_rows, person_message, principal_of


def outbox(world: World) -> list[OutboxEntry]:
    with world.es.uow() as s:
        return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def recipient(world: World, agency: str = "FR-PN") -> Recipient:
    with world.es.uow() as s:
        return s.scalars(select(Recipient).where(Recipient.agency == agency)
                         .order_by(Recipient.id.desc())).first()  # type: ignore[return-value]


def dead_letter(world: World) -> str:
    """A message ES-PN → FR-PN, FR-node down for longer than the dead-letter time."""
    world.transport.down.add("fr-node")
    sent = world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    worker = world.worker(world.es)
    worker.run_once()
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_dead_letter_after_seconds))
    worker.drain()
    assert recipient(world).state == "dead-letter"
    return str(sent.message_id)


def requeue(world: World, user: str, message_id: str, agency: str = "FR-PN") -> Any:
    principal = principal_of(world.es, user)
    return services.audited(world.es, actor=principal.actor, obj=f"message:{message_id}",
                            fn=lambda s: services.requeue_recipient(world.es, s, principal,
                                                                    message_id, agency))


def test_a_dead_letter_is_queued_again_and_delivered(world: World) -> None:
    message_id = dead_letter(world)
    (dead,) = outbox(world)
    old_envelope = recipient(world).envelope_id
    world.clock.advance(timedelta(hours=1))

    requeue(world, "garcia", message_id)

    rec = recipient(world)
    assert rec.state == "queued" and rec.dead_at is None and rec.sent_at is None
    assert rec.queued_at == world.clock.now()
    assert rec.envelope_id != old_envelope
    old, new = outbox(world)
    assert old.id == dead.id and old.state == "dead"  # kept as it was
    assert new.envelope_id == rec.envelope_id and new.state == "pending" and new.attempts == 0
    assert new.next_attempt_at == world.clock.now()
    with world.es.uow() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == Action.MESSAGE_REQUEUED)).one()
    assert entry.actor == principal_of(world.es, "garcia").actor
    assert entry.detail["previous_envelope_id"] == old_envelope
    assert entry.detail["envelope_id"] == new.envelope_id
    assert entry.detail["previous_attempts"] == dead.attempts

    world.transport.down.clear()
    world.pump()
    rec = recipient(world)
    assert rec.state == "delivered" and rec.receipt is not None
    assert rec.receipt["body"]["envelope_id"] == new.envelope_id
    assert count_rows(world.fr)["messages"] == 1


def test_the_fresh_envelope_outlives_the_old_one(world: World) -> None:
    message_id = dead_letter(world)
    world.clock.advance(timedelta(days=3))  # past the old envelope's expiry (dead-letter + 1 h)
    requeue(world, "garcia", message_id)
    world.transport.down.clear()
    world.pump()
    assert recipient(world).state == "delivered"


@pytest.mark.parametrize("state", ["queued", "delivered", "refused"])
def test_only_a_dead_letter_is_queued_again(world: World, state: str) -> None:
    fields = person_message(to=["FR-PN"])
    if state == "refused":
        fields["to"] = ["MA-DGSN"]
        fields["records"] = [{"id": "a-1", "schema": "BankAccount",
                              "properties": {"iban": ["ES9121000418450200051332"]}}]
    sent = world.send(world.es, "garcia", **fields)
    if state == "delivered":
        world.pump()
    agency = fields["to"][0]
    assert recipient(world, agency).state == state
    with pytest.raises(NotDeadLetter) as caught:
        requeue(world, "garcia", sent.message_id, agency)
    assert caught.value.status == 409 and caught.value.extra["state"] == state
    assert recipient(world, agency).state == state
    assert audit_count(world.es, Action.MESSAGE_REQUEUED) == 0
    assert audit_count(world.es, Action.MESSAGE_FAILED) == 1


def test_only_the_sending_agency_with_the_send_permission(world: World) -> None:
    message_id = dead_letter(world)
    with pytest.raises(MessageNotFound):  # ES-SVA has no copy of ES-PN's message
        requeue(world, "vega", message_id)
    with pytest.raises(RecipientNotFound):
        requeue(world, "garcia", message_id, "MA-DGSN")
    make_officer(world.es, "lopez", agency="ES-PN", roles=["legal"], clearance="H2")
    with pytest.raises(PermissionDenied):
        requeue(world, "lopez", message_id)
    make_officer(world.es, "novice", agency="ES-PN", clearance="H1")
    with pytest.raises(PermissionDenied):  # the message is H2
        requeue(world, "novice", message_id)
    assert recipient(world).state == "dead-letter"


def test_the_agreements_are_asked_again(world: World) -> None:
    message_id = dead_letter(world)
    for path in world.es.settings.resolved_agreements_dir.glob("*.yaml"):
        path.unlink()  # no agreement left: ES-PN → FR-PN is no longer allowed
    with pytest.raises(PermissionDenied):
        requeue(world, "garcia", message_id)
    assert recipient(world).state == "dead-letter"
    assert audit_count(world.es, Action.MESSAGE_DENIED) == 1


def test_retry_route(world: World) -> None:
    message_id = dead_letter(world)  # a day passes: log in afterwards
    officer = make_officer(world.es, "ruiz", agency="ES-PN", clearance="H2")
    with TestClient(create_app(world.es, background=False)) as client:
        r = client.post("/auth/login", json={"username": officer.username,
                                             "password": officer.password,
                                             "totp": officer.code(world.es)})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        url = f"/api/v1/messages/{message_id}/recipients/FR-PN/retry"
        r = client.post(url, headers=auth)
        assert r.status_code == 200, r.text
        assert {x["agency"]: x["state"] for x in r.json()["recipients"]} == {"FR-PN": "queued"}
        again = client.post(url, headers=auth)
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert again.json()["type"].endswith("/not-dead-letter")
        missing = client.post(f"/api/v1/messages/{message_id}/recipients/DE-BKA/retry",
                              headers=auth)
        assert missing.status_code == 404
