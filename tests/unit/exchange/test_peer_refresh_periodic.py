"""Periodic peer refresh: a key revoked on a peer is refused here within one refresh period
(the node's clock moved, one refresher round); a descriptor signed by another node key than
the pinned one is refused and audited while the other peers are still refreshed; several
processes of one node share the schedule through the database."""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accord.audit.tags import Action
from accord.crypto.canonical import canonical_json
from accord.crypto.envelope import RevokedKey, SenderKey, seal
from accord.exchange import services
from accord.exchange.domain import CONTENT_MESSAGE
from accord.exchange.errors import UnknownRecipient
from accord.exchange.peer_refresher import PeerRefresher
from accord.parties import services as parties
from accord.parties.keys import KeyStore
from accord.parties.models import KeyRecord, Peer
from tests.unit.exchange.conftest import PERSON, World, audit_count, person_message

FR_URL = "http://127.0.0.1:8402/federation/v1/node"
MA_URL = "http://127.0.0.1:8403/federation/v1/node"


def refresher(world: World, seed: int = 7, **kwargs: Any) -> PeerRefresher:
    return PeerRefresher(world.es, fetch=world.transport.fetch, rng=random.Random(seed), **kwargs)


def current_kids(world: World, agency: str = "FR-PN") -> dict[str, str]:
    with world.fr.read() as s:
        rows = s.scalars(select(KeyRecord).where(KeyRecord.owner == agency,
                                                 KeyRecord.retired_at.is_(None),
                                                 KeyRecord.revoked_at.is_(None)))
        return {row.alg: row.kid for row in rows}


def envelope_from_fr(world: World, kid: str) -> bytes:
    """A message FR-PN -> ES-PN signed by FR-PN's key ``kid`` (whatever its state)."""
    with world.fr.read() as s:
        row = s.get(KeyRecord, kid)
        assert row is not None
        private = world.fr.keys.private(row)
    with world.es.read() as s:
        recipient_key = services._recipient_key(s, "ES-PN")
    now, mid = world.clock.now(), uuid.uuid4().hex
    data = {"kind": "message", "message_id": mid, "thread_id": mid, "in_reply_to": None,
            "sender": "FR-PN", "sender_officer": "FR-PN/dupont", "to": ["ES-PN"],
            "subject": "Courier", "body": "Ana Ruiz, Friday ferry", "language": "en",
            "priority": "normal", "handling": "H1", "case_ref": None, "crime_area": "0601",
            "purpose": "investigation", "records": [PERSON], "evidence": [],
            "created": now.isoformat()}
    env = seal(data, sender=SenderKey("FR-PN", kid, private),  # type: ignore[arg-type]
               recipients=[recipient_key], envelope_id=uuid.uuid4().hex, created=now,
               expires=now + timedelta(days=1), content_type=CONTENT_MESSAGE)
    return canonical_json(env)


def test_a_key_revoked_on_a_peer_is_refused_within_one_refresh_period(world: World) -> None:
    period = world.es.settings.exchange_peer_refresh_seconds
    jitter = world.es.settings.exchange_peer_refresh_jitter
    assert (period, jitter) == (300.0, 0.1)  # the defaults: five minutes, 10 %
    kids = current_kids(world)
    with world.fr.uow() as s:  # FR-PN's keys are compromised: revoked on its node, no successor
        for kid in kids.values():
            KeyStore.revoke(s, kid, world.clock.now())

    # ES has not heard yet: it still accepts FR-PN's signature and encrypts to its key
    services.receive_envelope(world.es, envelope_from_fr(world, kids["ed25519"]))
    world.send(world.es, "garcia", **person_message(to=["FR-PN"]))

    ticker = refresher(world)
    world.clock.advance(timedelta(seconds=period * (1 - jitter) - 1))
    assert ticker.run_once().refreshed == {}  # not due before the jittered period
    assert world.transport.fetched == []

    world.clock.advance(timedelta(seconds=period * jitter + 1))  # one period since pinning
    done = ticker.run_once()
    assert done.failed == {}
    assert sorted(done.refreshed["fr-node"]) == sorted(kids.values())
    assert done.refreshed["ma-node"] == []  # refreshed, nothing new
    assert sorted(world.transport.fetched) == [FR_URL, MA_URL]

    with pytest.raises(RevokedKey):
        services.receive_envelope(world.es, envelope_from_fr(world, kids["ed25519"]))
    with pytest.raises(UnknownRecipient, match="no encryption key"):
        world.send(world.es, "garcia", **person_message(to=["FR-PN"]))

    # the revocation learnt is audited, with the keys it changed; the idle refresh is not
    with world.es.uow() as s:
        refreshed = list(world.es.audit.query(s, action=Action.PEER_REFRESHED))
    assert [(e.object, sorted(e.detail["changed"])) for e in refreshed] == [
        ("peer:fr-node", sorted(kids.values()))]
    assert refreshed[0].actor == "node:es-node"

    # and the next round is a period later, not at once
    assert ticker.run_once().refreshed == {}
    assert len(world.transport.fetched) == 2


