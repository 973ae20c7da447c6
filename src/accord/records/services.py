"""Use cases for records: create, read, update, delete, list, import, export, retention.

Each use case is one or more units of work on the node (``node.uow()``) and
appends its audit entries in the same transaction as its writes, so a record
and the entry that covers it land together or not at all.

Refusals are facts the audit trail keeps: when a reader may not see or change
a record, the ``records:record:denied`` entry is committed *before* the error
is raised (the pattern of :func:`accord.auth.services.authenticate`). That is
why these use cases own their transactions instead of taking the request's.

Visibility, in order:

1. the record's handling code must not be above the reader's clearance
   (``clearance-too-low``);
2. a reader of another country than the owner goes through the policy
   decision point (``record-access-after-hit``), audited as the sending side;
   a deny is raised as ``PolicyDenied`` with the decision's code;
3. agencies of the same node share: a reader of another agency of the same
   country sees the record, and the audit entry says so (``shared: true``).

Only officers of the owner agency create, change or delete its records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO, TypeVar

from sqlalchemy import String, Table, bindparam, cast, delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from accord.agreements import Action as FlowAction
from accord.agreements import Actor, Handling, Resource
from accord.audit.services import EntryIn
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.errors import AccordError, PermissionDenied, PolicyDenied
from accord.parties.models import Agency
from accord.records.domain import (
    Reader,
    RecordData,
    categories_of,
    content_digest,
    meta_from,
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
from accord.records.models import Record

__all__ = [
    "ExportReport",
    "ImportReport",
    "LineError",
    "RecordFilter",
    "RecordPage",
    "RetentionReport",
    "check_read",
    "create_record",
    "delete_record",
    "export_records",
    "get_record",
    "import_records",
    "list_records",
    "register_change_hook",
    "run_retention",
    "update_record",
]

_TABLE: Table = Record.__table__  # type: ignore[assignment]
_COLUMNS = ("schema", "properties", "caption", "owner", "handling", "source_reliability",
            "info_credibility", "legal_basis", "purpose", "retention_until", "cases",
            "provenance", "digest", "updated_at", "updated_by", "audit_idx",
            "flagged_at", "flag_reason")


ChangeHook = Callable[[Node, Session, Record, str], None]
_CHANGE_HOOKS: list[ChangeHook] = []


def register_change_hook(fn: ChangeHook) -> None:
    """Call ``fn(node, s, row, change)`` whenever a record changes, in the same transaction.

    ``change`` is ``created``, ``updated`` or ``deleted`` (imports and retention too);
    the search index (:mod:`accord.search.index`) and the alerts check register here.
    A hook that raises rolls the change back. Registering the same function twice is a no-op.
    """
    if fn not in _CHANGE_HOOKS:
        _CHANGE_HOOKS.append(fn)


def _changed(node: Node, s: Session, rows: Iterable[Record], change: str) -> None:
    for row in rows:
        for fn in _CHANGE_HOOKS:
            fn(node, s, row, change)


def _obj(record_id: str) -> str:
    return f"record:{record_id}"


def _hosted_agencies(s: Session) -> dict[str, str]:
    """Agency id → country, for the agencies this node hosts."""
    rows = s.execute(select(Agency.id, Agency.country).where(Agency.hosted.is_(True))).all()
    return {str(a): str(c) for a, c in rows}


def _load(s: Session, record_id: str) -> Record:
    row = s.get(Record, record_id)
    if row is None:
        raise RecordNotFound(f"no record {record_id!r} on this node", record_id=record_id)
    return row


def _row_values(data: RecordData) -> dict[str, Any]:
    e, m = data.entity, data.meta
    return {
        "schema": e.schema, "properties": e.properties, "caption": e.caption, "owner": m.owner,
        "handling": m.handling.value, "source_reliability": m.source_reliability.value,
        "info_credibility": m.info_credibility.value, "legal_basis": m.legal_basis,
        "purpose": m.purpose.value, "retention_until": m.retention_until, "cases": list(m.cases),
        "provenance": m.provenance, "digest": data.digest,
    }


def _summary(row: Record) -> dict[str, Any]:
    """What the audit trail says about a record: no property values (no personal data)."""
    return {"schema": row.schema, "owner": row.owner, "handling": row.handling}


# --------------------------------------------------------------------------- refusals


def _deny(node: Node, s: Session, reader: Reader, row: Record, error: AccordError, *,
          attempted: str, purpose: str) -> AccordError:
    node.record(s, actor=reader.actor, action=Action.RECORD_DENIED, object=_obj(row.id),
                purpose=purpose, basis=row.legal_basis, outcome="denied",
                detail={**_summary(row), "attempted": attempted,
                        "reason": error.extra.get("reason", error.slug),
                        "clearance": reader.clearance.value}, credential=reader.credential)
    return error


def _clearance_error(reader: Reader, handling: Handling, record_id: str) -> ClearanceTooLow:
    return ClearanceTooLow(
        f"record {record_id} is handled at {handling.value} ({handling.tlp}), above your "
        f"clearance {reader.clearance.value}",
        reason="clearance-too-low", handling=handling.value, clearance=reader.clearance.value,
        record_id=record_id,
    )


def check_read(node: Node, s: Session, row: Record, reader: Reader, *, purpose: str,
               crime_area: str | None = None) -> tuple[AccordError | None, dict[str, Any], str]:
    """May ``reader`` read ``row``? Returns (refusal or None, audit detail, basis).

    Records the refusal entry in ``s`` (commit it before raising the refusal).
    A cross-border read records the PDP decision as well.
    """
    handling = Handling(row.handling)
    if not reader.covers(handling):
        error = _clearance_error(reader, handling, row.id)
        return _deny(node, s, reader, row, error, attempted="read", purpose=purpose), {}, ""
    detail: dict[str, Any] = _summary(row)
    basis = row.legal_basis
    if reader.agency_id is not None and reader.agency_id != row.owner:
        detail["shared"] = True
        if reader.country != row.owner[:2]:
            decision = node.policy.decide_and_record(
                node, s,
                actor=Actor(row.owner, reader.agency_id, officer=reader.actor,
                            clearance=reader.clearance),
                action=FlowAction.RECORD_ACCESS_AFTER_HIT,
                resource=Resource(categories_of(row.schema, row.properties), crime_area,
                                  handling),
                purpose=purpose, by=reader.actor, side="sender", credential=reader.credential,
            )
            if not decision.allowed:
                denied = PolicyDenied(decision.reason, reason=decision.code.value,
                                      basis=None if decision.basis is None
                                      else decision.basis.to_dict(), record_id=row.id)
                return _deny(node, s, reader, row, denied, attempted="read",
                             purpose=purpose), {}, ""
            assert decision.basis is not None
            basis = str(decision.basis)
            detail["cross_border"] = True
    return None, detail, basis


def _check_write(node: Node, s: Session, row: Record, reader: Reader, *, attempted: str,
                 new_handling: Handling | None = None) -> AccordError | None:
    handling = Handling(row.handling)
    error: AccordError | None = None
    if not reader.covers(handling):
        error = _clearance_error(reader, handling, row.id)
    elif reader.agency_id is not None and reader.agency_id != row.owner:
        error = NotRecordOwner(
            f"record {row.id} is owned by {row.owner}; only its officers may {attempted} it",
            reason="not-owner", owner=row.owner, agency=reader.agency_id, record_id=row.id)
    elif new_handling is not None and not reader.covers(new_handling):
        error = ClearanceTooLow(
            f"you cannot mark a record {new_handling.value}, above your clearance "
            f"{reader.clearance.value}", reason="clearance-too-low",
            handling=new_handling.value, clearance=reader.clearance.value, record_id=row.id)
    if error is None:
        return None
    return _deny(node, s, reader, row, error, attempted=attempted, purpose=row.purpose)


# --------------------------------------------------------------------------- single records


T = TypeVar("T")


def _attempt(node: Node, *, actor: str, action: Action, obj: str, purpose: str,
             body: Callable[[Session], T], credential: str = "") -> T:
    """Run ``body`` in one unit of work; every failure leaves an audit entry.

    A refusal (``PermissionDenied``) has recorded its own entry and wrote
    nothing else: it is committed, then raised. Any other domain error (bad
    input, unknown or existing record) rolls back whatever the body did and
    commits one ``outcome=rejected`` entry naming the error and the fields
    (never the values: they may be personal data).
    """
    error: AccordError | None = None
    with node.uow() as s:
        try:
            return body(s)
        except PermissionDenied as exc:
            error = exc
        except AccordError as exc:
            if exc.status >= 500:
                raise
            s.rollback()
            node.record_failure(s, actor=actor, action=action, object=obj, purpose=purpose,
                                error=exc, credential=credential)
            error = exc
    raise error


def _resolve_owner(s: Session, reader: Reader, meta: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    hosted = _hosted_agencies(s)
    owner = str(meta.get("owner") or reader.agency_id or "").strip().upper()
    if not owner:
        raise RecordInvalid("a record needs an owner agency", errors=[
            {"field": "meta.owner", "message": "required"}])
    if owner not in hosted:
        raise RecordInvalid(f"{owner} is not an agency hosted on this node", errors=[
            {"field": "meta.owner", "message": f"{owner!r} is not hosted here"}])
    return owner, hosted


def create_record(node: Node, entity: Mapping[str, Any], meta: Mapping[str, Any], *,
                  reader: Reader) -> Record:
    """Validate and store a new record; its owner defaults to the reader's agency.

    Without an ``id`` the entity gets a fresh one. The reader must belong to
    the owner agency and may not mark a record above their own clearance.
    """

    def body(s: Session) -> Record:
        owner, hosted = _resolve_owner(s, reader, meta)
        valid = validate_entity(entity, default_region=hosted[owner], generate_id=True)
        m = meta_from({**meta, "owner": owner}, today=node.now().date())
        data = RecordData(valid, m, content_digest(valid, m))
        if s.get(Record, data.id) is not None:
            raise RecordExists(f"record {data.id} exists; update it instead", record_id=data.id)
        now = node.now()
        row = Record(id=data.id, **_row_values(data), created_at=now, created_by=reader.actor,
                     updated_at=now, updated_by=reader.actor)
        refusal: AccordError | None = None
        if reader.agency_id is not None and reader.agency_id != owner:
            refusal = NotRecordOwner(
                f"you can create records only for your agency {reader.agency_id}, not {owner}",
                reason="not-owner", owner=owner, agency=reader.agency_id, record_id=data.id)
        elif not reader.covers(m.handling):
            refusal = ClearanceTooLow(
                f"you cannot create a record at {m.handling.value}, above your clearance "
                f"{reader.clearance.value}", reason="clearance-too-low",
                handling=m.handling.value, clearance=reader.clearance.value, record_id=data.id)
        if refusal is not None:
            raise _deny(node, s, reader, row, refusal, attempted="create", purpose=m.purpose.value)
        row.audit_idx = node.record(
            s, actor=reader.actor, action=Action.RECORD_CREATED, object=_obj(data.id),
            purpose=m.purpose.value, basis=m.legal_basis,
            detail={**_summary(row), "categories": sorted(data.categories)},
            credential=reader.credential)
        s.add(row)
        s.flush()
        _changed(node, s, [row], "created")
        return row

    entity_id = entity.get("id") if isinstance(entity, Mapping) else None
    return _attempt(node, actor=reader.actor, action=Action.RECORD_CREATED,
                    obj=_obj(str(entity_id)) if entity_id else "record:(new)",
                    purpose=str(meta.get("purpose") or ""), body=body, credential=reader.credential)


def get_record(node: Node, record_id: str, *, reader: Reader, purpose: str | None = None,
               crime_area: str | None = None) -> Record:
    """Read one record (audited); refusals are audited and raised."""

    def body(s: Session) -> Record:
        row = _load(s, record_id)
        why = purpose or row.purpose
        refusal, detail, basis = check_read(node, s, row, reader, purpose=why,
                                            crime_area=crime_area)
        if refusal is not None:
            raise refusal
        node.record(s, actor=reader.actor, action=Action.RECORD_READ, object=_obj(row.id),
                    purpose=why, basis=basis, detail=detail, credential=reader.credential)
        return row

    return _attempt(node, actor=reader.actor, action=Action.RECORD_READ, obj=_obj(record_id),
                    purpose=purpose or "", body=body, credential=reader.credential)


_META_FIELDS = ("handling", "source_reliability", "info_credibility", "legal_basis", "purpose",
                "retention_until", "cases", "provenance")


def meta_handling(value: Any) -> Handling:
    """H0–H3 or a TLP 2.0 label; ``ValueError`` otherwise."""
    text = str(value).strip()
    return Handling.from_tlp(text) if text.upper().startswith("TLP:") else Handling(text.upper())


def update_record(node: Node, record_id: str, *, reader: Reader,
                  properties: Mapping[str, Any] | None = None,
                  meta: Mapping[str, Any] | None = None) -> Record:
    """Replace the properties and/or change metadata (never the owner or the schema).

    Extending ``retention_until`` past today clears a retention flag.
    """
    changes = {k: v for k, v in (meta or {}).items() if v is not None}

    def body(s: Session) -> Record:
        row = _load(s, record_id)
        new_handling = None
        if "handling" in changes:
            try:
                new_handling = meta_handling(changes["handling"])
            except ValueError:
                new_handling = None  # meta_from reports it below
        refusal = _check_write(node, s, row, reader, attempted="update", new_handling=new_handling)
        if refusal is not None:
            raise refusal
        if "owner" in changes and str(changes["owner"]).upper() != row.owner:
            raise RecordInvalid("the owner of a record cannot change", errors=[
                {"field": "meta.owner", "message": "cannot change"}])
        unknown = sorted(set(changes) - set(_META_FIELDS) - {"owner"})
        if unknown:
            raise RecordInvalid(f"unknown metadata field(s): {', '.join(unknown)}", errors=[
                {"field": f"meta.{k}", "message": "unknown key"} for k in unknown])
        hosted = _hosted_agencies(s)
        entity = {"id": row.id, "schema": row.schema,
                  "properties": row.properties if properties is None else properties}
        valid = validate_entity(entity, default_region=hosted.get(row.owner))
        merged = row.meta() | {k: v for k, v in changes.items() if k in _META_FIELDS}
        today = node.now().date()
        m = meta_from(merged, today=today)
        data = RecordData(valid, m, content_digest(valid, m))
        before = row.meta() | {"properties": row.properties}
        after = m.to_dict() | {"properties": valid.properties}
        changed = sorted(k for k in after if after[k] != before.get(k))
        for key, value in _row_values(data).items():
            setattr(row, key, value)
        row.updated_at = node.now()
        row.updated_by = reader.actor
        if row.flagged_at is not None and m.retention_until >= today:
            row.flagged_at, row.flag_reason = None, None
        row.audit_idx = node.record(
            s, actor=reader.actor, action=Action.RECORD_UPDATED, object=_obj(row.id),
            purpose=m.purpose.value, basis=m.legal_basis,
            detail={**_summary(row), "changed": changed}, credential=reader.credential)
        s.flush()
        _changed(node, s, [row], "updated")
        return row

    return _attempt(node, actor=reader.actor, action=Action.RECORD_UPDATED, obj=_obj(record_id),
                    purpose="", body=body, credential=reader.credential)


def delete_record(node: Node, record_id: str, *, reader: Reader, reason: str = "") -> None:
    """Erase a record: the row goes; the audit entry keeps its id, schema, owner, handling."""

    def body(s: Session) -> None:
        row = _load(s, record_id)
        refusal = _check_write(node, s, row, reader, attempted="delete")
        if refusal is not None:
            raise refusal
        node.record(s, actor=reader.actor, action=Action.RECORD_DELETED, object=_obj(row.id),
                    purpose=row.purpose, basis=row.legal_basis,
                    detail={**_summary(row), "reason": reason[:500]}, credential=reader.credential)
        _changed(node, s, [row], "deleted")
        s.delete(row)

    _attempt(node, actor=reader.actor, action=Action.RECORD_DELETED, obj=_obj(record_id),
             purpose="", body=body, credential=reader.credential)


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class RecordFilter:
    schema: str | None = None
    owner: str | None = None
    case: str | None = None
    handling: str | None = None  # exactly this code
    purpose: str | None = None
    q: str | None = None  # caption contains (case-insensitive)
    flagged: bool | None = None
    retention_before: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v)
                for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RecordPage:
    items: list[Record]
    total: int  # visible records matching the filter
    withheld: int  # matching records the reader may not see
    limit: int
    offset: int


def _where(f: RecordFilter) -> list[ColumnElement[bool]]:
    cond: list[ColumnElement[bool]] = []
    if f.schema:
        cond.append(Record.schema == f.schema)
    if f.owner:
        cond.append(Record.owner == f.owner.upper())
    if f.handling:
        cond.append(Record.handling == f.handling.upper())
    if f.purpose:
        cond.append(Record.purpose == f.purpose)
    if f.case:
        # cases is a JSON list of strings; its text holds "<ref>" on both engines.
        cond.append(cast(Record.cases, String).contains(json.dumps(f.case), autoescape=True))
    if f.q:
        cond.append(func.lower(Record.caption).contains(f.q.lower(), autoescape=True))
    if f.flagged is True:
        cond.append(Record.flagged_at.is_not(None))
    elif f.flagged is False:
        cond.append(Record.flagged_at.is_(None))
    if f.retention_before:
        cond.append(Record.retention_until < f.retention_before)
    return cond


def _visible(reader: Reader) -> list[ColumnElement[bool]]:
    cond: list[ColumnElement[bool]] = [
        Record.handling.in_([h.value for h in Handling if reader.covers(h)])]
    if reader.country is not None:
        # Records owned in another country are reached by hit/no-hit and the
        # follow-up, never by browsing.
        cond.append(Record.owner.startswith(reader.country + "-", autoescape=True))
    return cond


def list_records(node: Node, *, reader: Reader, filters: RecordFilter | None = None,
                 limit: int = 50, offset: int = 0, purpose: str | None = None) -> RecordPage:
    """The records the reader may see, and how many matching ones were withheld.

    Each listed record gets a ``records:record:read`` entry (one insert for the
    page) and the listing a ``records:records:listed`` summary.
    """
    f = filters or RecordFilter()
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    with node.uow() as s:
        where = _where(f)
        visible = _visible(reader)
        all_count = s.scalar(select(func.count()).select_from(Record).where(*where)) or 0
        total = s.scalar(select(func.count()).select_from(Record).where(*where, *visible)) or 0
        rows = list(s.scalars(select(Record).where(*where, *visible).order_by(Record.id)
                              .limit(limit).offset(offset)))
        now = node.now()
        entries = [EntryIn(actor=reader.actor, action=Action.RECORD_READ, object=_obj(r.id),
                           purpose=purpose or r.purpose, basis=r.legal_basis, outcome="ok",
                           detail={**_summary(r), "via": "list",
                                   **({"shared": True} if reader.agency_id not in (None, r.owner)
                                      else {})}, credential=reader.credential)
                   for r in rows]
        entries.append(EntryIn(actor=reader.actor, action=Action.RECORD_LISTED, object="records",
                               purpose=purpose or "", basis="", outcome="ok",
                               detail={"filters": f.to_dict(), "returned": len(rows),
                                       "total": total, "withheld": all_count - total,
                                       "limit": limit, "offset": offset},
                               credential=reader.credential))
        node.audit.append_many(s, entries, at=now)
        return RecordPage(items=rows, total=total, withheld=all_count - total, limit=limit,
                          offset=offset)


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str
    id: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "reason": self.reason, "errors": self.errors}


@dataclass
class ImportReport:
    source: str
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    batches: int = 0
    past_retention: int = 0  # records taken in although their retention date has passed
    errors: list[LineError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "lines": self.lines, "inserted": self.inserted,
                "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
                "batches": self.batches, "past_retention": self.past_retention,
                "errors": [e.to_dict() for e in self.errors]}


def ids_digest(ids: Iterable[str]) -> str:
    """SHA-256 over the sorted ids, one per line: names a set of records in an audit entry."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _flush_batch(node: Node, batch: dict[str, tuple[int, RecordData]], report: ImportReport,
                 *, by: str, source: str, import_id: str) -> None:
    if not batch:
        return
    with node.uow() as s:
        existing = {
            rid: (digest, owner) for rid, digest, owner in s.execute(
                select(Record.id, Record.digest, Record.owner).where(Record.id.in_(list(batch))))
        }
        inserts: list[tuple[int, RecordData]] = []
        updates: list[tuple[int, RecordData]] = []
        unchanged = 0
        rejected: list[LineError] = []
        for rid, (line, data) in batch.items():
            old = existing.get(rid)
            if old is None:
                inserts.append((line, data))
            elif old[1] != data.meta.owner:
                rejected.append(LineError(line, f"record {rid} exists and is owned by {old[1]}, "
                                          f"not {data.meta.owner}", rid))
            elif old[0] == data.digest:
                unchanged += 1
            else:
                updates.append((line, data))
        written = inserts + updates
        lines = [line for line, _ in batch.values()]
        if written:
            ids = [d.id for _, d in written]
            now = node.now()
            audit_idx = node.record(
                s, actor=by, action=Action.RECORD_IMPORTED, object=f"import:{import_id}",
                purpose="", basis="", detail={
                    "source": source, "batch": report.batches + 1,
                    "lines": [min(lines), max(lines)], "inserted": len(inserts),
                    "updated": len(updates), "unchanged": unchanged,
                    "rejected_in_batch": len(rejected), "count": len(ids),
                    "first_id": min(ids), "last_id": max(ids), "ids_sha256": ids_digest(ids),
                    "owners": sorted({d.meta.owner for _, d in written}),
                    "handling": sorted({d.meta.handling.value for _, d in written}),
                })
            if inserts:
                s.execute(_TABLE.insert(), [
                    {"id": d.id, **_row_values(d), "created_at": now, "created_by": by,
                     "updated_at": now, "updated_by": by, "audit_idx": audit_idx,
                     "flagged_at": None, "flag_reason": None}
                    for _, d in inserts])
            if updates:
                stmt = (update(_TABLE).where(_TABLE.c.id == bindparam("b_id"))
                        .values({c: bindparam(f"b_{c}") for c in _COLUMNS}))
                s.connection().execute(stmt, [
                    {"b_id": d.id, **{f"b_{k}": v for k, v in _row_values(d).items()},
                     "b_updated_at": now, "b_updated_by": by, "b_audit_idx": audit_idx,
                     "b_flagged_at": None, "b_flag_reason": None}
                    for _, d in updates])
            if _CHANGE_HOOKS:  # the hooks get the rows as they now stand (transient objects)
                _changed(node, s, [Record(id=d.id, **_row_values(d), created_at=now, created_by=by,
                                          updated_at=now, updated_by=by, audit_idx=audit_idx)
                                   for _, d in inserts], "created")
                _changed(node, s, [Record(id=d.id, **_row_values(d), updated_at=now, updated_by=by,
                                          audit_idx=audit_idx) for _, d in updates], "updated")
    report.batches += 1
    report.inserted += len(inserts)
    report.updated += len(updates)
    report.unchanged += unchanged
    report.errors.extend(rejected)


