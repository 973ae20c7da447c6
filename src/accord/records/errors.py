"""Errors of the records capability (all in the one tree of :mod:`accord.errors`).

    ValidationFailed
    └── RecordInvalid            422 record-invalid   (errors: [{field, message}])
    NotFound
    └── RecordNotFound           404 record-not-found
    Conflict
    └── RecordExists             409 record-exists
    PermissionDenied
    ├── ClearanceTooLow          403 clearance-too-low (reason, handling, clearance)
    └── NotRecordOwner           403 not-record-owner  (reason, owner, agency)
"""

from __future__ import annotations

from accord.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class RecordInvalid(ValidationFailed):
    slug = "record-invalid"
    title = "Record invalid"


class RecordNotFound(NotFound):
    slug = "record-not-found"
    title = "Record not found"


class RecordExists(Conflict):
    slug = "record-exists"
    title = "Record exists"


class ClearanceTooLow(PermissionDenied):
    """The record's handling code is above the reader's clearance."""

    slug = "clearance-too-low"
    title = "Clearance too low"


class NotRecordOwner(PermissionDenied):
    """Only officers of the owner agency change or delete a record."""

    slug = "not-record-owner"
    title = "Not the record's owner"
