"""Privacy-preserving person matching: keyed Bloom-filter encodings compared by Dice similarity.

Where an agreement says so (issue 8, point 4), no clear identifier of a person leaves
the node: a query travels, and an index entry is kept, as a set of keyed Bloom filters
(cryptographic long-term keys, CLKs, after Schnell, Bachteler and Reiher 2009 and the
clkhash/anonlink family), and the answering node compares filters, never names.
``docs/search-privacy.md`` gives the construction, the measured accuracy, the known
attacks and what still leaks; this docstring is the contract.

**Key.** A :class:`LinkageKey` holds the secret the parties share under one agreement
(at least 32 bytes) with the agreement id and a key epoch. Every hashing key is derived
from it with HKDF-SHA256 (``cryptography``), one per field and one for blocking, so a
filter of one field says nothing about another field and nothing about another
agreement's or another epoch's filters. The key id (8 bytes of HMAC over a fixed label)
travels with every encoding; comparing encodings of two keys raises
:class:`~accord.errors.CryptoError` instead of answering "no hit".

**Encoding.** Each field of a :class:`BloomScheme` has its own filter (field-level
Bloom filters, so each field gets its own Fellegi–Sunter weight). A field's value is
normalised (NFKD, diacritics dropped, case folded, punctuation to spaces) and cut into
tokens: ``qgrams`` — bigrams of the words joined by one space, padded with ``_`` at both
ends, so ``"anna"`` gives ``_a an nn na a_``; ``date`` — each digit with its position,
the year, the month, the day and the unordered pair {day, month} (a one-digit typo
keeps most tokens, a day/month swap keeps the year and the pair); ``exact`` — the whole
value as one token. Each token sets ``hashes`` bits out of ``size`` chosen by **random
hashing**: the positions are read from HMAC-SHA256(field key, counter ‖ token), not
from the double-hashing line ``h1 + i·h2`` whose structure the Kroll–Steinmetzer
attack exploits. With ``balanced=True`` a field's filter is the Schnell (2016)
balanced filter: the filter and its complement concatenated and permuted by a keyed
permutation, so every filter of the field has exactly ``size`` bits set and the bit
count no longer tells the length of the name.

**Comparison.** :func:`dice` is ``2·|a ∧ b| / (|a| + |b|)`` over Python ints with
``int.bit_count()``. :func:`compare` gives, per field, the Dice value, a level
(``exact``, ``close``, ``fuzzy``, ``weak``, ``different``, or ``missing`` when either
side lacks the field) and the Fellegi–Sunter weight ``log2(m/u)`` of that level; the sum
of the weights and the scheme's prior give a score in 0..1 (the posterior probability of
a match) and a band: ``strong`` from :data:`STRONG_AT`, ``possible`` from
:data:`POSSIBLE_AT`, else ``none``. The explanation names fields, Dice values, levels and
weights — never a clear value. :func:`estimate_u` and :func:`estimate_m` set a scheme's
``u`` from random pairs and its ``m`` by expectation–maximisation over candidate pairs.

**Candidates.** A query never scans the index. Each :class:`BlockingRule` turns clear
fields into a short value (a Soundex code, a birth year, a whole date) *inside the
encoding node*, and only ``HMAC(blocking key, rule ‖ value)`` truncated to 8 bytes
leaves it. Equal blocking keys reveal that two records share that value (and so the
frequency of such values across an index) — the documented price of never scanning.

**Serialisation.** :meth:`Encoding.to_bytes` / :meth:`Encoding.to_text` (base64url):
format byte, key id, scheme id (4 bytes of SHA-256 over the field parameters), the
present-field bitmap, the present filters, then the blocking keys. About 0.4 KB for a
person with names and date of birth.

Pure functions and value objects; no I/O. The in-memory :class:`BloomIndex` and
:func:`link` (greedy one-to-one, as anonlink's solver) serve tests, benchmarks and a
node's index table, which keeps ``Encoding.to_text()`` and one row per blocking key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import product
from typing import Final, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from rigour.text import metaphone, soundex

from accord.errors import CryptoError, ValidationFailed

__all__ = [
    "LEVELS", "PERSON_SCHEME", "POSSIBLE_AT", "STRONG_AT", "BlockingRule", "BloomEncoder", "BloomIndex",
    "BloomScheme", "Comparison", "Encoding", "FieldComparison", "FieldSpec", "Link", "LinkageKey",
    "candidate_pairs", "compare", "dice", "estimate_m", "estimate_u", "link", "normalise_text",
]

Band = Literal["strong", "possible", "none"]
TokenKind = Literal["qgrams", "date", "exact"]
Transform = Literal["value", "soundex", "metaphone", "year", "initial"]
FieldValue = str | Sequence[str] | date | None

#: Levels of agreement of one field, best first; ``missing`` has weight 0 and is not among them.
LEVELS: Final = ("exact", "close", "fuzzy", "weak", "different")
STRONG_AT: Final = 0.9
POSSIBLE_AT: Final = 0.2  # as the clear matcher (accord.search.matcher.POSSIBLE)
MIN_SECRET_BYTES: Final = 32
_FORMAT: Final = 1
_BLOCK_BYTES: Final = 8
_MAX_BLOCKS: Final = 255  # one byte counts them
_CACHE_LIMIT: Final = 200_000
_HKDF_SALT: Final = b"accord/search/bloom/v1"
_PUNCT = re.compile(r"[^\w]+|_")
_DIGITS = re.compile(r"\d")


# --------------------------------------------------------------------------- key


class LinkageKey:
    """The secret the parties hold under one agreement, and the keys derived from it.

    ``agreement`` and ``epoch`` enter every derivation: a new epoch (rotation) gives
    unrelated filters, so an index is re-encoded from the node's clear records when the
    parties move to it. The secret never appears in ``repr``.
    """

    __slots__ = ("_secret", "agreement", "epoch", "key_id")

    def __init__(self, secret: bytes, *, agreement: str, epoch: int = 1) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValidationFailed(f"a linkage secret needs at least {MIN_SECRET_BYTES} bytes", field="secret")
        if not agreement:
            raise ValidationFailed("a linkage key belongs to an agreement", field="agreement")
        if epoch < 1:
            raise ValidationFailed("a key epoch starts at 1", field="epoch")
        self._secret = bytes(secret)
        self.agreement = agreement
        self.epoch = epoch
        self.key_id: bytes = hmac.digest(self._secret, self._info("key-id"), "sha256")[:8]

    def _info(self, purpose: str) -> bytes:
        return f"{self.agreement}\x1f{self.epoch}\x1f{purpose}".encode()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (``field:<name>``, ``blocking``, ``balance:<name>``)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=self._info(purpose))
        return hkdf.derive(self._secret)

    def __repr__(self) -> str:
        return f"LinkageKey(agreement={self.agreement!r}, epoch={self.epoch}, key_id={self.key_id.hex()})"


# --------------------------------------------------------------------------- scheme


def _default_m(kind: TokenKind) -> tuple[float, ...]:
    if kind == "exact":
        return (0.95, 0.0, 0.0, 0.0, 0.05)
    return (0.85, 0.08, 0.04, 0.02, 0.01)


def _default_u(kind: TokenKind) -> tuple[float, ...]:
    if kind == "exact":
        return (0.5, 0.0, 0.0, 0.0, 0.5)
    if kind == "date":
        return (0.0005, 0.002, 0.02, 0.1, 0.8775)
    return (0.01, 0.01, 0.03, 0.1, 0.85)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field's filter and weights.

    ``size`` bits (a multiple of 8) and ``hashes`` bits per token; ``thresholds`` are the
    lowest Dice values of the levels ``exact``, ``close``, ``fuzzy``, ``weak``;
    ``m`` and ``u`` the probabilities of each of the five levels among matches and
    among non-matches (estimate them with :func:`estimate_u` / :func:`estimate_m`).
    """

    name: str
    kind: TokenKind = "qgrams"
    size: int = 512
    hashes: int = 12
    thresholds: tuple[float, float, float, float] = (0.97, 0.85, 0.7, 0.5)
    m: tuple[float, ...] = ()
    u: tuple[float, ...] = ()
    _weights: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size % 8 or not 64 <= self.size <= 8192:
            raise ValidationFailed(f"field {self.name}: size must be a multiple of 8 in 64..8192", field="size")
        if not 1 <= self.hashes <= 64:
            raise ValidationFailed(f"field {self.name}: hashes must be in 1..64", field="hashes")
        if not self.m:
            object.__setattr__(self, "m", _default_m(self.kind))
        if not self.u:
            object.__setattr__(self, "u", _default_u(self.kind))
        if len(self.m) != len(LEVELS) or len(self.u) != len(LEVELS):
            raise ValidationFailed(f"field {self.name}: m and u need one probability per level", field="m")
        object.__setattr__(self, "_weights", tuple(
            math.log2(max(m, 1e-6) / max(u, 1e-6)) for m, u in zip(self.m, self.u, strict=True)))

    def level(self, similarity: float) -> int:
        for i, lowest in enumerate(self.thresholds):
            if similarity >= lowest:
                return i
        return len(self.thresholds)

    def weights(self) -> tuple[float, ...]:
        """``log2(m/u)`` per level, with probabilities floored at 1e-6 so no level is infinite."""
        return self._weights


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """A candidate key: the named fields, each through a transform, keyed-hashed together.

    A name field with several words gives one key per word (``soundex``, ``metaphone``,
    ``initial``); ``unordered`` sorts the parts, so given name and surname written in
    each other's place still meet.
    """

    name: str
    parts: tuple[tuple[str, Transform], ...]
    unordered: bool = False


