"""Unauthenticated junk cannot flood the audit log: rejections are folded per reason and
source into at most one entry per window whose counts add up; authenticated rejections keep
an entry each; the answers to the sender are unchanged."""

from __future__ import annotations

import itertools
import json
import logging
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from accord.crypto.envelope import EnvelopeRejected
from accord.exchange import services
from accord.exchange.rejections import OVERFLOW_SOURCE, RejectionLedger, Source
from accord.exchange.worker import DeliveryWorker
from accord.web.app import create_app
from tests.unit.exchange.conftest import World, count_rows, rejection_entries, rejections_counted
from tests.unit.exchange.test_tamper import b64u, craft, post, unb64u

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def fr_client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.fr, background=False)) as client:
        yield client


def junk(world: World, rng: random.Random, i: int) -> tuple[bytes, int, str]:
    """One unauthenticated envelope of several kinds, with the answer it must get."""
    kind = i % 4
    if kind == 0:
        return b'{"header": ' + str(i).encode(), 400, "malformed"
    if kind == 1:
        return json.dumps({"hello": "x" * rng.randrange(100)}).encode(), 400, "malformed"
    env = craft(world)
    if kind == 2:  # a flipped signature bit
        sig = bytearray(unb64u(env["signature"]))
        sig[rng.randrange(len(sig))] ^= 1 << rng.randrange(8)
        env["signature"] = b64u(bytes(sig))
        return json.dumps(env).encode(), 400, "bad-signature"
    env["header"]["sender_kid"] = "ed25519:" + b64u(uuid.uuid4().bytes[:12])  # nobody's key
    return json.dumps(env).encode(), 422, "unknown-key"


def test_a_hundred_junk_envelopes_make_a_handful_of_entries_that_count_them_all(
        world: World, fr_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(5)
    before = count_rows(world.fr)
    reasons: dict[str, int] = {}
    with caplog.at_level(logging.WARNING, logger="accord.exchange"):
        for i in range(100):
            raw, status, reason = junk(world, rng, i)
            r = post(fr_client, raw)
            assert r.status_code == status, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["reason"] == reason and r.json()["detail"]
            reasons[reason] = reasons.get(reason, 0) + 1
            if i % 10 == 9:
                world.clock.advance(timedelta(seconds=5))  # 50 s in all: one window
    assert count_rows(world.fr) == before

    entries = rejection_entries(world.fr)
    assert len(entries) <= 5  # one per reason and source so far (claimed sender ES-PN or none)
    assert rejections_counted(world.fr) == reasons  # the rest are counted, waiting
    assert all(e.detail["authenticated"] is False and e.actor == "unauthenticated" for e in entries)
    folded = [r for r in caplog.records if "counted, audited with the next entry" in r.getMessage()]
    assert len(folded) == 100 - len(entries)
    for record in folded:  # no envelope content, no address, no key id
        text = record.getMessage()
        assert "ed25519:" not in text and "hello" not in text and "127.0.0.1" not in text

    # the window closes: the worker's round writes what was folded, one entry per source
    world.clock.advance(timedelta(seconds=world.fr.settings.exchange_rejection_audit_window_seconds))
    assert services.flush_rejections(world.fr) >= 1
    entries = rejection_entries(world.fr)
    assert len(entries) <= 10
    assert sum(e.detail["count"] for e in entries) == 100
    assert services.rejection_ledger(world.fr).pending() == {}
    by_reason: dict[str, int] = {}
    for e in entries:
        by_reason[e.detail["reason"]] = by_reason.get(e.detail["reason"], 0) + e.detail["count"]
        assert e.detail["first_at"] <= e.detail["last_at"]
    assert by_reason == reasons


def test_one_entry_per_source_per_window_over_time(world: World) -> None:
    window = world.fr.settings.exchange_rejection_audit_window_seconds
    for _ in range(30):  # one junk envelope every 10 s for 5 minutes: 5 windows
        with pytest.raises(EnvelopeRejected):
            services.receive_envelope(world.fr, b"junk", remote="192.0.2.7")
        world.clock.advance(timedelta(seconds=10))
    entries = rejection_entries(world.fr)
    assert 4 <= len(entries) <= 300 / window
    times = [e.at for e in entries]
    assert all(b - a >= timedelta(seconds=window) for a, b in itertools.pairwise(times))
    services.flush_rejections(world.fr, force=True)
    entries = rejection_entries(world.fr)
    assert sum(e.detail["count"] for e in entries) == 30
    assert {e.detail["remote"] for e in entries} == {"192.0.2.7"}


def test_ipv6_sources_are_grouped_by_64(world: World) -> None:
    for host in range(1, 20):
        with pytest.raises(EnvelopeRejected):
            services.receive_envelope(world.fr, b"junk", remote=f"2001:db8:0:1::{host:x}")
    entries = rejection_entries(world.fr)
    assert len(entries) == 1 and entries[0].detail["remote"] == "2001:db8:0:1::/64"


def test_authenticated_rejections_keep_an_entry_each(world: World, fr_client: TestClient) -> None:
    now = world.clock.now()
    for _ in range(5):
        env = craft(world, created=now - timedelta(days=8), expires=now - timedelta(seconds=1))
        r = post(fr_client, env)
        assert r.status_code == 422 and r.json()["reason"] == "expired"
    entries = rejection_entries(world.fr)
    assert len(entries) == 5
    assert all(e.detail["authenticated"] is True and e.detail["count"] == 1 for e in entries)
    assert all(e.actor == "agency:ES-PN" for e in entries)


def test_the_worker_writes_folded_rejections_when_it_stops(world: World) -> None:
    for _ in range(3):
        with pytest.raises(EnvelopeRejected):
            services.receive_envelope(world.fr, b"junk")
    assert len(rejection_entries(world.fr)) == 1
    worker = DeliveryWorker(world.fr, transport=world.transport, concurrency=1)
    worker.stop()
    entries = rejection_entries(world.fr)
    assert [e.detail["count"] for e in entries] == [1, 2]


def test_ledger_windows() -> None:
    ledger = RejectionLedger(60, 100)
    a, b = Source(remote="192.0.2.1"), Source(remote="192.0.2.2")
    first = ledger.note("malformed", a, T0)
    assert first is not None and first.count == 1
    assert ledger.note("malformed", a, T0 + timedelta(seconds=1)) is None
    assert ledger.note("malformed", a, T0 + timedelta(seconds=59)) is None
    other = ledger.note("malformed", b, T0 + timedelta(seconds=2))
    assert other is not None and other.count == 1  # its own source
    assert ledger.pending() == {"malformed": 2}
    assert ledger.due(T0 + timedelta(seconds=30)) == []
    again = ledger.note("malformed", a, T0 + timedelta(seconds=60))  # a new window
    assert again is not None and again.count == 3
    assert again.first_at == T0 + timedelta(seconds=1)
    assert ledger.pending() == {}
    assert ledger.due(T0 + timedelta(seconds=200)) == []
    assert len(ledger) == 0  # quiet sources are forgotten


def test_ledger_caps_the_sources_it_holds() -> None:
    ledger = RejectionLedger(60, 10)
    written = [ledger.note("bad-signature", Source(remote=f"198.51.100.{i}"), T0) for i in range(50)]
    assert sum(1 for w in written if w is not None) == 11  # ten sources, then one shared
    assert len(ledger) == 11
    (due,) = ledger.due(T0 + timedelta(seconds=60))
    assert due.source.remote == OVERFLOW_SOURCE and due.count == 39
