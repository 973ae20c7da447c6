"""Tampering: every rejection reason from a crafted envelope, POSTed to the receiver's
``/federation/v1/envelopes``; each answer is a problem document with the reason, the
rejection is counted in the audit trail (an entry of its own when the envelope is
authenticated, folded per source otherwise), and the receiver's store is unchanged."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.audit.models import AuditEntry
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.crypto.canonical import canonical_json, sha256_hex
from accord.crypto.envelope import SenderKey, seal
from accord.crypto.keyid import key_id_of
from accord.exchange.domain import CONTENT_MESSAGE, CONTENT_STATUS
from accord.exchange.services import _recipient_key
from accord.parties.keys import KeyStore
from accord.web.app import create_app
from tests.unit.exchange.conftest import (
    ACCOUNT,
    PERSON,
    World,
    audit_count,
    count_rows,
    rejection_entries,
    rejections_counted,
)

PATH = "/federation/v1/envelopes"


def payload(world: World, to: str = "FR-PN", **overrides: Any) -> dict[str, Any]:
    mid = uuid.uuid4().hex
    data: dict[str, Any] = {
        "kind": "message", "message_id": mid, "thread_id": mid, "in_reply_to": None,
        "sender": "ES-PN", "sender_officer": "ES-PN/garcia", "to": [to],
        "subject": "Courier", "body": "Ana Ruiz, Friday ferry", "language": "en",
        "priority": "normal", "handling": "H2", "case_ref": "ES-1", "crime_area": "0601",
        "purpose": "investigation", "records": [PERSON], "evidence": [],
        "created": world.clock.now().isoformat(),
    }
    data.update(overrides)
    return data


def craft(world: World, *, data: dict[str, Any] | None = None, to: str = "FR-PN",
          created: datetime | None = None, expires: datetime | None = None,
          envelope_id: str | None = None, sender: SenderKey | None = None,
          content_type: str = CONTENT_MESSAGE) -> dict[str, Any]:
    now = world.clock.now()
    with world.es.uow() as s:
        if sender is None:
            kid, key = world.es.keys.signing_key(s, "ES-PN")
            sender = SenderKey("ES-PN", kid, key)
        recipient = _recipient_key(s, to)
    return seal(data if data is not None else payload(world, to=to), sender=sender,
                recipients=[recipient], envelope_id=envelope_id or uuid.uuid4().hex,
                created=created or now, expires=expires or now + timedelta(days=7),
                content_type=content_type)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def resign(world: World, env: dict[str, Any]) -> dict[str, Any]:
    """The sender signs whatever it likes: a valid signature over a tampered envelope."""
    with world.es.uow() as s:
        _kid, key = world.es.keys.signing_key(s, "ES-PN")
    signed = {"header": env["header"], "ciphertext_sha256": sha256_hex(unb64u(env["ciphertext"]))}
    env["signature"] = b64u(key.sign(b"accord-envelope/v1\x00" + canonical_json(signed)))
    return env


@pytest.fixture
def fr_client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.fr, background=False)) as client:
        yield client


def post(client: TestClient, env: dict[str, Any] | bytes) -> Any:
    content = env if isinstance(env, bytes) else json.dumps(env).encode()
    return client.post(PATH, content=content, headers={"content-type": "application/json"})


def assert_rejected(world: World, client: TestClient, env: dict[str, Any] | bytes, status: int,
                    reason: str, node: Node | None = None, *,
                    authenticated: bool = False) -> dict[str, Any]:
    """The answer, the unchanged store, and the rejection counted once in the audit trail: an
    entry of its own for an authenticated envelope, folded per source for the others."""
    node = node or world.fr
    before = count_rows(node)
    counted_before = rejections_counted(node)
    entries_before = len(rejection_entries(node))
    response = post(client, env)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["reason"] == reason
    assert body["detail"]
    assert count_rows(node) == before, "the receiver stored something"
    counted = rejections_counted(node)
    assert counted.get(reason, 0) == counted_before.get(reason, 0) + 1
    assert sum(counted.values()) == sum(counted_before.values()) + 1
    entries = rejection_entries(node)
    if authenticated:
        assert len(entries) == entries_before + 1
        assert entries[-1].detail["authenticated"] is True and entries[-1].detail["count"] == 1
        assert entries[-1].actor == "agency:ES-PN"
    else:
        assert all(e.detail["authenticated"] is False for e in entries[entries_before:])
    return dict(body)


def test_a_good_envelope_is_accepted_once(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    first = post(fr_client, env)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    after_first = count_rows(world.fr)
    assert after_first["inbox"] == 1 and after_first["messages"] == 1
    again = post(fr_client, env)  # a retry: same bytes
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["receipt"] == first.json()["receipt"]
    assert count_rows(world.fr) == after_first
    assert audit_count(world.fr, Action.ENVELOPE_DUPLICATE) == 1


def test_bad_signature(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    sig = bytearray(unb64u(env["signature"]))
    sig[5] ^= 0x01
    env["signature"] = b64u(bytes(sig))
    assert_rejected(world, fr_client, env, 400, "bad-signature")


def test_tampered_header_breaks_the_signature(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    env["header"]["content_type"] = CONTENT_STATUS
    assert_rejected(world, fr_client, env, 400, "bad-signature")


def test_unknown_key(world: World, fr_client: TestClient) -> None:
    rogue = Ed25519PrivateKey.generate()
    env = craft(world, sender=SenderKey("ES-PN", key_id_of(rogue.public_key()), rogue))
    assert_rejected(world, fr_client, env, 422, "unknown-key")


def test_revoked_key(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    with world.fr.uow() as s:
        KeyStore.revoke(s, env["header"]["sender_kid"], world.clock.now())
    assert_rejected(world, fr_client, env, 422, "revoked-key")


def test_wrong_recipient(world: World, fr_client: TestClient) -> None:
    env = craft(world, to="MA-DGSN")
    assert_rejected(world, fr_client, env, 422, "wrong-recipient", authenticated=True)


def test_replayed_id(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    assert post(fr_client, env).status_code == 200
    other = craft(world, envelope_id=env["header"]["id"])  # new content, same id
    assert_rejected(world, fr_client, other, 409, "replayed", authenticated=True)


def test_replayed_message_in_a_new_envelope(world: World, fr_client: TestClient) -> None:
    data = payload(world)
    assert post(fr_client, craft(world, data=data)).status_code == 200
    assert_rejected(world, fr_client, craft(world, data=data), 409, "replayed", authenticated=True)


def test_expired(world: World, fr_client: TestClient) -> None:
    now = world.clock.now()
    env = craft(world, created=now - timedelta(days=8), expires=now - timedelta(seconds=1))
    assert_rejected(world, fr_client, env, 422, "expired", authenticated=True)


def test_expired_with_a_broken_signature_is_not_authenticated(world: World,
                                                              fr_client: TestClient) -> None:
    now = world.clock.now()
    env = craft(world, created=now - timedelta(days=8), expires=now - timedelta(seconds=1))
    sig = bytearray(unb64u(env["signature"]))
    sig[0] ^= 0x01
    env["signature"] = b64u(bytes(sig))
    assert_rejected(world, fr_client, env, 422, "expired", authenticated=False)


def test_not_yet_valid(world: World, fr_client: TestClient) -> None:
    now = world.clock.now()
    env = craft(world, created=now + timedelta(hours=1), expires=now + timedelta(days=2))
    assert_rejected(world, fr_client, env, 422, "not-yet-valid", authenticated=True)


@pytest.mark.parametrize("change", [
    {"subject": ""},
    {"priority": "whenever"},
    {"records": [{"id": "x", "schema": "Nope", "properties": {}}]},
    {"records": [{"id": "x", "schema": "Person", "properties": {"colour": ["red"]}}]},
    {"sender": "ES-SVA"},
    {"to": ["FR-DGDDI"]},
    {"crime_area": "9999"},
    {"surprise": True},
])
def test_payload_failing_validation(world: World, fr_client: TestClient, change: dict[str, Any]) -> None:
    env = craft(world, data=payload(world, **change))
    assert_rejected(world, fr_client, env, 422, "invalid-payload", authenticated=True)


def test_status_for_a_message_never_sent(world: World, fr_client: TestClient) -> None:
    data = {"kind": "status", "message_id": uuid.uuid4().hex, "agency": "ES-PN", "state": "read",
            "at": world.clock.now().isoformat(), "by": "x"}
    env = craft(world, data=data, content_type=CONTENT_STATUS)
    assert_rejected(world, fr_client, env, 422, "invalid-payload", authenticated=True)


def test_over_the_size_limit(world: World, fr_client: TestClient) -> None:
    env = craft(world, data=payload(world, body="x" * 70_000))
    body = assert_rejected(world, fr_client, env, 413, "too-large")
    assert body["limit"] == 65536


def test_malformed(world: World, fr_client: TestClient) -> None:
    assert_rejected(world, fr_client, b'{"header": ', 400, "malformed")
    env = craft(world)
    del env["signature"]
    assert_rejected(world, fr_client, env, 400, "malformed")


def test_decryption_failed(world: World, fr_client: TestClient) -> None:
    env = craft(world)
    ct = bytearray(unb64u(env["ciphertext"]))
    ct[-1] ^= 0x01
    env["ciphertext"] = b64u(bytes(ct))
    assert_rejected(world, fr_client, resign(world, env), 400, "decryption-failed",
                    authenticated=True)


def test_receiver_policy_refuses_what_its_agreements_do_not_grant(world: World) -> None:
    # a sender that skipped its own policy check: MA decides again on arrival
    env = craft(world, to="MA-DGSN", data=payload(world, to="MA-DGSN", records=[PERSON, ACCOUNT]))
    with TestClient(create_app(world.ma, background=False)) as client:
        body = assert_rejected(world, client, env, 403, "policy-denied", node=world.ma,
                               authenticated=True)
    assert body["code"] == "category-not-granted"
    assert body["clause"] == "es-ma-police v2 clause art-3"
    with world.ma.uow() as s:
        decision = s.scalars(select(AuditEntry).where(AuditEntry.action == Action.POLICY_DECISION)
                             .order_by(AuditEntry.idx.desc())).first()
        assert decision is not None and decision.outcome == "deny"
        assert decision.detail["side"] == "receiver"
