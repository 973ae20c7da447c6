"""The search index: what a node's records (and alerts) file under, and the local search over it.

Issue 8, point 1. Tables in :mod:`accord.search.models`; this module is their only writer.

**What is indexed.** :func:`index_entity` takes an FtM entity dict and files it under
one key row per searchable value (:func:`entity_keys`):

=========  ============================================================  ===================
kind       FtM properties                                                key
=========  ============================================================  ===================
person     Person: name, alias, previousName, first/middle/father/last    the matcher's
           name joined; birthDate; nationality (or citizenship); gender;  :func:`~accord.search.
           passportNumber and idNumber                                   matcher.blocking_keys`
document   passportNumber, idNumber, number, personalNumber (any schema)  :func:`~accord.search.keys.document_key`
plate      registrationNumber of a Vehicle, Vessel or Airplane that is    ``CC:ABC123`` (entity's
           not a VIN                                                      country, else the owner's)
vin        registrationNumber of 17 characters without I, O, Q            :func:`~accord.search.keys.vin_key`
phone      every property of FtM type ``phone``                          E.164
email      every property of FtM type ``email``                          :func:`~accord.search.keys.email_key`
iban       ``iban``                                                      validated IBAN
wallet     CryptoWallet cryptoAddress, publicKey                         :func:`~accord.search.keys.wallet_key`
=========  ============================================================  ===================

A value that is not a valid key of its kind (an IBAN with a wrong check digit) is not
indexed: it could never meet an officer's query, which is normalised the same way.
A person's entry keeps the compact fields the matcher scores (:func:`person_of`,
stored as ``{"n": names, "b": dates, "c": nationality, "g": gender, "i": ids}``), so
a candidate is scored without loading its record.

**What keeps it current.** Every record change goes through the records use cases,
which call their change hooks in the same transaction
(:func:`accord.records.services.register_change_hook`); importing this module
registers :func:`_on_record_change` (create, update, import → re-index; delete and
retention → remove). A record is also encoded under every linkage key the node holds
(the privacy-preserving mode, :mod:`accord.search.private`), in the same transaction.
:func:`accord.bootstrap.build_node` imports it, so every node —
web, command line, tests — keeps its index in step. Alerts are indexed by the alerts
module with ``source="alert"``. :func:`reindex` rebuilds the record half from the
records table in batches (``accord search reindex``).

**Searching** (:func:`search_local`). An identifier query reads the rows of its one
match key: exact, band ``strong``. A person query reads the rows of its blocking keys,
at most :data:`BLOCK_CAP` + 1 rows per key and source (one statement); a key that has
more is *over-large* and dropped — a common name with a birth year (``mhmd`` + 1980)
says little, and the other keys of the same query (the full date of birth, the pair
of name parts, the rarer part) still find the record. If every key of a query is
over-large the query keeps what it read (bounded). Candidates are ranked by how many
keys they share with the query; the best :data:`MAX_COMPARE` are scored by
:func:`accord.search.matcher.compare` and banded; band ``none`` is not a hit. A query
therefore never reads more than ``keys × (BLOCK_CAP + 1)`` key rows and
``MAX_COMPARE`` entries, whatever the size of the index (docs/search.md, "Index",
gives the measured block sizes and latencies).

**Listeners.** :func:`register_hit_listener` lets a capability react to hits of one
source inside the search's transaction (the alerts module notifies an alert's issuer
when a search hits it, with the :class:`SearchContext`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from followthemoney import model
from sqlalchemy import TextClause, delete, func, insert, select, text
from sqlalchemy.orm import Session

from accord.bootstrap import Node
from accord.errors import ValidationFailed
from accord.records import services as records_services
from accord.records.models import Record
from accord.search.keys import (
    document_key,
    email_key,
    iban_key,
    phone_key,
    plate_key,
    vin_key,
    wallet_key,
)
from accord.search.matcher import PersonRecord, blocking_keys, compare, parse_birth_date
from accord.search.models import KINDS, SOURCES, SearchEntry, SearchKey
from accord.search.private import EntryRow, delete_rows, held_keys, write_rows

__all__ = [
    "BLOCK_CAP", "IDENTIFIER_KINDS", "MAX_COMPARE", "Candidates", "HitListener", "IndexHit",
    "IndexItem", "Query", "ReindexReport", "SearchContext", "entity_keys", "index_entities",
    "index_entity", "parse_query", "person_candidates", "person_from_json", "person_of", "query_key",
    "register_hit_listener", "reindex", "remove_entity", "search_local",
]

log = logging.getLogger("accord.search.index")

#: Rows read per blocking key and source; a key with more is over-large and dropped.
BLOCK_CAP = 1000
#: Candidates scored by the matcher per person query, those sharing most keys first.
MAX_COMPARE = 300
IDENTIFIER_KINDS = tuple(k for k in KINDS if k != "person")

_DOCUMENT_PROPS = ("passportNumber", "idNumber", "number", "personalNumber")
_VEHICLES = frozenset({"Vehicle", "Vessel", "Airplane"})
_WALLET_PROPS = ("cryptoAddress", "publicKey")
_NAME_PROPS = ("name", "alias", "previousName")
_NAME_PARTS = ("firstName", "secondName", "middleName", "fatherName", "lastName")
_MAX_NAMES = 10


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Query:
    """What an officer asks: a kind and a value (a :class:`PersonRecord` for ``person``).

    ``country`` is the plate's country, or the region of a phone number written
    without its country code.
    """

    kind: str
    value: str | PersonRecord
    country: str | None = None


@dataclass(frozen=True)
class SearchContext:
    """Who searched, why, when and where (for listeners, e.g. an alert's issuer)."""

    agency: str
    officer: str
    purpose: str
    at: datetime
    where: str | None = None


@dataclass(frozen=True)
class IndexHit:
    source: str
    ref: str
    owner: str
    kind: str
    score: float
    band: str
    explanation: tuple[dict[str, Any], ...] = ()
    handling: str = "H0"


@dataclass(frozen=True)
class IndexItem:
    """One entity to index (see :func:`index_entities`)."""

    source: str
    ref: str
    owner: str
    handling: str
    entity: Mapping[str, Any]


HitListener = Callable[[Node, Session, list[IndexHit], SearchContext | None], None]
_LISTENERS: dict[str, list[HitListener]] = {}


def register_hit_listener(source: str, fn: HitListener) -> None:
    """Call ``fn(node, s, hits, context)`` in the search's transaction when a search hits
    entries of ``source`` (only those hits are passed). Registering twice is a no-op."""
    if source not in SOURCES:
        raise ValueError(f"unknown index source {source!r}")
    listeners = _LISTENERS.setdefault(source, [])
    if fn not in listeners:
        listeners.append(fn)


# --------------------------------------------------------------------------- entity → keys


def _values(props: Mapping[str, Any], name: str) -> list[str]:
    raw = props.get(name) or []
    if isinstance(raw, str):
        raw = [raw]
    return [str(v).strip() for v in raw if v is not None and str(v).strip()]


def person_of(entity: Mapping[str, Any]) -> PersonRecord | None:
    """The matcher's view of an FtM Person (None for other schemata or a Person without a name)."""
    schema = model.get(str(entity.get("schema", "")))
    if schema is None or not schema.is_a("Person"):
        return None
    props: Mapping[str, Any] = entity.get("properties") or {}
    names = [n for p in _NAME_PROPS for n in _values(props, p)]
    joined = " ".join(v for p in _NAME_PARTS for v in _values(props, p)[:1])
    if joined:
        names.append(joined)
    names = list(dict.fromkeys(names))[:_MAX_NAMES]
    if not names:
        return None
    dates: list[str] = []
    for d in _values(props, "birthDate"):
        try:
            parse_birth_date(d[:10], strict=False)
        except ValidationFailed:
            continue
        dates.append(d[:10])
    nationality = next(iter(_values(props, "nationality") or _values(props, "citizenship")), None)
    gender = next(iter(_values(props, "gender")), None)
    ids = _values(props, "passportNumber") + _values(props, "idNumber")
    return PersonRecord(names=tuple(names), birth_dates=tuple(dict.fromkeys(dates)),
                        nationality=nationality, gender=gender, id_numbers=tuple(ids))


def _person_json(p: PersonRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"n": list(p.names)}
    if p.birth_dates:
        out["b"] = list(p.birth_dates)
    if p.nationality:
        out["c"] = p.nationality
    if p.gender:
        out["g"] = p.gender
    if p.id_numbers:
        out["i"] = list(p.id_numbers)
    return out


def person_from_json(data: Mapping[str, Any]) -> PersonRecord:
    return PersonRecord(names=tuple(data.get("n", ())), birth_dates=tuple(data.get("b", ())),
                        nationality=data.get("c"), gender=data.get("g"),
                        id_numbers=tuple(data.get("i", ())))


def _try(fn: Callable[..., str], *args: Any) -> str | None:
    try:
        return fn(*args)
    except ValidationFailed:
        return None


def _vin(value: str) -> str:
    return vin_key(value).key


def _vehicle_key(value: str, country: str) -> tuple[str, str] | None:
    vin = _try(_vin, value)
    if vin is not None:
        return "vin", vin
    plate = _try(plate_key, value, country)
    return ("plate", plate) if plate is not None else None


def entity_keys(entity: Mapping[str, Any], *, owner: str) -> tuple[set[tuple[str, str]], PersonRecord | None]:
    """The (kind, key) pairs an entity is filed under, and its person fields if it is a Person."""
    schema = model.get(str(entity.get("schema", "")))
    props: Mapping[str, Any] = entity.get("properties") or {}
    keys: set[tuple[str, str]] = set()
    if schema is None:
        return keys, None
    country = (_values(props, "country") or [owner[:2]])[0].upper()
    for name in _DOCUMENT_PROPS:
        for v in _values(props, name):
            if (k := _try(document_key, v)) is not None:
                keys.add(("document", k))
    if schema.name in _VEHICLES or any(schema.is_a(v) for v in _VEHICLES):
        for v in _values(props, "registrationNumber"):
            if (pair := _vehicle_key(v, country)) is not None:
                keys.add(pair)
    if "iban" in schema.properties:
        for v in _values(props, "iban"):
            if (k := _try(iban_key, v)) is not None:
                keys.add(("iban", k))
    if schema.is_a("CryptoWallet"):
        for name in _WALLET_PROPS:
            for v in _values(props, name):
                if (k := _try(wallet_key, v)) is not None:
                    keys.add(("wallet", k))
    for prop in schema.properties.values():
        kind = prop.type.name
        if kind not in ("phone", "email"):
            continue
        for v in _values(props, prop.name):
            k = _try(phone_key, v, country) if kind == "phone" else _try(email_key, v)
            if k is not None:
                keys.add((kind, k))
    person = person_of(entity)
    if person is not None:
        keys.update(("person", k) for k in blocking_keys(person))
    return keys, person


# --------------------------------------------------------------------------- writing


def _delete(s: Session, source: str, refs: Sequence[str], *, linkage: bool = False) -> None:
    ids = select(SearchEntry.id).where(SearchEntry.source == source, SearchEntry.ref.in_(refs))
    if linkage:
        delete_rows(s, ids)
    s.execute(delete(SearchKey).where(SearchKey.entry_id.in_(ids)))
    s.execute(delete(SearchEntry).where(SearchEntry.source == source, SearchEntry.ref.in_(refs)))


def index_entities(node: Node, s: Session, items: Iterable[IndexItem]) -> int:
    """(Re-)index many entities in ``s``: their old rows go, their new rows come. Returns
    the key rows written. Entities with nothing searchable leave no entry.

    Records are also encoded under every linkage key the node holds
    (:mod:`accord.search.private`; alerts are searched in clear on their own node only)."""
    batch = list(items)
    sources = {i.source for i in batch}
    linkage_keys = held_keys(node, s) if "record" in sources else []
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"unknown index source {source!r}")
        _delete(s, source, [i.ref for i in batch if i.source == source],
                linkage=source == "record" and bool(linkage_keys))
    now = node.now()
    entries: list[dict[str, Any]] = []
    key_sets: list[set[tuple[str, str]]] = []
    persons: list[PersonRecord | None] = []
    for item in batch:
        keys, person = entity_keys(item.entity, owner=item.owner)
        if not keys:
            continue
        persons.append(person)
        entries.append({"source": item.source, "ref": item.ref, "owner": item.owner,
                        "handling": item.handling, "schema": str(item.entity.get("schema", "")),
                        "person": _person_json(person) if person is not None else None,
                        "encoding": None, "indexed_at": now})
        key_sets.append(keys)
    if not entries:
        return 0
    ids = s.scalars(insert(SearchEntry).returning(SearchEntry.id, sort_by_parameter_order=True),
                    entries).all()
    rows = [{"kind": kind, "key": key[:200], "source": e["source"], "entry_id": eid}
            for eid, e, keys in zip(ids, entries, key_sets, strict=True) for kind, key in keys]
    s.execute(insert(SearchKey), rows)
    if linkage_keys:
        write_rows(s, linkage_keys, [EntryRow(eid, keys, person)
                                     for eid, e, keys, person in zip(ids, entries, key_sets, persons,
                                                                     strict=True)
                                     if e["source"] == "record"])
    return len(rows)


