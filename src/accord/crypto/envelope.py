"""The envelope: the one object that crosses between Accord nodes.

An envelope carries one JSON object (the payload) from one agency to one or more
agencies. It is signed by the sending agency's Ed25519 key and encrypted to each
recipient agency's X25519 key. Nothing here is a home-made cipher: payload
encryption is AES-256-GCM, key transport is HPKE (RFC 9180, base mode,
DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM) from ``cryptography``,
signatures are Ed25519, serialisation is RFC 8785 canonical JSON.

Construction (and why)
======================

The payload is encrypted **once** under a fresh random 256-bit content key
(CEK) with AES-256-GCM, AAD = the canonical header; the CEK is then wrapped to
each recipient with HPKE, ``info`` binding the envelope id, the sender agency,
the recipient agency and the recipient key id. We chose this over HPKE-sealing
the payload per recipient because:

* size and work grow with ``payload + 80 bytes x recipients`` rather than
  ``payload x recipients`` (a 4 MiB payload to 27 agencies stays ~4 MiB);
* there is one ciphertext, so one ciphertext digest in the signature, and every
  recipient provably received the same bytes;
* the known weakness of multi-recipient AES-GCM — it is not key-committing, so a
  malicious sender could in principle hand different recipients different CEKs
  that decrypt one ciphertext to different plaintexts ("invisible salamanders")
  — is closed by signing a SHA-256 commitment to the plaintext
  (``plaintext_sha256``) and checking it after decryption: every recipient that
  accepts has the same plaintext.

The plaintext is ``canonical_json({"payload": <payload>, "salt": <32 random
bytes>})``. The salt makes the signed plaintext digest a hiding commitment: the
header travels and is stored in the clear (outboxes, dead letters, logs), and
without the salt a low-entropy payload — a hit/no-hit answer — could be found by
hashing guesses.

Wire format (all bytes are base64url without padding)::

    {
      "header": {
        "typ": "accord-envelope", "v": 1,
        "id": "...", "sender": "ES-PN", "sender_kid": "ed25519:...",
        "recipients": [{"agency": "FR-PN", "kid": "x25519:...", "wrapped_key": "..."}],
        "created": "2025-01-01T10:00:00Z", "expires": "2025-01-08T10:00:00Z",
        "content_type": "accord/message",
        "alg": {"sig": "Ed25519", "enc": "A256GCM",
                "wrap": "HPKE-Base-X25519-SHA256-A256GCM"},
        "plaintext_sha256": "<hex>"
      },
      "ciphertext": "<nonce 12 bytes || AES-256-GCM ciphertext and tag>",
      "signature": "<Ed25519, 64 bytes>"
    }

The **signed header** is ``{"header": <header>, "ciphertext_sha256": <hex>}``;
the signature is Ed25519 over ``b"accord-envelope/v1\\x00" +
canonical_json(signed_header)`` (the prefix separates envelope signatures from
anything else the same agency key signs). It therefore covers the id, sender,
sender key id, recipient list with each wrapped key, times, content type,
algorithms, the plaintext commitment and the ciphertext: nothing can be swapped,
added or removed. The receiver keeps ``signed_header`` + ``signature`` (+ the
payload and its salt) as proof of what was sent, by whom, to whom, and anyone
holding the sender's public key can check it offline with
:func:`verify_signed_header` and :func:`payload_commitment`.

Checks on receipt, cheap first
==============================

:func:`open_envelope` runs these in order and raises at the first failure; each
error is an :class:`EnvelopeRejected` with a stable ``reason`` in ``extra``:

=====================  ======  =========================================================
reason                 status  what it protects against
=====================  ======  =========================================================
``too-large``          413     memory / CPU exhaustion: checked on raw bytes before parsing
                               (a mapping is measured as its canonical JSON)
``malformed``          400     parser tricks: invalid UTF-8 or JSON, duplicate keys, NaN,
                               unknown or missing fields, wrong types, bad base64url,
                               unknown algorithms or version (no downgrade), bad
                               timestamps, duplicate recipients; also a decrypted
                               plaintext that is not canonical ``{"payload", "salt"}``
``expired``            422     stale traffic: ``now >= expires`` (no skew allowed)
``not-yet-valid``      422     pre-dated traffic: ``created > now + max_clock_skew``
``wrong-recipient``    422     envelopes not addressed to this agency (misrouting,
                               forwarding to a third party), before any key work
``unknown-key``        422     senders or keys this node does not know (key resolver)
``revoked-key``        422     signatures by a compromised or retired key (key resolver)
``bad-signature``      400     forgery and any tampering with header, recipients,
                               wrapped keys or ciphertext
``decryption-failed``  400     a wrapped key or ciphertext that does not open with our
                               key, or a plaintext that does not match the signed
                               commitment
=====================  ======  =========================================================

Everything before the signature check is judged on *unauthenticated* claims: a
``malformed``/``expired``/``wrong-recipient`` rejection says nothing about who
sent the bytes. Replay (dedup by :func:`envelope_id`) and payload schema checks
belong to the service layer that stores envelopes; this module provides only
:func:`envelope_id`.

Errors
======

::

    AccordError
    └── EnvelopeRejected               400 envelope-rejected
        ├── MalformedEnvelope          400 malformed
        ├── EnvelopeTooLarge           413 too-large
        ├── BadSignature               400 bad-signature
        ├── UnknownKey                 422 unknown-key
        ├── RevokedKey                 422 revoked-key
        ├── WrongRecipient             422 wrong-recipient
        ├── EnvelopeExpired            422 expired
        ├── EnvelopeNotYetValid        422 not-yet-valid
        └── DecryptionFailed           400 decryption-failed

:func:`seal` raises :class:`ValueError` / :class:`TypeError` for caller bugs
(naive datetimes, no recipients, a payload that is not JSON); those are not
envelope rejections.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.crypto.canonical import canonical_json, parse_json, sha256_hex
from accord.errors import AccordError

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_MAX_BYTES",
    "ENVELOPE_TYPE",
    "ENVELOPE_VERSION",
    "MAX_RECIPIENTS",
    "REASONS",
    "BadSignature",
    "DecryptionFailed",
    "EnvelopeExpired",
    "EnvelopeNotYetValid",
    "EnvelopeRejected",
    "EnvelopeTooLarge",
    "KeyResolver",
    "MalformedEnvelope",
    "OpenedEnvelope",
    "RecipientKey",
    "RevokedKey",
    "SenderKey",
    "UnknownKey",
    "WrongRecipient",
    "envelope_id",
    "open_envelope",
    "payload_commitment",
    "seal",
    "verify_signed_header",
]

ENVELOPE_TYPE = "accord-envelope"
ENVELOPE_VERSION = 1
SIG_ALG = "Ed25519"
ENC_ALG = "A256GCM"
WRAP_ALG = "HPKE-Base-X25519-SHA256-A256GCM"
_ALGS = {"sig": SIG_ALG, "enc": ENC_ALG, "wrap": WRAP_ALG}

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
MAX_RECIPIENTS = 256

_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_SIGN_PREFIX = b"accord-envelope/v1\x00"
_WRAP_INFO_LABEL = "accord-envelope/v1/cek"
_CEK_LEN = 32
_NONCE_LEN = 12
_TAG_LEN = 16
_SALT_LEN = 32
_WRAPPED_LEN = 32 + _CEK_LEN + _TAG_LEN  # X25519 enc || AES-256-GCM(CEK) || tag
_SIG_LEN = 64

_HEADER_KEYS = frozenset(
    {
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
    }
)
_RECIPIENT_KEYS = frozenset({"agency", "kid", "wrapped_key"})
_ENVELOPE_KEYS = frozenset({"header", "ciphertext", "signature"})

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_AGENCY_RE = re.compile(r"[A-Z]{2}-[A-Za-z0-9_-]{1,32}")
_KID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
_CONTENT_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9.+_-]{0,63}/[a-z0-9][a-z0-9.+_-]{0,63}")
_TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_B64U_RE = re.compile(r"[A-Za-z0-9_-]*")


# --------------------------------------------------------------------------- errors


class EnvelopeRejected(AccordError):
    """An envelope was refused; ``reason`` (also in ``extra``) says why."""

    status = 400
    slug = "envelope-rejected"
    title = "Envelope rejected"
    default_reason: ClassVar[str] = "rejected"

    def __init__(self, detail: str, **extra: Any) -> None:
        extra.setdefault("reason", self.default_reason)
        super().__init__(detail, **extra)
        self.reason: str = str(extra["reason"])


class MalformedEnvelope(EnvelopeRejected):
    slug = "envelope-malformed"
    title = "Envelope malformed"
    default_reason = "malformed"


class EnvelopeTooLarge(EnvelopeRejected):
    status = 413
    slug = "envelope-too-large"
    title = "Envelope too large"
    default_reason = "too-large"


class BadSignature(EnvelopeRejected):
    slug = "envelope-bad-signature"
    title = "Envelope signature invalid"
    default_reason = "bad-signature"


class UnknownKey(EnvelopeRejected):
    status = 422
    slug = "envelope-unknown-key"
    title = "Envelope key unknown"
    default_reason = "unknown-key"


class RevokedKey(EnvelopeRejected):
    status = 422
    slug = "envelope-revoked-key"
    title = "Envelope key revoked"
    default_reason = "revoked-key"


class WrongRecipient(EnvelopeRejected):
    status = 422
    slug = "envelope-wrong-recipient"
    title = "Envelope not addressed to this agency"
    default_reason = "wrong-recipient"


class EnvelopeExpired(EnvelopeRejected):
    status = 422
    slug = "envelope-expired"
    title = "Envelope expired"
    default_reason = "expired"


class EnvelopeNotYetValid(EnvelopeRejected):
    status = 422
    slug = "envelope-not-yet-valid"
    title = "Envelope not yet valid"
    default_reason = "not-yet-valid"


class DecryptionFailed(EnvelopeRejected):
    slug = "envelope-decryption-failed"
    title = "Envelope could not be decrypted"
    default_reason = "decryption-failed"


REASONS: tuple[str, ...] = tuple(
    cls.default_reason
    for cls in (
        MalformedEnvelope,
        EnvelopeTooLarge,
        BadSignature,
        UnknownKey,
        RevokedKey,
        WrongRecipient,
        EnvelopeExpired,
        EnvelopeNotYetValid,
        DecryptionFailed,
    )
)


# ----------------------------------------------------------------------- public types


@dataclass(frozen=True)
class RecipientKey:
    """A recipient agency's current X25519 encryption key."""

    agency: str
    kid: str
    public_key: X25519PublicKey


