"""Retention (delete or flag, each audited) and cross-border reads gated by the PDP."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.agreements import Agreement, Clause, Grant, Handling, dump_agreement
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.errors import PolicyDenied
from accord.records import ClearanceTooLow, Reader
from accord.records import services as records
from accord.records.models import Record
from tests.unit.records.conftest import META, audit, person

OPERATOR = Reader.operator("test")


def add(node: Node, entity_id: str, retention: date, **meta: Any) -> None:
    records.create_record(node, person(entity_id),
                          {**META, "owner": "ES-PN", "retention_until": retention.isoformat(),
                           **meta}, reader=OPERATOR)


def ids(node: Node) -> list[str]:
    with node.uow() as s:
        return list(s.scalars(select(Record.id).order_by(Record.id)))


def test_retention_deletes_past_records_and_audits_each(node: Node, clock: ManualClock) -> None:
    today = clock.now().date()
    add(node, "p1", today + timedelta(days=10))
    add(node, "p2", today + timedelta(days=40))
    add(node, "p3", today + timedelta(days=400))
    assert records.run_retention(node).count == 0
    clock.advance(timedelta(days=10))
    assert records.run_retention(node).count == 0  # kept through its last day
    clock.advance(timedelta(days=31))
    dry = records.run_retention(node, dry_run=True)
    assert dry.ids == ["p1", "p2"] and ids(node) == ["p1", "p2", "p3"]
    report = records.run_retention(node, batch_size=1)
    assert report.ids == ["p1", "p2"] and report.mode == "delete"
    assert ids(node) == ["p3"]
    deleted = [e for e in audit(node) if e.action == Action.RECORD_RETENTION_DELETED]
    assert [e.object for e in deleted] == ["record:p1", "record:p2"]
    assert deleted[0].basis == "retention"
    assert deleted[0].detail["retention_until"] == (today + timedelta(days=10)).isoformat()
    assert records.run_retention(node).count == 0


def test_retention_flag_only(node: Node, clock: ManualClock) -> None:
    today = clock.now().date()
    add(node, "p1", today)
    add(node, "p2", today + timedelta(days=100))
    clock.advance(timedelta(days=2))
    report = records.run_retention(node, flag_only=True)
    assert report.ids == ["p1"] and report.mode == "flag"
    assert records.run_retention(node, flag_only=True).count == 0  # flagged once
    with node.uow() as s:
        row = s.get(Record, "p1")
        assert row is not None and row.flagged_at == clock.now()
        assert row.flag_reason == "retention-expired"
    page = records.list_records(node, reader=OPERATOR, filters=records.RecordFilter(flagged=True))
    assert [r.id for r in page.items] == ["p1"]
    flagged = [e for e in audit(node) if e.action == Action.RECORD_RETENTION_FLAGGED]
    assert [e.object for e in flagged] == ["record:p1"]
    # Extending the retention date lifts the flag.
    records.update_record(node, "p1", reader=OPERATOR,
                          meta={"retention_until": (today + timedelta(days=365)).isoformat()})
    with node.uow() as s:
        assert s.get(Record, "p1").flagged_at is None  # type: ignore[union-attr]


def write_agreement(node: Node, *, categories: set[str], max_handling: str = "H2") -> None:
    folder = node.settings.resolved_agreements_dir
    folder.mkdir(parents=True, exist_ok=True)
    grant = Grant(actions={"record-access-after-hit"}, categories=categories,
                  crime_areas={"all"}, max_handling=max_handling,
                  purposes={"investigation"}, retention="P1Y")
    agreement = Agreement(id="es-fr-test", version=1, title="Spain–France test (model)",
                          instrument="bilateral-treaty", parties=("ES", "FR"),
                          valid_from=date(2024, 1, 1),
                          clauses=(Clause(id="art-5", text="Records after a hit.", grants=grant),))
    (folder / "es-fr-test.yaml").write_text(dump_agreement(agreement), encoding="utf-8")


def test_a_foreign_reader_goes_through_the_policy_decision_point(node: Node) -> None:
    add(node, "p1", date(2030, 1, 1), handling="H2")
    foreign = Reader("FR-PN/dupont", "FR-PN", Handling.H3)
    with pytest.raises(PolicyDenied) as info:
        records.get_record(node, "p1", reader=foreign, purpose="investigation")
    assert info.value.extra["reason"] == "no-agreement"
    write_agreement(node, categories={"vehicle"})
    with pytest.raises(PolicyDenied) as info:
        records.get_record(node, "p1", reader=foreign, purpose="investigation")
    assert info.value.extra["reason"] == "category-not-granted"
    write_agreement(node, categories={"person"})
    row = records.get_record(node, "p1", reader=foreign, purpose="investigation")
    assert row.id == "p1"
    entries = audit(node, "")
    decisions = [e for e in entries if e.action == Action.POLICY_DECISION]
    assert [e.outcome for e in decisions] == ["deny", "deny", "allow"]
    assert decisions[-1].detail["side"] == "sender"
    read = [e for e in entries if e.action == Action.RECORD_READ][-1]
    assert read.basis == "es-fr-test v1 clause art-5" and read.detail["cross_border"] is True
    assert len([e for e in entries if e.action == Action.RECORD_DENIED]) == 2
    # Browsing is not a hit: a foreign reader's list shows nothing, and says so.
    page = records.list_records(node, reader=foreign)
    assert page.items == [] and page.withheld == 1


def test_clearance_comes_before_everything(node: Node) -> None:
    add(node, "p1", date(2030, 1, 1), handling="H3")
    with pytest.raises(ClearanceTooLow) as info:
        records.get_record(node, "p1", reader=Reader("ES-PN/garcia", "ES-PN", Handling.H2))
    assert info.value.extra == {"reason": "clearance-too-low", "handling": "H3",
                                "clearance": "H2", "record_id": "p1"}
