"""Sending several messages in one request (``POST /api/v1/messages/batch``,
:func:`accord.exchange.services.send_batch`): each message checked on its own, the accepted
ones stored together, rows and audit entries as a single send's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.models import AuditEntry
from accord.audit.tags import Action
from accord.exchange import services
from accord.exchange.models import Message, OutboxEntry, Recipient
from accord.exchange.schemas import BATCH_MAX, MessageCreate
from accord.web.app import create_app
from tests.factories.officers import make_officer
from tests.unit.exchange.conftest import ACCOUNT, World, audit_count, person_message, principal_of
from tests.unit.exchange.test_api import login

VOLATILE = {"id", "message_id", "thread_id", "created_at", "message_pk", "envelope_id",
            "queued_at", "refused_at", "next_attempt_at", "envelope", "recipient_pk"}


def _rows(world: World, message_id: str) -> dict[str, Any]:
    """The sender's rows of one message, without ids and times (which differ per send)."""
    with world.es.read() as s:
        msg = s.scalars(select(Message).where(Message.message_id == message_id)).one()
        recs = s.scalars(select(Recipient).where(Recipient.message_pk == msg.id)
                         .order_by(Recipient.agency)).all()
        outbox = s.scalars(select(OutboxEntry).where(
            OutboxEntry.recipient_pk.in_([r.id for r in recs]))).all()

        def plain(row: Any) -> dict[str, Any]:
            refusal = getattr(row, "refusal", None)
            values = {c.key: getattr(row, c.key) for c in row.__table__.columns
                      if c.key not in VOLATILE}
            if refusal is not None:
                values["refusal"] = dict(refusal)
            return values

        return {"message": plain(msg), "recipients": [plain(r) for r in recs],
                "outbox": [plain(o) for o in outbox]}


def _audit_of(world: World, message_id: str) -> list[tuple[str, str, str]]:
    with world.es.read() as s:
        sent = s.scalars(select(AuditEntry).where(AuditEntry.object == f"message:{message_id}")).one()
        before = s.scalars(select(AuditEntry).where(AuditEntry.idx < sent.idx)
                           .order_by(AuditEntry.idx.desc()).limit(2)).all()
        return [(e.action, e.object, e.outcome) for e in reversed(before)] + [
            (sent.action, sent.outcome, str(sorted(sent.detail.items())))]


def test_a_batch_stores_what_single_sends_store_and_one_bad_message_sinks_nothing(world: World) -> None:
    garcia = principal_of(world.es, "garcia")
    single = world.send(world.es, "garcia", **person_message(records=[ACCOUNT]))
    cmds = [MessageCreate(**person_message(records=[ACCOUNT])),
            MessageCreate(**person_message(to=["XX-NOPE"])),
            MessageCreate(**person_message(handling="H3")),  # above garcia's clearance (H2)
            MessageCreate(**person_message(subject="second"))]
    failed_before = audit_count(world.es, Action.MESSAGE_FAILED)
    denied_before = audit_count(world.es, Action.MESSAGE_DENIED)
    outcomes = services.send_batch(world.es, garcia, cmds)

    first, unknown, above, second = outcomes
    assert isinstance(first, services.StoredMessage) and isinstance(second, services.StoredMessage)
    assert first.states == {"FR-PN": "queued", "MA-DGSN": "refused"}
    assert first.refusals["MA-DGSN"]["clause"] == "es-ma-police v2 clause art-3"
    assert getattr(unknown, "status", None) == 422 and getattr(above, "status", None) == 403
    assert audit_count(world.es, Action.MESSAGE_FAILED) == failed_before + 1
    assert audit_count(world.es, Action.MESSAGE_DENIED) == denied_before + 1

    # the same rows and audit entries as the same message sent on its own
    assert _rows(world, first.message_id) == _rows(world, single.message_id)
    assert _audit_of(world, first.message_id)[:2] == _audit_of(world, single.message_id)[:2]
    assert _audit_of(world, first.message_id)[2][:2] == _audit_of(world, single.message_id)[2][:2]

    world.pump()
    with world.fr.read() as s:
        got = set(s.scalars(select(Message.message_id).where(Message.owner == "FR-PN")))
    assert {single.message_id, first.message_id, second.message_id} <= got
    with world.es.read() as s:
        states = dict(s.execute(select(Message.message_id, Recipient.state).join(Recipient)
                                .where(Recipient.agency == "FR-PN")).all())
    assert states[first.message_id] == states[second.message_id] == "delivered"


@pytest.fixture
def es_api(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    officer = make_officer(world.es, "ruiz", agency="ES-PN", clearance="H2")
    with TestClient(create_app(world.es, background=False)) as client:
        yield client, login(client, world.es, officer)


def test_batch_route_answers_each_message_in_order(world: World, es_api: tuple) -> None:
    client, auth = es_api
    body = {"messages": [person_message(subject=f"notice {i}") for i in range(3)]
            + [person_message(to=["XX-NOPE"])]}
    r = client.post("/api/v1/messages/batch", json=body, headers=auth)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["sent"], doc["failed"]) == (3, 1)
    assert [x["index"] for x in doc["results"]] == [0, 1, 2, 3]
    assert [x["status"] for x in doc["results"]] == [201, 201, 201, 422]
    assert doc["results"][3]["problem"]["status"] == 422 and doc["results"][3]["message_id"] is None
    first = doc["results"][0]
    assert {x["agency"]: x["state"] for x in first["recipients"]} == {"FR-PN": "queued",
                                                                      "MA-DGSN": "queued"}
    world.pump()
    read = client.get(f"/api/v1/messages/{first['message_id']}", headers=auth).json()
    assert read["subject"] == "notice 0"
    assert {x["agency"]: x["state"] for x in read["recipients"]}["FR-PN"] == "delivered"


def test_batch_route_refuses_bad_batches_whole(world: World, es_api: tuple) -> None:
    client, auth = es_api
    assert client.post("/api/v1/messages/batch", json={"messages": []},
                       headers=auth).status_code == 422
    too_many = {"messages": [{"to": ["FR-PN"], "subject": "x"}] * (BATCH_MAX + 1)}
    r = client.post("/api/v1/messages/batch", json=too_many, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/messages/batch", json={"messages": [person_message()]}
                       ).status_code == 401
    with world.es.read() as s:
        assert s.scalars(select(Message).where(Message.subject == "x")).first() is None
