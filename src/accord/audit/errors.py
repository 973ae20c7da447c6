"""Errors of the audit trail and of witnessing.

``AuditLogDamaged`` stops any action that must be audited when the log cannot
take an entry safely (a row already stands at the next index, the head went
down under a running process): the action fails loudly rather than proceeding
unaudited. The witness errors carry the statuses of C2SP tlog-witness
(https://c2sp.org/tlog-witness)::

    AccordError
    ├── AuditLogDamaged            503 audit-log-damaged     run `accord audit verify`
    ├── WitnessBadRequest          400 witness-bad-request   malformed add-checkpoint, old size > size
    ├── PermissionDenied
    │   └── WitnessUntrusted       403 witness-untrusted     no trusted key signed the checkpoint
    ├── NotFound
    │   └── WitnessUnknownLog      404 witness-unknown-log   the origin is no pinned peer's log
    ├── Conflict
    │   └── WitnessStaleSize       409 witness-stale-size    old size is not the size held (``size``)
    └── WitnessInconsistent        422 witness-inconsistent  the consistency proof does not verify
"""

from __future__ import annotations

from accord.errors import AccordError, Conflict, NotFound, PermissionDenied

__all__ = [
    "AuditLogDamaged",
    "WitnessBadRequest",
    "WitnessInconsistent",
    "WitnessStaleSize",
    "WitnessUnknownLog",
    "WitnessUntrusted",
]


class AuditLogDamaged(AccordError):
    status = 503
    slug = "audit-log-damaged"
    title = "Audit log damaged"


class WitnessBadRequest(AccordError):
    status = 400
    slug = "witness-bad-request"
    title = "Bad add-checkpoint request"


class WitnessUntrusted(PermissionDenied):
    slug = "witness-untrusted"
    title = "Checkpoint not signed by a trusted key"


class WitnessUnknownLog(NotFound):
    slug = "witness-unknown-log"
    title = "Unknown log"


class WitnessStaleSize(Conflict):
    """The old size is not the size of the checkpoint held; ``size`` is that size."""

    slug = "witness-stale-size"
    title = "Old size does not match"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail, size=size)
        self.size = size


class WitnessInconsistent(AccordError):
    status = 422
    slug = "witness-inconsistent"
    title = "Checkpoint inconsistent with the one held"
