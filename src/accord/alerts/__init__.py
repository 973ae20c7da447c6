"""Alerts: persons and objects sought, propagated to peers, checked on every search and record.

Use cases in :mod:`accord.alerts.services` (importing it registers the content
handlers and the search and record checks), the hit procedure in
:mod:`accord.alerts.checks`, receiving in :mod:`accord.alerts.receiving`,
reminders in :mod:`accord.alerts.reminders`. See ``docs/alerts.md``.
"""

from accord.alerts.domain import (
    CONTENT_ALERT,
    CONTENT_HIT,
    CONTENT_WITHDRAWAL,
    AlertState,
    AlertType,
    HitKind,
)
from accord.alerts.errors import AlertInvalid, AlertNotActive, AlertNotFound, HitNotFound

__all__ = [
    "CONTENT_ALERT",
    "CONTENT_HIT",
    "CONTENT_WITHDRAWAL",
    "AlertInvalid",
    "AlertNotActive",
    "AlertNotFound",
    "AlertState",
    "AlertType",
    "HitKind",
    "HitNotFound",
]
