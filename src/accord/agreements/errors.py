"""Errors of the agreements package, all in the one Accord error tree.

ValidationFailed
└── AgreementInvalid          422 agreement-invalid   (carries every issue found)
Conflict
└── AgreementConflict         409 agreement-conflict  (duplicate or overlapping versions)
NotFound
└── AgreementNotFound         404 agreement-not-found
├── DeadlineNotDefined        404 deadline-not-defined
ConfigurationError
└── AgreementsDirMissing      500 agreements-dir-missing
PolicyDenied                  403 policy-denied       (raised by Decision.require())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from accord.errors import ConfigurationError, Conflict, NotFound, PolicyDenied, ValidationFailed

if TYPE_CHECKING:
    from accord.agreements.domain import Decision
    from accord.agreements.validate import Issue

__all__ = [
    "AgreementConflict",
    "AgreementInvalid",
    "AgreementNotFound",
    "AgreementsDirMissing",
    "DeadlineNotDefined",
    "raise_denied",
]


class AgreementInvalid(ValidationFailed):
    """One or more agreement files are invalid; ``issues`` lists every problem."""

    slug = "agreement-invalid"
    title = "Agreement invalid"

    def __init__(self, issues: list[Issue], **extra: Any) -> None:
        self.issues = list(issues)
        first = self.issues[0] if self.issues else None
        detail = f"{len(self.issues)} problem(s) in agreements"
        if first is not None:
            detail += f"; first: {first}"
        super().__init__(detail, issues=[i.to_dict() for i in self.issues], **extra)


class AgreementConflict(Conflict):
    slug = "agreement-conflict"
    title = "Agreement versions conflict"


class AgreementNotFound(NotFound):
    slug = "agreement-not-found"
    title = "Agreement not found"


class DeadlineNotDefined(NotFound):
    slug = "deadline-not-defined"
    title = "No deadline defined"


class AgreementsDirMissing(ConfigurationError):
    slug = "agreements-dir-missing"
    title = "Agreements folder not configured"


def raise_denied(decision: Decision) -> NoReturn:
    """Raise :class:`PolicyDenied` carrying the decision's code, reason and basis."""
    raise PolicyDenied(
        decision.reason,
        reason=decision.code.value,
        basis=None if decision.basis is None else decision.basis.to_dict(),
    )
