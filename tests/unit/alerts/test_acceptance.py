"""Issue 8's acceptance line for alerts: an alert created on ES propagates to FR; a later FR
search and a later FR record both hit it; ES receives the urgent notification (who, where,
when); withdrawal removes it from FR."""

from __future__ import annotations

from datetime import timedelta

from accord.exchange.events import broker_of
from accord.exchange.models import OutboxEntry
from tests.unit.alerts.conftest import ANA, add_record, copies, hits, inbox, issue, search, withdraw
from tests.unit.exchange.conftest import World, audit_actions


def test_alert_propagates_hits_notify_and_withdrawal(fed: World) -> None:
    es, fr, ma = fed.es, fed.fr, fed.ma
    alert = issue(es, "garcia")
    # FR through the SIS clause; MA refused: es-ma art-6 covers only some crime areas
    assert alert.propagation["FR-PN"]["state"] == "queued"
    assert alert.propagation["FR-PN"]["clause"] == "eu-sis-2018-1862 v1 clause art-26-38"
    refused = alert.propagation["MA-DGSN"]
    assert refused["state"] == "refused" and refused["code"] == "crime-area-not-granted"
    assert "art-6" in refused["clause"]
    assert alert.propagation.get("ES-SVA") is None  # same node: it sees the own copy

    fed.pump()
    [foreign] = copies(fr, alert.alert_id)
    assert (foreign.origin, foreign.holder, foreign.issuer, foreign.state) == (
        "foreign", "FR-PN", "ES-PN", "active")
    assert foreign.subject["properties"]["name"] == ["Ana Ruiz Gómez"]
    assert foreign.decision is not None and foreign.decision["allowed"]
    assert copies(ma) == []

    events: list[dict[str, object]] = []
    broker_of(es).subscribe("ES-PN", events.append)

    # a later FR search, in Arabic script, at a border crossing
    fed.clock.advance(timedelta(minutes=5))
    found = search(fr, "FR-PN", "FR-PN/dupont", {
        "schema": "Person", "properties": {"name": ["آنا رويث"], "birthDate": ["1980-02-03"]}},
        where="Hendaye border crossing")
    assert [h.ref for h in found if h.source == "alert"] == [alert.alert_id]
    searched_at = fed.clock.now()
    [fr_hit] = hits(fr)
    assert (fr_hit.kind, fr_hit.reporter, fr_hit.officer, fr_hit.place) == (
        "search", "FR-PN", "FR-PN/dupont", "Hendaye border crossing")
    assert fr_hit.answer_due == searched_at + timedelta(hours=12)
    assert fr_hit.deadline_source.startswith("eu-sis-2018-1862 v1")
    # FR's officers are told what to do, at once
    [fr_note] = [m for m in inbox(fr, "FR-PN") if m.direction == "sys"]
    assert fr_note.priority == "urgent" and "Arrest the person" in fr_note.body

    fed.pump()
    [es_hit] = hits(es)
    assert es_hit.hit_id == fr_hit.hit_id and es_hit.ref is None
    [note] = inbox(es, "ES-PN")
    assert note.priority == "urgent" and note.direction == "sys"
    assert "FR-PN/dupont" in note.body  # who
    assert "fr-node" in note.body and "Hendaye border crossing" in note.body  # where
    assert searched_at.isoformat() in note.body  # when
    assert "1980" not in note.body and "آنا" not in note.body  # nothing of what was searched
    assert [e["event"] for e in events] == ["urgent-message"]
    assert events[0]["message_id"] == note.message_id

    # a later FR record on the same person
    fed.clock.advance(timedelta(minutes=5))
    add_record(fr, "FR-PN", "FR-PN/martin", {
        "id": "fr-rec-9", "schema": "Person",
        "properties": {"name": ["RUIZ GOMEZ, Ana"], "birthDate": ["1980-02-03"]}})
    record_hits = [h for h in hits(fr) if h.kind == "record"]
    assert [(h.ref, h.officer) for h in record_hits] == [("fr-rec-9", "FR-PN/martin")]
    fed.pump()
    urgent = [m for m in inbox(es, "ES-PN") if m.priority == "urgent"]
    assert len(urgent) == 2
    assert "FR-PN/martin" in urgent[0].body and "record" in urgent[0].body
    assert "fr-rec-9" not in urgent[0].body  # the record stays with FR

    # withdrawal removes it from FR: no more hits
    withdraw(es, "garcia", alert.alert_id)
    fed.pump()
    [gone] = copies(fr, alert.alert_id)
    assert gone.state == "withdrawn" and gone.withdrawn_reason == "found"
    assert [h for h in search(fr, "FR-PN", "FR-PN/dupont", ANA) if h.source == "alert"] == []
    add_record(fr, "FR-PN", "FR-PN/martin", {**ANA, "id": "fr-rec-10"})
    assert len(hits(fr)) == 2
    fed.pump()
    assert len(hits(es)) == 2

    # every envelope was delivered with a receipt
    with es.uow() as s:
        from sqlalchemy import select
        states = set(s.scalars(select(OutboxEntry.state).where(
            OutboxEntry.content_type.like("accord/alert%"))))
    assert states == {"done"}

    es_actions = audit_actions(es)
    for action in ("alerts:alert:created", "alerts:hit:received", "alerts:alert:withdrawn"):
        assert action in es_actions
    fr_actions = audit_actions(fr)
    for action in ("alerts:alert:received", "alerts:hit:reported",
                   "alerts:alert:withdrawal-received"):
        assert action in fr_actions
