"""Records: FollowTheMoney entities with owner, handling code, evaluation and retention.

Use cases live in :mod:`accord.records.services` (import the module: it needs
the node), value objects and validation in :mod:`accord.records.domain`, the
table in :mod:`accord.records.models`. See docs/records.md.
"""

from accord.records.domain import (
    SCHEMA_CATEGORIES,
    InfoCredibility,
    Meta,
    Reader,
    RecordData,
    SourceReliability,
    ValidEntity,
    categories_of,
    meta_from,
    normalise_phone,
    parse_line,
    validate_entity,
)
from accord.records.errors import (
    ClearanceTooLow,
    NotRecordOwner,
    RecordExists,
    RecordInvalid,
    RecordNotFound,
)

__all__ = [
    "SCHEMA_CATEGORIES",
    "ClearanceTooLow",
    "InfoCredibility",
    "Meta",
    "NotRecordOwner",
    "Reader",
    "RecordData",
    "RecordExists",
    "RecordInvalid",
    "RecordNotFound",
    "SourceReliability",
    "ValidEntity",
    "categories_of",
    "meta_from",
    "normalise_phone",
    "parse_line",
    "validate_entity",
]