@dataclass(frozen=True, slots=True)
class BloomScheme:
    """The fields, their filters and weights, the blocking rules, and the prior of a match.

    Both parties to an agreement use the same scheme (its id travels in every encoding);
    weights and ``prior`` only matter to the side that compares.
    """

    fields: tuple[FieldSpec, ...]
    blocking: tuple[BlockingRule, ...]
    balanced: bool = True
    prior: float = 1e-4
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or not names or len(names) > 64:
            raise ValidationFailed("a scheme needs 1..64 fields with distinct names", field="fields")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})
        for rule in self.blocking:
            for fname, _ in rule.parts:
                if fname not in self._index:
                    raise ValidationFailed(f"blocking rule {rule.name} names unknown field {fname}", field="blocking")
        text = repr((self.balanced, [(f.name, f.kind, f.size, f.hashes) for f in self.fields],
                     [(r.name, r.parts, r.unordered) for r in self.blocking]))
        object.__setattr__(self, "_id", hashlib.sha256(text.encode()).digest()[:4])

    @property
    def scheme_id(self) -> bytes:
        """4 bytes naming what both sides must share: fields, their kinds, sizes, hashes, balancing, rules."""
        return self._id

    def position(self, name: str) -> int:
        return self._index[name]

    def filter_bytes(self, spec: FieldSpec) -> int:
        return spec.size * (2 if self.balanced else 1) // 8

    def with_field(self, spec: FieldSpec) -> BloomScheme:
        fields = tuple(spec if f.name == spec.name else f for f in self.fields)
        return replace(self, fields=fields)


