"""Signed receipts: the receiver's proof that it accepted one envelope.

A receipt is ``{"body": {...}, "signature": "<base64url Ed25519>"}``; the
signature is by the *receiving agency's* Ed25519 key over
``b"accord-receipt/v1\\x00" + canonical_json(body)``. The body names the
envelope id, sender, recipient, the SHA-256 of the whole envelope (canonical
JSON) and of the signed plaintext commitment, and the time of receipt, so the
sender can later show exactly which bytes the recipient acknowledged having.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.crypto.canonical import canonical_json
from accord.errors import SignatureInvalid

__all__ = ["RECEIPT_TYPE", "sign_receipt", "verify_receipt"]

RECEIPT_TYPE = "accord-receipt"
_PREFIX = b"accord-receipt/v1\x00"
_BODY_KEYS = frozenset({
    "typ", "v", "envelope_id", "sender", "recipient", "content_type", "envelope_sha256",
    "payload_sha256", "received_at", "kid",
})


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_receipt(
    *, envelope_id: str, sender: str, recipient: str, content_type: str, envelope_sha256: str,
    payload_sha256: str, received_at: datetime, kid: str, key: Ed25519PrivateKey,
) -> dict[str, Any]:
    body = {
        "typ": RECEIPT_TYPE, "v": 1, "envelope_id": envelope_id, "sender": sender,
        "recipient": recipient, "content_type": content_type,
        "envelope_sha256": envelope_sha256, "payload_sha256": payload_sha256,
        "received_at": received_at.isoformat(), "kid": kid,
    }
    return {"body": body, "signature": _b64u(key.sign(_PREFIX + canonical_json(body)))}


def verify_receipt(
    receipt: Mapping[str, Any], *, envelope_id: str, recipient: str, envelope_sha256: str,
    public_key: Ed25519PublicKey,
) -> None:
    """Check a receipt for the envelope we sent; raises :class:`SignatureInvalid`."""
    body = receipt.get("body")
    signature = receipt.get("signature")
    if not isinstance(body, dict) or body.keys() != _BODY_KEYS or not isinstance(signature, str):
        raise SignatureInvalid("the receipt is not well formed")
    if body["typ"] != RECEIPT_TYPE or body["v"] != 1:
        raise SignatureInvalid("not an Accord receipt")
    if body["envelope_id"] != envelope_id or body["recipient"] != recipient:
        raise SignatureInvalid("the receipt is for another envelope or recipient")
    if not hmac.compare_digest(str(body["envelope_sha256"]), envelope_sha256):
        raise SignatureInvalid("the receipt acknowledges other bytes than the envelope sent")
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public_key.verify(raw, _PREFIX + canonical_json(body))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid("the receipt's signature does not verify") from exc