def index_entity(node: Node, s: Session, *, source: str, ref: str, owner: str, handling: str,
                 entity: Mapping[str, Any]) -> int:
    """(Re-)index one entity; returns the key rows written (0: nothing searchable)."""
    return index_entities(node, s, [IndexItem(source, ref, owner, handling, entity)])


def remove_entity(node: Node, s: Session, *, source: str, ref: str) -> None:
    """Drop an entity from the index (nothing happens if it is not there)."""
    _delete(s, source, [ref], linkage=source == "record" and bool(held_keys(node, s)))


def _on_record_change(node: Node, s: Session, row: Record, change: str) -> None:
    if change == "deleted":
        remove_entity(node, s, source="record", ref=row.id)
    else:
        index_entity(node, s, source="record", ref=row.id, owner=row.owner,
                     handling=row.handling, entity=row.entity())


records_services.register_change_hook(_on_record_change)


@dataclass
class ReindexReport:
    records: int = 0
    entries: int = 0
    keys: int = 0
    removed: int = 0
    batches: int = 0
    linkage_keys: int = 0  # linkage keys (privacy-preserving mode) the records were encoded under

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _record_batches(node: Node, batch_size: int) -> Iterator[list[IndexItem]]:
    last = ""
    while True:
        with node.read() as s:
            rows = s.execute(
                select(Record.id, Record.schema, Record.owner, Record.handling, Record.properties)
                .where(Record.id > last).order_by(Record.id).limit(batch_size)).all()
        if not rows:
            return
        last = str(rows[-1][0])
        yield [IndexItem("record", rid, owner, handling,
                         {"id": rid, "schema": schema, "properties": props})
               for rid, schema, owner, handling, props in rows]


