"""Key ids and fingerprints for agency and node public keys.

Both are derived from the *raw* public key (32 bytes for Ed25519 and X25519,
``public_bytes(Encoding.Raw, PublicFormat.Raw)``), never from a PEM or DER
wrapping, so any implementation can recompute them.

``fingerprint(raw)``
    The full SHA-256 of the raw key as 64 lowercase hex digits, ungrouped: this
    is the form stored and compared (for pinning a peer, see
    :class:`accord.errors.FingerprintMismatch`). :func:`grouped_fingerprint`
    renders it for people reading it aloud: 16 groups of 4 uppercase hex digits
    separated by spaces.

``key_id(raw, alg)``
    ``"<alg>:<base64url, no padding, of the first 12 bytes of SHA-256(raw)>"``,
    e.g. ``"ed25519:3q2-7wAAAAAAAAAA"`` — 16 characters after the prefix. The
    prefix names the algorithm (the same 32 bytes could be either kind of
    key, so it cannot be inferred from ``raw``); the 96-bit truncated digest is
    ample to tell an agency's keys apart and is *not* a security boundary: a
    key id only selects a key, the signature or decryption then proves it. The
    key id is a prefix of the fingerprint (same digest), so an administrator can
    match the two by eye.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "KEY_ID_BYTES",
    "KeyAlg",
    "fingerprint",
    "grouped_fingerprint",
    "key_id",
    "key_id_of",
    "public_raw",
]

KeyAlg = Literal["ed25519", "x25519"]
KEY_ID_BYTES = 12
_RAW_LEN = 32


def _check_raw(public_raw: bytes) -> None:
    if not isinstance(public_raw, bytes | bytearray | memoryview):
        raise TypeError("public_raw must be bytes")
    if len(public_raw) != _RAW_LEN:
        raise ValueError(f"a raw Ed25519/X25519 public key is {_RAW_LEN} bytes")


def fingerprint(public_raw: bytes) -> str:
    """Full SHA-256 of the raw public key, 64 lowercase hex digits, ungrouped."""
    _check_raw(public_raw)
    return hashlib.sha256(public_raw).hexdigest()


def grouped_fingerprint(fp: str) -> str:
    """Render a fingerprint for people: ``"1A2B 3C4D ..."`` (groups of 4, uppercase)."""
    fp = fp.replace(" ", "").replace(":", "").upper()
    return " ".join(fp[i : i + 4] for i in range(0, len(fp), 4))


def key_id(public_raw: bytes, alg: KeyAlg) -> str:
    """``"<alg>:" + base64url(SHA-256(raw)[:12])`` without padding."""
    _check_raw(public_raw)
    if alg not in get_args(KeyAlg):
        raise ValueError(f"unknown key algorithm {alg!r}")
    digest = hashlib.sha256(public_raw).digest()[:KEY_ID_BYTES]
    return alg + ":" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_raw(public_key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey | X25519PublicKey) -> str:
    """:func:`key_id` of a key object, the algorithm taken from its type."""
    if isinstance(public_key, Ed25519PublicKey):
        return key_id(public_raw(public_key), "ed25519")
    if isinstance(public_key, X25519PublicKey):
        return key_id(public_raw(public_key), "x25519")
    raise TypeError(f"unsupported public key type {type(public_key).__name__}")
