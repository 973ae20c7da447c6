"""Small secrets: password hashing (Argon2id), TOTP, opaque tokens, sealed TOTP seeds."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile defaults

# Used to spend the same time on unknown users as on known ones.
DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def check_totp(secret: str, code: str, at_unix: float) -> bool:
    """Accept the current 30-second step and one step either side (clock drift)."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    return any(
        hmac.compare_digest(totp.at(int(at_unix) + drift), code) for drift in (-30, 0, 30)
    )


def totp_now(secret: str, at_unix: float) -> str:
    return str(pyotp.TOTP(secret).at(int(at_unix)))


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """Tokens are 256 random bits: a plain SHA-256 is a sufficient one-way store."""
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """AES-256-GCM under a key derived from the node secret (HKDF-SHA256)."""

    def __init__(self, node_secret: bytes, purpose: bytes) -> None:
        self._aead = AESGCM(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"accord:" + purpose)
            .derive(node_secret)
        )

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def open(self, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], None)