#: A person: names, date of birth and sex. Extra fields are schemes of their own (see the FEBRL test).
PERSON_SCHEME: Final = BloomScheme(
    fields=(
        FieldSpec("given_name", "qgrams", size=512, hashes=12),
        FieldSpec("surname", "qgrams", size=512, hashes=12),
        FieldSpec("date_of_birth", "date", size=256, hashes=8, thresholds=(0.99, 0.8, 0.6, 0.4)),
        FieldSpec("sex", "exact", size=64, hashes=4),
    ),
    blocking=(
        BlockingRule("sx-surname-year", (("surname", "soundex"), ("date_of_birth", "year"))),
        BlockingRule("sx-given-year", (("given_name", "soundex"), ("date_of_birth", "year"))),
        BlockingRule("sx-names", (("given_name", "soundex"), ("surname", "soundex")), unordered=True),
        BlockingRule("dob", (("date_of_birth", "value"),)),
    ),
)


# --------------------------------------------------------------------------- tokens


def normalise_text(value: str) -> str:
    """NFKD, combining marks dropped, case folded, punctuation to one space, trimmed."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def _text_of(value: FieldValue) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return normalise_text(value)
    return " ".join(t for t in (normalise_text(v) for v in value) if t)


def _date_digits(value: FieldValue) -> str:
    """``YYYYMMDD`` (or ``YYYYMM``, ``YYYY``) from a date, ISO 8601 text or ``YYYYMMDD``; day-first refused."""
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    groups = _text_of(value).split()
    if len(groups) > 1 and len(groups[0]) < 4:
        raise ValidationFailed("a date of birth is written year first (YYYY-MM-DD)", field="date_of_birth")
    return "".join(_DIGITS.findall("".join(groups)))


def _tokens(kind: TokenKind, value: FieldValue) -> list[str]:
    if kind == "date":
        digits = _date_digits(value)
        if not digits:
            return []
        tokens = [f"{i}{d}" for i, d in enumerate(digits)]
        if len(digits) >= 4:
            tokens.append("y" + digits[:4])
        if len(digits) >= 6:
            tokens.append("m" + digits[4:6])
        if len(digits) >= 8:
            tokens.append("d" + digits[6:8])
            tokens.append("p" + "".join(sorted((digits[4:6], digits[6:8]))))
        return tokens
    text = _text_of(value)
    if not text:
        return []
    if kind == "exact":
        return [text]
    padded = f"_{text}_"
    return [padded[i:i + 2] for i in range(len(padded) - 1)]


def _block_parts(transform: Transform, kind: TokenKind, value: FieldValue) -> list[str]:
    if transform == "year":
        digits = _date_digits(value)
        return [digits[:4]] if len(digits) >= 4 else []
    if transform == "value":
        text = _date_digits(value) if kind == "date" else _text_of(value)
        return [text] if text else []
    words = _text_of(value).split()
    if transform == "soundex":
        return sorted({soundex(w) for w in words if w[0].isalpha()} - {""})
    if transform == "metaphone":
        return sorted({metaphone(w) for w in words} - {""})
    return sorted({w[0] for w in words})


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True, slots=True)
class Encoding:
    """One person's filters (``None`` for a field the record lacks), with its key id and blocking keys."""

    key_id: bytes
    scheme_id: bytes
    filters: tuple[int | None, ...]
    blocks: frozenset[bytes]
    counts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(0 if f is None else f.bit_count() for f in self.filters))

    def to_bytes(self, scheme: BloomScheme) -> bytes:
        present = 0
        body = bytearray()
        for i, (spec, value) in enumerate(zip(scheme.fields, self.filters, strict=True)):
            if value is not None:
                present |= 1 << i
                body += value.to_bytes(scheme.filter_bytes(spec), "big")
        head = bytes([_FORMAT]) + self.key_id + self.scheme_id + present.to_bytes(8, "big")
        blocks = sorted(self.blocks)
        if len(blocks) > _MAX_BLOCKS:
            raise ValidationFailed(f"an encoding carries at most {_MAX_BLOCKS} blocking keys", field="blocks")
        return head + bytes(body) + bytes([len(blocks)]) + b"".join(blocks)

    def to_text(self, scheme: BloomScheme) -> str:
        return base64.urlsafe_b64encode(self.to_bytes(scheme)).rstrip(b"=").decode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, scheme: BloomScheme) -> Encoding:
        bad = ValidationFailed("not a Bloom encoding of this scheme", field="encoding")
        if len(data) < 21 or data[0] != _FORMAT:
            raise bad
        key_id, scheme_id, present = data[1:9], data[9:13], int.from_bytes(data[13:21], "big")
        if scheme_id != scheme.scheme_id or present >> len(scheme.fields):
            raise bad
        pos = 21
        filters: list[int | None] = []
        for i, spec in enumerate(scheme.fields):
            if present >> i & 1:
                n = scheme.filter_bytes(spec)
                if pos + n > len(data):
                    raise bad
                filters.append(int.from_bytes(data[pos:pos + n], "big"))
                pos += n
            else:
                filters.append(None)
        if pos >= len(data) or len(data) != pos + 1 + data[pos] * _BLOCK_BYTES:
            raise bad
        count, pos = data[pos], pos + 1
        blocks = frozenset(data[pos + j * _BLOCK_BYTES: pos + (j + 1) * _BLOCK_BYTES] for j in range(count))
        return cls(key_id, scheme_id, tuple(filters), blocks)

    @classmethod
    def from_text(cls, text: str, scheme: BloomScheme) -> Encoding:
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError as exc:
            raise ValidationFailed("not a Bloom encoding (base64url)", field="encoding") from exc
        return cls.from_bytes(data, scheme)


