"""Secure messaging between agencies, across nodes and on one node.

Messages are sealed into envelopes (:mod:`accord.crypto.envelope`), put in a
transactional outbox, delivered by :class:`accord.exchange.worker.DeliveryWorker`
through a :class:`accord.exchange.transport.Transport`, and received by
:func:`accord.exchange.services.receive_envelope`, which answers with a signed
receipt. Keys of peers that rotated are learned on first sight
(:mod:`accord.exchange.refresh`); unauthenticated rejections are audited folded
(:mod:`accord.exchange.rejections`). See ``docs/exchange.md``.

Public names: the domain vocabulary and errors here; use cases in
:mod:`accord.exchange.services`; the worker and transports in their modules
(they import the web-free service layer, not the other way round).
"""

from accord.exchange.domain import (
    CONTENT_MESSAGE,
    CONTENT_STATUS,
    FREE_TEXT_CATEGORY,
    MessagePayload,
    Priority,
    RecipientState,
    StatusPayload,
    advance,
    backoff_delay,
    categories_of,
)
from accord.exchange.errors import (
    EnvelopeReplayed,
    MessageNotFound,
    NotDeadLetter,
    PayloadInvalid,
    ReceiverPolicyDenied,
    RecipientNotFound,
    UnknownRecipient,
)

__all__ = [
    "CONTENT_MESSAGE",
    "CONTENT_STATUS",
    "FREE_TEXT_CATEGORY",
    "EnvelopeReplayed",
    "MessageNotFound",
    "MessagePayload",
    "NotDeadLetter",
    "PayloadInvalid",
    "Priority",
    "ReceiverPolicyDenied",
    "RecipientNotFound",
    "RecipientState",
    "StatusPayload",
    "UnknownRecipient",
    "advance",
    "backoff_delay",
    "categories_of",
]
