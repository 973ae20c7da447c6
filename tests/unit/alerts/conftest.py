"""Alerts across the in-process federation of the exchange tests (ES on SQLite and
PostgreSQL, FR and MA on SQLite), with a model SIS agreement between ES and FR that grants
``alert-propagation`` (the example agreements grant it only from ES to MA, for some crime
areas at H1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from accord.alerts import services as alerts
from accord.alerts.models import Alert, AlertHit
from accord.alerts.schemas import AlertCreate
from accord.bootstrap import Node
from accord.exchange.models import Message
from accord.records import Reader
from accord.records import services as records
from accord.search.index import Query, SearchContext, person_of, search_local
from tests.unit.exchange.conftest import (
    World,
    principal_of,
    world,  # noqa: F401  (the federation fixture)
)

SIS = Path(__file__).parent / "data" / "eu-sis-alerts.yaml"

ANA = {"id": "ana-1", "schema": "Person",
       "properties": {"name": ["Ana Ruiz Gómez"], "birthDate": ["1980-02-03"],
                      "nationality": ["es"], "gender": ["female"]}}
META: dict[str, Any] = {
    "handling": "H1", "source_reliability": "B", "info_credibility": "2",
    "legal_basis": "Code de procédure pénale", "purpose": "investigation",
    "retention_until": "2031-01-01", "cases": [], "provenance": "test",
}


@pytest.fixture
def fed(world: World) -> Iterator[World]:  # noqa: F811
    for n in (world.es, world.fr, world.ma):
        shutil.copyfile(SIS, n.settings.resolved_agreements_dir / SIS.name)
    yield world


def issue(node: Node, username: str, **fields: Any) -> Alert:
    principal = principal_of(node, username)
    now = node.now()
    values: dict[str, Any] = {
        "type": "arrest", "subject": ANA, "handling": "H1", "purpose": "detection",
        "valid_until": now + timedelta(days=90), "review_at": now + timedelta(days=30)}
    values.update(fields)
    cmd = AlertCreate.model_validate(values)
    return alerts.audited(node, actor=principal.actor, obj="alert:new",
                          fn=lambda s: _detached(s, alerts.create_alert(node, s, principal, cmd)))


def withdraw(node: Node, username: str, alert_id: str) -> Alert:
    principal = principal_of(node, username)
    return alerts.audited(node, actor=principal.actor, obj=f"alert:{alert_id}",
                          fn=lambda s: _detached(s, alerts.withdraw_alert(
                              node, s, principal, alert_id, "found")))


def _detached(s: Any, row: Any) -> Any:
    s.flush()
    s.refresh(row)
    s.expunge(row)
    return row


def search(node: Node, agency: str, officer: str, entity: dict[str, Any], *,
           where: str | None = None, at: datetime | None = None) -> list[Any]:
    person = person_of(entity)
    assert person is not None
    with node.uow() as s:
        return search_local(node, s, Query("person", person),
                            context=SearchContext(agency=agency, officer=officer,
                                                  purpose="detection", at=at or node.now(),
                                                  where=where))


def add_record(node: Node, agency: str, officer: str, entity: dict[str, Any]) -> Any:
    return records.create_record(node, entity, {**META, "owner": agency},
                                 reader=Reader(actor=officer, agency_id=agency, clearance="H2"))


def copies(node: Node, alert_id: str | None = None) -> list[Alert]:
    with node.uow() as s:
        stmt = select(Alert).order_by(Alert.id)
        if alert_id is not None:
            stmt = stmt.where(Alert.alert_id == alert_id)
        rows = list(s.scalars(stmt))
        for r in rows:
            s.expunge(r)
        return rows


def hits(node: Node) -> list[AlertHit]:
    with node.uow() as s:
        rows = list(s.scalars(select(AlertHit).order_by(AlertHit.id)))
        for r in rows:
            s.expunge(r)
        return rows


def inbox(node: Node, agency: str) -> list[Message]:
    with node.uow() as s:
        rows = list(s.scalars(select(Message).where(Message.owner == agency,
                                                    Message.direction.in_(("in", "sys")))
                              .order_by(Message.priority_rank, Message.created_at.desc(),
                                        Message.id.desc())))
        for r in rows:
            s.expunge(r)
        return rows
