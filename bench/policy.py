"""Benchmark: policy decisions per second with agreements cached, against a dict lookup.

    .venv/bin/python bench/policy.py [--agreements examples/agreements] [--n 200000]

Baseline: one ``dict.get`` on a tuple key (the cheapest possible "policy"),
timed in the same run on the same machine. Printed: decisions/s, µs per
decision, and the ratio to the baseline. A mix of allow and deny requests is
used, as a node sees both.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from accord.agreements import Actor, Resource, decide, load_registry

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agreements", type=Path, default=ROOT / "examples" / "agreements")
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()

    registry = load_registry(args.agreements)
    at = datetime(2025, 6, 1, 12, tzinfo=UTC)
    requests = [
        (Actor("ES-PN", "FR-PN"), "message", Resource(frozenset({"person", "phone"}), "0601", "H2"), "investigation"),
        (
            Actor("MA-DGSN", "ES-PN"),
            "message",
            Resource(frozenset({"person", "wallet"}), "0601", "H1"),
            "investigation",
        ),
        (Actor("FR-PN", "ES-GC"), "hit-no-hit-search", Resource(frozenset({"person"}), None, "H1"), "detection"),
        (
            Actor("FR-PN", "MA-DGSN"),
            "request:information",
            Resource(frozenset({"vehicle"}), "0601", "H1"),
            "investigation",
        ),
        (Actor("ES-PN", "DE-BKA"), "message", Resource(frozenset({"person"}), "0601", "H1"), "investigation"),
    ]
    n = args.n
    k = len(requests)
    for actor, action, resource, purpose in requests:  # warm the pair cache
        decide(actor, action, resource, purpose, at, registry=registry)

    allowed = 0
    start = time.perf_counter()
    for i in range(n):
        actor, action, resource, purpose = requests[i % k]
        allowed += decide(actor, action, resource, purpose, at, registry=registry).allowed
    elapsed = time.perf_counter() - start

    table = {(r[0].agency, r[0].counterpart, r[1], r[3]): True for r in requests}
    hits = 0
    start = time.perf_counter()
    for i in range(n):
        actor, action, _resource, purpose = requests[i % k]
        hits += table.get((actor.agency, actor.counterpart, action, purpose), False)
    baseline = time.perf_counter() - start

    per = elapsed / n * 1e6
    print(f"agreements: {len(registry)} versions from {args.agreements}")
    print(f"decide():    {n / elapsed:12,.0f} decisions/s  {per:7.2f} µs/decision ({allowed} allowed of {n})")
    print(f"dict lookup: {n / baseline:12,.0f} lookups/s    {baseline / n * 1e6:7.2f} µs/lookup")
    print(
        f"ratio: decide() takes {elapsed / baseline:.1f}x a dict lookup; "
        f"{'well under' if per < 100 else 'NOT under'} 1 ms per decision"
    )


if __name__ == "__main__":
    main()
