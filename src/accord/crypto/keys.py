"""Key material: generation, ids, fingerprints, and private keys sealed at rest.

Sealing. A private key file holds the key's PKCS#8 DER encrypted with AES-256-GCM
(``cryptography``) under a 256-bit key derived from the node's key passphrase by
Argon2id (``argon2-cffi``), with a random 16-byte salt and a 12-byte nonce.
The cost is RFC 9106's low-memory profile (64 MiB, 3 passes, 4 lanes —
``argon2.profiles.RFC_9106_LOW_MEMORY``, the cost of our password hashes): memory-hard,
so a stolen key folder is as slow to attack with GPUs as a password hash. The file
is text, PEM-armoured::

    -----BEGIN ACCORD SEALED PRIVATE KEY-----
    base64( header ‖ AES-256-GCM ciphertext ‖ 16-byte tag )
    -----END ACCORD SEALED PRIVATE KEY-----

    header = b"ACCORDK1" ‖ time_cost ‖ memory_kib ‖ parallelism   (unsigned 32-bit, big-endian)
             ‖ salt (16 bytes) ‖ nonce (12 bytes)

The whole header is the AEAD's associated data, so the cost and salt cannot be
changed unseen; the cost read from a file is bounded (at most 4 GiB, 64 passes,
64 lanes) before anything is derived. A :class:`Sealer` gives the files it writes one
salt and derives each (salt, cost) once, so a node's keys made together open with one
Argon2id run. Files are created with mode 0600, never overwritten; only
:meth:`Sealer.reseal` replaces one, atomically, after the new file has been read back.

Why not PKCS#8 with more PBKDF2 rounds: ``cryptography`` (50) writes encrypted
PKCS#8 only through ``BestAvailableEncryption`` — PBES2, PBKDF2-SHA256 at 2,048
rounds, far below OWASP's 600,000 — and its ``encryption_builder`` serves OpenSSH
and PKCS#12 only; writing PBES2 DER by hand would be the custom code, not this
32-byte header.

Secrets that are not key pairs (the search's linkage secrets, docs/search-privacy.md) are
sealed the same way under their own label (``ACCORD SEALED SECRET``, magic ``ACCORDS1``):
:meth:`Sealer.seal_secret` / :meth:`Sealer.open_secret`, so a secret file never opens as a
private key or the other way round.

Legacy files — ``ENCRYPTED PRIVATE KEY`` PEM, as written before this format —
still open (:func:`read_private_key` reports them as legacy); ``accord keys reseal``
rewrites them in the current form.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import profiles
from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.crypto import keyid
from accord.crypto.keyid import fingerprint
from accord.errors import ConfigurationError, CryptoError

Alg = Literal["ed25519", "x25519"]
PrivateKey = Ed25519PrivateKey | X25519PrivateKey
__all__ = ["STANDARD_COST", "UNSAFE_TEST_COST", "Alg", "PrivateKey", "SealCost", "Sealer",
           "Unsealed",
           "b64url", "b64url_decode", "fingerprint", "generate", "load_private_key",
           "load_public", "make_kid", "public_raw", "read_private_key", "reseal_private_key",
           "save_private_key", "seal_private_key"]

SEALED_LABEL = b"ACCORD SEALED PRIVATE KEY"
SECRET_LABEL = b"ACCORD SEALED SECRET"
LEGACY_LABEL = b"ENCRYPTED PRIVATE KEY"
MAGIC = b"ACCORDK1"
SECRET_MAGIC = b"ACCORDS1"
_COST = struct.Struct(">III")
_SALT, _NONCE = 16, 12
_HEADER = len(MAGIC) + _COST.size + _SALT + _NONCE
_MAX_MEMORY_KIB, _MAX_TIME, _MAX_LANES = 4 * 1024 * 1024, 64, 64


@dataclass(frozen=True)
class SealCost:
    """The Argon2id cost of a sealed key: passes, memory (KiB), lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def weaker_than(self, other: SealCost) -> bool:
        return self.time_cost < other.time_cost or self.memory_kib < other.memory_kib


_rfc = profiles.RFC_9106_LOW_MEMORY
STANDARD_COST = SealCost(_rfc.time_cost, _rfc.memory_cost, _rfc.parallelism)
# Argon2's minimum: for test nodes only (settings refuse it outside mode=test).
UNSAFE_TEST_COST = SealCost(profiles.CHEAPEST.time_cost, profiles.CHEAPEST.memory_cost,
                            profiles.CHEAPEST.parallelism)


