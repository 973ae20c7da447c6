"""Folding the audit entries of unauthenticated rejected envelopes.

Anyone who can reach ``POST /federation/v1/envelopes`` can send junk. A
rejection whose envelope is *authenticated* (its signature verifies with a
known, unrevoked key of its sender) is audited one entry each, as every other
exchange event. An unauthenticated one (malformed, too large, bad signature,
unknown or revoked key, or a time / recipient / replay rejection whose
signature does not verify) says nothing about who sent it, so one entry per
rejection would let anyone grow the audit log without bound.

:class:`RejectionLedger` keeps, per ``(reason, source)`` — the source being the
remote address (IPv6 by /64) and the claimed sender when it is an agency this
node knows, never free text from the envelope — a window of
``exchange_rejection_audit_window_seconds``:

* the first rejection of a source opens a window and is audited at once, with
  ``count`` = 1 plus the rejections folded before it;
* the others within the window are only counted (and logged at WARNING,
  without personal data);
* when a window has closed with rejections folded into it, the next audit write
  (another rejection, or :meth:`due`, called by the delivery worker each round
  and on shutdown) writes one entry carrying their count and opens a new window.

So each source gets at most one entry per window, and the counts of the
entries add up to the number of rejections (plus what is still pending). The
number of sources held is capped (``exchange_rejection_audit_max_sources``);
past it, new sources of a reason share one ``other`` source.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["OVERFLOW_SOURCE", "Folded", "RejectionLedger", "Source"]

OVERFLOW_SOURCE = "other"


@dataclass(frozen=True)
class Source:
    """Where unauthenticated junk came from, as far as it can be told without trusting it."""

    remote: str | None = None  # the peer's address (IPv6: its /64), if the transport knows it
    claimed_sender: str | None = None  # only an agency this node knows

    @property
    def key(self) -> str:
        return f"{self.remote or '-'}|{self.claimed_sender or '-'}"


@dataclass(frozen=True)
class Folded:
    """Rejections to write as one audit entry."""

    reason: str
    source: Source
    count: int
    first_at: datetime
    last_at: datetime


@dataclass
class _Bucket:
    source: Source
    opened: datetime  # when its last audit entry was written
    pending: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None


class RejectionLedger:
    """Thread-safe counts of unauthenticated rejections, by reason and source."""

    def __init__(self, window_seconds: float, max_sources: int) -> None:
        self.window = timedelta(seconds=window_seconds)
        self.max_sources = max_sources
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def note(self, reason: str, source: Source, now: datetime) -> Folded | None:
        """Count one rejection; returns what to audit now, or None when it is folded."""
        with self._lock:
            key = (reason, source.key)
            bucket = self._buckets.get(key)
            if bucket is None and len(self._buckets) >= self.max_sources:
                source = Source(remote=OVERFLOW_SOURCE)
                key = (reason, source.key)
                bucket = self._buckets.get(key)
            if bucket is not None and now < bucket.opened + self.window:
                bucket.pending += 1
                bucket.first_at = bucket.first_at or now
                bucket.last_at = now
                return None
            earlier = bucket.pending if bucket is not None else 0
            first = bucket.first_at if bucket is not None and bucket.first_at else now
            self._buckets[key] = _Bucket(source=source, opened=now)
            return Folded(reason, source, 1 + earlier, first, now)

    def due(self, now: datetime, *, force: bool = False) -> list[Folded]:
        """Folded rejections of closed windows (all, with ``force``) to audit now.

        Each returned entry opens a new window for its source; sources whose
        window closed with nothing folded are forgotten.
        """
        out: list[Folded] = []
        with self._lock:
            for key, bucket in list(self._buckets.items()):
                if not force and now < bucket.opened + self.window:
                    continue
                if bucket.pending and bucket.first_at and bucket.last_at:
                    out.append(Folded(key[0], bucket.source, bucket.pending, bucket.first_at,
                                      bucket.last_at))
                    self._buckets[key] = _Bucket(source=bucket.source, opened=now)
                else:
                    del self._buckets[key]
        return out

    def pending(self) -> dict[str, int]:
        """Rejections counted but not audited yet, by reason."""
        with self._lock:
            totals: dict[str, int] = {}
            for (reason, _), bucket in self._buckets.items():
                if bucket.pending:
                    totals[reason] = totals.get(reason, 0) + bucket.pending
            return totals

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)