def reindex(node: Node, *, batch_size: int = 2000, by: str = "cli",
            progress: Callable[[int], None] | None = None) -> ReindexReport:
    """Rebuild the record half of the index from the records table, in place.

    Records are read by id in batches of ``batch_size`` (memory bounded by one batch);
    each batch replaces its records' entries in its own transaction, so searches keep
    working during the rebuild. Then entries of records that no longer exist are
    removed, and one ``search:index:rebuilt`` audit entry gives the counts. Records are
    encoded under every linkage key held (the privacy-preserving mode) as they are
    indexed; the keys that opened at the start are then marked ready.
    ``progress`` is called with the number of records of each batch.
    """
    report = ReindexReport()
    with node.read() as s:
        linkage_ids = [k.key_id.hex() for k in node.linkage.usable(s)[0]]
    for items in _record_batches(node, batch_size):
        with node.uow() as s:
            report.keys += index_entities(node, s, items)
        report.records += len(items)
        report.batches += 1
        if progress is not None:
            progress(len(items))
    with node.uow() as s:
        orphans = (select(SearchEntry.id).where(
            SearchEntry.source == "record",
            ~select(Record.id).where(Record.id == SearchEntry.ref).exists()))
        removed = list(s.scalars(orphans))
        for i in range(0, len(removed), 1000):
            chunk = removed[i:i + 1000]
            delete_rows(s, chunk)
            s.execute(delete(SearchKey).where(SearchKey.entry_id.in_(chunk)))
            s.execute(delete(SearchEntry).where(SearchEntry.id.in_(chunk)))
        report.removed = len(removed)
        report.entries = s.scalar(select(func.count()).select_from(SearchEntry)
                                  .where(SearchEntry.source == "record")) or 0
        for kid in linkage_ids:  # every record is now encoded under the keys held at the start
            node.linkage.mark_indexed(s, kid, node.now())
        report.linkage_keys = len(linkage_ids)
        node.record(s, actor=by, action=REINDEXED, object="search:index",
                    detail=report.to_dict())
    return report


