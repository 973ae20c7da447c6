"""C2SP signed notes and transparency-log checkpoints, with Ed25519.

A *signed note* (https://c2sp.org/signed-note) is UTF-8 text ending in a
newline, a blank line, then one or more signature lines::

    <text, ending in a newline>

    — <key name> base64(4-byte key id || Ed25519 signature over the text)

The key id is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` and a
verifier key is written ``name+hexkeyid+base64(0x01 || public key)``.

A *checkpoint* (https://c2sp.org/tlog-checkpoint) is a signed note whose text
is the log's origin, the decimal tree size, the base64 root hash, and optional
extension lines. Accord signs the head of its audit log this way, so any
C2SP-aware tool (and any witness) can check it.

Opening a note is a check and raises :class:`~accord.errors.SignatureInvalid`
(the note is malformed, a known key's signature is bad, or no known key signed
it); signatures by unknown keys are ignored, as the spec requires. Parsing a
checkpoint body raises :class:`~accord.errors.ValidationFailed`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import SignatureInvalid, ValidationFailed

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 signatures (C2SP signed-note)."""

MAX_SIGNATURES = 100
"""Notes with more signature lines than this are refused (the spec asks for >= 16)."""

_SIG_PREFIX = "\u2014 "  # em dash, space
_KEY_ID_SIZE = 4
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_HASH_SIZE = 32
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, public: bytes) -> bytes:
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public
    return hashlib.sha256(data).digest()[:_KEY_ID_SIZE]


def _name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid key name, or None when it is."""
    if not name:
        return "key name is empty"
    if "+" in name:
        return "key name contains '+'"
    if any(ch.isspace() for ch in name):
        return "key name contains a space"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "key name contains a control character"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        return "key name is not valid UTF-8"
    return None


def _text_problem(text: str) -> str | None:
    """Why ``text`` may not appear in a note, or None when it may."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 and ch != "\n":
            return f"control character U+{code:04X}"
        if 0xD800 <= code <= 0xDFFF:
            return "text is not valid UTF-8 (lone surrogate)"
    return None


def _b64decode(value: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4): raises ValueError."""
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError(str(exc)) from exc
    if base64.b64encode(decoded).decode("ascii") != value:
        raise ValueError("non-canonical base64")
    return decoded


class NoteSigner:
    """A named Ed25519 key that signs notes."""

    __slots__ = ("_key", "_public", "key_id", "name")

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        problem = _name_problem(name)
        if problem:
            raise ValidationFailed(f"invalid signer name {name!r}: {problem}")
        self.name: str = name
        self._key = key
        self._public = _raw_public(key.public_key())
        self.key_id: bytes = _key_id(name, self._public)

    def verifier_key(self) -> str:
        """The verifier key, ``name+hexkeyid+base64(0x01 || public key)``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self._public).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier(self) -> NoteVerifier:
        """The matching :class:`NoteVerifier`."""
        return NoteVerifier.from_public_key(self.name, self._key.public_key())

    def sign(self, text: bytes) -> bytes:
        """The raw Ed25519 signature over ``text`` (without the key id)."""
        return self._key.sign(text)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id.hex()})"


