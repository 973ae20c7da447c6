"""Privacy-preserving hit/no-hit search: what a query carries, what the index keeps, how it matches.

Issue 8, point 4, wired into the protocol (:mod:`accord.search.protocol`); the construction
of the filters is :mod:`accord.search.bloom`'s, the reasoning and what leaks are in
docs/search-privacy.md. Under an agreement whose search clause says ``search_mode: bloom``
both parties hold one linkage secret (:mod:`accord.search.linkage`); every key below is
derived from it (HKDF, per agreement and epoch), so nobody without it can build or test
a value.

**Persons.** A name is first brought to comparable Latin parts by the clear matcher's
normaliser (:func:`accord.search.names.normalise_name`: transliteration of Arabic, Cyrillic,
Chinese …, particles set aside, abd/abu joined) *inside the encoding node*; then the
:data:`SEARCH_SCHEME` fields are filled and encoded as keyed, balanced Bloom filters:

=============  =======  ============================================================
field          kind     value
=============  =======  ============================================================
name           qgrams   the Latin parts, sorted (order-free: "Putin Vladimir")
skeleton       qgrams   the parts' consonant skeletons, sorted (يوسف / Youssef: ``asf``)
date_of_birth  date     ``YYYY[MM[DD]]``
sex            exact    ``m`` / ``f``
nationality    exact    ISO 3166 code
=============  =======  ============================================================

One encoding per name of a record (aliases) and date of birth (at most two), compared by
Dice per field with Fellegi–Sunter weights (:func:`accord.search.bloom.compare`); a record
scores as its best encoding. Candidates come from the clear matcher's blocking keys
(:func:`accord.search.matcher.blocking_keys`: skeletons, Metaphones, name identities with
the birth year, pairs of parts, the full date), computed inside each node and keyed with
the linkage key's blocking key (:meth:`~accord.search.bloom.BloomEncoder.keyed`): the same
candidates as in clear mode, never a scan.

**Identifiers** (document, plate, VIN, phone, e-mail, IBAN, wallet) are normalised to
their match key (:mod:`accord.search.keys`) inside the node and travel as
``HMAC-SHA256(identifier key, kind ‖ match key)`` truncated to 16 bytes: exact match only.

**Index.** Stored, not computed (docs/search-privacy.md, "Index"): the keyed tokens of a
query can only be matched against keyed tokens, so every record is encoded under every
linkage key the node holds when it is indexed — by the record change hooks, through
:func:`accord.search.index.index_entities` — into ``search_linkage_tokens`` (one row per
token, primary key ``(key_id, kind, token, entry_id)``: the lookup index) and
``search_linkage_entries`` (the encodings). A query reads the rows of its tokens (at most
:data:`~accord.search.index.BLOCK_CAP` + 1 per token, one statement) and scores the
best :data:`~accord.search.index.MAX_COMPARE` candidates — as a clear query does.

**Use cases**: :func:`set_linkage_key` (hold a secret, encode the index under it, audit),
:func:`retire_linkage_key`, :func:`index_under`.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import TextClause, delete, insert, select, text
from sqlalchemy.orm import Session

from accord.audit.tags import Action
from accord.errors import NotFound, ValidationFailed
from accord.search.bloom import (
    POSSIBLE_AT,
    STRONG_AT,
    Band,
    BloomEncoder,
    BloomScheme,
    Comparison,
    Encoding,
    FieldSpec,
    FieldValue,
    LinkageKey,
    compare,
)
from accord.search.linkage import LinkageInfo
from accord.search.matcher import PersonRecord, blocking_keys
from accord.search.models import LinkageEntry, LinkageToken, SearchEntry, SearchKey

if TYPE_CHECKING:
    from accord.bootstrap import Node

__all__ = [
    "LINKAGE_INDEXED",
    "LINKAGE_RETIRED",
    "LINKAGE_SET",
    "SEARCH_SCHEME",
    "EntryRow",
    "PrivateHit",
    "decode_query_person",
    "delete_rows",
    "encode_identifier",
    "encode_person",
    "encode_query_person",
    "held_keys",
    "index_under",
    "person_fields",
    "retire_linkage_key",
    "score",
    "search_identifier",
    "search_person",
    "set_linkage_key",
    "write_rows",
]

log = logging.getLogger("accord.search.private")

LINKAGE_SET = Action.SEARCH_LINKAGE_SET
LINKAGE_RETIRED = Action.SEARCH_LINKAGE_RETIRED
LINKAGE_INDEXED = Action.SEARCH_LINKAGE_INDEXED

# Balanced filters have as many bits set whatever the value, so unrelated values still
# share about half of them: Dice runs 0.6–0.7 for unrelated names and dates, not 0.
#: The scheme both parties of a privacy-mode agreement encode persons with (its id travels
#: in every encoding; a node refuses encodings of another scheme).
SEARCH_SCHEME = BloomScheme(
    fields=(
        FieldSpec("name", "qgrams", size=512, hashes=12, thresholds=(0.97, 0.9, 0.84, 0.76),
                  m=(0.4026, 0.2649, 0.0847, 0.1324, 0.1155),
                  u=(0.0002, 0.0002, 0.0006, 0.0064, 0.9926)),
        FieldSpec("skeleton", "qgrams", size=512, hashes=12, thresholds=(0.99, 0.9, 0.84, 0.76),
                  m=(0.5005, 0.2186, 0.1304, 0.1186, 0.0319),
                  u=(0.0004, 0.0008, 0.0078, 0.1619, 0.8292)),
        FieldSpec("date_of_birth", "date", size=256, hashes=8, thresholds=(0.99, 0.86, 0.8, 0.74),
                  m=(0.9048, 0.0085, 0.016, 0.0107, 0.06),
                  u=(0.0005, 0.0029, 0.0089, 0.0866, 0.901)),
        FieldSpec("sex", "exact", size=64, hashes=4, m=(0.98, 0, 0, 0, 0.02), u=(0.5, 0, 0, 0, 0.5)),
        FieldSpec("nationality", "exact", size=64, hashes=4, m=(0.9, 0, 0, 0, 0.1),
                  u=(0.1, 0, 0, 0, 0.9)),
    ),
    blocking=(),  # the clear matcher's blocking keys, keyed: see encode_person
    prior=5.2e-4,  # the clear matcher's prior (FEBRL3's share of true pairs among candidates)
)
#: Fields that are two views of one name: only the better of their weights counts.
_NAME_VIEWS = frozenset({"name", "skeleton"})
_MAX_NAMES = 10
_MAX_DATES = 2
_MAX_QUERY_BLOCKS = 255
_ID_BYTES = 16
_ENCODERS_LIMIT = 32
_encoders: dict[bytes, tuple[BloomEncoder, bytes]] = {}
_encoders_lock = threading.Lock()


# --------------------------------------------------------------------------- encoding


def _encoder(key: LinkageKey) -> tuple[BloomEncoder, bytes]:
    """The person encoder and the identifier key of one linkage key (made once per process)."""
    found = _encoders.get(key.key_id)
    if found is None:
        with _encoders_lock:
            found = _encoders.get(key.key_id)
            if found is None:
                if len(_encoders) >= _ENCODERS_LIMIT:
                    _encoders.clear()
                found = _encoders[key.key_id] = (BloomEncoder(key, SEARCH_SCHEME),
                                                 key.derive("identifier"))
    return found


def person_fields(person: PersonRecord) -> list[dict[str, FieldValue]]:
    """The scheme's fields of a person: one set per name (at most ten) and date of birth
    (at most two), clear values that never leave this function's caller."""
    p = person.prepared
    dates: list[str | None] = [d.digits for d in p.dates[:_MAX_DATES]] or [None]
    out: list[dict[str, FieldValue]] = []
    for name in p.names[:_MAX_NAMES]:
        base: dict[str, FieldValue] = {
            "name": " ".join(sorted(x.text for x in name.parts)),
            "skeleton": " ".join(sorted(x.skeleton for x in name.parts if x.skeleton)),
            "sex": p.gender, "nationality": p.nationality}
        out.extend({**base, "date_of_birth": d} for d in dates)
    return out


