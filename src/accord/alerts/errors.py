"""Errors of alerts::

    AccordError
    ├── ValidationFailed
    │   └── AlertInvalid              422 alert-invalid       a subject, type or date that cannot be
    ├── NotFound
    │   ├── AlertNotFound             404 alert-not-found
    │   └── HitNotFound               404 hit-not-found
    └── Conflict
        └── AlertNotActive            409 alert-not-active    only an active alert is withdrawn

Envelopes that carry alerts are refused with the exchange's own errors
(:class:`~accord.exchange.errors.PayloadInvalid`,
:class:`~accord.exchange.errors.ReceiverPolicyDenied`).
"""

from __future__ import annotations

from accord.errors import Conflict, NotFound, ValidationFailed

__all__ = ["AlertInvalid", "AlertNotActive", "AlertNotFound", "HitNotFound"]


class AlertInvalid(ValidationFailed):
    slug = "alert-invalid"
    title = "Alert invalid"


class AlertNotFound(NotFound):
    slug = "alert-not-found"
    title = "Alert not found"


class HitNotFound(NotFound):
    slug = "hit-not-found"
    title = "Hit not found"


class AlertNotActive(Conflict):
    slug = "alert-not-active"
    title = "Alert not active"
