"""The one error tree of Accord.

Every error the domain raises is an :class:`AccordError`. The web edge turns
each into an RFC 9457 problem document with a single handler
(:mod:`accord.web.problems`); the command line prints ``title: detail`` and
exits non-zero. The domain never raises HTTP errors, it raises these.

    AccordError                      500 internal
    ├── ConfigurationError           500 configuration
    ├── ValidationFailed             422 validation
    ├── NotFound                     404 not-found
    ├── Conflict                     409 conflict
    ├── AuthenticationError          401 (see subclasses)
    │   ├── NotAuthenticated         401 not-authenticated
    │   ├── LoginFailed              401 login-failed (one answer for every cause)
    │   ├── EnrolmentFailed          401 enrolment-failed (one answer for every cause)
    │   ├── SessionExpired           401 session-expired
    │   └── TokenExpired             401 token-expired
    ├── PermissionDenied             403 forbidden
    │   ├── TokenOutOfScope          403 token-out-of-scope
    │   └── PolicyDenied             403 policy-denied
    ├── CryptoError                  400 crypto
    │   ├── SignatureInvalid         400 bad-signature
    │   └── ProofInvalid             400 bad-proof
    ├── Unavailable                  503 unavailable (retry later)
    │   └── WriterBusy               503 writer-busy
    ├── PeerError                    502 peer
    │   └── FingerprintMismatch      400 fingerprint-mismatch
    └── IntegrityError               500 integrity (tampering detected)
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://accord.example/problems/"


class AccordError(Exception):
    """Base of every Accord error.

    ``detail`` is for a person; ``extra`` is merged into the problem document
    (machine-readable members such as ``reason`` or ``clause``). Never put a
    secret into either.
    """

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        for key, value in self.extra.items():
            if key not in doc:
                doc[key] = value
        return doc


class ConfigurationError(AccordError):
    slug = "configuration"
    title = "Configuration error"


class ValidationFailed(AccordError):
    status = 422
    slug = "validation"
    title = "Validation failed"


class NotFound(AccordError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(AccordError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class AuthenticationError(AccordError):
    status = 401
    slug = "not-authenticated"
    title = "Authentication required"


class NotAuthenticated(AuthenticationError):
    pass


class LoginFailed(AuthenticationError):
    """Every refused login, whatever the cause (unknown user, wrong password or code, a
    replayed code, a locked or not yet enrolled account): one answer, so the answer tells
    nothing about the account. The cause is in the audit trail."""

    slug = "login-failed"
    title = "Login failed"


class EnrolmentFailed(AuthenticationError):
    """Every refused enrolment (unknown user, wrong or expired code, already enrolled)."""

    slug = "enrolment-failed"
    title = "Enrolment failed"


class SessionExpired(AuthenticationError):
    slug = "session-expired"
    title = "Session expired"


class TokenExpired(AuthenticationError):
    slug = "token-expired"
    title = "Token expired"


class PermissionDenied(AccordError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class TokenOutOfScope(PermissionDenied):
    slug = "token-out-of-scope"
    title = "Token not valid for this action"


class PolicyDenied(PermissionDenied):
    slug = "policy-denied"
    title = "Refused by policy"


class CryptoError(AccordError):
    status = 400
    slug = "crypto"
    title = "Cryptographic check failed"


class SignatureInvalid(CryptoError):
    slug = "bad-signature"
    title = "Signature invalid"


class ProofInvalid(CryptoError):
    slug = "bad-proof"
    title = "Proof invalid"


class Unavailable(AccordError):
    """The node cannot serve the request now; the client may retry (``Retry-After``)."""

    status = 503
    slug = "unavailable"
    title = "Service unavailable"


class WriterBusy(Unavailable):
    """A write waited longer than ``database_write_wait_seconds`` for the database."""

    slug = "writer-busy"
    title = "Database busy"


class PeerError(AccordError):
    status = 502
    slug = "peer"
    title = "Peer node error"


class FingerprintMismatch(PeerError):
    status = 400
    slug = "fingerprint-mismatch"
    title = "Fingerprint does not match"


class IntegrityError(AccordError):
    slug = "integrity"
    title = "Integrity check failed"