class BloomEncoder:
    """Encodes persons under one key and one scheme. Token masks are cached per field (they repeat)."""

    def __init__(self, key: LinkageKey, scheme: BloomScheme = PERSON_SCHEME) -> None:
        self.key_id = key.key_id
        self.scheme = scheme
        self._field_keys = [key.derive(f"field:{f.name}") for f in scheme.fields]
        self._block_key = key.derive("blocking")
        self._cache: list[dict[str, tuple[int, int]]] = [{} for _ in scheme.fields]
        self._perms: list[list[int]] = []
        self._complement: list[int] = []
        if scheme.balanced:
            for spec in scheme.fields:
                seed = int.from_bytes(key.derive(f"balance:{spec.name}"), "big")
                perm = list(range(2 * spec.size))
                random.Random(seed).shuffle(perm)  # a keyed permutation, not a source of secrets  # noqa: S311
                self._perms.append(perm)
                self._complement.append(sum(1 << perm[spec.size + p] for p in range(spec.size)))

    def _positions(self, i: int, token: str) -> list[int]:
        spec = self.scheme.fields[i]
        data = token.encode()
        out: list[int] = []
        block = 0
        while len(out) < spec.hashes:
            digest = hmac.digest(self._field_keys[i], block.to_bytes(1, "big") + data, "sha256")
            out.extend(int.from_bytes(digest[j:j + 4], "big") % spec.size for j in range(0, 32, 4))
            block += 1
        return out[:spec.hashes]

    def _masks(self, i: int, token: str) -> tuple[int, int]:
        cache = self._cache[i]
        masks = cache.get(token)
        if masks is None:
            positions = self._positions(i, token)
            if self.scheme.balanced:
                perm, size = self._perms[i], self.scheme.fields[i].size
                masks = (sum({1 << perm[p] for p in positions}), sum({1 << perm[size + p] for p in positions}))
            else:
                masks = (sum({1 << p for p in positions}), 0)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[token] = masks
        return masks

    def field_filter(self, name: str, value: FieldValue) -> int | None:
        """The filter of one field, or ``None`` when the value is empty after normalisation."""
        i = self.scheme.position(name)
        spec = self.scheme.fields[i]
        tokens = _tokens(spec.kind, value)
        if not tokens:
            return None
        ones = zeros = 0
        for token in tokens:
            one, zero = self._masks(i, token)
            ones |= one
            zeros |= zero
        if self.scheme.balanced:
            return ones | (self._complement[i] & ~zeros)
        return ones

    def blocking_keys(self, person: Mapping[str, FieldValue]) -> frozenset[bytes]:
        keys: set[bytes] = set()
        for rule in self.scheme.blocking:
            choices = []
            for fname, transform in rule.parts:
                kind = self.scheme.fields[self.scheme.position(fname)].kind
                choices.append(_block_parts(transform, kind, person.get(fname))[:4])
            for combo in product(*choices):
                parts = sorted(combo) if rule.unordered else list(combo)
                message = "\x1f".join([rule.name, *parts]).encode()
                keys.add(hmac.digest(self._block_key, message, "sha256")[:_BLOCK_BYTES])
        return frozenset(keys)

    def keyed(self, values: Iterable[str]) -> frozenset[bytes]:
        """Blocking keys made elsewhere from clear values (e.g. the clear matcher's
        :func:`~accord.search.matcher.blocking_keys`), keyed as the rules' are:
        ``HMAC(blocking key, "x" ‖ value)[:8]`` — the prefix keeps them apart from the rules'."""
        return frozenset(hmac.digest(self._block_key, b"x\x1f" + v.encode(), "sha256")[:_BLOCK_BYTES]
                         for v in values)

    def encode(self, person: Mapping[str, FieldValue], *, blocks: Iterable[str] = (),
               with_blocks: bool = True) -> Encoding:
        """The encoding of a person given as ``{field name: value}``; unknown fields are refused.

        ``blocks``: further clear blocking values, keyed by :meth:`keyed`. ``with_blocks=False``
        leaves the blocking keys out (an index that files them in a table of their own)."""
        unknown = set(person) - {f.name for f in self.scheme.fields}
        if unknown:
            raise ValidationFailed(f"fields not in the scheme: {', '.join(sorted(unknown))}", field="person")
        filters = tuple(self.field_filter(f.name, person.get(f.name)) for f in self.scheme.fields)
        keys = self.blocking_keys(person) | self.keyed(blocks) if with_blocks else frozenset()
        return Encoding(self.key_id, self.scheme.scheme_id, filters, keys)


