"""The audit trail: an append-only Merkle log (RFC 6962 hashing) with signed checkpoints.

Each entry is a leaf: ``leaf_hash(canonical_json(entry))`` where the entry
includes its own index, so an entry moved to another place no longer hashes
to what it claims. Appends take the log head's row lock (PostgreSQL) or the
database write lock (SQLite ``BEGIN IMMEDIATE``), so indexes are gap-free and
in commit order. Checkpoints are C2SP signed notes by the node's Ed25519 key.

:func:`verify` recomputes everything from the stored content and reports
changed, moved (reordered), deleted and inserted entries with their index,
and checkpoints whose root no longer matches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from accord.audit.models import AuditEntry, Checkpoint, LogHead
from accord.crypto.canonical import canonical_json
from accord.crypto.merkle import MerkleTree, leaf_hash
from accord.crypto.note import Checkpoint as NoteCheckpoint
from accord.crypto.note import NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint
from accord.errors import AccordError, NotFound

LOG_NAME = "audit"


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


class AuditLog:
    """Append, checkpoint, prove and verify; holds a cache of the committed tree."""

    def __init__(self, *, origin: str, signer: SignerSource, verifier: VerifierSource) -> None:
        self.origin = origin
        self._signer = signer
        self._verifier = verifier
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    # -- appending ----------------------------------------------------------
    def append(self, session: Session, entry: EntryIn, *, at: datetime) -> int:
        return self.append_many(session, [entry], at=at)[0]

    def append_many(self, session: Session, entries: Sequence[EntryIn], *, at: datetime) -> list[int]:
        """Append in the caller's transaction; the entries land iff it commits."""
        if not entries:
            return []
        start = self._reserve(session, len(entries))
        rows: list[dict[str, Any]] = []
        for offset, e in enumerate(entries):
            idx = start + offset
            rows.append({
                "idx": idx, "at": at, "actor": e.actor, "action": e.action, "object": e.object,
                "purpose": e.purpose, "basis": e.basis, "outcome": e.outcome, "detail": e.detail,
                "credential": e.credential, "leaf_hash": leaf_hash(entry_bytes(idx, at, e)),
            })
        session.execute(insert(AuditEntry), rows)
        return [int(r["idx"]) for r in rows]

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

    # -- the committed tree ---------------------------------------------------
    def _sync(self, session: Session) -> MerkleTree:
        """Bring the cached tree up to the committed head."""
        with self._lock:
            size = self.size(session)
            if size < self._tree.size:  # the database was replaced under us
                self._tree = MerkleTree()
            if size > self._tree.size:
                hashes = session.scalars(
                    select(AuditEntry.leaf_hash)
                    .where(AuditEntry.idx >= self._tree.size, AuditEntry.idx < size)
                    .order_by(AuditEntry.idx)
                ).all()
                self._tree.extend(hashes)
            return self._tree

    @staticmethod
    def size(session: Session) -> int:
        head = session.get(LogHead, LOG_NAME)
        return int(head.size) if head is not None else 0

    def root(self, session: Session, size: int | None = None) -> bytes:
        return self._sync(session).root(size)

    def checkpoint(self, session: Session, *, at: datetime) -> Checkpoint:
        """Sign the current tree head as a C2SP checkpoint and store it."""
        tree = self._sync(session)
        kid, key = self._signer(session)
        size = tree.size
        root = tree.root(size)
        note = sign_checkpoint(NoteCheckpoint(self.origin, size, root), NoteSigner(self.origin, key))
        row = Checkpoint(size=size, root_hash=root, note=note, key_id=kid, created_at=at)
        session.add(row)
        session.flush()
        return row

    def latest_checkpoint(self, session: Session) -> Checkpoint | None:
        return session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc())).first()

    def inclusion_proof(self, session: Session, idx: int, size: int | None = None) -> dict[str, Any]:
        tree = self._sync(session)
        size = tree.size if size is None else size
        row = session.get(AuditEntry, idx)
        if row is None or idx >= size:
            raise NotFound(f"no audit entry {idx} in a log of size {size}")
        return {
            "index": idx, "size": size, "leaf_hash": row.leaf_hash.hex(),
            "root": tree.root(size).hex(),
            "proof": [h.hex() for h in tree.inclusion_proof(idx, size)],
        }

    def consistency_proof(self, session: Session, old: int, new: int | None = None) -> dict[str, Any]:
        tree = self._sync(session)
        new = tree.size if new is None else new
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
        stmt = select(AuditEntry)
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
        stmt = stmt.order_by(AuditEntry.idx).offset(offset).limit(limit)
        return list(session.scalars(stmt))

    # -- verifying ---------------------------------------------------------------
    def verify(
        self, session: Session, *, progress: Callable[[int, int], None] | None = None,
        batch: int = 5000,
    ) -> VerifyReport:
        return verify_log(session, self.origin, self._verifier, progress=progress, batch=batch)