class NoteVerifier:
    """A named Ed25519 public key that verifies note signatures."""

    __slots__ = ("_key", "key_id", "name")

    def __init__(self, name: str, key: Ed25519PublicKey) -> None:
        problem = _name_problem(name)
        if problem:
            raise ValidationFailed(f"invalid verifier name {name!r}: {problem}")
        self.name: str = name
        self._key = key
        self.key_id: bytes = _key_id(name, _raw_public(key))

    @classmethod
    def from_public_key(cls, name: str, key: Ed25519PublicKey) -> NoteVerifier:
        return cls(name, key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key ``name+hexkeyid+base64(0x01 || public key)``.

        The key id must match the one computed from the name and key.
        """
        name, sep1, rest = vkey.partition("+")
        hex_id, sep2, encoded = rest.partition("+")
        if not (sep1 and sep2):
            raise ValidationFailed("malformed verifier key: want name+keyid+key")
        problem = _name_problem(name)
        if problem:
            raise ValidationFailed(f"malformed verifier key: {problem}")
        if not _HEX_KEY_ID.fullmatch(hex_id):
            raise ValidationFailed("malformed verifier key: key id is not 8 lowercase hex digits")
        try:
            raw = _b64decode(encoded)
        except ValueError as exc:
            raise ValidationFailed(f"malformed verifier key: bad base64 ({exc})") from exc
        if len(raw) != 1 + _ED25519_KEY_SIZE:
            raise ValidationFailed(
                f"malformed verifier key: want {1 + _ED25519_KEY_SIZE} key bytes, got {len(raw)}"
            )
        if raw[0] != ALG_ED25519:
            raise ValidationFailed(
                f"unsupported verifier key: signature type 0x{raw[0]:02x}, want Ed25519 (0x01)"
            )
        try:
            public = Ed25519PublicKey.from_public_bytes(raw[1:])
        except ValueError as exc:
            raise ValidationFailed(f"malformed verifier key: {exc}") from exc
        verifier = cls(name, public)
        if verifier.key_id.hex() != hex_id:
            raise ValidationFailed(
                f"malformed verifier key: key id {hex_id} does not match the key "
                f"({verifier.key_id.hex()})"
            )
        return verifier

    def verify(self, text: bytes, signature: bytes) -> None:
        """Check a raw Ed25519 signature over ``text``; raise SignatureInvalid."""
        if len(signature) != _ED25519_SIG_SIZE:
            raise SignatureInvalid(
                f"signature by {self.name} has {len(signature)} bytes, want {_ED25519_SIG_SIZE}"
            )
        try:
            self._key.verify(signature, text)
        except InvalidSignature as exc:
            raise SignatureInvalid(f"signature by {self.name} does not verify") from exc

    def __repr__(self) -> str:
        return f"NoteVerifier(name={self.name!r}, key_id={self.key_id.hex()})"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and the names of the known keys that signed it."""

    text: str
    signers: tuple[str, ...]


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer."""
    if not signers:
        raise ValidationFailed("a note needs at least one signer")
    if not text.endswith("\n"):
        raise ValidationFailed("note text must end with a newline")
    problem = _text_problem(text)
    if problem:
        raise ValidationFailed(f"note text not allowed: {problem}")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        blob = signer.key_id + signer.sign(message)
        lines.append(f"{_SIG_PREFIX}{signer.name} {base64.b64encode(blob).decode('ascii')}\n")
    return text + "\n" + "".join(lines)


def open_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> Note:
    """Verify a signed note against known keys and return its text.

    Raises :class:`SignatureInvalid` when the note is malformed, when a
    signature by a known key (same name *and* key id) fails, or when no known
    key signed it. Signatures by unknown keys are ignored.
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if slot in known and known[slot] is not verifier:
            raise ValidationFailed(
                f"two verifiers share name {verifier.name} and key id {verifier.key_id.hex()}"
            )
        known[slot] = verifier

    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureInvalid("malformed note: not valid UTF-8") from exc
    problem = _text_problem(note)
    if problem:
        raise SignatureInvalid(f"malformed note: {problem}")

    split = note.rfind("\n\n")
    if split < 0:
        raise SignatureInvalid("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise SignatureInvalid("malformed note: signature block missing or not newline-terminated")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise SignatureInvalid(f"malformed note: more than {MAX_SIGNATURES} signatures")

    message = text.encode("utf-8")
    verified: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIG_PREFIX):
            raise SignatureInvalid(f"malformed note: signature line {number} lacks '— '")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if _name_problem(name):
            raise SignatureInvalid(f"malformed note: bad key name on signature line {number}")
        try:
            blob = _b64decode(encoded)
        except ValueError as exc:
            raise SignatureInvalid(
                f"malformed note: bad base64 on signature line {number}"
            ) from exc
        if len(blob) <= _KEY_ID_SIZE:
            raise SignatureInvalid(f"malformed note: signature line {number} is too short")
        slot = (name, blob[:_KEY_ID_SIZE])
        match = known.get(slot)
        if match is None or slot in seen:
            continue  # unknown key (ignored, per spec) or a repeated signature
        seen.add(slot)
        match.verify(message, blob[_KEY_ID_SIZE:])
        verified.append(name)

    if not verified:
        raise SignatureInvalid("note is not signed by any known key")
    return Note(text=text, signers=tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A transparency-log checkpoint (C2SP tlog-checkpoint): a signed tree head."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise ValidationFailed("checkpoint origin is empty")
        if "\n" in self.origin or _text_problem(self.origin):
            raise ValidationFailed("checkpoint origin must be one line of text")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ValidationFailed("checkpoint size must be an integer")
        if not 0 <= self.size < 1 << 64:
            raise ValidationFailed(f"checkpoint size {self.size} out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _HASH_SIZE:
            raise ValidationFailed(f"checkpoint root hash must be {_HASH_SIZE} bytes")
        for extension in self.extensions:
            if not extension or "\n" in extension or _text_problem(extension):
                raise ValidationFailed("checkpoint extension lines must be non-empty single lines")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root hash, extensions, each ending in newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly; raises :class:`ValidationFailed`."""
        if not text.endswith("\n"):
            raise ValidationFailed("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValidationFailed(f"checkpoint needs at least 3 lines, got {len(lines)}")
        origin, size_line, root_line, *extensions = lines
        if not _DECIMAL.fullmatch(size_line):
            raise ValidationFailed(f"checkpoint tree size {size_line!r} is not a decimal number")
        try:
            root = _b64decode(root_line)
        except ValueError as exc:
            raise ValidationFailed(f"checkpoint root hash is not base64: {exc}") from exc
        return cls(origin=origin, size=int(size_line), root_hash=root, extensions=tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a note signed by ``signer``."""
    return sign_note(cp.to_text(), [signer])


def open_checkpoint(
    note: str | bytes, verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it.

    The checkpoint's origin must equal ``origin`` (default: the verifier's key
    name, which the spec says the log's origin should be), so a checkpoint of
    another log signed by the same key is refused with :class:`SignatureInvalid`.
    """
    opened = open_note(note, [verifier])
    checkpoint = Checkpoint.parse(opened.text)
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise SignatureInvalid(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {expected!r}"
        )
    return checkpoint