def encode_person(key: LinkageKey, person: PersonRecord) -> tuple[list[Encoding], frozenset[bytes]]:
    """An index entry: its encodings (without blocking keys) and its keyed blocking keys."""
    encoder, _ = _encoder(key)
    encodings = [encoder.encode(f, with_blocks=False) for f in person_fields(person)]
    return encodings, encoder.keyed(blocking_keys(person))


def encode_query_person(key: LinkageKey, person: PersonRecord) -> str:
    """A person query as it travels: one encoding (its first name and date) with its keyed
    blocking keys (at most 255), as ``Encoding.to_text()``."""
    encoder, _ = _encoder(key)
    fields = person_fields(person)
    if not fields:
        raise ValidationFailed("a person search needs a name with letters", field="value")
    blocks = encoder.keyed(blocking_keys(person))
    encoding = encoder.encode(fields[0], with_blocks=False)
    encoding = Encoding(encoding.key_id, encoding.scheme_id, encoding.filters,
                        frozenset(sorted(blocks)[:_MAX_QUERY_BLOCKS]))
    return encoding.to_text(SEARCH_SCHEME)


def encode_identifier(key: LinkageKey, kind: str, match_key: str) -> str:
    """An identifier as it travels and as the index files it: a keyed hash of its match key."""
    _, id_key = _encoder(key)
    digest = hmac.digest(id_key, f"{kind}\x1f{match_key}".encode(), "sha256")
    return digest[:_ID_BYTES].hex()