@dataclass
class Finding:
    kind: str  # changed | moved | deleted | inserted | checkpoint | signature
    index: int | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "detail": self.detail}


@dataclass
class VerifyReport:
    size: int = 0
    entries: int = 0
    checkpoints: int = 0
    root: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "size": self.size, "entries": self.entries,
            "checkpoints": self.checkpoints, "root": self.root,
            "findings": [f.to_dict() for f in self.findings],
        }


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


def verify_log(
    session: Session, origin: str, verifier: VerifierSource, *,
    progress: Callable[[int, int], None] | None = None, batch: int = 5000,
) -> VerifyReport:
    """Recompute the log from its stored content and check every checkpoint."""
    report = VerifyReport()
    head = session.get(LogHead, LOG_NAME)
    head_size = int(head.size) if head is not None else 0
    report.size = head_size
    total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    checkpoints = list(session.scalars(select(Checkpoint).order_by(Checkpoint.size, Checkpoint.id)))
    tree = MerkleTree()
    mismatched: list[AuditEntry] = []
    expected = 0
    seen = 0

    def add(leaf: bytes) -> None:
        tree.append(leaf)

    for row in _iter_entries(session, batch):
        seen += 1
        while expected < row.idx:  # a gap: entries deleted
            report.findings.append(Finding("deleted", expected, f"entry {expected} is missing"))
            add(b"\x00" * 32)
            expected += 1
        if row.idx >= head_size:
            report.findings.append(Finding(
                "inserted", row.idx, f"entry {row.idx} lies beyond the log head ({head_size})"
            ))
        recomputed = leaf_hash(entry_bytes(row.idx, row.at, row))
        if recomputed != row.leaf_hash:
            mismatched.append(row)
        add(recomputed)
        expected = row.idx + 1
        if progress is not None:
            progress(seen, total)
    while expected < head_size:
        report.findings.append(Finding("deleted", expected, f"entry {expected} is missing"))
        add(b"\x00" * 32)
        expected += 1
    report.entries = seen
    report.findings.extend(_classify_mismatches(mismatched))

    for cp in checkpoints:
        report.checkpoints += 1
        try:
            parsed = open_checkpoint(cp.note, NoteVerifier.from_public_key(origin, verifier(session, cp.key_id)))
        except AccordError as exc:
            report.findings.append(Finding("signature", cp.size, f"checkpoint {cp.id}: {exc.detail}"))
            continue
        if parsed.size != cp.size or parsed.root_hash != cp.root_hash:
            report.findings.append(Finding(
                "checkpoint", cp.size, f"checkpoint {cp.id}: stored size/root differ from its signed note"
            ))
        if parsed.size > tree.size:
            report.findings.append(Finding(
                "deleted", tree.size, f"checkpoint {cp.id} covers {parsed.size} entries, log has {tree.size}"
            ))
            continue
        if tree.root(parsed.size) != parsed.root_hash:
            report.findings.append(Finding(
                "checkpoint", parsed.size,
                f"checkpoint {cp.id} (size {parsed.size}): root does not match the entries; "
                "an entry at or below this size was altered",
            ))
    report.root = tree.root().hex() if tree.size else ""
    report.findings.sort(key=lambda f: (f.index if f.index is not None else -1, f.kind))
    return report


def _classify_mismatches(rows: Iterable[AuditEntry]) -> list[Finding]:
    """An entry whose content hashes as if it stood at another index was moved."""
    rows = list(rows)
    findings = []
    candidates = {r.idx for r in rows}
    for row in rows:
        origin = None
        # Moved entries keep the leaf hash of their old position; look nearby
        # (shifts by a deletion/insertion) and among the other mismatches (swaps).
        for j in sorted(candidates | {row.idx - 1, row.idx + 1}):
            if j < 0 or j == row.idx:
                continue
            if leaf_hash(entry_bytes(j, row.at, row)) == row.leaf_hash:
                origin = j
                break
        if origin is None:
            findings.append(Finding("changed", row.idx, f"entry {row.idx} was changed"))
        else:
            findings.append(Finding(
                "moved", row.idx, f"entry {origin} now stands at {row.idx} (reordered)"
            ))
    return findings


__all__ = [
    "AuditLog", "EntryIn", "Finding", "VerifyReport", "entry_bytes", "verify_log",
]
