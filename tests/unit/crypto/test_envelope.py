"""Envelopes: seal, open, and every rejection reason from a crafted envelope."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.crypto import envelope as env_mod
from accord.crypto.canonical import canonical_json, sha256_hex
from accord.crypto.envelope import (
    REASONS,
    BadSignature,
    DecryptionFailed,
    EnvelopeExpired,
    EnvelopeNotYetValid,
    EnvelopeRejected,
    EnvelopeTooLarge,
    MalformedEnvelope,
    OpenedEnvelope,
    RecipientKey,
    RevokedKey,
    SenderKey,
    UnknownKey,
    WrongRecipient,
    envelope_id,
    open_envelope,
    payload_commitment,
    seal,
    verify_signed_header,
)
from accord.crypto.keyid import key_id_of

CREATED = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
EXPIRES = CREATED + timedelta(days=7)
NOW = CREATED + timedelta(minutes=1)
PAYLOAD: dict[str, Any] = {
    "subject": "Stolen vehicle, plate 1234-BCD",
    "body": "Véhicule volé — 车辆被盗 — سيارة مسروقة",
    "priority": "urgent",
    "handling": "H2",
    "records": [{"schema": "Vehicle", "properties": {"registrationNumber": ["1234BCD"]}}],
    "score": 0.75,
    "count": 3,
}


# --- an in-memory key world (a fake, injected; no patching) ---------------------------


@dataclass
class Agency:
    name: str
    sign: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    enc: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)

    @property
    def sign_kid(self) -> str:
        return key_id_of(self.sign.public_key())

    @property
    def enc_kid(self) -> str:
        return key_id_of(self.enc.public_key())

    def sender(self) -> SenderKey:
        return SenderKey(self.name, self.sign_kid, self.sign)

    def recipient(self) -> RecipientKey:
        return RecipientKey(self.name, self.enc_kid, self.enc.public_key())


@dataclass
class FakeKeys:
    """What one node knows: every agency's public signing keys, its own agencies' secrets."""

    known: list[Agency]
    hosted: list[Agency]
    revoked: set[str] = field(default_factory=set)

    def signing_key(self, agency: str, kid: str) -> Ed25519PublicKey:
        if kid in self.revoked:
            raise RevokedKey(f"{kid} is revoked")
        for a in self.known:
            if a.name == agency and a.sign_kid == kid:
                return a.sign.public_key()
        raise UnknownKey(f"no signing key {kid} for {agency}")

    def decryption_key(self, agency: str, kid: str) -> X25519PrivateKey:
        mine = [a for a in self.hosted if a.name == agency]
        if not mine:
            raise WrongRecipient(f"{agency} is not hosted here")
        for a in mine:
            if a.enc_kid == kid:
                return a.enc
        raise UnknownKey(f"no decryption key {kid} for {agency}")


@pytest.fixture(scope="module")
def world() -> dict[str, Agency]:
    return {n: Agency(n) for n in ("ES-PN", "FR-PN", "MA-DGSN", "IT-PS", "DE-BKA")}


def node(world: dict[str, Agency], *hosted: str, revoked: Iterable[str] = ()) -> FakeKeys:
    return FakeKeys(list(world.values()), [world[h] for h in hosted], set(revoked))


def make(
    world: dict[str, Agency],
    to: tuple[str, ...] = ("FR-PN",),
    payload: dict[str, Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "sender": world["ES-PN"].sender(),
        "recipients": [world[a].recipient() for a in to],
        "envelope_id": "01JNB7ZK3T0000000000000000",
        "created": CREATED,
        "expires": EXPIRES,
    }
    args.update(kw)
    return seal(PAYLOAD if payload is None else payload, **args)


def open_as(
    world: dict[str, Agency], envelope: Any, agency: str = "FR-PN", **kw: Any
) -> OpenedEnvelope:
    keys = kw.pop("keys", None) or node(world, agency)
    return open_envelope(envelope, recipient=agency, keys=keys, now=kw.pop("now", NOW), **kw)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip(text: str, index: int = 0) -> str:
    data = bytearray(unb64u(text))
    data[index] ^= 0x01
    return b64u(bytes(data))


def resign(envelope: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """What a sender holding the signing key could do: sign whatever it likes."""
    signed = {
        "header": envelope["header"],
        "ciphertext_sha256": sha256_hex(unb64u(envelope["ciphertext"])),
    }
    envelope["signature"] = b64u(key.sign(b"accord-envelope/v1\x00" + canonical_json(signed)))
    return envelope


def reject(reason: str, fn: Callable[[], object]) -> EnvelopeRejected:
    with pytest.raises(EnvelopeRejected) as info:
        fn()
    assert info.value.reason == reason, info.value.detail
    assert info.value.extra["reason"] == reason
    assert info.value.to_problem()["reason"] == reason
    return info.value


# --- round trips --------------------------------------------------------------------


def test_round_trip_one_recipient(world: dict[str, Agency]) -> None:
    sealed = make(world)
    json.dumps(sealed)  # JSON-able as is
    opened = open_as(world, sealed)
    assert opened.payload == PAYLOAD
    assert opened.id == "01JNB7ZK3T0000000000000000"
    assert opened.sender == "ES-PN"
    assert opened.sender_kid == world["ES-PN"].sign_kid
    assert opened.recipient == "FR-PN"
    assert opened.recipients == ("FR-PN",)
    assert opened.created == CREATED
    assert opened.expires == EXPIRES
    assert opened.content_type == "accord/message"
    assert opened.signature == sealed["signature"]


def test_round_trip_three_recipients_each_opens_its_own_part(
    world: dict[str, Agency],
) -> None:
    to = ("FR-PN", "MA-DGSN", "IT-PS")
    sealed = make(world, to=to, content_type="accord/alert")
    digests = set()
    for agency in to:
        opened = open_as(world, sealed, agency)
        assert opened.payload == PAYLOAD
        assert opened.recipient == agency
        assert opened.recipients == to
        assert opened.content_type == "accord/alert"
        digests.add(opened.payload_digest)
    assert len(digests) == 1  # everybody provably got the same plaintext


def test_a_recipient_cannot_open_another_recipients_part(world: dict[str, Agency]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN"))
    # FR's node does not hold MA's key: the resolver refuses
    reject("wrong-recipient", lambda: open_as(world, sealed, "MA-DGSN", keys=node(world, "FR-PN")))

    # and a node misconfigured to use FR's key for MA's slot cannot decrypt it
    class Confused(FakeKeys):
        def decryption_key(self, agency: str, kid: str) -> X25519PrivateKey:
            return world["FR-PN"].enc

    confused = Confused(list(world.values()), [world["FR-PN"]])
    reject("decryption-failed", lambda: open_as(world, sealed, "MA-DGSN", keys=confused))


def test_bytes_and_mapping_inputs_are_equivalent(world: dict[str, Agency]) -> None:
    sealed = make(world)
    before = copy.deepcopy(sealed)
    from_bytes = open_as(world, json.dumps(sealed).encode())
    from_map = open_as(world, sealed)
    assert from_bytes == from_map
    assert sealed == before  # opening does not mutate the input


def test_proof_of_what_was_sent_verifies_offline(world: dict[str, Agency]) -> None:
    opened = open_as(world, make(world, to=("FR-PN", "IT-PS")))
    pub = world["ES-PN"].sign.public_key()
    verify_signed_header(opened.signed_header, opened.signature, pub)
    header = opened.signed_header["header"]
    assert header["plaintext_sha256"] == opened.payload_digest
    assert payload_commitment(opened.payload, opened.payload_salt) == opened.payload_digest
    assert [r["agency"] for r in header["recipients"]] == ["FR-PN", "IT-PS"]
    # the proof survives storage as JSON
    stored = json.loads(json.dumps(opened.signed_header))
    verify_signed_header(stored, opened.signature, pub)
    # a doctored proof does not
    stored["header"]["recipients"] = stored["header"]["recipients"][:1]
    with pytest.raises(BadSignature):
        verify_signed_header(stored, opened.signature, pub)
    with pytest.raises(BadSignature):
        verify_signed_header(
            opened.signed_header, opened.signature, world["FR-PN"].sign.public_key()
        )
    with pytest.raises(BadSignature):
        verify_signed_header(opened.signed_header, "not base64!", pub)


def test_payload_digest_is_salted(world: dict[str, Agency]) -> None:
    a, b = make(world), make(world)
    assert a["header"]["plaintext_sha256"] != b["header"]["plaintext_sha256"]
    assert a["ciphertext"] != b["ciphertext"]
    assert a["header"]["plaintext_sha256"] != sha256_hex(canonical_json(PAYLOAD))


def test_wire_format(world: dict[str, Agency]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN"))
    assert set(sealed) == {"header", "ciphertext", "signature"}
    h = sealed["header"]
    assert h["typ"] == "accord-envelope"
    assert h["v"] == 1
    assert h["created"] == "2025-03-01T10:00:00Z"
    assert h["alg"] == {
        "sig": "Ed25519",
        "enc": "A256GCM",
        "wrap": "HPKE-Base-X25519-SHA256-A256GCM",
    }
    assert [r["kid"] for r in h["recipients"]] == [
        world["FR-PN"].enc_kid,
        world["MA-DGSN"].enc_kid,
    ]
    for text in [sealed["ciphertext"], sealed["signature"], h["recipients"][0]["wrapped_key"]]:
        assert "=" not in text and "+" not in text and "/" not in text
    assert len(unb64u(sealed["signature"])) == 64


def test_timestamps_keep_microseconds_and_normalise_to_utc(world: dict[str, Agency]) -> None:
    created = datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    sealed = make(world, created=created)
    assert sealed["header"]["created"] == "2025-03-01T11:00:00.123456Z"
    assert open_as(world, sealed, now=created).created == created


def test_envelope_id_reads_the_id_after_structural_checks(world: dict[str, Agency]) -> None:
    sealed = make(world, envelope_id="msg-42")
    assert envelope_id(sealed) == "msg-42"
    assert envelope_id(json.dumps(sealed).encode()) == "msg-42"
    reject("malformed", lambda: envelope_id(b"{}"))
    reject("too-large", lambda: envelope_id(json.dumps(sealed).encode(), max_bytes=100))


# --- rejections: tampering ------------------------------------------------------------


def test_flipped_ciphertext_byte_is_a_bad_signature(world: dict[str, Agency]) -> None:
    sealed = make(world)
    for i in (0, 20, -1):
        tampered = copy.deepcopy(sealed)
        tampered["ciphertext"] = flip(sealed["ciphertext"], i)
        reject("bad-signature", partial(open_as, world, tampered))


def test_flipped_signature_byte_is_a_bad_signature(world: dict[str, Agency]) -> None:
    sealed = make(world)
    for i in (0, 31, 63):
        tampered = copy.deepcopy(sealed)
        tampered["signature"] = flip(sealed["signature"], i)
        reject("bad-signature", partial(open_as, world, tampered))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "another-id"),
        ("content_type", "accord/request"),
        ("created", "2025-03-01T09:59:59Z"),
        ("expires", "2025-03-09T10:00:00Z"),
        ("plaintext_sha256", "0" * 64),
        ("sender", "DE-BKA"),
    ],
)
def test_header_field_changed_after_signing(
    world: dict[str, Agency], name: str, value: str
) -> None:
    sealed = make(world)
    sealed["header"][name] = value
    if name == "sender":  # keep the key lookup working so the signature is what fails
        sealed["header"]["sender_kid"] = world["DE-BKA"].sign_kid
    reject("bad-signature", lambda: open_as(world, sealed))


def test_sender_kid_swapped_to_another_known_key(world: dict[str, Agency]) -> None:
    sealed = make(world)
    other = Agency("ES-PN")  # ES's other (e.g. rotated) key
    keys = FakeKeys([*world.values(), other], [world["FR-PN"]])
    sealed["header"]["sender_kid"] = other.sign_kid
    reject("bad-signature", lambda: open_as(world, sealed, keys=keys))


def test_recipient_list_tampering(world: dict[str, Agency]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN", "IT-PS"))
    rs = sealed["header"]["recipients"]
    variants = {
        "reordered": [rs[2], rs[0], rs[1]],
        "dropped": [rs[0], rs[2]],
        "added": [*rs, {**rs[0], "agency": "DE-BKA"}],
        "wrapped keys swapped": [
            {**rs[0], "wrapped_key": rs[1]["wrapped_key"]},
            {**rs[1], "wrapped_key": rs[0]["wrapped_key"]},
            rs[2],
        ],
        "agency renamed": [{**rs[0], "agency": "DE-BKA"}, rs[1], rs[2]],
    }
    for name, new in variants.items():
        tampered = copy.deepcopy(sealed)
        tampered["header"]["recipients"] = new
        agency = "DE-BKA" if name in ("added", "agency renamed") else "FR-PN"
        keys = node(world, "DE-BKA", "FR-PN")
        err = reject("bad-signature", partial(open_as, world, tampered, agency, keys=keys))
        assert err.status == 400, name


def test_envelope_forwarded_to_a_third_party_is_wrong_recipient(
    world: dict[str, Agency],
) -> None:
    sealed = make(world, to=("FR-PN",))
    err = reject("wrong-recipient", lambda: open_as(world, sealed, "DE-BKA"))
    assert err.status == 422


# --- rejections: keys ---------------------------------------------------------------


def test_unknown_sender_kid(world: dict[str, Agency]) -> None:
    stranger = Agency("ES-PN")
    sealed = make(world, sender=stranger.sender())
    reject("unknown-key", lambda: open_as(world, sealed))


def test_unknown_sender_agency(world: dict[str, Agency]) -> None:
    sealed = make(world, sender=Agency("PT-PJ").sender())
    reject("unknown-key", lambda: open_as(world, sealed))


def test_revoked_sender_kid(world: dict[str, Agency]) -> None:
    sealed = make(world)
    keys = node(world, "FR-PN", revoked=[world["ES-PN"].sign_kid])
    err = reject("revoked-key", lambda: open_as(world, sealed, keys=keys))
    assert err.status == 422


def test_unknown_recipient_kid(world: dict[str, Agency]) -> None:
    old = Agency("FR-PN")  # a key FR no longer holds
    sealed = seal(
        PAYLOAD,
        sender=world["ES-PN"].sender(),
        recipients=[old.recipient()],
        envelope_id="x1",
        created=CREATED,
        expires=EXPIRES,
    )
    reject("unknown-key", lambda: open_as(world, sealed))


# --- rejections: time ---------------------------------------------------------------


def test_expired(world: dict[str, Agency]) -> None:
    sealed = make(world)
    reject("expired", lambda: open_as(world, sealed, now=EXPIRES))
    reject("expired", lambda: open_as(world, sealed, now=EXPIRES + timedelta(days=1)))
    open_as(world, sealed, now=EXPIRES - timedelta(microseconds=1))


def test_not_yet_valid_beyond_clock_skew(world: dict[str, Agency]) -> None:
    sealed = make(world)
    open_as(world, sealed, now=CREATED - timedelta(minutes=5))  # default skew 5 min
    reject("not-yet-valid", lambda: open_as(world, sealed, now=CREATED - timedelta(minutes=6)))
    reject(
        "not-yet-valid",
        lambda: open_as(
            world, sealed, now=CREATED - timedelta(seconds=2), max_clock_skew=timedelta(seconds=1)
        ),
    )


def test_naive_now_is_a_caller_error(world: dict[str, Agency]) -> None:
    with pytest.raises(ValueError):
        open_as(world, make(world), now=NOW.replace(tzinfo=None))


# --- rejections: size and structure -------------------------------------------------


def test_oversized(world: dict[str, Agency]) -> None:
    sealed = make(world, payload={"blob": "x" * 5000})
    raw = json.dumps(sealed).encode()
    err = reject("too-large", lambda: open_as(world, raw, max_bytes=4096))
    assert err.status == 413
    assert err.extra["limit"] == 4096
    reject("too-large", lambda: open_as(world, sealed, max_bytes=4096))
    # the default limit is 4 MiB, and the size check comes before parsing
    reject("too-large", lambda: open_as(world, b"[" * (4 * 1024 * 1024 + 1)))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"envelope"',
        b"null",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"header": {}, "header": {}, "ciphertext": "", "signature": ""}',
    ],
)
def test_not_json_or_not_an_object(world: dict[str, Agency], raw: bytes) -> None:
    err = reject("malformed", lambda: open_as(world, raw))
    assert err.status == 400


def test_duplicate_keys_in_header_are_malformed(world: dict[str, Agency]) -> None:
    raw = json.dumps(make(world)).encode()
    raw = raw.replace(b'"typ": "accord-envelope"', b'"typ": "accord-envelope", "id": "dup"')
    reject("malformed", lambda: open_as(world, raw))


def test_non_json_mapping_is_malformed(world: dict[str, Agency]) -> None:
    sealed: dict[str, Any] = make(world)
    sealed["extra"] = object()
    reject("malformed", lambda: open_as(world, sealed))
    reject("malformed", lambda: open_as(world, 42))


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def apply(e: dict[str, Any]) -> None:
        target: Any = e
        for p in path[:-1]:
            target = target[p]
        del target[path[-1]]

    return apply


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(e: dict[str, Any]) -> None:
        target: Any = e
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value

    return apply


STRUCTURE_CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    # missing fields
    "no header": _drop(("header",)),
    "no ciphertext": _drop(("ciphertext",)),
    "no signature": _drop(("signature",)),
    **{
        f"no header.{k}": _drop(("header", k))
        for k in (
            "typ",
            "v",
            "id",
            "sender",
            "sender_kid",
            "recipients",
            "created",
            "expires",
            "content_type",
            "alg",
            "plaintext_sha256",
        )
    },
    "no recipient agency": _drop(("header", "recipients", 0, "agency")),
    "no recipient kid": _drop(("header", "recipients", 0, "kid")),
    "no wrapped key": _drop(("header", "recipients", 0, "wrapped_key")),
    # unknown fields
    "unknown top-level field": _set(("note",), "hi"),
    "unknown header field": _set(("header", "x"), 1),
    "unknown recipient field": _set(("header", "recipients", 0, "x"), 1),
    # wrong types
    "header is a list": _set(("header",), []),
    "v is a string": _set(("header", "v"), "1"),
    "v is true": _set(("header", "v"), True),
    "v is 1.5": _set(("header", "v"), 1.5),
    "v is 2": _set(("header", "v"), 2),
    "typ is other": _set(("header", "typ"), "jwe"),
    "id is a number": _set(("header", "id"), 7),
    "id is empty": _set(("header", "id"), ""),
    "id has spaces": _set(("header", "id"), "a b"),
    "id too long": _set(("header", "id"), "a" * 129),
    "sender is null": _set(("header", "sender"), None),
    "sender not an agency": _set(("header", "sender"), "spain"),
    "sender kid is a list": _set(("header", "sender_kid"), ["k"]),
    "recipients is an object": _set(("header", "recipients"), {}),
    "recipients is empty": _set(("header", "recipients"), []),
    "recipient is a string": _set(("header", "recipients", 0), "FR-PN"),
    "created is a number": _set(("header", "created"), 1740823200),
    "created not UTC": _set(("header", "created"), "2025-03-01T10:00:00+01:00"),
    "created impossible": _set(("header", "created"), "2025-02-30T10:00:00Z"),
    "expires before created": _set(("header", "expires"), "2025-03-01T09:00:00Z"),
    "content type bad": _set(("header", "content_type"), "Accord Message"),
    "digest not hex": _set(("header", "plaintext_sha256"), "Z" * 64),
    "digest short": _set(("header", "plaintext_sha256"), "ab"),
    "weaker algorithm": _set(("header", "alg", "enc"), "A128GCM"),
    "no signature algorithm": _set(("header", "alg"), {"enc": "A256GCM"}),
    "ciphertext is a number": _set(("ciphertext",), 5),
    "ciphertext padded": lambda e: e.update(ciphertext=e["ciphertext"] + "=="),
    "ciphertext standard base64": _set(("ciphertext",), "ab+/" * 10),
    "ciphertext too short": _set(("ciphertext",), b64u(bytes(27))),
    "ciphertext bad length": _set(("ciphertext",), "A" * 41),
    "ciphertext non-canonical bits": _set(("ciphertext",), "A" * 42 + "B"),
    "signature wrong length": _set(("signature",), b64u(bytes(63))),
    "signature is null": _set(("signature",), None),
    "wrapped key wrong length": _set(("header", "recipients", 0, "wrapped_key"), b64u(bytes(79))),
    "wrapped key not base64": _set(("header", "recipients", 0, "wrapped_key"), "!!"),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE_CASES))
def test_structural_defects_are_malformed(world: dict[str, Agency], case: str) -> None:
    sealed = make(world)
    STRUCTURE_CASES[case](sealed)
    reject("malformed", lambda: open_as(world, sealed))
    reject("malformed", lambda: open_as(world, json.dumps(sealed).encode()))
    reject("malformed", lambda: envelope_id(sealed))


def test_duplicate_recipient_agency_is_malformed(world: dict[str, Agency]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN"))
    rs = sealed["header"]["recipients"]
    rs[1] = {**rs[1], "agency": "FR-PN"}
    reject("malformed", lambda: open_as(world, sealed))


# --- rejections: decryption (by a sender who holds its own signing key) ---------------


def test_garbage_wrapped_key_that_is_validly_signed(world: dict[str, Agency]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN"))
    sealed["header"]["recipients"][0]["wrapped_key"] = b64u(os.urandom(80))
    resign(sealed, world["ES-PN"].sign)
    reject("decryption-failed", lambda: open_as(world, sealed))
    # the header is the AAD of the payload, so MA's (intact) slot no longer opens it either
    reject("decryption-failed", lambda: open_as(world, sealed, "MA-DGSN"))


def test_ciphertext_that_is_validly_signed_but_corrupt(world: dict[str, Agency]) -> None:
    sealed = make(world)
    sealed["ciphertext"] = flip(sealed["ciphertext"], 30)
    resign(sealed, world["ES-PN"].sign)
    err = reject("decryption-failed", lambda: open_as(world, sealed))
    assert err.status == 400


def test_header_changed_and_resigned_breaks_the_aad(world: dict[str, Agency]) -> None:
    sealed = make(world)
    sealed["header"]["content_type"] = "accord/request"
    resign(sealed, world["ES-PN"].sign)
    reject("decryption-failed", lambda: open_as(world, sealed))


def test_wrapped_key_moved_to_another_envelope(world: dict[str, Agency]) -> None:
    a = make(world, envelope_id="env-a")
    b = make(world, envelope_id="env-b")
    # b's header, a's CEK: HPKE info binds the envelope id
    b["header"]["recipients"][0]["wrapped_key"] = a["header"]["recipients"][0]["wrapped_key"]
    b["ciphertext"] = a["ciphertext"]
    resign(b, world["ES-PN"].sign)
    reject("decryption-failed", lambda: open_as(world, b))


def _hand_sealed(world: dict[str, Agency], plaintext: bytes, digest: str) -> dict[str, Any]:
    """Build an envelope by hand, so the sender can lie about the plaintext digest."""
    fr = world["FR-PN"]
    cek = AESGCM.generate_key(bit_length=256)
    header = {
        "typ": "accord-envelope",
        "v": 1,
        "id": "hand-1",
        "sender": "ES-PN",
        "sender_kid": world["ES-PN"].sign_kid,
        "recipients": [
            {
                "agency": "FR-PN",
                "kid": fr.enc_kid,
                "wrapped_key": b64u(
                    env_mod._HPKE.encrypt(
                        cek,
                        fr.enc.public_key(),
                        info=env_mod._wrap_info("hand-1", "ES-PN", "FR-PN", fr.enc_kid),
                    )
                ),
            }
        ],
        "created": "2025-03-01T10:00:00Z",
        "expires": "2025-03-08T10:00:00Z",
        "content_type": "accord/message",
        "alg": {"sig": "Ed25519", "enc": "A256GCM", "wrap": "HPKE-Base-X25519-SHA256-A256GCM"},
        "plaintext_sha256": digest,
    }
    nonce = os.urandom(12)
    ct = nonce + AESGCM(cek).encrypt(nonce, plaintext, canonical_json(header))
    return resign({"header": header, "ciphertext": b64u(ct), "signature": ""}, world["ES-PN"].sign)


def test_hand_built_envelope_opens(world: dict[str, Agency]) -> None:
    pt = canonical_json({"payload": {"a": 1}, "salt": "s"})
    assert open_as(world, _hand_sealed(world, pt, sha256_hex(pt))).payload == {"a": 1}


def test_plaintext_that_does_not_match_the_signed_digest(world: dict[str, Agency]) -> None:
    pt = canonical_json({"payload": {"a": 1}, "salt": "s"})
    other = sha256_hex(canonical_json({"payload": {"a": 2}, "salt": "s"}))
    reject("decryption-failed", lambda: open_as(world, _hand_sealed(world, pt, other)))


@pytest.mark.parametrize(
    "plaintext",
    [
        b'{"payload": {"a": 1}, "salt": "s"}',  # not canonical
        b'{"payload":[1],"salt":"s"}',  # payload not an object
        b'{"payload":{},"salt":1}',
        b'{"payload":{}}',
        b'{"payload":{},"salt":"s","x":1}',
        b"[1,2]",
        b"\xff",
        b'{"payload":{"a":1,"a":2},"salt":"s"}',
    ],
)
def test_inner_plaintext_defects_are_malformed(world: dict[str, Agency], plaintext: bytes) -> None:
    reject(
        "malformed", lambda: open_as(world, _hand_sealed(world, plaintext, sha256_hex(plaintext)))
    )


# --- check order: cheap first -------------------------------------------------------


def test_cheap_checks_come_first(world: dict[str, Agency]) -> None:
    stranger = Agency("ES-PN")
    sealed = make(world, sender=stranger.sender())  # unknown key ...
    reject("expired", lambda: open_as(world, sealed, now=EXPIRES))  # ... but expiry first
    reject("wrong-recipient", lambda: open_as(world, sealed, "IT-PS"))  # ... recipient first
    sealed["signature"] = flip(sealed["signature"])
    reject("unknown-key", lambda: open_as(world, sealed))  # key lookup before verify
    reject("too-large", lambda: open_as(world, b"not json" * 20, max_bytes=100))  # size first


def test_resolver_errors_that_are_not_rejections_propagate(world: dict[str, Agency]) -> None:
    class Broken(FakeKeys):
        def signing_key(self, agency: str, kid: str) -> Ed25519PublicKey:
            raise RuntimeError("key store down")

    with pytest.raises(RuntimeError):
        open_as(world, make(world), keys=Broken(list(world.values()), [world["FR-PN"]]))


# --- errors and seal's own argument checks -------------------------------------------


def test_reasons_and_statuses() -> None:
    assert set(REASONS) == {
        "malformed",
        "too-large",
        "bad-signature",
        "unknown-key",
        "revoked-key",
        "wrong-recipient",
        "expired",
        "not-yet-valid",
        "decryption-failed",
    }
    assert EnvelopeTooLarge("x").status == 413
    assert MalformedEnvelope("x").status == 400
    assert EnvelopeExpired("x").status == 422
    assert EnvelopeNotYetValid("x").reason == "not-yet-valid"
    assert DecryptionFailed("x").to_problem()["reason"] == "decryption-failed"
    generic = EnvelopeRejected("odd", reason="bad-signature")
    assert generic.reason == "bad-signature"
    assert generic.to_problem()["reason"] == "bad-signature"


def test_seal_rejects_caller_errors(world: dict[str, Agency]) -> None:
    with pytest.raises(ValueError):
        make(world, to=())
    with pytest.raises(ValueError):
        make(world, to=("FR-PN", "FR-PN"))
    with pytest.raises(ValueError):
        make(world, created=CREATED.replace(tzinfo=None))
    with pytest.raises(ValueError):
        make(world, expires=CREATED)
    with pytest.raises(ValueError):
        make(world, envelope_id="has space")
    with pytest.raises(ValueError):
        make(world, content_type="nope")
    with pytest.raises(ValueError):
        make(world, payload={"x": float("nan")})
    with pytest.raises(ValueError):
        make(world, payload={"x": 2**60})
    with pytest.raises(TypeError):
        make(world, payload=[1, 2])  # type: ignore[arg-type]


# --- property: any JSON payload survives the round trip -------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=60, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_round_trip_any_json_payload(world: dict[str, Agency], payload: dict[str, Any]) -> None:
    sealed = make(world, to=("FR-PN", "MA-DGSN"), payload=payload)
    for agency in ("FR-PN", "MA-DGSN"):
        opened = open_as(world, json.dumps(sealed).encode(), agency)
        assert opened.payload == payload
        assert canonical_json(opened.payload) == canonical_json(payload)
