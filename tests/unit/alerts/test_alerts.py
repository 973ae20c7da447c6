"""Alerts: propagation refused by the agreements, same-node hits, reminders once per date,
handling and clearance, audit, and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.alerts import reminders
from accord.alerts import services as alerts
from accord.alerts.errors import AlertInvalid, AlertNotActive
from accord.audit.models import AuditEntry
from accord.errors import PermissionDenied
from accord.exchange.events import broker_of
from accord.exchange.models import OutboxEntry
from accord.search.models import SearchEntry
from accord.web.app import create_app
from tests.factories.officers import make_officer
from tests.unit.alerts.conftest import (
    ANA,
    add_record,
    copies,
    hits,
    inbox,
    issue,
    search,
    withdraw,
)
from tests.unit.exchange.conftest import World, audit_count, principal_of
from tests.unit.exchange.test_api import login

VEHICLE = {"id": "car-1", "schema": "Vehicle",
           "properties": {"registrationNumber": ["1234 BCD"], "country": ["es"]}}


def _alert_entries(node: object, alert_id: str) -> int:
    with node.uow() as s:  # type: ignore[attr-defined]
        return int(s.scalar(select(func.count()).select_from(SearchEntry).where(
            SearchEntry.source == "alert", SearchEntry.ref == alert_id)) or 0)


def test_peer_without_alert_propagation_gets_nothing(fed: World) -> None:
    # FR–MA grant only messages and information requests: MA is refused with the clause
    alert = issue(fed.fr, "dupont", type="missing-person")
    refused = alert.propagation["MA-DGSN"]
    assert refused["state"] == "refused" and refused["code"] == "action-not-granted"
    assert refused["clause"] and "fr-ma" in refused["clause"]
    assert alert.propagation["ES-PN"]["state"] == "queued"
    fed.pump()
    assert copies(fed.ma) == []
    with fed.fr.uow() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEntry)
                        .where(OutboxEntry.recipient == "MA-DGSN")) == 0
        denied = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "policy:decision:made",
            AuditEntry.object == "flow:FR-PN->MA-DGSN:alert-propagation")).one()
        assert denied.outcome == "deny" and denied.detail["side"] == "sender"
    # each agency of the ES node holds its copy; the node indexes the subject once
    assert [(c.holder, c.origin) for c in copies(fed.es, alert.alert_id)] == [
        ("ES-PN", "foreign"), ("ES-SVA", "foreign")]
    assert _alert_entries(fed.es, alert.alert_id) == 1
    # a search on MA never meets it
    assert [h for h in search(fed.ma, "MA-DGSN", "MA-DGSN/alaoui", ANA)
            if h.source == "alert"] == []


def test_receiver_refuses_what_its_own_agreements_do_not_grant(fed: World) -> None:
    # ES grants itself ES→MA at H1 for crime area 06; MA's node has no such clause left
    (fed.ma.settings.resolved_agreements_dir / "es-ma-police-cooperation.yaml").unlink()
    alert = issue(fed.es, "garcia", crime_area="0601")
    assert alert.propagation["MA-DGSN"]["state"] == "queued"
    fed.pump()
    assert copies(fed.ma) == []
    with fed.es.uow() as s:
        entry = s.scalars(select(OutboxEntry).where(OutboxEntry.recipient == "MA-DGSN")).one()
        assert entry.state == "rejected" and entry.problem["reason"] == "policy-denied"


def test_same_node_hit_goes_to_the_issuers_inbox_at_once(fed: World) -> None:
    es = fed.es
    alert = issue(es, "garcia", type="stolen-object", subject=VEHICLE)
    assert _alert_entries(es, alert.alert_id) == 1
    events: list[dict[str, object]] = []
    broker_of(es).subscribe("ES-PN", events.append)
    add_record(es, "ES-SVA", "ES-SVA/vega", {"id": "v-9", "schema": "Vehicle", "properties": {
        "registrationNumber": ["1234-BCD"], "country": ["es"]}})
    [hit] = hits(es)
    assert (hit.kind, hit.reporter, hit.issuer, hit.ref, hit.band) == (
        "record", "ES-SVA", "ES-PN", "v-9", "strong")
    assert hit.deadline_source == "default (12 h)"
    assert hit.answer_due == hit.at + timedelta(hours=12)
    [note] = [m for m in inbox(es, "ES-PN") if m.priority == "urgent"]
    assert note.message_id == hit.message_id and "ES-SVA/vega" in note.body
    assert [e["event"] for e in events] == ["urgent-message"]  # published after the commit
    # the reporting agency sees the follow-up and the action to take
    vega = principal_of(es, "vega")
    with es.uow() as s:
        assert [h.hit_id for h in alerts.list_hits(es, s, vega)] == [hit.hit_id]
    [told] = [m for m in inbox(es, "ES-SVA") if m.priority == "urgent"]
    assert "Seize the vehicle" in told.body


def test_withdrawn_or_unknown_alerts_are_not_withdrawn_again(fed: World) -> None:
    alert = issue(fed.es, "garcia")
    withdraw(fed.es, "garcia", alert.alert_id)
    assert _alert_entries(fed.es, alert.alert_id) == 0
    with pytest.raises(AlertNotActive):
        withdraw(fed.es, "garcia", alert.alert_id)
    fed.pump()
    # FR got the alert and its withdrawal, in that order
    [copy] = copies(fed.fr, alert.alert_id)
    assert copy.state == "withdrawn"
    assert _alert_entries(fed.fr, alert.alert_id) == 0
    # only the issuer withdraws
    make_officer(fed.fr, "roux", agency="FR-PN", clearance="H2")
    other = issue(fed.es, "garcia")
    fed.pump()
    with pytest.raises(PermissionDenied):
        withdraw(fed.fr, "roux", other.alert_id)
    assert audit_count(fed.fr, "alerts:alert:denied") == 1


def test_reminders_fire_once_at_the_review_date_and_on_expiry(fed: World) -> None:
    es, clock = fed.es, fed.clock
    alert = issue(es, "garcia", review_at=clock.now() + timedelta(days=10),
                  valid_until=clock.now() + timedelta(days=20))
    fed.pump()
    assert reminders.run_reminders(es) == 0
    clock.advance(timedelta(days=10))
    assert reminders.run_reminders(es) == 1
    assert reminders.run_reminders(es) == 0  # once per alert and date
    [review] = inbox(es, "ES-PN")
    assert review.subject.startswith("Review due") and review.priority == "high"
    clock.advance(timedelta(days=3))  # 7 days before the end
    assert reminders.run_reminders(es) == 1
    assert reminders.run_reminders(es) == 0
    clock.advance(timedelta(days=7))
    assert reminders.run_reminders(es) == 1
    assert [c.state for c in copies(es)] == ["expired"]
    assert _alert_entries(es, alert.alert_id) == 0
    assert [m.subject.split(":")[0] for m in inbox(es, "ES-PN")] == [
        "Expired", "Expires soon", "Review due"]
    assert audit_count(es, "alerts:alert:reminder") == 2
    assert audit_count(es, "alerts:alert:expired") == 1
    # FR's copy expires too (no message: FR did not issue it), and stops being searched
    assert reminders.run_reminders(fed.fr) == 1
    assert [c.state for c in copies(fed.fr)] == ["expired"]
    assert inbox(fed.fr, "FR-PN") == []
    assert reminders.run_reminders(fed.fr) == 0


def test_handling_and_clearance(fed: World) -> None:
    es = fed.es
    make_officer(es, "lopez", agency="ES-PN", clearance="H1")
    with pytest.raises(PermissionDenied):
        issue(es, "lopez", handling="H2")
    assert audit_count(es, "alerts:alert:denied") == 1
    secret = issue(es, "garcia", handling="H2")
    plain = issue(es, "garcia", handling="H1")
    lopez = principal_of(es, "lopez")
    with es.uow() as s:
        assert [a.alert_id for a in alerts.list_alerts(es, s, lopez)] == [plain.alert_id]
    with pytest.raises(PermissionDenied), es.uow() as s:
        alerts.get_alert(es, s, lopez, secret.alert_id)
    # the hit on an H2 alert is an H2 message: the H1 officer does not see it in the inbox
    search(es, "ES-PN", "ES-PN/garcia", ANA)
    from accord.exchange import services as exchange
    with es.uow() as s:
        listed = exchange.list_messages(es, s, lopez)
        assert {m.handling for m in listed} == {"H1"}
    # an analyst may read alerts but not issue them
    make_officer(es, "ana", agency="ES-PN", roles=["analyst"])
    with pytest.raises(PermissionDenied):
        issue(es, "ana")


def test_invalid_alerts_are_refused_and_audited(fed: World) -> None:
    with pytest.raises(AlertInvalid):
        issue(fed.es, "garcia", type="stolen-object")  # a Person cannot be a stolen object
    with pytest.raises(AlertInvalid):
        issue(fed.es, "garcia", valid_until=fed.clock.now() - timedelta(days=1))
    with pytest.raises(AlertInvalid):
        issue(fed.es, "garcia", subject={"schema": "Person", "properties": {"nope": ["x"]}})
    assert audit_count(fed.es, "alerts:alert:failed") == 3
    assert copies(fed.es) == []


def test_reads_and_writes_are_audited(fed: World) -> None:
    es = fed.es
    alert = issue(es, "garcia")
    garcia = principal_of(es, "garcia")
    with es.uow() as s:
        alerts.list_alerts(es, s, garcia)
        alerts.get_alert(es, s, garcia, alert.alert_id)
        alerts.list_hits(es, s, garcia)
    with es.uow() as s:
        entries = {e.action: e for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("alerts:%")))}
    assert set(entries) == {"alerts:alert:created", "alerts:alerts:listed", "alerts:alert:read",
                            "alerts:hits:listed"}
    created = entries["alerts:alert:created"]
    assert created.actor == "ES-PN/garcia" and created.object == f"alert:{alert.alert_id}"
    assert created.detail["propagation"] == {"FR-PN": "queued", "MA-DGSN": "refused"}
    assert "Ana" not in str(created.detail)  # no personal data in the trail


def test_api(fed: World) -> None:
    es = fed.es
    officer = make_officer(es, "ruiz", agency="ES-PN", clearance="H2")
    with TestClient(create_app(es, background=False)) as client:
        headers = login(client, es, officer)
        _api_round(fed, client, headers)


def _api_round(fed: World, client: TestClient, headers: dict[str, str]) -> None:
    valid = (fed.clock.now() + timedelta(days=30)).isoformat()
    r = client.post("/api/v1/alerts", headers=headers, json={
        "type": "arrest", "subject": ANA, "valid_until": valid, "handling": "H1"})
    assert r.status_code == 201, r.text
    alert_id = r.json()["alert_id"]
    assert r.json()["propagation"]["FR-PN"]["state"] == "queued"
    r = client.get("/api/v1/alerts", headers=headers)
    assert [a["alert_id"] for a in r.json()] == [alert_id]
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()["state"] == "active"
    assert client.get("/api/v1/alerts/hits", headers=headers).json() == []
    r = client.post(f"/api/v1/alerts/{alert_id}/withdraw", headers=headers, json={"reason": "x"})
    assert r.json()["state"] == "withdrawn"
    r = client.post(f"/api/v1/alerts/{alert_id}/withdraw", headers=headers, json={})
    assert r.status_code == 409 and r.json()["type"].endswith("alert-not-active")
    r = client.post("/api/v1/alerts", headers=headers, json={
        "type": "arrest", "subject": ANA, "valid_until": valid, "handling": "H3"})
    assert r.status_code == 403


def test_an_officers_search_through_the_search_service_hits_a_foreign_alert(fed: World) -> None:
    from accord.records import Reader
    from accord.search.index import parse_query
    from accord.search.services import search_as_officer

    alert = issue(fed.es, "garcia", type="stolen-object", subject={
        "id": "pp-1", "schema": "Passport", "properties": {"number": ["XDA123456"],
                                                            "country": ["es"], "holder": ["ana-1"]}})
    fed.pump()
    reader = Reader(actor="FR-PN/dupont", agency_id="FR-PN", clearance="H2")
    result = search_as_officer(fed.fr, parse_query({"kind": "document", "value": "xda-123 456"}),
                               reader=reader, purpose="detection", where="Irun toll")
    assert [h.ref for h in result.hits if h.source == "alert"] == [alert.alert_id]
    fed.pump()
    [hit] = hits(fed.es)
    assert (hit.reporter, hit.officer, hit.place, hit.band) == (
        "FR-PN", "FR-PN/dupont", "Irun toll", "strong")
    [note] = inbox(fed.es, "ES-PN")
    assert note.priority == "urgent" and "Irun toll" in note.body


def test_an_officers_hit_no_hit_search_is_checked_against_the_alerts_here(fed: World) -> None:
    """The peers' search of an FR officer (the protocol, not only the local search) hits the
    alert ES propagated to FR: ES is told who, where and when."""
    from accord.search.protocol import search_peers
    from accord.search.schemas import SearchCreate
    from accord.search.transport import InMemorySearchPort

    alert = issue(fed.es, "garcia", type="stolen-object", subject={
        "id": "pp-2", "schema": "Passport", "properties": {"number": ["XDB654321"],
                                                            "country": ["es"], "holder": ["ana-2"]}})
    fed.pump()
    port = InMemorySearchPort({"es-node": fed.es, "fr-node": fed.fr, "ma-node": fed.ma})
    search_peers(fed.fr, principal_of(fed.fr, "dupont"),
                 SearchCreate(kind="document", value="XDB 654321", purpose="detection",
                              where="Hendaye border post"), port=port)
    fed.pump()
    [hit] = [h for h in hits(fed.es) if h.alert_id == alert.alert_id]
    assert (hit.reporter, hit.officer, hit.place) == ("FR-PN", "FR-PN/dupont", "Hendaye border post")
    notes = [m for m in inbox(fed.es, "ES-PN") if "Hendaye border post" in m.body]
    assert notes and notes[0].priority == "urgent"