# --------------------------------------------------------------------------- comparison


def dice(a: int, b: int) -> float:
    """Dice coefficient of two filters: ``2·|a ∧ b| / (|a| + |b|)``; 0 when both are empty."""
    total = a.bit_count() + b.bit_count()
    return 2 * (a & b).bit_count() / total if total else 0.0


@dataclass(frozen=True, slots=True)
class FieldComparison:
    """One field of a comparison: its Dice value, level and weight. No clear value, ever."""

    field: str
    dice: float | None
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class Comparison:
    score: float
    band: Band
    weight: float
    fields: tuple[FieldComparison, ...]

    def explain(self) -> list[dict[str, object]]:
        return [{"field": f.field, "dice": None if f.dice is None else round(f.dice, 3), "level": f.level,
                 "weight": round(f.weight, 2)} for f in self.fields]


def _band(score: float) -> Band:
    if score >= STRONG_AT:
        return "strong"
    return "possible" if score >= POSSIBLE_AT else "none"


def _check(a: Encoding, b: Encoding, scheme: BloomScheme) -> None:
    if a.key_id != b.key_id:
        raise CryptoError("the encodings were made under different linkage keys", reason="linkage-key-mismatch")
    if a.scheme_id != scheme.scheme_id or b.scheme_id != scheme.scheme_id:
        raise CryptoError("the encodings were made under another scheme", reason="linkage-scheme-mismatch")