def decode_query_person(key: LinkageKey, text_: str) -> Encoding:
    """A received person encoding; ValidationFailed when it is not one of this scheme."""
    encoding = Encoding.from_text(text_, SEARCH_SCHEME)
    if encoding.key_id != key.key_id:
        raise ValidationFailed("the encoding was made under another linkage key", field="encoding")
    return encoding


# --------------------------------------------------------------------------- index rows


@dataclass(frozen=True)
class EntryRow:
    """What the index writes for one entry: its id, clear keys and person (never stored here)."""

    entry_id: int
    keys: set[tuple[str, str]]
    person: PersonRecord | None


def write_rows(s: Session, keys: Sequence[LinkageKey], rows: Sequence[EntryRow]) -> int:
    """File ``rows`` under every key of ``keys``; returns the token rows written."""
    tokens: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for key in keys:
        kid = key.key_id.hex()
        for row in rows:
            seen: set[tuple[str, str]] = set()
            if row.person is not None:
                encodings, blocks = encode_person(key, row.person)
                if encodings:
                    entries.append({"key_id": kid, "entry_id": row.entry_id,
                                    "encodings": " ".join(e.to_text(SEARCH_SCHEME) for e in encodings)})
                    seen.update(("person", b.hex()) for b in blocks)
            for kind, match_key in row.keys:
                if kind != "person":
                    seen.add((kind, encode_identifier(key, kind, match_key)))
            tokens.extend({"key_id": kid, "kind": k, "token": t, "entry_id": row.entry_id}
                          for k, t in seen)
    if entries:
        s.execute(insert(LinkageEntry), entries)
    if tokens:
        s.execute(insert(LinkageToken), tokens)
    return len(tokens)


def delete_rows(s: Session, entry_ids: Any, *, key_id: str | None = None) -> None:
    """Drop the encodings and tokens of ``entry_ids`` (a list or a subquery of entry ids)."""
    for table in (LinkageToken, LinkageEntry):
        stmt = delete(table).where(table.entry_id.in_(entry_ids))
        if key_id is not None:
            stmt = stmt.where(table.key_id == key_id)
        s.execute(stmt)


def _entry_batches(node: Node, batch_size: int) -> Iterator[list[EntryRow]]:
    """The record entries of the index with their clear keys and persons, by id."""
    from accord.search.index import person_from_json

    last = 0
    while True:
        with node.read() as s:
            found = s.execute(select(SearchEntry.id, SearchEntry.person)
                              .where(SearchEntry.source == "record", SearchEntry.id > last)
                              .order_by(SearchEntry.id).limit(batch_size)).all()
            if not found:
                return
            ids = [int(r[0]) for r in found]
            keys: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
            for eid, kind, match_key in s.execute(
                    select(SearchKey.entry_id, SearchKey.kind, SearchKey.key)
                    .where(SearchKey.entry_id.in_(ids), SearchKey.kind != "person")):
                keys[int(eid)].add((kind, match_key))
        last = ids[-1]
        yield [EntryRow(int(eid), keys[int(eid)], person_from_json(data) if data else None)
               for eid, data in found]


