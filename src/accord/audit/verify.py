"""Verifying the audit trail: recompute it from the stored content, check every checkpoint.

:func:`verify_log` reads one snapshot, never raises on a damaged log and never
writes; each finding names its index and a severity: ``changed``, ``moved``,
``duplicate``, ``deleted``, ``inserted`` (rows past the head), ``head``,
``checkpoint``, ``signature``, ``uncovered`` (entries no signed checkpoint covers
yet) and ``unreadable``. Witnesses add theirs (:mod:`accord.audit.witness`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from accord.audit.domain import (
    DEFAULT_CHECKPOINT_ENTRIES,
    LOG_NAME,
    VerifierSource,
    entry_bytes,
)
from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.crypto.merkle import MerkleTree, leaf_hash
from accord.crypto.note import NoteVerifier, open_checkpoint
from accord.errors import AccordError

log = logging.getLogger("accord.audit")


# -- verification --------------------------------------------------------------------
ERROR = "error"
WARNING = "warning"
_ZERO = b"\x00" * 32
_MAX_PAD = 1_000_000  # a larger gap is reported, not padded: roots past it are not checked
_MAX_DETAILED = 10_000  # mismatched entries classified one by one; more are counted
_MAX_LISTED = 1000  # findings of one kind listed one by one
_MAX_LOOKUPS = 100  # changed entries looked up by leaf hash (a scan each) to find copies


@dataclass
class Finding:
    """One thing verification found.

    ``kind``: changed | moved | duplicate | deleted | inserted | head | checkpoint |
    signature | uncovered | unreadable, and for witnesses witness | witness-unreachable |
    witness-none | witness-refused. ``severity`` is ``error`` for evidence of
    tampering or damage, ``warning`` for what cannot be checked (yet).
    """

    kind: str
    index: int | None
    detail: str
    severity: str = ERROR
    peer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "index": self.index, "severity": self.severity,
                                "detail": self.detail}
        if self.peer is not None:
            data["peer"] = self.peer
        return data


@dataclass
class VerifyReport:
    size: int = 0
    entries: int = 0
    checkpoints: int = 0
    covered: int = 0  # entries covered by the newest checkpoint with a valid signature
    witnesses: int = 0  # witness checkpoints checked against the log
    root: str = ""
    findings: list[Finding] = field(default_factory=list)
    tree: MerkleTree | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != ERROR]

    @property
    def ok(self) -> bool:
        """No error (warnings: what could not be checked, e.g. the uncovered tail)."""
        return not self.errors

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (f.index if f.index is not None else -1, f.kind, f.peer or ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "size": self.size, "entries": self.entries,
            "checkpoints": self.checkpoints, "covered": self.covered, "witnesses": self.witnesses,
            "root": self.root, "errors": len(self.errors), "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }


def snapshot(session: Session) -> None:
    """Make the rest of ``session``'s transaction read one snapshot (PostgreSQL: repeatable
    read; SQLite transactions are snapshots already). Call before its first statement."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def _iter_entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    last = -1
    while True:
        rows = list(session.scalars(
            select(AuditEntry).where(AuditEntry.idx > last).order_by(AuditEntry.idx).limit(batch)
        ))
        if not rows:
            return
        yield from rows
        last = rows[-1].idx
        session.expunge_all()


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}–{last} ({last - first + 1})"


