"""Person matching: compare two persons field by field, weigh the evidence, band the result.

The second half of person matching (issue 8, point 2); names are brought to
comparable Latin parts by :mod:`accord.search.names`.

**Model.** A Fellegi–Sunter comparison, as Splink builds it: each field of a pair
of persons reaches one *level* (names ``exact``, ``equivalent``, ``contained``…;
dates of birth ``exact``, ``swapped``, ``typo``…), and each level carries a weight
``log2(m/u)``, where *m* is how often true matches reach that level and *u* how
often random pairs do. The weights and the prior (how likely two random records
are the same person) are **estimated from labelled data** by
``bench/match_quality.py`` and stored in ``src/accord/data/search/parameters.json``;
nothing but that JSON is needed at run time. A missing field weighs 0: absence is
not evidence. The sum of the weights and the prior's log-odds is the match weight;
its logistic, ``1 / (1 + 2**-weight)``, is the score, a match probability in 0..1.

**Bands.** ``strong`` at a score of at least :data:`STRONG` (0.9), ``possible`` at
:data:`POSSIBLE` (0.2) or more, ``none`` below. A strong match is what a peer may
answer as a hit without a human looking first; a possible match calls for a look.
One rule sits on top of the probability: a pair whose names do not agree in every
part (level ``fuzzy``, ``partial``, ``single`` or ``none``) is at most ``possible``, whatever its date of
birth says — twins, and FEBRL's records whose given name was replaced, look alike.
With the trained prior a name alone, however equal, stays below 0.9: without a date
of birth an equal name is ``possible``, never ``strong``.

**Names.** Every name of one person is compared with every name of the other (aliases,
other scripts) and the best pair counts. Two names are aligned part by part, in any
order (token-set alignment: *Putin Vladimir* = *Vladimir Putin*), two adjacent parts
of one side may face one part of the other (*Abdul Rahman* / *Abdulrahman*), and each
pair of parts gets a similarity: 1 when equal, 0.95 when they share a name identity
(rigour's tagger or our variant list), 0.92 when their consonant skeletons agree,
0.9 when their Metaphone keys agree, else their Jaro–Winkler similarity; an initial
agrees with any part that starts with it (0.8). The level then says how much of the
two names was explained, and how well (see :data:`NAME_LEVELS`).

**Dates of birth** accept ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` and ``YYYYMMDD``; two
dates that agree as far as both are known are ``partial`` (1970 and 1970-05-01), day
and month swapped are ``swapped``, one wrong or two transposed digits are ``typo``.

**Blocking keys** (:func:`blocking_keys`) are the strings under which an index files a
person so that a query only looks at records sharing a key: each name part's skeleton
with each birth year, and with the day and month (a typo in the year), each pair of
parts of a name (no or a wrong date of birth), each name identity of a part with the
other part's skeleton, one part as written with the other's initial, the full date of
birth, and each identifier. A true match missed by every key is never compared; the recall of
the keys is measured on FEBRL4 and on the cross-script cases (docs/search.md).

Comparisons cost tens of microseconds: names are normalised once per string (an LRU in
:mod:`accord.search.names`) and a person's prepared form is cached on the object.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from itertools import combinations
from typing import Any

from rigour.text import jaro_winkler, levenshtein

from accord.errors import ValidationFailed
from accord.search.names import NamePart, NormalName, normalise_name

__all__ = [
    "NAME_LEVELS", "POSSIBLE", "STRONG", "BirthDate", "FieldComparison", "Match", "Parameters",
    "PersonQuery", "PersonRecord", "band_of", "blocking_keys", "compare", "explain",
    "load_parameters", "name_similarity", "parse_birth_date", "part_similarity",
]

STRONG = 0.9
POSSIBLE = 0.2

#: Name levels, best first. ``exact``: the same parts. ``equivalent``: every part of each
#: name matches one of the other (variants, skeleton, phonetics, small typos, initials).
#: ``contained``: every part of the shorter name (two parts or more) matches, the longer
#: has more (a second surname, a patronymic, a middle name). ``fuzzy``: every part of the
#: shorter name matches, some only loosely (similarity 0.75–0.88). ``partial``: at least one
#: part matches well, another does not. ``single``: one name has a single part, which
#: matches. ``none``: nothing matches.
NAME_LEVELS = ("exact", "equivalent", "contained", "fuzzy", "partial", "single", "none")
DOB_LEVELS = ("exact", "partial", "swapped", "typo", "year", "none")
ID_LEVELS = ("exact", "typo", "none")
ATTR_LEVELS = ("exact", "close", "none")
SAME_LEVELS = ("same", "none")

_NAME_AGREES = frozenset({"exact", "equivalent", "contained"})
_STRONG_PART = 0.88
_LOOSE_PART = 0.75


# --- dates of birth --------------------------------------------------------------------------

_DATE = re.compile(r"^\s*(\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?\s*$")


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A date of birth as precise as it was written: a year, a month, or a day."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def digits(self) -> str:
        out = f"{self.year:04d}"
        if self.month is not None:
            out += f"{self.month:02d}"
            if self.day is not None:
                out += f"{self.day:02d}"
        return out

    def __str__(self) -> str:
        return "-".join(filter(None, (f"{self.year:04d}",
                                      f"{self.month:02d}" if self.month is not None else "",
                                      f"{self.day:02d}" if self.day is not None else "")))


@lru_cache(maxsize=100_000)
def parse_birth_date(text: str, *, strict: bool = True) -> BirthDate:
    """``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or ``YYYYMMDD`` as a :class:`BirthDate`.

    ``strict`` refuses impossible months and days (an officer's typing error); records
    read with ``strict=False`` keep them as written, since a typo there is evidence too.
    """
    m = _DATE.match(text)
    if not m:
        raise ValidationFailed(f"date of birth {text!r} is not YYYY, YYYY-MM or YYYY-MM-DD",
                               field="birth_date")
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    day = int(m.group(3)) if m.group(3) else None
    if strict:
        if not 1800 <= year <= 2200 or (month is not None and not 1 <= month <= 12) or (
                day is not None and not 1 <= day <= 31):
            raise ValidationFailed(f"date of birth {text!r} is not a possible date", field="birth_date")
    return BirthDate(year, month, day)


def _dob_level(a: BirthDate, b: BirthDate) -> str:
    if a.year == b.year and a.month == b.month and a.day == b.day:
        return "exact" if a.day is not None else "partial"
    if a.day is not None and b.day is not None and a.month is not None and b.month is not None:
        if a.year == b.year and a.month == b.day and a.day == b.month:
            return "swapped"
        da, db = a.digits, b.digits
        diffs = [i for i in range(8) if da[i] != db[i]]
        if len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                               and da[diffs[0]] == db[diffs[1]] and da[diffs[1]] == db[diffs[0]]):
            return "typo"
        return "year" if a.year == b.year else "none"
    # At least one side is imprecise: compare what both know.
    if a.year != b.year:
        if a.month is None and b.month is None and levenshtein(str(a.year), str(b.year)) == 1:
            return "typo"
        return "none"
    if a.month is not None and b.month is not None and a.month != b.month:
        return "year"
    return "partial"


# --- names -----------------------------------------------------------------------------------

def part_similarity(a: NamePart, b: NamePart) -> tuple[float, str]:
    """How alike two name parts are (0..1), and why: exact, initial, variant, skeleton…"""
    if a.text == b.text:
        return 1.0, "exact"
    if a.initial or b.initial:
        return (0.8, "initial") if a.text[0] == b.text[0] else (0.0, "different")
    if a.symbols & b.symbols:
        return 0.95, "variant"
    jw = jaro_winkler(a.text, b.text)
    # Equal skeletons say "same name" when one side was written without short vowels
    # (Arabic, Hebrew), or when both have as many vowel runs (Qaddafi, Kadhafi; not
    # Salman, Suleiman).
    if a.skeleton == b.skeleton and len(a.skeleton) >= 2 and (
            ((a.abjad or b.abjad) and jw >= 0.6) or a.vowel_groups == b.vowel_groups):
        return max(0.92, jw), "skeleton"
    if a.phonetic == b.phonetic and len(a.phonetic) >= 2 and jw >= 0.8 and (
            jw >= 0.85 or a.vowel_groups == b.vowel_groups):
        return max(0.9, jw), "phonetic"
    if jw >= _STRONG_PART:
        return jw, "typo"
    sk = jaro_winkler(a.skeleton, b.skeleton) if len(a.skeleton) >= 3 and len(b.skeleton) >= 3 else 0.0
    if sk >= 0.9 and jw >= 0.7:
        return 0.85, "similar skeleton"
    return jw, "different" if jw < _LOOSE_PART else "similar"


def _merged(x: NamePart, y: NamePart) -> NamePart:
    return normalise_name(x.text + y.text).parts[0]


@dataclass(frozen=True, slots=True)
class PartPair:
    left: str
    right: str
    similarity: float
    reason: str


@dataclass(frozen=True, slots=True)
class NameComparison:
    level: str
    left: NormalName
    right: NormalName
    pairs: tuple[PartPair, ...]


def name_similarity(a: NormalName, b: NormalName) -> NameComparison:
    """Align the parts of two names in any order and give the name level (see NAME_LEVELS)."""
    pa, pb = a.parts, b.parts
    if not pa or not pb:
        return NameComparison("none", a, b, ())
    cands: list[tuple[float, str, tuple[int, ...], tuple[int, ...], str, str]] = []
    for i, x in enumerate(pa):
        for j, y in enumerate(pb):
            s, why = part_similarity(x, y)
            if s >= _LOOSE_PART:
                cands.append((s, why, (i,), (j,), x.text, y.text))
    # Two adjacent parts of one side against one part of the other (Abdul Rahman / Abdulrahman).
    for side, (p1, p2) in ((0, (pa, pb)), (1, (pb, pa))):
        for i in range(len(p1) - 1):
            if p1[i].initial or p1[i + 1].initial:
                continue
            m = _merged(p1[i], p1[i + 1])
            for j, y in enumerate(p2):
                s, why = part_similarity(m, y)
                if s >= _STRONG_PART:
                    s -= 0.01  # a split part is a little less sure than a whole one
                    if side == 0:
                        cands.append((s, why, (i, i + 1), (j,), m.text, y.text))
                    else:
                        cands.append((s, why, (j,), (i, i + 1), y.text, m.text))
    cands.sort(key=lambda c: (-c[0], -len(c[2]) - len(c[3])))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: list[PartPair] = []
    for s, why, ia, ib, ta, tb in cands:
        if used_a.intersection(ia) or used_b.intersection(ib):
            continue
        used_a.update(ia)
        used_b.update(ib)
        pairs.append(PartPair(ta, tb, round(s, 3), why))
    return NameComparison(_name_level(pa, pb, used_a, used_b, pairs), a, b, tuple(pairs))


def _name_level(pa: tuple[NamePart, ...], pb: tuple[NamePart, ...], used_a: set[int], used_b: set[int],
                pairs: list[PartPair]) -> str:
    if not pairs:
        return "none"
    if len(pa) == len(pb) and sorted(p.text for p in pa) == sorted(p.text for p in pb):
        return "exact"
    strong_solid = [p for p in pairs if p.similarity >= _STRONG_PART and p.reason != "initial"]
    # An initial agrees when two whole parts agree besides it (J. Garcia Lopez).
    strong = strong_solid + [p for p in pairs if p.reason == "initial"] if len(strong_solid) >= 2 else strong_solid
    all_a, all_b = len(used_a) == len(pa), len(used_b) == len(pb)
    if not strong_solid:
        return "none"
    if min(len(pa), len(pb)) == 1:
        return "equivalent" if (all_a and all_b and len(strong) == len(pairs)) else "single"
    if all_a and all_b and len(strong) == len(pairs):
        return "equivalent"
    short_all = all_a if len(pa) <= len(pb) else all_b
    if short_all and len(strong) == len(pairs):
        return "contained"
    if short_all or (all_a or all_b):
        return "fuzzy"
    return "partial"


# --- persons ---------------------------------------------------------------------------------

_ID_FOLD = re.compile(r"[^0-9A-Z]")


def _fold_id(value: str) -> str:
    return _ID_FOLD.sub("", value.upper())


def _country(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    import pycountry

    try:
        return str(pycountry.countries.lookup(value.strip()).alpha_2)
    except LookupError:
        return value.strip().upper()


def _gender(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    v = value.strip().lower()
    if v in ("m", "male", "man", "h", "homme", "hombre", "masculino", "masculin"):
        return "m"
    if v in ("f", "female", "woman", "femme", "mujer", "femenino", "feminin", "féminin"):
        return "f"
    return v


@dataclass(frozen=True)
class PersonRecord:
    """A person as an index holds it, or as an officer asks for it (:data:`PersonQuery`).

    ``names`` are full names in any script (aliases count: the best pair is used);
    ``birth_dates`` as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; ``nationality`` as an ISO
    3166 code or a country name; ``id_numbers`` are document or national numbers;
    ``attributes`` are further fields compared as strings, each with its own trained
    weights where the parameters have them (FEBRL's address parts), else generic ones.
    """

    names: tuple[str, ...] | list[str]
    birth_dates: tuple[str, ...] | list[str] = ()
    nationality: str | None = None
    gender: str | None = None
    id_numbers: tuple[str, ...] | list[str] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def prepared(self) -> _Prepared:
        names = tuple(n for n in (normalise_name(x) for x in self.names if x and x.strip()) if n.parts)
        dates = tuple(dict.fromkeys(parse_birth_date(d, strict=False) for d in self.birth_dates
                                    if d and d.strip()))
        ids = tuple(sorted({f for f in (_fold_id(i) for i in self.id_numbers if i) if f}))
        attrs = {k: " ".join(v.lower().split()) for k, v in self.attributes.items() if v and v.strip()}
        return _Prepared(names, dates, _country(self.nationality), _gender(self.gender), ids, attrs)


PersonQuery = PersonRecord


@dataclass(frozen=True, slots=True)
class _Prepared:
    names: tuple[NormalName, ...]
    dates: tuple[BirthDate, ...]
    nationality: str | None
    gender: str | None
    ids: tuple[str, ...]
    attributes: dict[str, str]


# --- parameters ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameters:
    """The trained model: per field and level, m and u; the prior; where they came from."""

    prior: float
    levels: dict[str, dict[str, tuple[float, float]]]
    source: str = ""

    def weight(self, field_name: str, level: str) -> float:
        table = self.levels.get(field_name) or self.levels["attribute"]
        m, u = table[level]
        return math.log2(m / u)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parameters:
        levels = {f: {lvl: (float(v["m"]), float(v["u"])) for lvl, v in table.items()}
                  for f, table in data["fields"].items()}
        return cls(prior=float(data["prior"]), levels=levels, source=str(data.get("source", "")))


@lru_cache(maxsize=1)
def load_parameters() -> Parameters:
    """The parameters shipped with Accord (``src/accord/data/search/parameters.json``)."""
    text = resources.files("accord.data").joinpath("search/parameters.json").read_text("utf-8")
    return Parameters.from_json(json.loads(text))


# --- comparison ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FieldComparison:
    """One field of the explanation: the level reached, its weight, what was compared."""

    field: str
    level: str
    weight: float
    left: str
    right: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    score: float                     # match probability, 0..1
    band: str                        # strong, possible, none
    weight: float                    # log2 odds: prior + field weights
    explanation: tuple[FieldComparison, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4), "band": self.band, "weight": round(self.weight, 2),
            "explanation": [
                {"field": f.field, "level": f.level, "weight": round(f.weight, 2), "left": f.left,
                 "right": f.right, "detail": f.detail} for f in self.explanation],
        }


def band_of(score: float) -> str:
    """``strong``, ``possible`` or ``none`` for a score (thresholds STRONG and POSSIBLE)."""
    return "strong" if score >= STRONG else "possible" if score >= POSSIBLE else "none"


def _compare_names(a: _Prepared, b: _Prepared, params: Parameters) -> FieldComparison | None:
    if not a.names or not b.names:
        return None
    best: tuple[float, NameComparison] | None = None
    for x in a.names:
        for y in b.names:
            nc = name_similarity(x, y)
            w = params.weight("name", nc.level)
            if best is None or w > best[0]:
                best = (w, nc)
    assert best is not None
    w, nc = best
    detail = "; ".join(f"{p.left}~{p.right} {p.reason} {p.similarity:.2f}" for p in nc.pairs)
    return FieldComparison("name", nc.level, w, f"{nc.left.original} → {nc.left.latin}",
                           f"{nc.right.original} → {nc.right.latin}", detail)


def _compare_dates(a: _Prepared, b: _Prepared, params: Parameters) -> FieldComparison | None:
    if not a.dates or not b.dates:
        return None
    best: tuple[float, str, BirthDate, BirthDate] | None = None
    for x in a.dates:
        for y in b.dates:
            level = _dob_level(x, y)
            w = params.weight("birth_date", level)
            if best is None or w > best[0]:
                best = (w, level, x, y)
    assert best is not None
    return FieldComparison("birth_date", best[1], best[0], str(best[2]), str(best[3]))


def _compare_ids(a: _Prepared, b: _Prepared, params: Parameters) -> FieldComparison | None:
    if not a.ids or not b.ids:
        return None
    level, pair = "none", (a.ids[0], b.ids[0])
    for x in a.ids:
        for y in b.ids:
            if x == y:
                level, pair = "exact", (x, y)
                break
            if level == "none" and len(x) >= 5 and levenshtein(x, y) <= 1:
                level, pair = "typo", (x, y)
        if level == "exact":
            break
    return FieldComparison("id_number", level, params.weight("id_number", level), *pair)


def _attr_level(x: str, y: str) -> str:
    if x == y:
        return "exact"
    if x.isdigit() and y.isdigit():
        return "close" if levenshtein(x, y) <= 1 else "none"
    return "close" if jaro_winkler(x, y) >= 0.88 else "none"


def compare(a: PersonRecord, b: PersonRecord, params: Parameters | None = None) -> Match:
    """Compare two persons field by field; the score is a calibrated match probability."""
    params = params or load_parameters()
    pa, pb = a.prepared, b.prepared
    fields: list[FieldComparison] = []
    for fc in (_compare_names(pa, pb, params), _compare_dates(pa, pb, params)):
        if fc is not None:
            fields.append(fc)
    if pa.nationality and pb.nationality:
        lvl = "same" if pa.nationality == pb.nationality else "none"
        fields.append(FieldComparison("nationality", lvl, params.weight("nationality", lvl),
                                      pa.nationality, pb.nationality))
    if pa.gender and pb.gender:
        lvl = "same" if pa.gender == pb.gender else "none"
        fields.append(FieldComparison("gender", lvl, params.weight("gender", lvl), pa.gender, pb.gender))
    ids = _compare_ids(pa, pb, params)
    if ids is not None:
        fields.append(ids)
    for key in sorted(pa.attributes.keys() & pb.attributes.keys()):
        x, y = pa.attributes[key], pb.attributes[key]
        lvl = _attr_level(x, y)
        fname = key if key in params.levels else "attribute"
        fields.append(FieldComparison(key, lvl, params.weight(fname, lvl), x, y))
    weight = math.log2(params.prior / (1 - params.prior)) + sum(f.weight for f in fields)
    score = 1.0 / (1.0 + 2.0 ** -weight) if weight > -1000 else 0.0
    band = band_of(score)
    if band == "strong" and not any(f.field == "name" and f.level in _NAME_AGREES for f in fields):
        band = "possible"  # a date of birth or a shared surname alone is never a strong match
    return Match(score=score, band=band, weight=weight, explanation=tuple(fields))


def comparison_levels(a: PersonRecord, b: PersonRecord) -> dict[str, str]:
    """The level each field reaches, without weights (what training counts)."""
    params = _UNIT
    return {f.field: f.level for f in compare(a, b, params).explanation}


def _unit_parameters() -> Parameters:
    levels: dict[str, dict[str, tuple[float, float]]] = {}
    for fname, lv in (("name", NAME_LEVELS), ("birth_date", DOB_LEVELS), ("id_number", ID_LEVELS),
                      ("nationality", SAME_LEVELS), ("gender", SAME_LEVELS), ("attribute", ATTR_LEVELS)):
        # Ordered weights so that "best alias pair" picks the better level before training.
        levels[fname] = {lvl: (2.0 ** (len(lv) - k), 1.0) for k, lvl in enumerate(lv)}
    return Parameters(prior=0.5, levels=levels, source="untrained order")


_UNIT = _unit_parameters()


def explain(match: Match) -> str:
    """A plain-text rendering of a match: score, band, then one line per field."""
    lines = [f"score {match.score:.4f}  band {match.band}  weight {match.weight:+.2f} (log2 odds)"]
    for f in match.explanation:
        line = f"  {f.field:<12} {f.level:<11} {f.weight:+7.2f}  {f.left}  |  {f.right}"
        if f.detail:
            line += f"  ({f.detail})"
        lines.append(line)
    return "\n".join(lines)


# --- blocking --------------------------------------------------------------------------------

def blocking_keys(person: PersonRecord) -> set[str]:
    """Index keys for a person: a query is compared only with records sharing one of them."""
    p = person.prepared
    years = {d.year for d in p.dates}
    monthdays = {f"{d.month:02d}{d.day:02d}" for d in p.dates if d.month is not None and d.day is not None}
    fulls = {d.digits for d in p.dates if d.day is not None}
    keys: set[str] = {f"b:{d}" for d in fulls}
    for name in p.names:
        parts = [x for x in name.parts if not x.initial and x.skeleton]
        for x in parts:
            groups = {s for s in x.symbols if s.startswith("V:")}
            for yr in years:
                keys.add(f"n:{x.skeleton}:{yr}")
                keys.add(f"m:{x.phonetic}:{yr}")
                keys.update(f"g:{g}:{yr}" for g in groups)
            for md in monthdays:
                keys.add(f"d:{x.skeleton}:{md}")
        for x, y in combinations(parts, 2):
            keys.add("p:" + ":".join(sorted((x.skeleton, y.skeleton))))
            # A name identity of one part with the other part's skeleton (בנימין / Benjamin).
            keys.update(f"y:{sym}:{y.skeleton}" for sym in x.symbols)
            keys.update(f"y:{sym}:{x.skeleton}" for sym in y.symbols)
            keys.add("q:" + ":".join(sorted((x.phonetic, y.phonetic))))
            # One part as written and the other's first letter: a typo in the other part.
            keys.add(f"t:{x.text}:{y.text[0]}")
            keys.add(f"t:{y.text}:{x.text[0]}")
        if len(parts) == 1 and not years:
            keys.add(f"s:{parts[0].skeleton}")
    keys.update(f"i:{i}" for i in p.ids)
    return keys


def candidate_pairs(left: Iterable[tuple[str, PersonRecord]],
                    right: Iterable[tuple[str, PersonRecord]]) -> set[tuple[str, str]]:
    """Pairs (left id, right id) sharing at least one blocking key (an in-memory index)."""
    index: dict[str, list[str]] = {}
    for rid, person in right:
        for k in blocking_keys(person):
            index.setdefault(k, []).append(rid)
    out: set[tuple[str, str]] = set()
    for lid, person in left:
        for k in blocking_keys(person):
            for rid in index.get(k, ()):
                out.add((lid, rid))
    return out