def index_under(node: Node, key: LinkageKey, *, batch_size: int = 2000,
                progress: Callable[[int], None] | None = None) -> int:
    """Encode the whole record index under ``key`` (from the clear index, not the records),
    in batches of ``batch_size`` entries each in its own transaction, then mark the key
    ready (``indexed_at``). Returns the entries read."""
    kid = key.key_id.hex()
    total = 0
    for batch in _entry_batches(node, batch_size):
        with node.uow() as s:
            delete_rows(s, [r.entry_id for r in batch], key_id=kid)
            write_rows(s, [key], batch)
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    with node.uow() as s:
        node.linkage.mark_indexed(s, kid, node.now())
    return total


# --------------------------------------------------------------------------- key use cases


def _known_agreement(node: Node, agreement: str) -> None:
    registry = node.policy.registry()
    if agreement not in registry.ids():
        raise NotFound(f"no agreement {agreement!r} in this node's agreements folder "
                       f"({node.settings.resolved_agreements_dir})")


def set_linkage_key(node: Node, *, agreement: str, secret: bytes, by: str,
                    epoch: int | None = None, progress: Callable[[int], None] | None = None,
                    ) -> LinkageInfo:
    """Hold ``secret`` for ``agreement`` (sealed), audit it, and encode the index under it.

    The secret never reaches the audit trail or a log: the entry names the agreement, the
    epoch and the key id. Raises NotFound for an agreement the node does not have,
    ValidationFailed for a short secret, Conflict for an epoch that is not new.
    """
    _known_agreement(node, agreement)
    with node.uow() as s:
        info = node.linkage.add(s, agreement=agreement, secret=secret, now=node.now(), epoch=epoch)
        node.record(s, actor=by, action=LINKAGE_SET, object=f"agreement:{agreement}",
                    detail={"epoch": info.epoch, "key_id": info.key_id})
    with node.read() as s:
        found = node.linkage.find(s, agreement, info.key_id)
    assert found is not None
    entries = index_under(node, found[0], progress=progress)
    with node.uow() as s:
        node.record(s, actor=by, action=LINKAGE_INDEXED, object=f"agreement:{agreement}",
                    detail={"epoch": info.epoch, "key_id": info.key_id, "entries": entries})
        return next(i for i in node.linkage.infos(s, agreement) if i.key_id == info.key_id)


def retire_linkage_key(node: Node, *, agreement: str, epoch: int, by: str) -> LinkageInfo:
    """Stop using one epoch: its index rows and sealed file go; audited."""
    with node.uow() as s:
        info = node.linkage.retire(s, agreement=agreement, epoch=epoch, now=node.now())
        for table in (LinkageToken, LinkageEntry):
            s.execute(delete(table).where(table.key_id == info.key_id))
        node.record(s, actor=by, action=LINKAGE_RETIRED, object=f"agreement:{agreement}",
                    detail={"epoch": info.epoch, "key_id": info.key_id})
    return info


# --------------------------------------------------------------------------- searching


@dataclass(frozen=True)
class PrivateHit:
    source: str
    ref: str
    owner: str
    kind: str
    score: float
    band: str
    handling: str
    explanation: tuple[dict[str, object], ...] = ()


@lru_cache(maxsize=256)
def _tokens_statement(n_tokens: int) -> TextClause:
    """Up to ``:cap`` rows of each of ``n_tokens`` person tokens of one key, in one statement."""
    # Only integers are interpolated; every value is a bound parameter.
    parts = [f"SELECT t{i}.entry_id, {i} AS k FROM (SELECT entry_id FROM search_linkage_tokens "  # noqa: S608
             f"WHERE key_id = :kid AND kind = 'person' AND token = :t{i} LIMIT :cap) AS t{i}"
             for i in range(n_tokens)]
    return text(" UNION ALL ".join(parts))


def _candidates(s: Session, kid: str, tokens: Sequence[str], cap: int, best: int) -> list[int]:
    if not tokens:
        return []
    params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(tokens)}
    params.update(kid=kid, cap=cap + 1)
    by_token: dict[int, list[int]] = {}
    for eid, k in s.execute(_tokens_statement(len(tokens)), params):
        by_token.setdefault(int(k), []).append(int(eid))
    over = {i for i, ids in by_token.items() if len(ids) > cap}
    keep = [i for i in by_token if i not in over] or list(by_token)
    shared: Counter[int] = Counter()
    for i in keep:
        shared.update(by_token[i])
    return [eid for eid, _ in sorted(shared.items(), key=lambda x: (-x[1], x[0]))[:best]]