def _levels(a: Encoding, b: Encoding, scheme: BloomScheme) -> list[tuple[float | None, int | None]]:
    out: list[tuple[float | None, int | None]] = []
    for spec, x, y, cx, cy in zip(scheme.fields, a.filters, b.filters, a.counts, b.counts, strict=True):
        if x is None or y is None:
            out.append((None, None))
            continue
        value = 2 * (x & y).bit_count() / (cx + cy) if cx + cy else 0.0
        out.append((value, spec.level(value)))
    return out


def compare(a: Encoding, b: Encoding, scheme: BloomScheme) -> Comparison:
    """Score two encodings of the same key and scheme, field by field (Fellegi–Sunter)."""
    _check(a, b, scheme)
    fields: list[FieldComparison] = []
    total = math.log2(scheme.prior / (1 - scheme.prior))
    weight = 0.0
    for spec, (value, level) in zip(scheme.fields, _levels(a, b, scheme), strict=True):
        if level is None:
            fields.append(FieldComparison(spec.name, None, "missing", 0.0))
            continue
        w = spec.weights()[level]
        weight += w
        fields.append(FieldComparison(spec.name, value, LEVELS[level], w))
    total += weight
    score = 1.0 / (1.0 + 2.0 ** -total) if total > -1000 else 0.0
    return Comparison(score, _band(score), weight, tuple(fields))


# --------------------------------------------------------------------------- candidates, search, linkage


class BloomIndex:
    """Encodings by reference, found through their blocking keys; a query never scans it."""

    def __init__(self, scheme: BloomScheme) -> None:
        self.scheme = scheme
        self._entries: dict[str, Encoding] = {}
        self._blocks: dict[bytes, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, ref: str, encoding: Encoding) -> None:
        self.remove(ref)
        self._entries[ref] = encoding
        for block in encoding.blocks:
            self._blocks[block].add(ref)

    def remove(self, ref: str) -> None:
        old = self._entries.pop(ref, None)
        if old is not None:
            for block in old.blocks:
                self._blocks[block].discard(ref)

    def candidates(self, query: Encoding) -> set[str]:
        found: set[str] = set()
        for block in query.blocks:
            found |= self._blocks.get(block, set())
        return found

    def search(self, query: Encoding, *, limit: int = 10) -> list[tuple[str, Comparison]]:
        """The best matches in band ``possible`` or ``strong``, best first."""
        hits = [(ref, compare(query, self._entries[ref], self.scheme)) for ref in self.candidates(query)]
        hits = [h for h in hits if h[1].band != "none"]
        hits.sort(key=lambda h: (-h[1].score, h[0]))
        return hits[:limit]