REINDEXED = "search:index:rebuilt"
SEARCHED_LOCAL = "search:query:local"


# --------------------------------------------------------------------------- queries


def _text(data: Mapping[str, Any], *names: str) -> str | None:
    for n in names:
        v = data.get(n)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _texts(data: Mapping[str, Any], plural: str, singular: str) -> tuple[str, ...]:
    many = data.get(plural)
    out = [str(v).strip() for v in many if str(v).strip()] if isinstance(many, list) else []
    one = _text(data, singular)
    if one:
        out.insert(0, one)
    return tuple(dict.fromkeys(out))


def parse_query(data: Mapping[str, Any]) -> Query:
    """A query from API or command-line input.

    Persons: ``{"kind": "person", "name": …, "names": […], "birth_date": …,
    "birth_dates": […], "nationality": …, "gender": …, "id_numbers": […]}`` (``dob`` is
    accepted for ``birth_date``). Identifiers: ``{"kind": "plate", "value": …,
    "country": …}``. Dates of birth are checked strictly; identifiers are checked by
    :func:`query_key`. Raises :class:`ValidationFailed`.
    """
    kind = str(data.get("kind") or "").strip().lower()
    if kind not in KINDS:
        raise ValidationFailed(f"unknown search kind {kind!r}; one of {', '.join(KINDS)}",
                               field="kind")
    country = _text(data, "country")
    if kind == "person":
        names = _texts(data, "names", "name")
        if not names:
            raise ValidationFailed("a person search needs a name", field="name")
        dates = _texts(data, "birth_dates", "birth_date") or _texts(data, "dobs", "dob")
        for d in dates:
            parse_birth_date(d)
        ids = data.get("id_numbers") or []
        person = PersonRecord(names=names, birth_dates=dates, nationality=_text(data, "nationality"),
                              gender=_text(data, "gender"),
                              id_numbers=tuple(str(i) for i in ids) if isinstance(ids, list) else ())
        return Query("person", person, country)
    value = _text(data, "value")
    if value is None:
        raise ValidationFailed(f"a {kind} search needs a value", field="value")
    query = Query(kind, value, country.upper() if country else None)
    query_key(query)
    return query