def score(a: Encoding, b: Encoding) -> Comparison:
    """Two person encodings compared field by field (:func:`accord.search.bloom.compare`),
    then combined as the clear matcher combines them: the name and its skeleton are two
    views of one name, so only the better of their two weights counts (summing them would
    count one name twice); and a pair whose name agrees exactly in neither view (Dice
    below the ``exact`` level) is never ``strong`` — John and Jane Smith born the same day
    are a possible match, not a strong one."""
    raw = compare(a, b, SEARCH_SCHEME)
    names = [f.weight for f in raw.fields if f.field in _NAME_VIEWS and f.level != "missing"]
    weight = sum(f.weight for f in raw.fields if f.field not in _NAME_VIEWS) + \
        (max(names) if names else 0.0)
    total = math.log2(SEARCH_SCHEME.prior / (1 - SEARCH_SCHEME.prior)) + weight
    probability = 1.0 / (1.0 + 2.0 ** -total) if total > -1000 else 0.0
    band: Band = "strong" if probability >= STRONG_AT else \
        "possible" if probability >= POSSIBLE_AT else "none"
    if band == "strong" and not any(f.field in _NAME_VIEWS and f.level == "exact"
                                    for f in raw.fields):
        band = "possible"
    return Comparison(probability, band, weight, raw.fields)


def _best(query: Encoding, encodings: str) -> Comparison | None:
    best: Comparison | None = None
    for piece in encodings.split():
        comparison = score(query, Encoding.from_text(piece, SEARCH_SCHEME))
        if best is None or comparison.score > best.score:
            best = comparison
    return best


def search_person(s: Session, key: LinkageKey, query: Encoding, *, limit: int = 10) -> list[PrivateHit]:
    """Records whose encodings under ``key`` match ``query`` (band strong or possible), best
    first; reads only the rows of the query's keyed blocking keys."""
    from accord.search.index import BLOCK_CAP, MAX_COMPARE

    kid = key.key_id.hex()
    ids = _candidates(s, kid, sorted(b.hex() for b in query.blocks), BLOCK_CAP, MAX_COMPARE)
    if not ids:
        return []
    rows = s.execute(select(SearchEntry.source, SearchEntry.ref, SearchEntry.owner,
                            SearchEntry.handling, LinkageEntry.encodings)
                     .join(LinkageEntry, LinkageEntry.entry_id == SearchEntry.id)
                     .where(LinkageEntry.key_id == kid, LinkageEntry.entry_id.in_(ids)))
    hits: list[PrivateHit] = []
    for source, ref, owner, handling, encodings in rows:
        comparison = _best(query, encodings)
        if comparison is None or comparison.band == "none":
            continue
        hits.append(PrivateHit(source, ref, owner, "person", round(comparison.score, 4),
                               comparison.band, handling, tuple(comparison.explain())))
    hits.sort(key=lambda h: (-h.score, h.source, h.ref))
    return hits[:limit]


def search_identifier(s: Session, key: LinkageKey, kind: str, token: str, *,
                      limit: int = 10) -> list[PrivateHit]:
    """Records filed under one keyed identifier token: exact, band strong."""
    rows = s.execute(
        select(SearchEntry.source, SearchEntry.ref, SearchEntry.owner, SearchEntry.handling)
        .join(LinkageToken, LinkageToken.entry_id == SearchEntry.id)
        .where(LinkageToken.key_id == key.key_id.hex(), LinkageToken.kind == kind,
               LinkageToken.token == token)
        .order_by(SearchEntry.source, SearchEntry.ref).limit(limit))
    explanation: tuple[dict[str, object], ...] = (
        {"field": kind, "level": "exact", "detail": "equal keyed hashes"},)
    return [PrivateHit(src, ref, owner, kind, 1.0, "strong", handling, explanation)
            for src, ref, owner, handling in rows]


def held_keys(node: Node, s: Session) -> list[LinkageKey]:
    """The keys the index is encoded under as records change. A key whose sealed file cannot
    be opened is left out and marked not ready, so the node refuses queries under it rather
    than answer "no hit" from an index that misses records (logged; never the secret)."""
    keys, broken = node.linkage.usable(s)
    for info in broken:
        log.error("linkage key %s of %s (epoch %d) cannot be opened; queries under it are "
                  "refused until the index is encoded under it again (accord search reindex)",
                  info.key_id, info.agreement, info.epoch)
        node.linkage.mark_indexed(s, info.key_id, None)
    return keys
