"""Small secrets: password hashing (Argon2id), TOTP, opaque tokens, sealed TOTP seeds."""

from __future__ import annotations

import base64
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


def totp_step(secret: str, code: str, at_unix: float, *, window: int = 1) -> int | None:
    """The time step (RFC 6238 counter, 30 s) whose code ``code`` is, or None.

    Accepts the current step and ``window`` steps either side (clock drift). The
    caller refuses a step at or below the last one it accepted, so a code is good
    once (RFC 6238 §5.2). Every candidate is compared, in constant time each.
    """
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = int(at_unix) // totp.interval
    matched = None
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    return matched


def totp_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` provisioning URI an authenticator app reads (or a QR code shows)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def new_enrolment_code() -> str:
    """A one-time enrolment code: 100 random bits as five groups of four base32 letters."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")[:20]
    return "-".join(raw[i:i + 4] for i in range(0, 20, 4))


def enrolment_code_hash(code: str) -> str:
    """Codes are random: a plain SHA-256 of the normalised code is stored, as for tokens."""
    return token_hash(code.strip().upper().replace("-", "").replace(" ", ""))


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