@dataclass(frozen=True)
class SenderKey:
    """The sending agency's Ed25519 signing key."""

    agency: str
    kid: str
    private_key: Ed25519PrivateKey


class KeyResolver(Protocol):
    """The receiver's view of known keys (implemented by the key store)."""

    def signing_key(self, agency: str, kid: str) -> Ed25519PublicKey:
        """The sender's public key; raises :class:`UnknownKey` or :class:`RevokedKey`."""
        ...

    def decryption_key(self, agency: str, kid: str) -> X25519PrivateKey:
        """Our private key; raises :class:`WrongRecipient` or :class:`UnknownKey`."""
        ...


@dataclass(frozen=True)
class OpenedEnvelope:
    """A verified, decrypted envelope as one recipient sees it.

    ``signed_header`` and ``signature`` are exactly what the sender signed
    (see :func:`verify_signed_header`); ``payload_digest`` is the signed
    ``plaintext_sha256``, which :func:`payload_commitment` recomputes from
    ``payload`` and ``payload_salt``. Keep all of them as proof of receipt.
    """

    id: str
    sender: str
    sender_kid: str
    recipient: str
    recipients: tuple[str, ...]
    created: datetime
    expires: datetime
    content_type: str
    payload: dict[str, Any]
    payload_digest: str
    signed_header: dict[str, Any]
    signature: str
    payload_salt: str