@dataclass(frozen=True)
class Unsealed:
    key: PrivateKey
    cost: SealCost | None  # None: a legacy PKCS#8 file (PBKDF2-SHA256, 2,048 rounds)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_raw(key: PrivateKey | Ed25519PublicKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey | X25519PrivateKey) else key
    return keyid.public_raw(pub)


def make_kid(alg: Alg, raw_public: bytes) -> str:
    """A short, stable key id (see :func:`accord.crypto.keyid.key_id`)."""
    return keyid.key_id(raw_public, alg)


def generate(alg: Alg) -> PrivateKey:
    return Ed25519PrivateKey.generate() if alg == "ed25519" else X25519PrivateKey.generate()


# -- sealing ------------------------------------------------------------------
def _armour(blob: bytes, label: bytes = SEALED_LABEL) -> bytes:
    body = base64.encodebytes(blob)  # 76-character lines
    return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label)


def _unarmour(data: bytes) -> tuple[bytes, bytes]:
    """(label, body) of a PEM block."""
    text = data.strip()
    if not text.startswith(b"-----BEGIN ") or b"-----\n" not in text:
        raise CryptoError("not a PEM file")
    first, _, rest = text.partition(b"\n")
    label = first[len(b"-----BEGIN "):].rstrip(b"-")
    return label, rest.rpartition(b"-----END ")[0]


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Sealer:
    """Seals and opens key files with one passphrase, running Argon2id once per salt.

    The files one sealer writes share its random salt (each has its own nonce), so the
    keys a node creates together — at ``init``, at a rotation — open with a single
    derivation; an attacker's cost per guessed passphrase is the same either way.
    Derived keys are kept for the sealer's life, like the private keys they open.
    """

    def __init__(self, passphrase: bytes, cost: SealCost = STANDARD_COST) -> None:
        if not passphrase:
            raise ConfigurationError("an empty key passphrase is not allowed")
        self._passphrase = passphrase
        self.cost = cost
        self._salt = os.urandom(_SALT)
        self._derived: dict[tuple[bytes, SealCost], AESGCM] = {}

    def _aead(self, salt: bytes, cost: SealCost) -> AESGCM:
        aead = self._derived.get((salt, cost))
        if aead is None:
            try:
                key = hash_secret_raw(self._passphrase, salt, time_cost=cost.time_cost,
                                      memory_cost=cost.memory_kib,
                                      parallelism=cost.parallelism, hash_len=32, type=Type.ID)
            except HashingError as exc:
                raise CryptoError(f"bad Argon2id parameters {cost}") from exc
            aead = self._derived[(salt, cost)] = AESGCM(key)
        return aead

    def _seal_blob(self, magic: bytes, plain: bytes) -> bytes:
        cost, nonce = self.cost, os.urandom(_NONCE)
        header = (magic + _COST.pack(cost.time_cost, cost.memory_kib, cost.parallelism)
                  + self._salt + nonce)
        return header + self._aead(self._salt, cost).encrypt(nonce, plain, header)

    def seal(self, key: PrivateKey) -> bytes:
        """The key sealed (the text of a key file)."""
        plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        return _armour(self._seal_blob(MAGIC, plain))

    def seal_secret(self, secret: bytes) -> bytes:
        """A secret that is not a key pair (a linkage secret) sealed, under its own label."""
        if not secret:
            raise CryptoError("an empty secret cannot be sealed")
        return _armour(self._seal_blob(SECRET_MAGIC, secret), SECRET_LABEL)

    def open_secret(self, data: bytes) -> bytes:
        """The secret of a file written by :meth:`seal_secret`."""
        label, body = _unarmour(data)
        if label != SECRET_LABEL:
            raise CryptoError(f"unexpected PEM block {label.decode(errors='replace')!r}")
        return self._open_blob(body, SECRET_MAGIC)[0]

    def save_secret(self, secret: bytes, path: Path) -> None:
        """Write a secret sealed, mode 0600, never overwriting."""
        sealed = self.seal_secret(secret)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(path, sealed)

    def read_secret(self, path: Path) -> bytes:
        try:
            return self.open_secret(path.read_bytes())
        except (OSError, ValueError, TypeError, CryptoError) as exc:
            raise CryptoError(
                f"cannot open secret {path.name}: wrong passphrase or file") from exc

    def open(self, data: bytes) -> Unsealed:
        """Open a key file's text, in the current form or the legacy PKCS#8 one."""
        label, body = _unarmour(data)
        if label == SEALED_LABEL:
            return self._open_sealed(body)
        if label != LEGACY_LABEL:
            raise CryptoError(f"unexpected PEM block {label.decode(errors='replace')!r}")
        key = serialization.load_pem_private_key(data, password=self._passphrase)
        if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
            raise CryptoError("not an Ed25519 or X25519 key")
        return Unsealed(key, None)

    def _open_sealed(self, body: bytes) -> Unsealed:
        plain, cost = self._open_blob(body, MAGIC)
        key = serialization.load_der_private_key(plain, password=None)
        if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
            raise CryptoError("not an Ed25519 or X25519 key")
        return Unsealed(key, cost)

    def _open_blob(self, body: bytes, magic: bytes) -> tuple[bytes, SealCost]:
        try:
            blob = base64.b64decode(body, validate=False)
        except binascii.Error as exc:
            raise CryptoError("bad base64") from exc
        if len(blob) < _HEADER + 16 or not blob.startswith(magic):
            raise CryptoError("not an Accord sealed key")
        header = blob[:_HEADER]
        cost = SealCost(*_COST.unpack_from(header, len(MAGIC)))
        if not (1 <= cost.time_cost <= _MAX_TIME and 1 <= cost.parallelism <= _MAX_LANES
                and 8 * cost.parallelism <= cost.memory_kib <= _MAX_MEMORY_KIB):
            raise CryptoError(f"Argon2id cost out of bounds: {cost}")
        salt = header[len(MAGIC) + _COST.size:len(MAGIC) + _COST.size + _SALT]
        nonce = header[-_NONCE:]
        try:
            plain = self._aead(salt, cost).decrypt(nonce, blob[_HEADER:], header)
        except InvalidTag as exc:
            raise CryptoError("wrong passphrase or damaged file") from exc
        return plain, cost

    def save(self, key: PrivateKey, path: Path) -> None:
        """Write the key sealed, mode 0600, never overwriting."""
        sealed = self.seal(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(path, sealed)

    def read(self, path: Path) -> Unsealed:
        try:
            return self.open(path.read_bytes())
        except (OSError, ValueError, TypeError, CryptoError) as exc:
            raise CryptoError(
                f"cannot open private key {path.name}: wrong passphrase or file") from exc

    def reseal(self, path: Path) -> bool:
        """Rewrite a legacy or more cheaply sealed key file; False when it needs nothing.

        The new file is written beside the old one (0600), read back and compared, then
        renamed over it: a crash leaves the old file or the new one, never neither.
        """
        old = self.read(path)
        if old.cost is not None and not old.cost.weaker_than(self.cost):
            return False
        sealed = self.seal(old.key)
        if self.open(sealed).key.private_bytes_raw() != old.key.private_bytes_raw():
            raise CryptoError(f"resealing {path.name} did not round-trip")
        tmp = path.with_name(path.name + ".reseal")
        tmp.unlink(missing_ok=True)  # left by an interrupted reseal: the old file is intact
        _write_new(tmp, sealed)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return True


# One-off helpers (each runs its own derivation).
def seal_private_key(key: PrivateKey, passphrase: bytes, cost: SealCost = STANDARD_COST) -> bytes:
    return Sealer(passphrase, cost).seal(key)


def open_private_key(data: bytes, passphrase: bytes) -> Unsealed:
    return Sealer(passphrase).open(data)


def save_private_key(
    key: PrivateKey, path: Path, passphrase: bytes, cost: SealCost = STANDARD_COST
) -> None:
    Sealer(passphrase, cost).save(key, path)


def read_private_key(path: Path, passphrase: bytes) -> Unsealed:
    return Sealer(passphrase).read(path)


def load_private_key(path: Path, passphrase: bytes) -> PrivateKey:
    return read_private_key(path, passphrase).key


def reseal_private_key(path: Path, passphrase: bytes, cost: SealCost = STANDARD_COST) -> bool:
    return Sealer(passphrase, cost).reseal(path)


def load_public(alg: str, raw: bytes) -> Ed25519PublicKey | X25519PublicKey:
    try:
        if alg == "ed25519":
            return Ed25519PublicKey.from_public_bytes(raw)
        if alg == "x25519":
            return X25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise CryptoError(f"bad {alg} public key") from exc
    raise CryptoError(f"unknown key algorithm {alg!r}")
