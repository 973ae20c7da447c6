"""The audit trail: an append-only Merkle log (RFC 6962 hashing) with signed checkpoints.

Each entry is a leaf: ``leaf_hash(canonical_json(entry))`` where the entry
includes its own index, so an entry moved to another place no longer hashes
to what it claims. Appends take the log head's row lock (PostgreSQL) or the
database write lock (SQLite ``BEGIN IMMEDIATE``), so indexes are gap-free and
in commit order. Checkpoints are C2SP signed notes by the node's Ed25519 key.

**The unsigned tail is bounded.** A transaction whose appends cross a multiple
of ``checkpoint_entries`` signs a checkpoint of the log as it will stand when it
commits, in the same transaction (so it lands iff the entries do); the server
also signs every ``audit_checkpoint_seconds`` when the log grew
(:mod:`accord.web.app`). Entries past the newest checkpoint are protected by
their content hashes only, and :func:`verify_log` reports them (``uncovered``).

**The cached tree holds committed leaves only.** :class:`AuditLog` keeps the
tree in memory, brought up to the committed head on use (other processes may
append too). Leaves enter it only once committed: from the database, or from
this process's own transaction after it commits. A transaction that needs the
root of its own uncommitted appends (the checkpoint above) computes it beside
the cache. If the committed log changes under the cache (the last cached leaf a
session can see differs from the stored one or vanished, an entry is missing), the process
refuses to sign or prove anything over it (:class:`AuditLogDamaged`) rather
than sign a history it did not see; a restarted process starts afresh, and
then the witnesses (:mod:`accord.audit.witness`) hold it to what they saw.

**A damaged log stops audited actions.** An append that finds a row already
at its index (a row past the head) fails with :class:`AuditLogDamaged` (503),
logged: the action is not performed unaudited.

:func:`verify_log` recomputes everything from the stored content, never
raises on a damaged log, and reports each finding with its index.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Select, Text, event, func, insert, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from accord.audit.errors import AuditLogDamaged
from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.crypto.canonical import canonical_json
from accord.crypto.merkle import EMPTY_ROOT, MerkleTree, leaf_hash, node_hash
from accord.crypto.note import Checkpoint as NoteCheckpoint
from accord.crypto.note import NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from accord.errors import AccordError, NotFound, ValidationFailed

LOG_NAME = "audit"
DEFAULT_CHECKPOINT_ENTRIES = 1000
log = logging.getLogger("accord.audit")


@dataclass(frozen=True)
class EntryIn:
    actor: str
    action: str
    object: str = ""
    purpose: str = ""
    basis: str = ""
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    credential: str = ""  # the session or API token that acted ("session:…", "token:…")


def entry_bytes(idx: int, at: datetime, e: EntryIn | AuditEntry) -> bytes:
    """The canonical bytes of an entry (RFC 8785 JSON); its leaf hashes these.

    ``credential`` is a member only when set, so entries written before it
    existed (and entries of no session or token) hash as they always did.
    """
    extra = {"credential": e.credential} if e.credential else {}
    return canonical_json({
        **extra,
        "v": 1,
        "idx": idx,
        "at": at.isoformat(timespec="microseconds"),
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "purpose": e.purpose,
        "basis": e.basis,
        "outcome": e.outcome,
        "detail": e.detail,
    })


SignerSource = Callable[[Session], tuple[str, Ed25519PrivateKey]]
VerifierSource = Callable[[Session, str], Ed25519PublicKey]


def extended_root(tree: MerkleTree, size: int, leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 root of the first ``size`` leaves of ``tree`` followed by ``leaves``.

    ``tree`` is not changed. The first ``size`` leaves are folded into their
    *frontier* (one complete subtree per set bit of ``size``, read off the
    inclusion proof of the last leaf), the new leaves are added to it like a
    binary counter, in the largest aligned complete subtrees that fit (each hashed
    level by level), and the frontier folds from the right into the root: O(log n
    + len(leaves)) hashes.
    """
    stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing
    if size:
        proof = tree.inclusion_proof(size - 1, size)
        low = (size & -size).bit_length() - 1
        last = tree.leaf(size - 1)
        for sibling in proof[:low]:  # the complete subtree that ends with the last leaf
            last = node_hash(sibling, last)
        higher = [bit for bit in range(size.bit_length()) if size >> bit & 1][1:]
        stack = [*zip(reversed(higher), reversed(proof[low:]), strict=True), (low, last)]
    position, count = size, len(leaves)
    done = 0
    while done < count:  # the new leaves in the largest aligned complete subtrees that fit
        level = (count - done).bit_length() - 1
        if position:
            level = min(level, (position & -position).bit_length() - 1)
        width = 1 << level
        block = leaves[done:done + width]
        stack.append((level, block[0] if width == 1 else MerkleTree(block).root()))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (top, right), (_, left) = stack.pop(), stack.pop()
            stack.append((top + 1, node_hash(left, right)))
        done += width
        position += width
    if not stack:
        return EMPTY_ROOT
    root = stack[-1][1]
    for _, subtree in reversed(stack[:-1]):
        root = node_hash(subtree, root)
    return root


