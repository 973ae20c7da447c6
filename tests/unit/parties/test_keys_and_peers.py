"""Keys sealed at rest, rotation, the signed node descriptor, and pinning peers by fingerprint."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.crypto.keys import load_private_key
from accord.errors import CryptoError, FingerprintMismatch, PeerError
from accord.lifecycle import AgencySpec, initialise
from accord.parties import services as parties
from accord.parties.keys import KeyStore
from accord.parties.models import Agency
from accord.web.app import create_app
from tests.conftest import make_settings


def test_private_keys_are_sealed_and_private(node: Node) -> None:
    with node.uow() as s:
        rows = list(KeyStore.keys_of(s, "ES-PN"))
    assert {k.alg for k in rows} == {"ed25519", "x25519"}
    files = list(node.settings.keys_dir.glob("ES-PN.*.pem"))
    assert len(files) == 2
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f.read_bytes().startswith(b"-----BEGIN ACCORD SEALED PRIVATE KEY-----")  # Argon2id
        with pytest.raises(CryptoError):
            load_private_key(f, b"wrong passphrase")
        load_private_key(f, node.settings.passphrase())


def test_rotation_keeps_old_keys_for_verification(node: Node) -> None:
    with node.uow() as s:
        old_kid, old_key = node.keys.signing_key(s, "ES-PN")
        signature = old_key.sign(b"signed before rotation")
        parties.rotate_keys(node, s, owner="ES-PN", actor="test")
    with node.uow() as s:
        new_kid, _ = node.keys.signing_key(s, "ES-PN")
        assert new_kid != old_kid
        KeyStore.verification_key(s, old_kid).verify(signature, b"signed before rotation")
        retired = {k.kid: k.retired_at for k in KeyStore.keys_of(s, "ES-PN")}
        assert retired[old_kid] is not None and retired[new_kid] is None
        KeyStore.revoke(s, old_kid, node.now())
    with node.uow() as s, pytest.raises(CryptoError, match="revoked"):
        KeyStore.verification_key(s, old_kid)


@pytest.fixture
def peer_node(db_url: str, tmp_path: Path, clock: ManualClock) -> Node:
    """A second node (FR) on its own database file (SQLite) — enough for pinning."""
    n = build_node(make_settings(tmp_path / "fr", f"sqlite:///{tmp_path / 'fr.db'}", node_id="fr-node",
                                 country="FR", base_url="http://127.0.0.1:8402"), clock=clock)
    from accord.db import make_engine
    from accord.tables import metadata

    e = make_engine(n.settings.resolved_database_url)
    metadata.create_all(e)
    e.dispose()
    initialise(n, [AgencySpec("FR-PN", "Police nationale")], migrate=False)
    return n


def _fetcher(peer: Node):  # type: ignore[no-untyped-def]
    client = TestClient(create_app(peer, background=False))

    def fetch(url: str) -> dict:
        assert url == "http://127.0.0.1:8402/federation/v1/node"
        return client.get("/federation/v1/node").json()

    return fetch


def test_descriptor_is_signed_and_complete(peer_node: Node) -> None:
    d = _fetcher(peer_node)("http://127.0.0.1:8402/federation/v1/node")
    assert d["node_id"] == "fr-node" and d["country"] == "FR"
    assert [a["id"] for a in d["agencies"]] == ["FR-PN"]
    assert {k["alg"] for k in d["agencies"][0]["keys"]} == {"ed25519", "x25519"}
    parties.verify_descriptor(d, d["fingerprint"])
    d["agencies"][0]["name"] = "Someone else"
    with pytest.raises(PeerError, match="signature"):
        parties.verify_descriptor(d, d["fingerprint"])


def test_pin_peer_only_with_matching_fingerprint(node: Node, peer_node: Node) -> None:
    fetch = _fetcher(peer_node)
    real = fetch("http://127.0.0.1:8402/federation/v1/node")["fingerprint"]
    wrong = "0" * 64
    with node.uow() as s, pytest.raises(FingerprintMismatch):
        parties.add_peer(node, s, url="http://127.0.0.1:8402", expected_fingerprint=wrong,
                         fetch=fetch, actor="test")
    with node.uow() as s:
        assert parties.list_peers(s) == []
    with node.uow() as s:
        peer = parties.add_peer(node, s, url="http://127.0.0.1:8402", expected_fingerprint=real,
                                fetch=fetch, actor="test")
        assert peer.node_id == "fr-node"
    with node.uow() as s:
        agency = s.get(Agency, "FR-PN")
        assert agency is not None and not agency.hosted and agency.node_id == "fr-node"
        assert len(KeyStore.keys_of(s, "FR-PN")) == 2
        actions = [e.action for e in node.audit.query(s, action="node:peer")]
        assert actions == ["node:peer:refused", "node:peer:pinned"]


def test_refresh_learns_rotated_keys_and_never_repins(node: Node, peer_node: Node, tmp_path: Path,
                                                      clock: ManualClock) -> None:
    fetch = _fetcher(peer_node)
    real = fetch("http://127.0.0.1:8402/federation/v1/node")["fingerprint"]
    with node.uow() as s:
        parties.add_peer(node, s, url="http://127.0.0.1:8402", expected_fingerprint=real,
                         fetch=fetch, actor="test")
    with peer_node.uow() as s:
        new = parties.rotate_keys(peer_node, s, owner="FR-PN", actor="test")
    result = parties.refresh_peer_now(node, node_id="fr-node", fetch=fetch, actor="test")
    assert sorted(result.added) == sorted(new) and len(result.changed) == 2  # the old ones retired
    with node.uow() as s:
        keys = {k.kid: k for k in KeyStore.keys_of(s, "FR-PN")}
        assert len(keys) == 4 and all(keys[k].retired_at is None for k in new)
        assert [e.action for e in node.audit.query(s, action="node:peer")][-1] == "node:peer:refreshed"

    # the node at the pinned address now presents another node key: refused, audited, nothing learned
    impostor = build_node(make_settings(tmp_path / "fr2", f"sqlite:///{tmp_path / 'fr2.db'}",
                                        node_id="fr-node", country="FR",
                                        base_url="http://127.0.0.1:8402"), clock=clock)
    from accord.db import make_engine
    from accord.tables import metadata

    e = make_engine(impostor.settings.resolved_database_url)
    metadata.create_all(e)
    e.dispose()
    initialise(impostor, [AgencySpec("FR-DGDDI", "Douane")], migrate=False)
    try:
        with pytest.raises(FingerprintMismatch):
            parties.refresh_peer_now(node, node_id="fr-node", fetch=_fetcher(impostor), actor="test")
    finally:
        impostor.dispose()
    with node.uow() as s:
        assert [e.action for e in node.audit.query(s, action="node:peer")][-1] == "node:peer:refused"
        assert s.get(Agency, "FR-DGDDI") is None
        (peer,) = parties.list_peers(s)
        assert peer.fingerprint == real
