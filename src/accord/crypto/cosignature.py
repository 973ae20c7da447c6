"""Timestamped Ed25519 cosignatures of checkpoints (C2SP tlog-cosignature v1).

A *cosignature* (https://c2sp.org/tlog-cosignature) is a signed-note
signature line added to a checkpoint by a *cosigner* (a witness) that has
checked the checkpoint is consistent with what it saw of the log before::

    — <cosigner name> base64(key id || timestamp || Ed25519 signature)

* the key id is ``SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]``
  (signature type 0x04, unlike 0x01 of plain note signatures, so the same key
  never makes a cosignature that reads as a note signature or back);
* the timestamp is a big-endian u64 of POSIX seconds, at most 2**63 - 1;
* the signed message is ``cosignature/v1\\n``, ``time <timestamp>\\n`` and the
  whole checkpoint body (origin, size, root hash, extension lines; each ending
  in a newline; without the note's signature lines).

A v1 cosignature states that, at that time, this was the largest consistent
tree head the cosigner had seen for the log. Signature lines of other keys in
the note are ignored (as the spec asks).

:func:`cosign` makes a line, :func:`open_cosignature` finds and checks the line
of one cosigner in a note and returns its time. Checks raise
:class:`~accord.errors.SignatureInvalid`; they never return ``False``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import SignatureInvalid, ValidationFailed

__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosignature",
    "cosign",
    "cosignature_key_id",
    "cosignature_message",
    "cosigner_vkey",
    "open_cosignature",
    "split_note",
]

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 cosignatures (C2SP tlog-cosignature)."""

_SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_TIMESTAMP = (1 << 63) - 1
_BLOB_SIZE = 4 + 8 + 64


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosignature_key_id(name: str, key: Ed25519PublicKey) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_COSIGNATURE_V1]) + _raw(key)).digest()[:4]


def cosigner_vkey(name: str, key: Ed25519PublicKey) -> str:
    """The cosigner's verifier key, ``name+hexkeyid+base64(0x04 || public key)``."""
    encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + _raw(key)).decode("ascii")
    return f"{name}+{cosignature_key_id(name, key).hex()}+{encoded}"


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode("utf-8")


def _check_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise ValidationFailed(f"invalid cosigner name {name!r}")


def cosign(checkpoint_text: str, *, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of ``name`` over a checkpoint body."""
    _check_name(name)
    if not checkpoint_text.endswith("\n"):
        raise ValidationFailed("a checkpoint body ends with a newline")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValidationFailed(f"cosignature timestamp {timestamp} out of range")
    signature = key.sign(cosignature_message(checkpoint_text, timestamp))
    blob = cosignature_key_id(name, key.public_key()) + struct.pack(">Q", timestamp) + signature
    return f"{_SIG_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text and its signature lines as ``(name, decoded blob)``.

    Raises :class:`SignatureInvalid` when the note is malformed (no blank line
    before the signatures, a line without ``— ``, bad base64).
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise SignatureInvalid("malformed note: no signature block")
    text, block = note[: split + 1], note[split + 2 : -1]
    lines: list[tuple[str, bytes]] = []
    for number, line in enumerate(block.split("\n"), start=1):
        if not line.startswith(_SIG_PREFIX):
            raise SignatureInvalid(f"malformed note: signature line {number} lacks '— '")
        name, _, encoded = line[len(_SIG_PREFIX):].partition(" ")
        try:
            blob = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise SignatureInvalid(f"malformed note: bad base64 on signature line {number}") from exc
        lines.append((name, blob))
    return text, lines


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who, and when (POSIX seconds)."""

    name: str
    timestamp: int


def open_cosignature(note: str, *, name: str, key: Ed25519PublicKey) -> Cosignature:
    """Find the cosignature of ``name`` with ``key`` in ``note`` and check it.

    Raises :class:`SignatureInvalid` when there is none, or when it does not verify.
    """
    text, lines = split_note(note)
    key_id = cosignature_key_id(name, key)
    for line_name, blob in lines:
        if line_name != name or blob[:4] != key_id:
            continue  # another signer: ignored
        if len(blob) != _BLOB_SIZE:
            raise SignatureInvalid(f"cosignature by {name} has {len(blob)} bytes, want {_BLOB_SIZE}")
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > _MAX_TIMESTAMP:
            raise SignatureInvalid(f"cosignature by {name} has a timestamp out of range")
        try:
            key.verify(blob[12:], cosignature_message(text, timestamp))
        except InvalidSignature as exc:
            raise SignatureInvalid(f"cosignature by {name} does not verify") from exc
        return Cosignature(name, timestamp)
    raise SignatureInvalid(f"the note carries no cosignature by {name} with this key")
