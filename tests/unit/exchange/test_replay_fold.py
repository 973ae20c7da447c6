"""Replays and duplicates are folded: sent 100 times, they add at most one audit entry per
window and source, and the counts still add up to every copy received."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.models import AuditEntry
from accord.audit.tags import Action
from accord.exchange import services
from accord.web.app import create_app
from tests.unit.exchange.conftest import World, count_rows
from tests.unit.exchange.test_tamper import craft, payload, post


@pytest.fixture
def fr_client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.fr, background=False)) as client:
        yield client


def _entries(world: World, action: str) -> list[AuditEntry]:
    with world.fr.uow() as s:  # (expire_on_commit is off: the rows stay readable)
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.idx)))


def test_an_exact_duplicate_sent_100_times_adds_one_entry_per_window(
        world: World, fr_client: TestClient) -> None:
    env = craft(world)
    first = post(fr_client, env)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    for _ in range(100):
        r = post(fr_client, env)
        assert r.status_code == 200 and r.json()["duplicate"] is True
        assert r.json()["receipt"] == first.json()["receipt"]  # the original receipt
    entries = _entries(world, Action.ENVELOPE_DUPLICATE)
    assert len(entries) == 1  # one window so far
    assert entries[0].actor == "agency:ES-PN" and entries[0].detail["authenticated"] is True
    assert count_rows(world.fr)["inbox"] == 1
    world.clock.advance(timedelta(seconds=world.fr.settings.exchange_rejection_audit_window_seconds + 1))
    services.flush_rejections(world.fr)
    entries = _entries(world, Action.ENVELOPE_DUPLICATE)
    assert len(entries) == 2 and sum(e.detail["count"] for e in entries) == 100


def test_a_replayed_signed_envelope_100_times_adds_one_entry_per_window(
        world: World, fr_client: TestClient) -> None:
    data = payload(world)
    assert post(fr_client, craft(world, data=data)).status_code == 200
    before = len(_entries(world, Action.ENVELOPE_REJECTED))
    for _ in range(100):  # the same message in new, validly signed envelopes
        r = post(fr_client, craft(world, data=data))
        assert r.status_code == 409 and r.json()["reason"] == "replayed", r.text
    rejected = _entries(world, Action.ENVELOPE_REJECTED)[before:]
    assert len(rejected) == 1 and rejected[0].detail["reason"] == "replayed"
    assert services.rejection_ledger(world.fr).pending() == {"replayed": 99}
    services.flush_rejections(world.fr, force=True)
    rejected = _entries(world, Action.ENVELOPE_REJECTED)[before:]
    assert sum(e.detail["count"] for e in rejected) == 100
    assert count_rows(world.fr)["messages"] == 1
