"""Key material: generation, ids, fingerprints, and private keys sealed at rest.

Private keys are written as PKCS#8 PEM encrypted with the node's key
passphrase (``BestAvailableEncryption``), in files created with mode 0600.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from accord.crypto import keyid
from accord.crypto.keyid import fingerprint
from accord.errors import ConfigurationError, CryptoError

Alg = Literal["ed25519", "x25519"]
PrivateKey = Ed25519PrivateKey | X25519PrivateKey
__all__ = ["Alg", "PrivateKey", "b64url", "b64url_decode", "fingerprint", "generate",
           "load_private_key", "load_public", "make_kid", "public_raw", "save_private_key"]


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


def save_private_key(key: PrivateKey, path: Path, passphrase: bytes) -> None:
    """Write the key sealed with the passphrase, mode 0600, never overwriting."""
    if not passphrase:
        raise ConfigurationError("an empty key passphrase is not allowed")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())


def load_private_key(path: Path, passphrase: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except (OSError, ValueError, TypeError) as exc:
        raise CryptoError(f"cannot open private key {path.name}: wrong passphrase or file") from exc
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise CryptoError(f"{path.name} is not an Ed25519 or X25519 key")
    return key


def load_public(alg: str, raw: bytes) -> Ed25519PublicKey | X25519PublicKey:
    try:
        if alg == "ed25519":
            return Ed25519PublicKey.from_public_bytes(raw)
        if alg == "x25519":
            return X25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise CryptoError(f"bad {alg} public key") from exc
    raise CryptoError(f"unknown key algorithm {alg!r}")
