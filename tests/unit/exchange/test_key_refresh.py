"""Peer key refresh: an agency on a peer node rotates its keys and messages keep flowing —
the receiver learns the sender's new key from an envelope, the sender learns the
recipient's from a receipt; refreshes are rate limited, and never re-pin a node key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.crypto.canonical import canonical_json
from accord.crypto.envelope import SenderKey, UnknownKey, seal
from accord.crypto.keyid import key_id_of
from accord.crypto.keys import b64url
from accord.errors import FingerprintMismatch, PeerError
from accord.exchange import services
from accord.exchange.domain import CONTENT_MESSAGE
from accord.exchange.models import Recipient
from accord.parties import services as parties
from accord.parties.keys import KeyStore
from accord.parties.models import KeyRecord
from accord.web.app import create_app
from tests.factories.officers import make_officer
from tests.unit.exchange.conftest import PERSON, World, audit_count, count_rows, person_message

ES_URL = "http://127.0.0.1:8401/federation/v1/node"
FR_URL = "http://127.0.0.1:8402/federation/v1/node"


def recipient(world: World, agency: str = "FR-PN") -> Recipient:
    with world.es.uow() as s:
        return s.scalars(select(Recipient).where(Recipient.agency == agency)
                         .order_by(Recipient.id.desc())).first()  # type: ignore[return-value]


def known(node: Node, kid: str) -> KeyRecord | None:
    with node.uow() as s:
        return s.get(KeyRecord, kid)


def rogue_envelope(world: World) -> bytes:
    """Signed by a key nobody published, claiming to come from ES-PN."""
    rogue = Ed25519PrivateKey.generate()
    now = world.clock.now()
    with world.es.uow() as s:
        recipient_key = services._recipient_key(s, "FR-PN")
    mid = uuid.uuid4().hex
    data = {"kind": "message", "message_id": mid, "thread_id": mid, "in_reply_to": None,
            "sender": "ES-PN", "sender_officer": "ES-PN/x", "to": ["FR-PN"], "subject": "x",
            "body": "", "language": "en", "priority": "normal", "handling": "H1",
            "case_ref": None, "crime_area": "0601", "purpose": "investigation",
            "records": [PERSON], "evidence": [], "created": now.isoformat()}
    env = seal(data, sender=SenderKey("ES-PN", key_id_of(rogue.public_key()), rogue),
               recipients=[recipient_key], envelope_id=uuid.uuid4().hex, created=now,
               expires=now + timedelta(days=1), content_type=CONTENT_MESSAGE)
    return canonical_json(env)


def test_receiver_learns_the_senders_rotated_key_from_its_first_envelope(world: World) -> None:
    with world.es.uow() as s:
        old_kid, _ = world.es.keys.signing_key(s, "ES-PN")
        parties.rotate_keys(world.es, s, owner="ES-PN", actor="test")
    with world.es.uow() as s:
        new_kid, _ = world.es.keys.signing_key(s, "ES-PN")
    assert known(world.fr, new_kid) is None

    world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    world.pump()

    assert recipient(world).state == "delivered"
    assert count_rows(world.fr)["messages"] == 1
    assert world.transport.fetched == [ES_URL]  # one refresh, by FR, of ES
    assert audit_count(world.fr, Action.PEER_REFRESHED) == 1
    assert audit_count(world.fr, Action.ENVELOPE_REJECTED) == 0
    fresh, retired = known(world.fr, new_kid), known(world.fr, old_kid)
    assert fresh is not None and fresh.owner == "ES-PN" and fresh.retired_at is None
    assert retired is not None and retired.retired_at is not None  # the new state, learned too


def test_sender_learns_the_recipients_rotated_key_from_its_receipt(world: World) -> None:
    with world.fr.uow() as s:
        parties.rotate_keys(world.fr, s, owner="FR-PN", actor="test")
    with world.fr.uow() as s:
        new_kid, _ = world.fr.keys.signing_key(s, "FR-PN")

    # ES still encrypts to FR-PN's old key (FR keeps it to decrypt); FR signs the receipt
    # with its new key, which ES learns by refreshing FR, then verifies the receipt
    world.send(world.es, "garcia", **person_message(to=["FR-PN"]))
    assert world.worker(world.es).run_once() == 1

    rec = recipient(world)
    assert rec.state == "delivered" and rec.receipt is not None
    assert rec.receipt["body"]["kid"] == new_kid
    assert world.transport.fetched == [FR_URL]
    assert audit_count(world.es, Action.PEER_REFRESHED) == 1
    key = known(world.es, new_kid)
    assert key is not None and key.owner == "FR-PN"


def test_refresh_on_an_unknown_key_is_rate_limited_per_peer(world: World) -> None:
    def attempt() -> None:
        with pytest.raises(UnknownKey):
            services.receive_envelope(world.fr, rogue_envelope(world), fetch=world.transport.fetch)

    attempt()  # the unknown key makes FR refresh ES: the key is not listed there either
    assert world.transport.fetched == [ES_URL]
    for _ in range(5):
        attempt()
    assert world.transport.fetched == [ES_URL]  # not again within the minute
    world.clock.advance(timedelta(seconds=world.fr.settings.exchange_peer_refresh_min_seconds))
    attempt()
    assert world.transport.fetched == [ES_URL, ES_URL]
    assert audit_count(world.fr, Action.PEER_REFRESHED) == 2
    assert count_rows(world.fr)["inbox"] == 0


def test_unknown_key_of_an_agency_on_no_peer_fetches_nothing(world: World) -> None:
    raw = rogue_envelope(world).replace(b'"sender":"ES-PN"', b'"sender":"DE-BKA"')
    with pytest.raises(UnknownKey):
        services.receive_envelope(world.fr, raw, fetch=world.transport.fetch)
    assert world.transport.fetched == []


def test_a_peer_down_during_a_refresh_leaves_the_envelope_rejected(world: World) -> None:
    world.transport.down.add("es-node")
    with pytest.raises(UnknownKey):
        services.receive_envelope(world.fr, rogue_envelope(world), fetch=world.transport.fetch)
    assert world.transport.fetched == [ES_URL]
    assert audit_count(world.fr, Action.PEER_REFRESHED) == 0


def test_refresh_never_repins_another_node_key(world: World) -> None:
    with world.ma.read() as s:
        impostor = parties.node_descriptor(world.ma, s)  # validly signed, by another node key
    with pytest.raises(FingerprintMismatch):
        parties.refresh_peer_now(world.fr, node_id="es-node", fetch=lambda _url: impostor,
                                 actor="test")
    with world.fr.uow() as s:
        refused = list(world.fr.audit.query(s, action="node:peer:refused"))
        peer = parties.list_peers(s)
    assert len(refused) == 1 and refused[0].detail["refresh"] is True
    es = next(p for p in peer if p.node_id == "es-node")
    with world.es.read() as s:
        assert es.fingerprint == parties.node_descriptor(world.es, s)["fingerprint"]


def _signed_by(node: Node, body: dict[str, Any]) -> dict[str, Any]:
    """A descriptor as ``node`` would sign it, with whatever it claims."""
    body = {k: v for k, v in body.items() if k != "signature"}
    with node.uow() as s:
        kid, key = node.keys.signing_key(s, node.settings.node_id)
    return {**body, "signature": {"kid": kid, "value": b64url(key.sign(canonical_json(body)))}}


def test_a_peer_cannot_claim_an_agency_of_another_node(world: World) -> None:
    with world.fr.read() as s:
        descriptor = parties.node_descriptor(world.fr, s)
    with world.ma.read() as s:
        ma_agency = parties.node_descriptor(world.ma, s)["agencies"][0]
    forged = _signed_by(world.fr, {**descriptor, "agencies": [*descriptor["agencies"], ma_agency]})
    with pytest.raises(PeerError):
        parties.refresh_peer_now(world.es, node_id="fr-node", fetch=lambda _url: forged,
                                 actor="test")
    assert audit_count(world.es, Action.PEER_REFUSED) == 1
    assert audit_count(world.es, Action.PEER_REFRESHED) == 0


def test_an_older_descriptor_is_refused(world: World) -> None:
    with world.fr.read() as s:
        old = parties.node_descriptor(world.fr, s)
    world.clock.advance(timedelta(minutes=1))
    parties.refresh_peer_now(world.es, node_id="fr-node", fetch=world.transport.fetch, actor="test")
    with pytest.raises(PeerError, match="older"):
        parties.refresh_peer_now(world.es, node_id="fr-node", fetch=lambda _url: old, actor="test")


def test_revocation_and_retirement_reach_the_peer(world: World) -> None:
    with world.fr.uow() as s:
        old_kid, _ = world.fr.keys.signing_key(s, "FR-PN")
        kids = parties.rotate_keys(world.fr, s, owner="FR-PN", actor="test")
        KeyStore.revoke(s, old_kid, world.clock.now())
    result = parties.refresh_peer_now(world.es, node_id="fr-node", fetch=world.transport.fetch,
                                      actor="test")
    assert set(result.added) == set(kids)
    assert old_kid in result.changed
    old = known(world.es, old_kid)
    assert old is not None and old.revoked_at is not None and old.retired_at is not None


@pytest.fixture
def admin_client(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    admin = make_officer(world.es, "root", agency="ES-PN", roles=["node-admin"], clearance="H1")
    with TestClient(create_app(world.es, background=False)) as client:
        r = client.post("/auth/login", json={"username": admin.username, "password": admin.password,
                                             "totp": admin.code(world.es)})
        assert r.status_code == 200, r.text
        yield client, {"Authorization": f"Bearer {r.json()['token']}"}


def test_refresh_route(world: World, admin_client: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = admin_client
    with world.fr.uow() as s:
        parties.rotate_keys(world.fr, s, owner="FR-PN", actor="test")
    world.clock.advance(timedelta(seconds=1))
    r = client.post("/api/v1/peers/fr-node/refresh", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["node_id"] == "fr-node"
    assert r.json()["refreshed_at"].startswith(world.clock.now().isoformat()[:19])
    assert world.transport.fetched == [FR_URL]
    r = client.post("/api/v1/peers/xx-node/refresh", headers=auth)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_only_a_node_admin_pins_or_refreshes_peers(world: World) -> None:
    """A peer is trusted by the whole node: an agency's admin may not pin or refresh one."""
    admin = make_officer(world.es, "agency-admin", agency="ES-PN", roles=["admin"], clearance="H1")
    with TestClient(create_app(world.es, background=False)) as client:
        r = client.post("/auth/login", json={"username": admin.username, "password": admin.password,
                                             "totp": admin.code(world.es)})
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        r = client.post("/api/v1/peers/fr-node/refresh", headers=auth)
        assert r.status_code == 403 and r.json()["permission"] == "peers:write"
        r = client.post("/api/v1/peers", headers=auth,
                        json={"url": FR_URL, "fingerprint": "00" * 32})
        assert r.status_code == 403
        assert client.get("/api/v1/peers", headers=auth).status_code == 200  # reading stays
    assert world.transport.fetched == []