@dataclass(frozen=True, slots=True)
class Link:
    left: str
    right: str
    comparison: Comparison


def candidate_pairs(left: Mapping[str, Encoding], right: Mapping[str, Encoding]) -> set[tuple[str, str]]:
    """Pairs sharing at least one blocking key."""
    by_block: dict[bytes, list[str]] = defaultdict(list)
    for ref, enc in right.items():
        for block in enc.blocks:
            by_block[block].append(ref)
    pairs: set[tuple[str, str]] = set()
    for ref, enc in left.items():
        for block in enc.blocks:
            pairs.update((ref, other) for other in by_block.get(block, ()))
    return pairs


def link(left: Mapping[str, Encoding], right: Mapping[str, Encoding], scheme: BloomScheme, *,
         threshold: float = POSSIBLE_AT, one_to_one: bool = True) -> list[Link]:
    """Links between two sets of encodings scoring at least ``threshold``.

    With ``one_to_one`` each record takes part in at most one link, chosen greedily by
    descending score (anonlink's greedy solver): right for two registers that each hold a
    person once, as in FEBRL4.
    """
    scored = []
    for a, b in candidate_pairs(left, right):
        comparison = compare(left[a], right[b], scheme)
        if comparison.score >= threshold:
            scored.append(Link(a, b, comparison))
    scored.sort(key=lambda x: (-x.comparison.score, x.left, x.right))
    if not one_to_one:
        return scored
    used_left: set[str] = set()
    used_right: set[str] = set()
    links = []
    for item in scored:
        if item.left in used_left or item.right in used_right:
            continue
        used_left.add(item.left)
        used_right.add(item.right)
        links.append(item)
    return links


# --------------------------------------------------------------------------- weights from data


def estimate_u(encodings: Sequence[Encoding], scheme: BloomScheme, *, pairs: int = 20_000,
               seed: int = 0) -> BloomScheme:
    """Set each field's ``u`` from random pairs of encodings (nearly all of them non-matches)."""
    rng = random.Random(seed)  # sampling, not secrets  # noqa: S311
    counts = [[1.0] * len(LEVELS) for _ in scheme.fields]  # add-one smoothing
    for _ in range(pairs):
        a, b = rng.sample(range(len(encodings)), 2)
        for i, (_, level) in enumerate(_levels(encodings[a], encodings[b], scheme)):
            if level is not None:
                counts[i][level] += 1
    fields = tuple(replace(spec, u=tuple(c / sum(row) for c in row)) for spec, row in zip(scheme.fields, counts,
                                                                                        strict=True))
    return replace(scheme, fields=fields)


def estimate_m(pairs: Iterable[tuple[Encoding, Encoding]], scheme: BloomScheme, *,
               iterations: int = 20) -> BloomScheme:
    """Set each field's ``m`` and the scheme's prior by EM over candidate pairs.

    ``u`` stays as given (estimate it first from random pairs). The prior becomes the
    share of matches among the pairs given — pass the pairs that share a blocking key,
    and the score of :func:`compare` is the probability that such a pair is a match.
    """
    patterns = [[lvl for _, lvl in _levels(a, b, scheme)] for a, b in pairs]
    if not patterns:
        return scheme
    m = [list(spec.m) for spec in scheme.fields]
    u = [spec.u for spec in scheme.fields]
    share = 0.1
    for _ in range(iterations):
        acc = [[0.1] * len(LEVELS) for _ in scheme.fields]
        total = 0.0
        for pattern in patterns:
            lm, lu = math.log(share), math.log(1 - share)
            for i, lvl in enumerate(pattern):
                if lvl is not None:
                    lm += math.log(max(m[i][lvl], 1e-9))
                    lu += math.log(max(u[i][lvl], 1e-9))
            diff = lu - lm
            p = 0.0 if diff > 700 else 1.0 / (1.0 + math.exp(diff))
            total += p
            for i, lvl in enumerate(pattern):
                if lvl is not None:
                    acc[i][lvl] += p
        share = min(max(total / len(patterns), 1e-6), 1 - 1e-6)
        m = [[c / sum(row) for c in row] for row in acc]
    fields = tuple(replace(spec, m=tuple(row)) for spec, row in zip(scheme.fields, m, strict=True))
    return replace(scheme, fields=fields, prior=share)