# --------------------------------------------------------------------------- helpers


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64u_decode(text: str) -> bytes:
    """Strict base64url without padding; rejects non-canonical encodings."""
    if not _B64U_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64u(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def _format_ts(value: datetime, name: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def _wrap_info(envelope_id: str, sender: str, agency: str, kid: str) -> bytes:
    return canonical_json([_WRAP_INFO_LABEL, envelope_id, sender, agency, kid])


def _signing_input(signed_header: Mapping[str, Any]) -> bytes:
    return _SIGN_PREFIX + canonical_json(dict(signed_header))


def _plaintext(payload: Mapping[str, Any], salt: str) -> bytes:
    return canonical_json({"payload": dict(payload), "salt": salt})


def payload_commitment(payload: Mapping[str, Any], salt: str) -> str:
    """The signed ``plaintext_sha256`` for ``payload`` and its ``salt``."""
    return sha256_hex(_plaintext(payload, salt))


def verify_signed_header(
    signed_header: Mapping[str, Any], signature: str, public_key: Ed25519PublicKey
) -> None:
    """Check a stored proof offline; raises :class:`BadSignature` if it fails."""
    try:
        sig = _b64u_decode(signature)
        data = _signing_input(signed_header)
    except (ValueError, TypeError) as exc:
        raise BadSignature("signature or signed header is not well formed") from exc
    try:
        public_key.verify(sig, data)
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc


# ----------------------------------------------------------------------------- seal


def _check(pattern: re.Pattern[str], value: object, name: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"invalid {name}: {value!r}")
    return value


def seal(
    payload: Mapping[str, Any],
    *,
    sender: SenderKey,
    recipients: Sequence[RecipientKey],
    envelope_id: str,
    created: datetime,
    expires: datetime,
    content_type: str = "accord/message",
) -> dict[str, Any]:
    """Sign and encrypt ``payload`` for ``recipients``; return the JSON-able envelope.

    Raises :class:`ValueError` / :class:`TypeError` on caller errors (see module doc).
    """
    if not isinstance(payload, Mapping):
        raise TypeError("payload must be a mapping")
    _check(_ID_RE, envelope_id, "envelope id")
    _check(_AGENCY_RE, sender.agency, "sender agency")
    _check(_KID_RE, sender.kid, "sender kid")
    _check(_CONTENT_TYPE_RE, content_type, "content type")
    if not recipients:
        raise ValueError("an envelope needs at least one recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients")
    agencies = [_check(_AGENCY_RE, r.agency, "recipient agency") for r in recipients]
    if len(set(agencies)) != len(agencies):
        raise ValueError("duplicate recipient agency")
    for r in recipients:
        _check(_KID_RE, r.kid, "recipient kid")
    created_s = _format_ts(created, "created")
    expires_s = _format_ts(expires, "expires")
    if expires <= created:
        raise ValueError("expires must be after created")

    salt = _b64u(os.urandom(_SALT_LEN))
    plaintext = _plaintext(payload, salt)  # ValueError if the payload is not JSON
    cek = AESGCM.generate_key(bit_length=256)
    header: dict[str, Any] = {
        "typ": ENVELOPE_TYPE,
        "v": ENVELOPE_VERSION,
        "id": envelope_id,
        "sender": sender.agency,
        "sender_kid": sender.kid,
        "recipients": [
            {
                "agency": r.agency,
                "kid": r.kid,
                "wrapped_key": _b64u(
                    _HPKE.encrypt(
                        cek,
                        r.public_key,
                        info=_wrap_info(envelope_id, sender.agency, r.agency, r.kid),
                    )
                ),
            }
            for r in recipients
        ],
        "created": created_s,
        "expires": expires_s,
        "content_type": content_type,
        "alg": dict(_ALGS),
        "plaintext_sha256": sha256_hex(plaintext),
    }
    nonce = os.urandom(_NONCE_LEN)
    ciphertext = nonce + AESGCM(cek).encrypt(nonce, plaintext, canonical_json(header))
    signed = {"header": header, "ciphertext_sha256": sha256_hex(ciphertext)}
    signature = sender.private_key.sign(_signing_input(signed))
    return {"header": header, "ciphertext": _b64u(ciphertext), "signature": _b64u(signature)}


# ----------------------------------------------------------------------------- open


@dataclass(frozen=True)
class _Recipient:
    agency: str
    kid: str
    wrapped_key: bytes


@dataclass(frozen=True)
class _Parsed:
    header: dict[str, Any]
    header_bytes: bytes
    id: str
    sender: str
    sender_kid: str
    recipients: tuple[_Recipient, ...]
    created: datetime
    expires: datetime
    content_type: str
    plaintext_sha256: str
    ciphertext: bytes
    signature: bytes
    signature_text: str


def _malformed(detail: str) -> NoReturn:
    raise MalformedEnvelope(detail)


def _load(envelope: Mapping[str, Any] | bytes | bytearray, max_bytes: int) -> Any:
    if isinstance(envelope, bytes | bytearray):
        raw = bytes(envelope)
    elif isinstance(envelope, Mapping):
        try:
            raw = canonical_json(dict(envelope))
        except (ValueError, TypeError, RecursionError):
            _malformed("envelope is not a JSON object")
    else:
        _malformed("envelope must be JSON bytes or a mapping")
    if len(raw) > max_bytes:
        raise EnvelopeTooLarge(
            f"envelope is {len(raw)} bytes, the limit is {max_bytes}",
            size=len(raw),
            limit=max_bytes,
        )
    try:
        return parse_json(raw)
    except (ValueError, RecursionError):
        _malformed("envelope is not valid JSON")


def _field(obj: Mapping[str, Any], name: str, pattern: re.Pattern[str], where: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _malformed(f"{where}.{name} is missing or not well formed")
    return value


def _b64_field(obj: Mapping[str, Any], name: str, where: str) -> bytes:
    value = obj[name]
    if not isinstance(value, str):
        _malformed(f"{where}.{name} must be a base64url string")
    try:
        return _b64u_decode(value)
    except (ValueError, binascii.Error):
        _malformed(f"{where}.{name} is not base64url without padding")


def _exact_keys(obj: object, keys: frozenset[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        _malformed(f"{where} must be an object")
    if obj.keys() != keys:
        missing = sorted(keys - obj.keys())
        unknown = len(obj.keys() - keys)
        _malformed(f"{where}: missing fields {missing}, {unknown} unknown field(s)")
    return obj


def _parse_ts(header: Mapping[str, Any], name: str) -> datetime:
    text = _field(header, name, _TS_RE, "header")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        _malformed(f"header.{name} is not a valid UTC timestamp")


def _parse(doc: Any) -> _Parsed:
    doc = _exact_keys(doc, _ENVELOPE_KEYS, "envelope")
    header = _exact_keys(doc["header"], _HEADER_KEYS, "header")
    if header["typ"] != ENVELOPE_TYPE:
        _malformed("header.typ is not an Accord envelope")
    v = header["v"]
    if type(v) is not int or v != ENVELOPE_VERSION:
        _malformed("unsupported envelope version")
    if header["alg"] != _ALGS:
        _malformed("unsupported algorithms")
    env_id = _field(header, "id", _ID_RE, "header")
    sender = _field(header, "sender", _AGENCY_RE, "header")
    sender_kid = _field(header, "sender_kid", _KID_RE, "header")
    content_type = _field(header, "content_type", _CONTENT_TYPE_RE, "header")
    plaintext_sha256 = _field(header, "plaintext_sha256", _HEX64_RE, "header")
    created = _parse_ts(header, "created")
    expires = _parse_ts(header, "expires")
    if expires <= created:
        _malformed("header.expires is not after header.created")

    entries = header["recipients"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECIPIENTS:
        _malformed(f"header.recipients must be a list of 1 to {MAX_RECIPIENTS} entries")
    recipients: list[_Recipient] = []
    for i, item in enumerate(entries):
        where = f"header.recipients[{i}]"
        entry = _exact_keys(item, _RECIPIENT_KEYS, where)
        wrapped = _b64_field(entry, "wrapped_key", where)
        if len(wrapped) != _WRAPPED_LEN:
            _malformed(f"{where}.wrapped_key has the wrong length")
        recipients.append(
            _Recipient(
                agency=_field(entry, "agency", _AGENCY_RE, where),
                kid=_field(entry, "kid", _KID_RE, where),
                wrapped_key=wrapped,
            )
        )
    if len({r.agency for r in recipients}) != len(recipients):
        _malformed("header.recipients lists an agency twice")

    ciphertext = _b64_field(doc, "ciphertext", "envelope")
    if len(ciphertext) < _NONCE_LEN + _TAG_LEN:
        _malformed("envelope.ciphertext is too short")
    signature = _b64_field(doc, "signature", "envelope")
    if len(signature) != _SIG_LEN:
        _malformed("envelope.signature has the wrong length")
    try:
        header_bytes = canonical_json(header)
    except ValueError:
        _malformed("header has no canonical form")
    return _Parsed(
        header=header,
        header_bytes=header_bytes,
        id=env_id,
        sender=sender,
        sender_kid=sender_kid,
        recipients=tuple(recipients),
        created=created,
        expires=expires,
        content_type=content_type,
        plaintext_sha256=plaintext_sha256,
        ciphertext=ciphertext,
        signature=signature,
        signature_text=doc["signature"],
    )


def envelope_id(envelope: Mapping[str, Any] | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The envelope id, after the size and structure checks (for dedup).

    The id is not authenticated yet; use it to find duplicates, never to trust.
    Raises :class:`EnvelopeTooLarge` or :class:`MalformedEnvelope`.
    """
    return _parse(_load(envelope, max_bytes)).id


def open_envelope(
    envelope: Mapping[str, Any] | bytes,
    *,
    recipient: str,
    keys: KeyResolver,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> OpenedEnvelope:
    """Check and decrypt ``envelope`` for the agency ``recipient``.

    Checks run cheap first (size, structure, expiry, recipient, signature,
    decryption; see the module docstring) and the first failure raises an
    :class:`EnvelopeRejected` subclass. Errors raised by ``keys`` that are not
    :class:`EnvelopeRejected` propagate unchanged (they are our fault, not the
    envelope's).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    # 1-2. size, structure
    env = _parse(_load(envelope, max_bytes))
    # 3. time window
    if now >= env.expires:
        raise EnvelopeExpired(f"envelope {env.id} expired at {env.header['expires']}")
    if env.created > now + max_clock_skew:
        raise EnvelopeNotYetValid(
            f"envelope {env.id} is created at {env.header['created']}, in the future"
        )
    # 4. addressed to us?
    ours = next((r for r in env.recipients if r.agency == recipient), None)
    if ours is None:
        raise WrongRecipient(f"envelope {env.id} is not addressed to {recipient}")
    # 5. signature (the resolver raises UnknownKey / RevokedKey)
    signed = {"header": env.header, "ciphertext_sha256": sha256_hex(env.ciphertext)}
    public_key = keys.signing_key(env.sender, env.sender_kid)
    try:
        public_key.verify(env.signature, _SIGN_PREFIX + canonical_json(signed))
    except InvalidSignature:
        raise BadSignature(
            f"signature of envelope {env.id} by {env.sender} ({env.sender_kid}) does not verify"
        ) from None
    # 6. decryption (the resolver raises WrongRecipient / UnknownKey)
    private_key = keys.decryption_key(ours.agency, ours.kid)
    info = _wrap_info(env.id, env.sender, ours.agency, ours.kid)
    try:
        cek = _HPKE.decrypt(ours.wrapped_key, private_key, info=info)
        if len(cek) != _CEK_LEN:
            raise ValueError("content key has the wrong length")
        nonce, body = env.ciphertext[:_NONCE_LEN], env.ciphertext[_NONCE_LEN:]
        plaintext = AESGCM(cek).decrypt(nonce, body, env.header_bytes)
    except (InvalidTag, ValueError):
        raise DecryptionFailed(
            f"envelope {env.id} does not decrypt with {ours.agency}'s key {ours.kid}"
        ) from None
    digest = sha256_hex(plaintext)
    if not hmac.compare_digest(digest, env.plaintext_sha256):
        raise DecryptionFailed(f"envelope {env.id} plaintext does not match its signed digest")
    try:
        inner = parse_json(plaintext)
        canonical = canonical_json(inner)
    except (ValueError, RecursionError):
        _malformed(f"envelope {env.id} plaintext is not JSON")
    if (
        canonical != plaintext
        or not isinstance(inner, dict)
        or inner.keys() != {"payload", "salt"}
        or not isinstance(inner["payload"], dict)
        or not isinstance(inner["salt"], str)
    ):
        _malformed(f"envelope {env.id} plaintext is not a canonical payload object")
    return OpenedEnvelope(
        id=env.id,
        sender=env.sender,
        sender_kid=env.sender_kid,
        recipient=ours.agency,
        recipients=tuple(r.agency for r in env.recipients),
        created=env.created,
        expires=env.expires,
        content_type=env.content_type,
        payload=inner["payload"],
        payload_digest=digest,
        signed_header=signed,
        signature=env.signature_text,
        payload_salt=inner["salt"],
    )