def test_a_descriptor_signed_by_another_node_key_is_refused_and_the_others_go_on(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    with world.ma.read() as s:
        impostor = parties.node_descriptor(world.ma, s)  # validly signed, by MA's node key
    kid = current_kids(world)["ed25519"]
    with world.fr.uow() as s:
        KeyStore.revoke(s, kid, world.clock.now())
    with world.es.read() as s:
        pinned = s.get(Peer, "fr-node").fingerprint  # type: ignore[union-attr]

    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return impostor if url == FR_URL else world.transport.fetch(url)

    ticker = PeerRefresher(world.es, fetch=fetch, rng=random.Random(1))
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_peer_refresh_seconds))
    with caplog.at_level(logging.WARNING, logger="accord.exchange"):
        done = ticker.run_once()

    assert done.failed == {"fr-node": "fingerprint-mismatch"}
    assert "ma-node" in done.refreshed  # one failing peer does not stop the others
    with world.es.uow() as s:
        refused = list(world.es.audit.query(s, action=Action.PEER_REFUSED))
        peer = s.get(Peer, "fr-node")
        learnt = s.get(KeyRecord, kid)
        assert peer is not None and peer.fingerprint == pinned  # never re-pinned
        assert learnt is not None and learnt.revoked_at is None  # nothing taken from it
    assert len(refused) == 1 and refused[0].object == "peer:fr-node"
    assert refused[0].detail["refresh"] is True
    warning = [r.getMessage() for r in caplog.records if "fr-node" in r.getMessage()]
    assert warning == ["periodic refresh of peer fr-node failed: fingerprint-mismatch; "
                       "trying again in 60 s"]
    assert impostor["signature"]["value"] not in caplog.text

    # a failed peer is tried again after exchange_peer_refresh_min_seconds, not every round
    fetched.clear()
    world.clock.advance(timedelta(seconds=30))
    assert ticker.run_once().failed == {} and fetched == []
    world.clock.advance(timedelta(seconds=31))
    assert ticker.run_once().failed == {"fr-node": "fingerprint-mismatch"}
    assert fetched == [FR_URL]
    assert audit_count(world.es, Action.PEER_REFUSED) == 2


def test_an_unreachable_peer_is_logged_and_tried_again(world: World,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    world.transport.down.add("fr-node")
    ticker = refresher(world)
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_peer_refresh_seconds))
    with caplog.at_level(logging.WARNING, logger="accord.exchange"):
        done = ticker.run_once()
    assert done.failed == {"fr-node": "peer"} and "ma-node" in done.refreshed
    assert "periodic refresh of peer fr-node failed: peer;" in caplog.text
    assert audit_count(world.es, Action.PEER_REFUSED) == 0  # unreachable is not refused

    world.transport.down.clear()
    kid = current_kids(world)["ed25519"]
    with world.fr.uow() as s:
        KeyStore.revoke(s, kid, world.clock.now())
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_peer_refresh_min_seconds))
    assert ticker.run_once().refreshed == {"fr-node": [kid]}


def test_several_processes_of_a_node_share_the_schedule(world: World) -> None:
    """Two refreshers on one database (two server processes): a refresh by one moves the
    peer's refreshed_at, so the other does not fetch it again within the period."""
    one, two = refresher(world, seed=1), refresher(world, seed=2)
    period = world.es.settings.exchange_peer_refresh_seconds
    world.clock.advance(timedelta(seconds=period))
    assert set(one.run_once().refreshed) == {"fr-node", "ma-node"}
    assert two.run_once().refreshed == {}
    assert len(world.transport.fetched) == 2
    world.clock.advance(timedelta(seconds=period))
    assert set(two.run_once().refreshed) == {"fr-node", "ma-node"}
    assert one.run_once().refreshed == {}
    assert len(world.transport.fetched) == 4
    # refreshing a peer twice changes nothing the second time and audits nothing
    kid = current_kids(world)["x25519"]
    with world.fr.uow() as s:
        KeyStore.revoke(s, kid, world.clock.now())
    for _ in range(2):  # e.g. a periodic refresh in each process at once
        parties.refresh_peer_now(world.es, node_id="fr-node", fetch=world.transport.fetch,
                                 actor="node:es-node", audit_unchanged=False)
    with world.es.uow() as s:
        refreshed = list(world.es.audit.query(s, action=Action.PEER_REFRESHED))
    assert [e.detail["changed"] for e in refreshed] == [[kid]]


def test_the_thread_refreshes_and_stops(world: World) -> None:
    ticker = refresher(world)
    world.clock.advance(timedelta(seconds=world.es.settings.exchange_peer_refresh_seconds))
    ticker.start()
    try:
        deadline = time.monotonic() + 10
        while len(world.transport.fetched) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert sorted(world.transport.fetched) == [FR_URL, MA_URL]
    assert ticker._thread is None