def query_key(query: Query) -> str:
    """The match key of an identifier query (as the index holds it); ValidationFailed if none."""
    value = query.value
    if isinstance(value, PersonRecord):
        raise ValidationFailed(f"a {query.kind} search needs a text value", field="value")
    if query.kind == "document":
        return document_key(value)
    if query.kind == "plate":
        if not query.country:
            raise ValidationFailed("a plate search needs the plate's country", field="country")
        return plate_key(value, query.country)
    if query.kind == "vin":
        return vin_key(value).key
    if query.kind == "phone":
        return phone_key(value, query.country)
    if query.kind == "email":
        return email_key(value)
    if query.kind == "iban":
        return iban_key(value)
    if query.kind == "wallet":
        return wallet_key(value)
    raise ValidationFailed(f"{query.kind} is not an identifier kind", field="kind")


@dataclass
class Candidates:
    """What a person query read: entry ids by shared keys, and the size of each block."""

    shared: Counter[int] = field(default_factory=Counter)
    blocks: dict[str, int] = field(default_factory=dict)  # key → rows read (BLOCK_CAP + 1: over-large)
    dropped: list[str] = field(default_factory=list)  # over-large keys left out

    def best(self, n: int = MAX_COMPARE) -> list[int]:
        return [eid for eid, _ in sorted(self.shared.items(), key=lambda x: (-x[1], x[0]))[:n]]


@lru_cache(maxsize=256)
def _blocks_statement(n_keys: int, n_sources: int) -> TextClause:
    """One statement that reads up to ``:cap`` rows of each of ``n_keys`` blocks.

    Plain SQL, built once per shape: building it with the expression language cost
    more than running it (about 20 ms for 30 keys)."""
    sources = ", ".join(f":s{j}" for j in range(n_sources))
    # Only integers are interpolated; every value is a bound parameter.
    parts = [f"SELECT t{i}.entry_id, {i} AS k FROM (SELECT entry_id FROM search_keys "  # noqa: S608
             f"WHERE kind = 'person' AND key = :k{i} AND source IN ({sources}) LIMIT :cap) AS t{i}"
             for i in range(n_keys)]
    return text(" UNION ALL ".join(parts))


