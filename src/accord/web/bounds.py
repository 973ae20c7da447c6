"""The bounds of the numbers the API accepts, in one place.

Every numeric parameter of a route (query, path or body) carries a minimum and
a maximum. FastAPI checks them before the route runs, so a number out of range
is a 422 problem document (``validation``) and never reaches the database,
where a value past 64 bits raised ``OverflowError`` (a 500). The OpenAPI
document states the same bounds (``minimum`` / ``maximum``), so a client, and
the schemathesis run in the test suite, see what the server enforces.

- ``MAX_OFFSET``: how far a page may start. 2**31 - 1 fits every SQL integer
  type on both engines, and no listing of a node comes near it.
- ``MAX_TREE_INDEX``: audit log indexes and tree sizes are signed 64-bit
  integers in the database.
- ``EARLIEST`` .. ``LATEST``: the instants a question may name (audit ``since`` /
  ``until``, the policy's ``at``). A naive time means UTC. Far enough apart for any
  real question, and far enough from ``datetime``'s own limits that converting an
  offset or adding an agreement's retention period cannot overflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

__all__ = ["EARLIEST", "LATEST", "MAX_OFFSET", "MAX_TREE_INDEX", "Instant", "Offset", "TreeIndex",
           "TreeSize", "TreeSizeOrHead", "utc_instant"]

MAX_OFFSET = 2**31 - 1
MAX_TREE_INDEX = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def utc_instant(value: datetime) -> datetime:
    """``value`` in UTC (naive means UTC); ValueError outside ``EARLIEST`` .. ``LATEST``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return value


Instant = Annotated[datetime, AfterValidator(utc_instant)]

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many items")]
TreeIndex = Annotated[int, Path(ge=0, le=MAX_TREE_INDEX, description="index of an audit entry")]
TreeSize = Annotated[int, Query(ge=0, le=MAX_TREE_INDEX, description="a size of the audit log")]
TreeSizeOrHead = Annotated[int | None, Query(
    ge=0, le=MAX_TREE_INDEX, description="a size of the audit log; default: its current size")]
