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

**Appends may be deferred to the commit.** :meth:`AuditLog.defer` keeps an entry in
the session and writes it with all the others of the transaction just before it
commits (one head update and one insert for the lot, the exchange's hot path): the
entries still land iff the transaction does. A savepoint that is rolled back takes
its own entries, deferred or not, with it (:meth:`AuditLog.mark` and
:meth:`AuditLog.rewind`, used by the group commit in :mod:`accord.commit`).

**A damaged log stops audited actions.** An append that finds a row already
at its index (a row past the head) fails with :class:`AuditLogDamaged` (503),
logged: the action is not performed unaudited.

:mod:`accord.audit.verify` recomputes everything from the stored content; the
entry and its hashing are in :mod:`accord.audit.domain`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, Text, event, insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from accord.audit.domain import (
    DEFAULT_CHECKPOINT_ENTRIES,
    LOG_NAME,
    EntryIn,
    SignerSource,
    VerifierSource,
    entry_bytes,
    extended_root,
)
from accord.audit.errors import AuditLogDamaged
from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.audit.verify import VerifyReport, verify_log
from accord.crypto.merkle import MerkleTree, leaf_hash
from accord.crypto.note import Checkpoint as NoteCheckpoint
from accord.crypto.note import NoteSigner, sign_checkpoint
from accord.errors import AccordError, NotFound, ValidationFailed

log = logging.getLogger("accord.audit")


# -- this transaction's appends -----------------------------------------------------
_PENDING = "accord.audit.pending"


_ENTRIES = cast(Table, AuditEntry.__table__)

@dataclass
class _Pending:
    """The appends of one transaction: the committed size before them, and their leaves."""

    log: AuditLog
    transaction: SessionTransaction | None
    start: int
    leaves: list[bytes]
    crossed_at: datetime | None = None  # set when the appends crossed a checkpoint boundary


_DEFERRED = "accord.audit.deferred"


@dataclass
class _Deferred:
    """Entries to append when the transaction commits, each with its own time."""

    log: AuditLog
    entries: list[tuple[EntryIn, datetime]]


@dataclass(frozen=True)
class Mark:
    """Where this transaction's appends stood (:meth:`AuditLog.mark`)."""

    deferred: int
    leaves: int | None


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint is released: the root commits later
        return
    deferred = session.info.get(_DEFERRED)
    if isinstance(deferred, _Deferred):
        deferred.log.flush_deferred(session)
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
        session.info.pop(_DEFERRED, None)


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
        return self._append(session, [(e, at) for e in entries])

    def defer(self, session: Session, entry: EntryIn, *, at: datetime) -> None:
        """Append ``entry`` when the caller's transaction commits (with the others deferred in
        it, in order): for hot paths that need no index back. The entry lands iff the
        transaction commits; a failure to write it fails the commit."""
        # (dropped when the session's transaction ends, committed or not: _after_transaction_end)
        deferred = session.info.get(_DEFERRED)
        if not (isinstance(deferred, _Deferred) and deferred.log is self):
            deferred = session.info[_DEFERRED] = _Deferred(self, [])
        deferred.entries.append((entry, at))

    def flush_deferred(self, session: Session) -> None:
        """Write the entries deferred in this transaction now (before reading the log in it)."""
        deferred = session.info.pop(_DEFERRED, None)
        if isinstance(deferred, _Deferred) and deferred.log is self and deferred.entries:
            self._append(session, deferred.entries)

    def mark(self, session: Session) -> Mark:
        """Where this transaction's appends stand: taken before a savepoint."""
        deferred = session.info.get(_DEFERRED)
        pending = self._pending(session)
        return Mark(len(deferred.entries) if isinstance(deferred, _Deferred) else 0,
                    len(pending.leaves) if pending is not None else None)

    def rewind(self, session: Session, mark: Mark) -> None:
        """Forget the appends made since ``mark``, after their savepoint was rolled back (the
        database took back the rows and the head; this takes back the leaves held in memory)."""
        deferred = session.info.get(_DEFERRED)
        if isinstance(deferred, _Deferred):
            del deferred.entries[mark.deferred:]
        pending = self._pending(session)
        if pending is not None:
            if mark.leaves is None:
                session.info.pop(_PENDING, None)
            else:
                del pending.leaves[mark.leaves:]

    def _append(self, session: Session, entries: Sequence[tuple[EntryIn, datetime]]) -> list[int]:
        start = self._reserve(session, len(entries))
        rows: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        for offset, (e, at) in enumerate(entries):
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
            session.execute(insert(_ENTRIES), rows)  # Core: no ORM bookkeeping per entry
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
            pending.crossed_at = entries[-1][1]  # signed just before this transaction commits
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
        self.flush_deferred(session)
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


__all__ = ["AuditLog", "EntryIn", "entry_bytes", "extended_root"]
