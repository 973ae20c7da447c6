"""Benchmark the Merkle log at 1,000,000 leaves against plain hashlib.

Measures building the tree (``extend``), proof generation, and
``verify_inclusion`` / ``verify_consistency``. Each verify timing is set
against a baseline in the same run: plain ``hashlib.sha256`` over the very
bytes the verifier must hash (one 65-byte node hash per proof item), so the
ratio is the cost of the verifier's own bookkeeping on top of the hashing.

Run: ``.venv/bin/python bench/merkle_verify.py [--leaves N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import time
from collections.abc import Callable

from accord.crypto.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


def _per_call(fn: Callable[[], object], rounds: int) -> float:
    """Best of 5 runs of ``rounds`` calls; seconds per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2_000)
    args = parser.parse_args()
    n, rounds = args.leaves, args.rounds
    rng = random.Random(6962)

    entries = [rng.randbytes(64) for _ in range(n)]
    start = time.perf_counter()
    hashes = [leaf_hash(e) for e in entries]
    hashing = time.perf_counter() - start
    start = time.perf_counter()
    tree = MerkleTree()
    tree.extend(hashes)
    build = time.perf_counter() - start
    start = time.perf_counter()
    appended = MerkleTree()
    for h in hashes[: n // 10]:
        appended.append(h)
    append_each = (time.perf_counter() - start) / max(1, n // 10)

    root = tree.root()
    indexes = [rng.randrange(n) for _ in range(rounds)]
    olds = [rng.randrange(1, n) for _ in range(rounds)]

    def gen_root() -> None:
        for i in indexes[:100]:
            tree.root(i + 1)

    def gen_inclusion() -> None:
        for i in indexes[:100]:
            tree.inclusion_proof(i)

    def gen_consistency() -> None:
        for m in olds[:100]:
            tree.consistency_proof(m)

    index = indexes[0]
    leaf, proof = hashes[index], tree.inclusion_proof(index)
    node_inputs = [b"\x01" + leaf + p for p in proof]  # the bytes the verifier hashes

    def verify_incl() -> None:
        verify_inclusion(leaf, index, n, proof, root)

    def baseline_incl() -> None:
        for data in node_inputs:
            hashlib.sha256(data).digest()

    old = olds[0]
    cproof, old_root = tree.consistency_proof(old), tree.root(old)
    # verify_consistency recomputes two roots; count the node hashes it makes
    inner = ((old - 1) ^ (n - 1)).bit_length()
    border = ((old - 1) >> inner).bit_count()
    shift = (old & -old).bit_length() - 1
    inner -= shift
    mask = ((old - 1) >> shift) & ((1 << inner) - 1)
    calls = mask.bit_count() + inner + 2 * border
    cons_inputs = [b"\x01" + old_root + cproof[0]] * calls

    def verify_cons() -> None:
        verify_consistency(old, n, cproof, old_root, root)

    def baseline_cons() -> None:
        for data in cons_inputs:
            hashlib.sha256(data).digest()

    t_root = _per_call(gen_root, 10) / 100
    t_incl = _per_call(gen_inclusion, 10) / 100
    t_cons = _per_call(gen_consistency, 10) / 100
    t_vi, t_bi = _per_call(verify_incl, rounds), _per_call(baseline_incl, rounds)
    t_vc, t_bc = _per_call(verify_cons, rounds), _per_call(baseline_cons, rounds)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Merkle log, {n:,} leaves (peak RSS {rss_mb:.0f} MB, entries included)")
    print(f"  leaf hashing (hashlib)        {hashing:8.3f} s")
    print(f"  MerkleTree.extend             {build:8.3f} s")
    print(f"  MerkleTree.append (each)      {append_each * 1e6:8.2f} µs")
    print(f"  root(size)                    {t_root * 1e6:8.2f} µs")
    print(f"  inclusion_proof               {t_incl * 1e6:8.2f} µs")
    print(f"  consistency_proof             {t_cons * 1e6:8.2f} µs")
    print(
        f"  verify_inclusion ({len(proof)} hashes)  {t_vi * 1e6:8.2f} µs"
        f"   baseline {t_bi * 1e6:6.2f} µs   ratio {t_vi / t_bi:5.2f}"
    )
    print(
        f"  verify_consistency ({len(cproof)} items) {t_vc * 1e6:8.2f} µs"
        f"   baseline {t_bc * 1e6:6.2f} µs   ratio {t_vc / t_bc:5.2f}"
    )


if __name__ == "__main__":
    main()