# -- this transaction's appends -----------------------------------------------------
_PENDING = "accord.audit.pending"


@dataclass
class _Pending:
    """The appends of one transaction: the committed size before them, and their leaves."""

    log: AuditLog
    transaction: SessionTransaction | None
    start: int
    leaves: list[bytes]
    crossed_at: datetime | None = None  # set when the appends crossed a checkpoint boundary


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if isinstance(pending, _Pending) and pending.crossed_at is not None:
        at, pending.crossed_at = pending.crossed_at, None
        pending.log._boundary_checkpoint(session, at)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if isinstance(pending, _Pending):
        pending.log._committed(pending.start, pending.leaves)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (rolled back, or committed above)
        session.info.pop(_PENDING, None)


def _is_duplicate_key(exc: SqlIntegrityError) -> bool:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23505" or "unique" in str(orig).lower()


class AuditLog:
    """Append, checkpoint, prove and verify; holds a cache of the committed tree."""

    def __init__(self, *, origin: str, signer: SignerSource, verifier: VerifierSource,
                 checkpoint_entries: int = DEFAULT_CHECKPOINT_ENTRIES) -> None:
        self.origin = origin
        self.checkpoint_entries = checkpoint_entries
        self._signer = signer
        self._verifier = verifier
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    # -- appending ----------------------------------------------------------
    def append(self, session: Session, entry: EntryIn, *, at: datetime) -> int:
        return self.append_many(session, [entry], at=at)[0]

    def append_many(self, session: Session, entries: Sequence[EntryIn], *, at: datetime) -> list[int]:
        """Append in the caller's transaction; the entries land iff it commits.

        When the transaction's entries cross a multiple of ``checkpoint_entries``, a
        checkpoint of the log as it then stands is signed just before the transaction
        commits, in it. A row already at a reserved index (the log is damaged)
        raises :class:`AuditLogDamaged`: the caller's action must not go on unaudited.
        """
        if not entries:
            return []
        start = self._reserve(session, len(entries))
        rows: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        for offset, e in enumerate(entries):
            idx = start + offset
            leaf = leaf_hash(entry_bytes(idx, at, e))
            leaves.append(leaf)
            rows.append({
                "idx": idx, "at": at, "actor": e.actor, "action": e.action, "object": e.object,
                "purpose": e.purpose, "basis": e.basis, "outcome": e.outcome, "detail": e.detail,
                "credential": e.credential, "leaf_hash": leaf,
            })
        end = start + len(rows)
        try:
            session.execute(insert(AuditEntry), rows)
        except SqlIntegrityError as exc:
            if not _is_duplicate_key(exc):
                raise
            log.error("audit log damaged: an entry already stands at an index in %d..%d, past the "
                      "log head; the action was refused. Run `accord audit verify`.", start, end - 1)
            raise AuditLogDamaged(
                f"the audit log is damaged: an entry already stands at an index from {start} to "
                f"{end - 1}, past the log head ({start}); the action was not performed because it "
                "could not be audited. Run `accord audit verify`.", index=start) from None
        pending = self._track(session, start, leaves)
        every = self.checkpoint_entries
        if pending is not None and every > 0 and end // every > start // every:
            pending.crossed_at = at  # signed just before this transaction commits
        return list(range(start, end))

    @staticmethod
    def _reserve(session: Session, count: int) -> int:
        head = session.execute(
            update(LogHead)
            .where(LogHead.log == LOG_NAME)
            .values(size=LogHead.size + count)
            .returning(LogHead.size)
        ).scalar_one_or_none()
        if head is None:
            session.add(LogHead(log=LOG_NAME, size=count))
            session.flush()
            return 0
        return int(head) - count

    def _track(self, session: Session, start: int, leaves: list[bytes]) -> _Pending | None:
        pending = self._pending(session)
        if pending is None:
            pending = _Pending(self, session.get_transaction(), start, leaves)
            session.info[_PENDING] = pending
        elif pending.start + len(pending.leaves) == start:
            pending.leaves.extend(leaves)
        else:  # cannot happen while this transaction holds the head; stop tracking, to be safe
            session.info.pop(_PENDING, None)
            return None
        return pending

    def _pending(self, session: Session) -> _Pending | None:
        pending = session.info.get(_PENDING)
        if (isinstance(pending, _Pending) and pending.log is self
                and pending.transaction is session.get_transaction()):
            return pending
        return None

    def _boundary_checkpoint(self, session: Session, at: datetime) -> None:
        try:
            self.checkpoint(session, at=at)
        except AccordError as exc:  # the entries stand; the server's checkpointer tries again
            log.error("audit checkpoint at the %d-entry boundary not signed: %s: %s",
                      self.checkpoint_entries, exc.slug, exc.detail)

    def _committed(self, start: int, leaves: list[bytes]) -> None:
        """After a commit: the transaction's leaves join the cache if it ends where they start."""
        with self._lock:
            if self._tree.size == start:
                self._tree.extend(leaves)

    # -- the committed tree ---------------------------------------------------
    def _committed_size(self, session: Session) -> int:
        pending = self._pending(session)
        return pending.start if pending is not None else self.size(session)

    def _sync(self, session: Session, size: int) -> MerkleTree:
        """Bring the cached tree up to ``size`` committed entries, checking it still holds."""
        with self._lock:
            tree = self._tree
            # The last leaf this session can see and the cache holds must be the same. (A
            # session may see less than the cache: its snapshot predates another thread's
            # commit. A head lowered under the process shows once entries are appended again.)
            last = min(size, tree.size) - 1
            if last >= 0:
                stored = session.scalar(select(AuditEntry.leaf_hash).where(AuditEntry.idx == last))
                if stored is None or bytes(stored) != tree.leaf(last):
                    raise self._damaged(f"entry {last} changed or vanished under this process")
            if size > tree.size:
                rows = session.execute(
                    select(AuditEntry.idx, AuditEntry.leaf_hash)
                    .where(AuditEntry.idx >= tree.size, AuditEntry.idx < size)
                    .order_by(AuditEntry.idx)
                ).all()
                hashes: list[bytes] = []
                for expected, (idx, leaf) in enumerate(rows, start=tree.size):
                    if idx != expected or leaf is None or len(leaf) != 32:
                        raise self._damaged(f"entry {expected} is missing or malformed")
                    hashes.append(bytes(leaf))
                if len(hashes) != size - tree.size:
                    raise self._damaged(
                        f"entry {tree.size + len(hashes)} is missing (the head says {size})")
                tree.extend(hashes)
            return tree

    def _damaged(self, what: str) -> AuditLogDamaged:
        log.error("audit log %s: %s; refusing to sign or prove over it. Run `accord audit "
                  "verify`; restart the node once the log is understood.", self.origin, what)
        return AuditLogDamaged(f"the audit log changed under this process: {what}; run "
                               "`accord audit verify`")

    @staticmethod
    def size(session: Session) -> int:
        head = session.get(LogHead, LOG_NAME)
        return int(head.size) if head is not None else 0

    def root(self, session: Session, size: int | None = None) -> bytes:
        committed = self._committed_size(session)
        return self._sync(session, committed).root(committed if size is None else size)

    def checkpoint(self, session: Session, *, at: datetime) -> Checkpoint:
        """Sign the log head as a C2SP checkpoint and store it (in the caller's transaction).

        Entries appended earlier in the same transaction are included: the
        checkpoint lands iff they do.
        """
        pending = self._pending(session)
        if pending is not None:
            tree = self._sync(session, pending.start)
            size = pending.start + len(pending.leaves)
            root = extended_root(tree, pending.start, pending.leaves)
        else:
            size = self.size(session)
            root = self._sync(session, size).root(size)
        kid, key = self._signer(session)
        note = sign_checkpoint(NoteCheckpoint(self.origin, size, root), NoteSigner(self.origin, key))
        row = Checkpoint(size=size, root_hash=root, note=note, key_id=kid, created_at=at)
        session.add(row)
        session.flush()
        return row

    def latest_checkpoint(self, session: Session) -> Checkpoint | None:
        """The checkpoint of the largest tree (of two of one size, the later): on PostgreSQL
        two processes may commit checkpoints out of the order of their sizes."""
        return session.scalars(
            select(Checkpoint).order_by(Checkpoint.size.desc(), Checkpoint.id.desc())).first()

    def inclusion_proof(self, session: Session, idx: int, size: int | None = None) -> dict[str, Any]:
        committed = self._committed_size(session)
        tree = self._sync(session, committed)
        size = committed if size is None else size
        if not 0 <= idx < size <= committed:
            raise NotFound(f"no audit entry {idx} in a log of size {size} (the log has {committed})")
        return {
            "index": idx, "size": size, "leaf_hash": tree.leaf(idx).hex(),
            "root": tree.root(size).hex(),
            "proof": [h.hex() for h in tree.inclusion_proof(idx, size)],
        }

    def consistency_proof(self, session: Session, old: int, new: int | None = None) -> dict[str, Any]:
        committed = self._committed_size(session)
        tree = self._sync(session, committed)
        new = committed if new is None else new
        if not 1 <= old <= new <= committed:
            raise ValidationFailed(f"a consistency proof needs 1 <= old <= new <= {committed} "
                                   f"(the log size), got old={old}, new={new}", field="old")
        return {
            "old_size": old, "new_size": new,
            "old_root": tree.root(old).hex(), "new_root": tree.root(new).hex(),
            "proof": [h.hex() for h in tree.consistency_proof(old, new)],
        }

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def query(
        session: Session, *, actor: str | None = None, obj: str | None = None,
        action: str | None = None, since: datetime | None = None, until: datetime | None = None,
        limit: int = 200, offset: int = 0,
    ) -> list[AuditEntry]:
        stmt = _filtered(select(AuditEntry), actor, obj, action, since, until)
        return list(session.scalars(stmt.order_by(AuditEntry.idx).offset(offset).limit(limit)))

    @staticmethod
    def read_entries(
        session: Session, *, actor: str | None = None, obj: str | None = None,
        action: str | None = None, since: datetime | None = None, until: datetime | None = None,
        limit: int = 200, offset: int = 0,
    ) -> list[dict[str, Any]]:
        """:meth:`query` as plain values, for reading a log that may be damaged: a time or
        detail that cannot be read as such is given as its stored text (``unreadable``)."""
        columns = [c for c in AuditEntry.__table__.columns if c.name not in ("at", "detail", "leaf_hash")]
        stmt = _filtered(select(*columns, type_coerce(AuditEntry.at, Text).label("at"),
                                type_coerce(AuditEntry.detail, Text).label("detail")),
                         actor, obj, action, since, until)
        result = []
        for row in session.execute(stmt.order_by(AuditEntry.idx).offset(offset).limit(limit)):
            data = dict(row._mapping)
            data["at"], bad_at = _lenient_time(data["at"])
            data["detail"], bad_detail = _lenient_json(data["detail"])
            if bad_at or bad_detail:
                data["unreadable"] = [name for name, bad in (("at", bad_at), ("detail", bad_detail))
                                      if bad]
            result.append(data)
        return result

    # -- verifying ---------------------------------------------------------------
    def verify(
        self, session: Session, *, progress: Callable[[int, int], None] | None = None,
        batch: int = 5000,
    ) -> VerifyReport:
        """Recompute the log in ``session`` (one snapshot; it writes nothing)."""
        return verify_log(session, self.origin, self._verifier, progress=progress, batch=batch,
                          checkpoint_entries=self.checkpoint_entries)


def _filtered(stmt: Select[Any], actor: str | None, obj: str | None, action: str | None,
              since: datetime | None, until: datetime | None) -> Select[Any]:
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if obj:
        stmt = stmt.where(AuditEntry.object.startswith(obj, autoescape=True))
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt


def _lenient_time(value: object) -> tuple[str, bool]:
    """An ISO 8601 UTC time from what the database holds, or its text and True."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(), False
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value), True
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat(), False


def _lenient_json(value: object) -> tuple[Any, bool]:
    """An entry's detail (always a JSON object when written); anything else is flagged."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value), True
    if isinstance(value, dict):
        return value, False
    return json.dumps(value), True  # valid JSON of another shape: shown as its text


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


__all__ = [
    "ERROR", "WARNING", "AuditLog", "EntryIn", "Finding", "VerifyReport", "entry_bytes",
    "extended_root", "snapshot", "verify_log",
]