def person_candidates(s: Session, person: PersonRecord, *,
                      sources: Sequence[str] = SOURCES, cap: int = BLOCK_CAP) -> Candidates:
    """Read the blocks of a person's keys (at most ``cap`` + 1 rows each) in one statement."""
    keys = sorted(blocking_keys(person))
    out = Candidates()
    if not keys or not sources:
        return out
    params: dict[str, Any] = {f"k{i}": key[:200] for i, key in enumerate(keys)}
    params.update({f"s{j}": src for j, src in enumerate(sources)})
    params["cap"] = cap + 1
    stmt = _blocks_statement(len(keys), len(sources))
    by_key: dict[int, list[int]] = {}
    for eid, k in s.execute(stmt, params):
        by_key.setdefault(int(k), []).append(int(eid))
    for i, key in enumerate(keys):
        out.blocks[key] = len(by_key.get(i, ()))
    over = {i for i, ids in by_key.items() if len(ids) > cap}
    keep = [i for i in by_key if i not in over] or list(by_key)
    out.dropped = [keys[i] for i in sorted(over) if i not in keep]
    for i in keep:
        out.shared.update(by_key[i])
    return out


def _entries(s: Session, ids: Sequence[int]) -> list[Any]:
    if not ids:
        return []
    return list(s.execute(select(SearchEntry.id, SearchEntry.source, SearchEntry.ref,
                                 SearchEntry.owner, SearchEntry.handling, SearchEntry.person)
                          .where(SearchEntry.id.in_(list(ids)))))


def _search_person(s: Session, person: PersonRecord, limit: int,
                   sources: Sequence[str]) -> list[IndexHit]:
    cands = person_candidates(s, person, sources=sources)
    hits: list[IndexHit] = []
    for _eid, source, ref, owner, handling, data in _entries(s, cands.best()):
        if not data:
            continue
        if isinstance(data, str):  # a JSON column read back as text by some drivers
            data = json.loads(data)
        m = compare(person, person_from_json(data))
        if m.band == "none":
            continue
        hits.append(IndexHit(source, ref, owner, "person", round(m.score, 4), m.band,
                             tuple(m.as_dict()["explanation"]), handling))
    hits.sort(key=lambda h: (-h.score, h.source, h.ref))
    return hits[:limit]


def _search_identifier(s: Session, kind: str, key: str, limit: int,
                       sources: Sequence[str]) -> list[IndexHit]:
    rows = s.execute(
        select(SearchEntry.source, SearchEntry.ref, SearchEntry.owner, SearchEntry.handling)
        .join(SearchKey, SearchKey.entry_id == SearchEntry.id)
        .where(SearchKey.kind == kind, SearchKey.key == key, SearchKey.source.in_(list(sources)))
        .order_by(SearchEntry.source, SearchEntry.ref).limit(limit))
    explanation = ({"field": kind, "level": "exact", "weight": 0.0, "left": key, "right": key,
                    "detail": "equal match keys"},)
    return [IndexHit(src, ref, owner, kind, 1.0, "strong", explanation, handling)
            for src, ref, owner, handling in rows]


def search_local(node: Node, s: Session, query: Query, *, limit: int = 10,
                 sources: tuple[str, ...] = SOURCES,
                 context: SearchContext | None = None) -> list[IndexHit]:
    """Search this node's index; hits best first (band ``strong`` or ``possible``).

    Reads only the rows of the query's keys (see the module docstring). Listeners
    registered for a source get that source's hits in this transaction. Does not
    audit: the caller (the protocol, :func:`accord.search.services.search_as_officer`)
    records who asked and why.
    """
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValidationFailed(f"unknown index source(s): {', '.join(sorted(unknown))}",
                               field="sources")
    limit = max(1, limit)
    if query.kind == "person":
        if not isinstance(query.value, PersonRecord):
            raise ValidationFailed("a person search needs a person", field="value")
        hits = _search_person(s, query.value, limit, sources)
    else:
        hits = _search_identifier(s, query.kind, query_key(query), limit, sources)
    for source in sources:
        mine = [h for h in hits if h.source == source]
        if mine:
            for fn in _LISTENERS.get(source, ()):
                fn(node, s, mine, context)
    return hits
