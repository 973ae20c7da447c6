"""Messages across nodes and on one node: send, policy on both sides, read, acknowledge, reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accord.audit.tags import Action
from accord.crypto.envelope import verify_signed_header
from accord.errors import PermissionDenied, ValidationFailed
from accord.exchange import services
from accord.exchange.errors import UnknownRecipient
from accord.exchange.models import InboxEntry, Message, Recipient
from accord.exchange.schemas import ReplyCreate
from accord.parties.keys import KeyStore
from tests.unit.exchange.conftest import (
    ACCOUNT,
    World,
    audit_actions,
    audit_count,
    count_rows,
    person_message,
    principal_of,
)


def states(world: World, message_id: str) -> dict[str, Recipient]:
    with world.es.uow() as s:
        msg = s.scalars(select(Message).where(Message.message_id == message_id,
                                              Message.direction == "out")).one()
        return {r.agency: r for r in msg.recipients}


def inbox_copy(node, agency: str, message_id: str) -> Message | None:  # type: ignore[no-untyped-def]
    with node.uow() as s:
        return s.scalars(select(Message).where(Message.message_id == message_id,
                                               Message.owner == agency)).first()


def test_message_to_fr_and_ma_is_delivered_read_and_acknowledged(world: World) -> None:
    sent = world.send(world.es, "garcia", **person_message())
    recips = states(world, sent.message_id)
    assert {a: r.state for a, r in recips.items()} == {"FR-PN": "queued", "MA-DGSN": "queued"}
    # nothing left the node yet: the envelopes wait in the outbox
    assert world.transport.sent == []

    world.clock.advance(timedelta(seconds=1))
    world.pump()
    recips = states(world, sent.message_id)
    for r in recips.values():
        assert r.state == "delivered"
        assert r.sent_at is not None and r.delivered_at is not None
        assert r.receipt is not None and r.receipt["body"]["recipient"] == r.agency

    for node, agency, user in ((world.fr, "FR-PN", "dupont"), (world.ma, "MA-DGSN", "alaoui")):
        copy = inbox_copy(node, agency, sent.message_id)
        assert copy is not None and copy.direction == "in"
        assert copy.subject == "Courier on the Algeciras ferry"
        assert copy.records[0]["schema"] == "Person"
        assert copy.decision is not None and copy.decision["allowed"]
        principal = principal_of(node, user)
        world.clock.advance(timedelta(minutes=5))
        services.audited(node, actor=principal.actor, obj="m",
                         fn=lambda s, n=node, p=principal: services.read_message(n, s, p, sent.message_id))
        world.clock.advance(timedelta(minutes=5))
        services.audited(node, actor=principal.actor, obj="m",
                         fn=lambda s, n=node, p=principal: services.acknowledge(n, s, p, sent.message_id))
    world.pump()

    recips = states(world, sent.message_id)
    for r in recips.values():
        assert r.state == "acknowledged"
        times = [r.queued_at, r.sent_at, r.delivered_at, r.read_at, r.acknowledged_at]
        assert all(t is not None for t in times)
        assert times == sorted(times)  # type: ignore[type-var]
    # both sides audited the decision and the exchange
    assert Action.MESSAGE_SENT in audit_actions(world.es)
    assert audit_count(world.es, Action.ENVELOPE_DELIVERED) == 2
    assert Action.MESSAGE_RECEIVED in audit_actions(world.fr)
    assert Action.MESSAGE_READ in audit_actions(world.fr)
    assert Action.MESSAGE_ACKNOWLEDGED in audit_actions(world.fr)
    assert audit_count(world.es, Action.MESSAGE_STATE) == 4  # read + ack from two recipients


def test_refused_recipient_is_reported_with_clause_while_others_receive(world: World) -> None:
    sent = world.send(world.es, "garcia", **person_message(records=[ACCOUNT]))
    recips = states(world, sent.message_id)
    ma = recips["MA-DGSN"]
    assert ma.state == "refused"
    assert ma.refusal is not None and ma.refusal["side"] == "sender"
    assert ma.refusal["code"] == "category-not-granted"
    assert ma.refusal["clause"] == "es-ma-police v2 clause art-3"
    assert "account" in ma.refusal["reason"]
    assert recips["FR-PN"].state == "queued"
    world.pump()
    assert states(world, sent.message_id)["FR-PN"].state == "delivered"
    assert inbox_copy(world.ma, "MA-DGSN", sent.message_id) is None
    assert count_rows(world.ma)["inbox"] == 0
    # the payload names only the recipients that get it
    copy = inbox_copy(world.fr, "FR-PN", sent.message_id)
    assert copy is not None and copy.to == ["FR-PN"]


def test_free_text_message_carries_person_and_needs_a_crime_area_with_ma(world: World) -> None:
    # no crime area: MA's agreement covers only listed crime areas, FR's covers all
    sent = world.send(world.es, "garcia", to=["FR-PN", "MA-DGSN"], subject="Hello",
                      body="Free text", handling="H1")
    recips = states(world, sent.message_id)
    assert recips["FR-PN"].state == "queued"
    assert recips["MA-DGSN"].refusal["code"] == "crime-area-not-granted"  # type: ignore[index]
    with world.es.uow() as s:
        msg = s.scalars(select(Message).where(Message.message_id == sent.message_id)).one()
        assert msg.categories == ["person"]


def test_same_node_agencies_use_the_envelope_path(world: World) -> None:
    sent = world.send(world.es, "garcia", to=["ES-SVA"], subject="Container MSCU1234567",
                      body="Please check", crime_area="0601", handling="H1")
    world.pump()
    recips = states(world, sent.message_id)
    assert recips["ES-SVA"].state == "delivered"
    with world.es.uow() as s:
        row = s.get(InboxEntry, recips["ES-SVA"].envelope_id)
        assert row is not None and row.recipient == "ES-SVA" and row.sender == "ES-PN"
        # the proof checks offline with the sender's public key
        pub = KeyStore.verification_key(s, row.sender_kid)
        verify_signed_header(row.signed_header, row.signature, pub)
    vega = principal_of(world.es, "vega")
    msgs = services.audited(world.es, actor=vega.actor, obj="m",
                            fn=lambda s: [m.message_id for m in services.list_messages(world.es, s, vega)])
    assert msgs == [sent.message_id]
    # ES-PN does not see ES-SVA's copy as its inbox
    garcia = principal_of(world.es, "garcia")
    assert services.audited(world.es, actor=garcia.actor, obj="m",
                            fn=lambda s: services.list_messages(world.es, s, garcia)) == []


def test_reply_threads_and_listing(world: World) -> None:
    first = world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    urgent = world.send(world.es, "garcia", **person_message(to=["FR-PN"], priority="urgent",
                                                             subject="URGENT", case_ref="ES-2026-002"))
    world.pump()
    dupont = principal_of(world.fr, "dupont")
    inbox = services.audited(world.fr, actor=dupont.actor, obj="m",
                             fn=lambda s: [m.message_id for m in services.list_messages(world.fr, s, dupont)])
    assert inbox == [urgent.message_id, first.message_id]  # urgent first
    answer = services.audited(
        world.fr, actor=dupont.actor, obj="m",
        fn=lambda s: services.reply(world.fr, s, dupont, first.message_id, ReplyCreate(body="On it.")))
    assert answer.in_reply_to == first.message_id and answer.thread_id == first.thread_id
    assert answer.subject.startswith("Re: ")
    world.pump()
    garcia = principal_of(world.es, "garcia")
    thread = services.audited(
        world.es, actor=garcia.actor, obj="m",
        fn=lambda s: [(m.direction, m.message_id) for m in
                      services.list_messages(world.es, s, garcia, box="all", thread_id=first.thread_id)])
    assert thread == [("out", first.message_id), ("in", answer.message_id)]
    by_case = services.audited(
        world.es, actor=garcia.actor, obj="m",
        fn=lambda s: [m.message_id for m in
                      services.list_messages(world.es, s, garcia, box="sent", case_ref="ES-2026-002")])
    assert by_case == [urgent.message_id]


def test_bad_input_stores_nothing_and_is_audited(world: World) -> None:
    before = count_rows(world.es)
    with pytest.raises(UnknownRecipient):
        world.send(world.es, "garcia", to=["DE-BKA"], subject="x")
    with pytest.raises(ValidationFailed):
        world.send(world.es, "garcia", **person_message(records=[{"id": "x", "schema": "Nope"}]))
    with pytest.raises(ValidationFailed):
        world.send(world.es, "garcia", **person_message(
            records=[{"id": "x", "schema": "Person", "properties": {"colour": ["red"]}}]))
    with pytest.raises(PermissionDenied):
        world.send(world.es, "garcia", **person_message(handling="H3"))
    assert count_rows(world.es) == before
    assert audit_count(world.es, Action.MESSAGE_FAILED) == 3
    assert audit_count(world.es, Action.MESSAGE_DENIED) == 1


def test_reading_above_clearance_is_refused_and_audited(world: World) -> None:
    from tests.factories.officers import make_officer

    make_officer(world.fr, "junior", agency="FR-PN", clearance="H1")
    sent = world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    world.pump()
    junior = principal_of(world.fr, "junior")
    with pytest.raises(PermissionDenied):
        services.audited(world.fr, actor=junior.actor, obj="m",
                         fn=lambda s: services.read_message(world.fr, s, junior, sent.message_id))
    assert audit_count(world.fr, Action.MESSAGE_DENIED) == 1
    listed = services.audited(world.fr, actor=junior.actor, obj="m",
                              fn=lambda s: services.list_messages(world.fr, s, junior))
    assert listed == []
    copy = inbox_copy(world.fr, "FR-PN", sent.message_id)
    assert copy is not None and copy.read_at is None
