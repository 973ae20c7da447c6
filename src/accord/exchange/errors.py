"""Errors of the exchange.

The envelope module (:mod:`accord.crypto.envelope`) raises the cryptographic
rejections; the exchange adds the three a receiver can only judge with its
store and its agreements. All are :class:`EnvelopeRejected`, so a problem
document always carries a machine-readable ``reason``::

    AccordError
    ├── EnvelopeRejected                     (accord.crypto.envelope)
    │   ├── EnvelopeReplayed          409 replayed        an id already used by another envelope
    │   ├── PayloadInvalid            422 invalid-payload the decrypted payload fails validation
    │   └── ReceiverPolicyDenied      403 policy-denied   the receiver's agreements refuse it
    ├── ValidationFailed                     a composed message is not well formed
    │   └── UnknownRecipient          422 unknown-recipient
    ├── Conflict
    │   └── NotDeadLetter             409 not-dead-letter  only a dead letter is queued again
    └── NotFound
        ├── MessageNotFound           404 message-not-found
        └── RecipientNotFound         404 recipient-not-found
"""

from __future__ import annotations

from accord.crypto.envelope import EnvelopeRejected
from accord.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "EnvelopeReplayed",
    "MessageNotFound",
    "NotDeadLetter",
    "PayloadInvalid",
    "ReceiverPolicyDenied",
    "RecipientNotFound",
    "UnknownRecipient",
]


class EnvelopeReplayed(EnvelopeRejected):
    status = 409
    slug = "envelope-replayed"
    title = "Envelope id already used"
    default_reason = "replayed"


class PayloadInvalid(EnvelopeRejected):
    status = 422
    slug = "envelope-invalid-payload"
    title = "Envelope payload invalid"
    default_reason = "invalid-payload"


class ReceiverPolicyDenied(EnvelopeRejected):
    status = 403
    slug = "envelope-policy-denied"
    title = "Refused by the receiver's policy"
    default_reason = "policy-denied"


class UnknownRecipient(ValidationFailed):
    slug = "unknown-recipient"
    title = "Unknown recipient"


class MessageNotFound(NotFound):
    slug = "message-not-found"
    title = "Message not found"


class RecipientNotFound(NotFound):
    slug = "recipient-not-found"
    title = "Recipient not found"


class NotDeadLetter(Conflict):
    slug = "not-dead-letter"
    title = "Recipient is not a dead letter"