class _Ranges:
    """Consecutive indexes folded into ranges, at most ``_MAX_LISTED`` of them."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []
        self.dropped = 0

    def add(self, first: int, last: int | None = None) -> None:
        last = first if last is None else last
        if self.ranges and self.ranges[-1][1] + 1 == first:
            self.ranges[-1][1] = last
        elif len(self.ranges) < _MAX_LISTED:
            self.ranges.append([first, last])
        else:
            self.dropped += last - first + 1


def verify_log(
    session: Session, origin: str, verifier: VerifierSource, *,
    progress: Callable[[int, int], None] | None = None, batch: int = 5000,
    checkpoint_entries: int = DEFAULT_CHECKPOINT_ENTRIES,
) -> VerifyReport:
    """Recompute the log from its stored content and check every checkpoint.

    Never raises for a damaged log: what cannot be read becomes an ``unreadable``
    finding and the report holds what was found up to there.
    """
    report = VerifyReport()
    try:
        _verify(session, origin, verifier, report, progress, batch, checkpoint_entries)
    except AccordError as exc:
        report.add(Finding("unreadable", None, f"verification stopped: {exc.detail}"))
    except Exception as exc:  # never a traceback for a damaged log; the type says what broke
        log.error("audit verification stopped: %s", type(exc).__name__)
        report.add(Finding("unreadable", None, f"verification stopped: {type(exc).__name__} "
                                               "(the database could not be read as an audit log)"))
    report.sort()
    return report


def _verify(
    session: Session, origin: str, verifier: VerifierSource, report: VerifyReport,
    progress: Callable[[int, int], None] | None, batch: int, checkpoint_entries: int,
) -> None:
    snapshot(session)
    head_row = session.get(LogHead, LOG_NAME)
    head = int(head_row.size) if head_row is not None else 0
    report.size = head
    total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if head_row is None and total:
        report.add(Finding("head", 0, "the log has entries but no head row"))
    if head < 0:
        report.add(Finding("head", head, f"the log head is negative ({head})"))
        head = 0
    for idx in session.scalars(select(AuditEntry.idx).where(AuditEntry.idx < 0).limit(_MAX_LISTED)):
        report.add(Finding("inserted", idx, f"entry at the negative index {idx}"))

    tree = MerkleTree()
    report.tree = tree
    frozen: int | None = None  # the tree stops at a gap too large to pad
    mismatched: list[AuditEntry] = []
    extra_mismatches = 0
    gaps, past_head = _Ranges(), _Ranges()
    expected = seen = 0
    for row in _iter_entries(session, batch):
        seen += 1
        if progress is not None:
            progress(seen, total)
        if row.idx >= head:
            past_head.add(row.idx)
            continue
        if row.idx > expected:
            gaps.add(expected, row.idx - 1)
            if frozen is None and row.idx - expected <= _MAX_PAD:
                tree.extend([_ZERO] * (row.idx - expected))
            elif frozen is None:
                frozen = expected
        try:
            recomputed = leaf_hash(entry_bytes(row.idx, row.at, row))
        except Exception as exc:
            report.add(Finding("unreadable", row.idx, f"entry {row.idx} cannot be read as an "
                                                      f"audit entry ({type(exc).__name__})"))
            recomputed = _ZERO
        else:
            if recomputed != row.leaf_hash:
                if len(mismatched) < _MAX_DETAILED:
                    mismatched.append(row)
                else:
                    extra_mismatches += 1
        if frozen is None:
            tree.append(recomputed)
        expected = row.idx + 1
    if expected < head:
        gaps.add(expected, head - 1)
    report.entries = seen

    for first, last in gaps.ranges:
        report.add(Finding("deleted", first, f"{_span(first, last)} missing"))
    if gaps.dropped:
        report.add(Finding("deleted", None, f"{gaps.dropped} more missing entries"))
    for first, last in past_head.ranges:
        report.add(Finding("inserted", first, f"{_span(first, last)} past the log head ({head}): "
                                              "not part of the log"))
    if past_head.dropped:
        report.add(Finding("inserted", None, f"{past_head.dropped} more entries past the log head"))
    for finding in _classify_mismatches(session, mismatched):
        report.add(finding)
    if extra_mismatches:
        report.add(Finding("changed", None, f"{extra_mismatches} more entries do not match their "
                                            "leaf hash"))

    signed = _check_checkpoints(session, origin, verifier, report, head, tree, frozen)
    uncovered = head - report.covered
    if uncovered > 0:
        what = (f"{_span(report.covered, head - 1)} covered by no signed checkpoint yet: a "
                "change there cannot be detected until one is signed")
        if not signed:
            report.add(Finding("uncovered", 0, "the log has no validly signed checkpoint (a node "
                                               f"signs one when it is created): {what}"))
        elif uncovered >= checkpoint_entries:
            report.add(Finding("uncovered", report.covered, f"{what}; a checkpoint is signed at "
                               f"least every {checkpoint_entries} entries, so checkpoints are "
                               "missing"))
        else:
            report.add(Finding("uncovered", report.covered, what, severity=WARNING))
    if tree.size and frozen is None:
        report.root = tree.root().hex()


def _check_checkpoints(
    session: Session, origin: str, verifier: VerifierSource, report: VerifyReport, head: int,
    tree: MerkleTree, frozen: int | None,
) -> int:
    """Check every checkpoint; returns how many have a valid signature."""
    signed = 0
    for cp in session.scalars(select(Checkpoint).order_by(Checkpoint.size, Checkpoint.id)):
        report.checkpoints += 1
        try:
            key = verifier(session, cp.key_id)
            parsed = open_checkpoint(cp.note, NoteVerifier.from_public_key(origin, key))
        except AccordError as exc:
            report.add(Finding("signature", cp.size, f"checkpoint {cp.id}: {exc.detail}"))
            continue
        signed += 1
        if parsed.size != cp.size or parsed.root_hash != cp.root_hash:
            report.add(Finding("checkpoint", cp.size, f"checkpoint {cp.id}: the stored size or "
                                                      "root differs from its signed note"))
        if parsed.size > head:
            report.add(Finding("deleted", head, f"checkpoint {cp.id} covers {parsed.size} entries; "
                               f"the log head says {head}: entries were removed or the head lowered"))
            report.covered = max(report.covered, head)
            continue
        report.covered = max(report.covered, parsed.size)
        if parsed.size > tree.size:
            why = (f"the gap at {frozen}" if frozen is not None
                   else f"the log has only {tree.size} entries")
            report.add(Finding("checkpoint", parsed.size, f"checkpoint {cp.id} (size {parsed.size}) "
                                                          f"cannot be checked past {why}"))
            continue
        if tree.root(parsed.size) != parsed.root_hash:
            report.add(Finding(
                "checkpoint", parsed.size,
                f"checkpoint {cp.id} (size {parsed.size}): root does not match the entries; "
                "an entry at or below this size was altered",
            ))
    return signed


def _classify_mismatches(session: Session, rows: Iterable[AuditEntry]) -> list[Finding]:
    """An entry whose content hashes as if it stood at another index was moved (or copied)."""
    rows = list(rows)
    findings = []
    candidates = {r.idx for r in rows}
    far = sorted(candidates) if len(candidates) <= 500 else []
    lookups = 0
    for row in rows:
        origin = None
        # Moved entries keep the leaf hash of their old position; look nearby (shifts by
        # a deletion/insertion) and, when there are few, among the other mismatches (swaps).
        near = [row.idx - 1, row.idx + 1, row.idx - 2, row.idx + 2]
        for j in [*near, *(c for c in far if c not in near)]:
            if j < 0 or j == row.idx:
                continue
            try:
                if leaf_hash(entry_bytes(j, row.at, row)) == row.leaf_hash:
                    origin = j
                    break
            except Exception:  # unreadable content was reported already
                break
        if origin is None and lookups < _MAX_LOOKUPS:  # a copy from far away keeps its leaf hash
            lookups += 1
            found = session.scalar(select(AuditEntry.idx).where(
                AuditEntry.leaf_hash == row.leaf_hash, AuditEntry.idx != row.idx).limit(1))
            if found is not None and leaf_hash(entry_bytes(found, row.at, row)) == row.leaf_hash:
                origin = found
        if origin is None:
            findings.append(Finding("changed", row.idx, f"entry {row.idx} was changed"))
            continue
        original = session.scalar(select(AuditEntry.leaf_hash).where(AuditEntry.idx == origin))
        if origin not in candidates and original is not None and bytes(original) == row.leaf_hash:
            findings.append(Finding("duplicate", row.idx,
                                    f"entry {row.idx} is a copy of entry {origin}"))
        else:
            findings.append(Finding("moved", row.idx,
                                    f"entry {origin} now stands at {row.idx} (reordered)"))
    return findings


__all__ = ["ERROR", "WARNING", "Finding", "VerifyReport", "snapshot", "verify_log"]