def import_records(
    node: Node, lines: Iterable[bytes | str], *, defaults: Mapping[str, Any] | None = None,
    by: str = "cli", source: str = "<stream>", batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import FtM JSON lines; idempotent by entity id.

    Each line is ``{"entity": …, "meta": …}`` or a plain FtM entity (its
    metadata from ``defaults``). A bad line is reported (line number, reason)
    and skipped; good lines are written in batches of ``batch_size``, each
    batch one transaction with one audit entry, so an interruption leaves
    whole records only and a re-run completes the import. A record that
    exists with the same content is left alone (``unchanged``); with other
    content it is updated; one owned by another agency is refused. Records
    whose retention date has already passed are taken in and counted
    (``past_retention``): the next retention run deletes or flags them.
    ``progress`` is called with the size of each line consumed (bytes).
    """
    report = ImportReport(source=source)
    defaults = dict(defaults or {})
    with node.uow() as s:
        hosted = _hosted_agencies(s)
    today = node.now().date()
    import_id = hashlib.sha256(
        f"{source}|{node.now().isoformat()}|{by}".encode()).hexdigest()[:16]
    batch: dict[str, tuple[int, RecordData]] = {}
    for number, raw in enumerate(lines, start=1):
        size = len(raw)
        report.lines = number
        if raw.strip():
            error = None
            obj: Any = None
            try:
                obj = json.loads(raw)  # bytes are decoded as UTF-8 (or UTF-16/32 with a BOM)
                # No retention check here: an import moves existing holdings, some
                # already due; they are counted and the retention job takes them.
                data = parse_line(obj, defaults=defaults, default_region_of=hosted)
            except UnicodeDecodeError:
                error = LineError(number, "not UTF-8 text")
            except json.JSONDecodeError as exc:
                error = LineError(number, f"not JSON: {exc.msg} at column {exc.colno}")
            except RecordInvalid as exc:
                rid = obj.get("entity", obj).get("id") if isinstance(obj, dict) and isinstance(
                    obj.get("entity", obj), dict) else None
                error = LineError(number, exc.detail, rid if isinstance(rid, str) else None,
                                  list(exc.extra.get("errors", [])))
            else:
                if data.meta.owner not in hosted:
                    error = LineError(number, f"owner {data.meta.owner} is not an agency hosted "
                                      "on this node", data.id)
            if error is not None:
                report.errors.append(error)
            else:
                if data.meta.retention_until < today:
                    report.past_retention += 1
                # A later line for the same id in the same batch replaces the earlier.
                batch[data.id] = (number, data)
                if len(batch) >= batch_size:
                    _flush_batch(node, batch, report, by=by, source=source, import_id=import_id)
                    batch = {}
        if progress is not None:
            progress(size)
    _flush_batch(node, batch, report, by=by, source=source, import_id=import_id)
    report.errors.sort(key=lambda e: e.line)
    return report


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportReport:
    count: int
    withheld: int
    first_id: str | None
    last_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "withheld": self.withheld, "first_id": self.first_id,
                "last_id": self.last_id}


def export_line(row: Record) -> str:
    return json.dumps({"entity": row.entity(), "meta": row.meta()}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))


def export_records(node: Node, out: TextIO, *, reader: Reader,
                   filters: RecordFilter | None = None, batch: int = 2000) -> ExportReport:
    """Write the visible records as FtM JSON lines (the import format), sorted by id.

    One ``records:batch:exported`` audit entry names the records by count, id
    range and the SHA-256 of their ids.
    """
    f = filters or RecordFilter()
    digest = hashlib.sha256()
    count, first, last = 0, None, None
    with node.uow() as s:
        where = _where(f)
        visible = _visible(reader)
        all_count = s.scalar(select(func.count()).select_from(Record).where(*where)) or 0
        stmt = (select(Record).where(*where, *visible).order_by(Record.id)
                .execution_options(yield_per=batch))
        for row in s.scalars(stmt):
            out.write(export_line(row) + "\n")
            digest.update(("\n" if count else "").encode() + row.id.encode())
            first = first or row.id
            last = row.id
            count += 1
        report = ExportReport(count=count, withheld=all_count - count, first_id=first,
                              last_id=last)
        node.record(s, actor=reader.actor, action=Action.RECORD_EXPORTED, object="records",
                    detail={**report.to_dict(), "filters": f.to_dict(),
                            "ids_sha256": digest.hexdigest()}, credential=reader.credential)
    return report


# --------------------------------------------------------------------------- retention


@dataclass
class RetentionReport:
    as_of: date
    mode: str  # delete | flag
    dry_run: bool
    ids: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ids)

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "mode": self.mode, "dry_run": self.dry_run,
                "count": self.count, "ids": self.ids}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def run_retention(node: Node, *, flag_only: bool = False, dry_run: bool = False,
                  by: str = "retention", batch_size: int = 500) -> RetentionReport:
    """Delete (or flag) every record whose retention date has passed as of ``node.now()``.

    A record is kept through its ``retention_until`` day and is due the day
    after. Each deletion or flag gets its own audit entry (id, schema, owner,
    handling, retention date), written in the same transaction as the change,
    in batches of ``batch_size``. ``dry_run`` only lists what is due.
    """
    today = node.now().date()
    report = RetentionReport(as_of=today, mode="flag" if flag_only else "delete",
                             dry_run=dry_run)
    due: ColumnElement[bool] = Record.retention_until < today
    cond = [due, Record.flagged_at.is_(None)] if flag_only else [due]
    with node.uow() as s:
        ids = list(s.scalars(select(Record.id).where(*cond).order_by(Record.id)))
    if dry_run:
        report.ids = ids
        return report
    action = Action.RECORD_RETENTION_FLAGGED if flag_only else Action.RECORD_RETENTION_DELETED
    for chunk in _chunks(ids, batch_size):
        with node.uow() as s:
            rows = list(s.scalars(select(Record).where(Record.id.in_(list(chunk)), *cond)
                                  .order_by(Record.id)))
            if not rows:
                continue
            now = node.now()
            entries = [EntryIn(actor=by, action=action, object=_obj(r.id), purpose=r.purpose,
                               basis="retention", outcome="ok",
                               detail={**_summary(r),
                                       "retention_until": r.retention_until.isoformat()})
                       for r in rows]
            idxs = node.audit.append_many(s, entries, at=now)
            done = [r.id for r in rows]
            if flag_only:
                for r, idx in zip(rows, idxs, strict=True):
                    r.flagged_at, r.flag_reason, r.audit_idx = now, "retention-expired", idx
            else:
                _changed(node, s, rows, "deleted")
                s.execute(delete(Record).where(Record.id.in_(done)))
            report.ids.extend(done)
    return report
