"""Benchmark the audit log: appends per second (single and batched) and inclusion
proof verification at 1,000,000 entries, each against a baseline in the same run.

Baseline: plain SHA-256 over the same bytes (the canonical entry bytes for
appends; the node hashes a proof verification must compute, for verifying).
Appends are measured on the embedded engine (SQLite, WAL, synchronous=FULL),
each single append in its own committed transaction, batches of 1,000 per
transaction. Figures are printed and written to bench/results/audit_log.json.

Run: ``.venv/bin/python bench/audit_log.py [--entries 1000000] [--single 500] [--batched 50000]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from accord.audit.services import EntryIn, entry_bytes
from accord.bootstrap import build_node
from accord.clock import ManualClock
from accord.crypto.merkle import HASH_SIZE, MerkleTree, leaf_hash, verify_inclusion
from accord.db import make_engine
from accord.lifecycle import AgencySpec, initialise
from accord.settings import Settings
from accord.tables import metadata

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entry(i: int) -> EntryIn:
    return EntryIn(actor="ES-PN/garcia", action="records:record:read", object=f"record:{i:08d}",
                   purpose="investigation", basis="eu-2023-977@1#art-4", detail={"n": i})


def baseline_rate(n: int) -> float:
    """SHA-256 over the same canonical bytes, no database."""
    data = [entry_bytes(i, AT, entry(i)) for i in range(n)]
    start = time.perf_counter()
    for d in data:
        hashlib.sha256(b"\x00" + d).digest()
    return n / (time.perf_counter() - start)


def append_rates(single: int, batched: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        metadata.create_all(engine)
        settings = Settings(mode="test", data_dir=Path(tmp), database_url=url, node_id="bench",
                            country="ES", secret_key="b" * 48, key_passphrase="bench")
        node = build_node(settings, clock=ManualClock(AT), engine=engine)
        initialise(node, [AgencySpec("ES-PN", "Policía Nacional")], migrate=False)
        start = time.perf_counter()
        for i in range(single):
            with node.uow() as s:
                node.audit.append(s, entry(i), at=AT)
        single_rate = single / (time.perf_counter() - start)
        start = time.perf_counter()
        for b in range(0, batched, 1000):
            with node.uow() as s:
                node.audit.append_many(s, [entry(i) for i in range(b, min(b + 1000, batched))], at=AT)
        batched_rate = batched / (time.perf_counter() - start)
        with node.uow() as s:
            start = time.perf_counter()
            node.audit.checkpoint(s, at=AT)
            checkpoint_s = time.perf_counter() - start
        node.dispose()
    return {"single_per_s": single_rate, "batched_per_s": batched_rate,
            "checkpoint_s": checkpoint_s}


def proof_verify(entries: int, rounds: int = 2000) -> dict[str, float]:
    leaves = [leaf_hash(entry_bytes(i, AT, entry(i))) for i in range(entries)]
    tree = MerkleTree(leaves)
    root = tree.root()
    idx = entries // 3
    proof = tree.inclusion_proof(idx)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            verify_inclusion(leaves[idx], idx, entries, proof, root)
        best = min(best, (time.perf_counter() - start) / rounds)
    # Baseline: the same number of SHA-256 node hashes over the same byte lengths.
    blocks = [b"\x01" + leaves[idx] + h for h in proof]
    base = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for blk in blocks:
                hashlib.sha256(blk).digest()
        base = min(base, (time.perf_counter() - start) / rounds)
    assert len(proof[0]) == HASH_SIZE
    return {"proof_len": len(proof), "verify_us": best * 1e6, "baseline_us": base * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--batched", type=int, default=50_000)
    args = parser.parse_args()

    base = baseline_rate(50_000)
    rates = append_rates(args.single, args.batched)
    verify = proof_verify(args.entries)
    results = {
        "baseline_sha256_per_s": round(base),
        "single_append_per_s": round(rates["single_per_s"]),
        "single_ratio_vs_baseline": rates["single_per_s"] / base,
        "batched_append_per_s": round(rates["batched_per_s"]),
        "batched_ratio_vs_baseline": rates["batched_per_s"] / base,
        "checkpoint_s": rates["checkpoint_s"],
        "entries_for_proof": args.entries,
        "inclusion_proof_hashes": verify["proof_len"],
        "verify_inclusion_us": verify["verify_us"],
        "verify_baseline_sha256_us": verify["baseline_us"],
        "verify_ratio_vs_baseline": verify["verify_us"] / verify["baseline_us"],
    }
    for k, v in results.items():
        print(f"{k:32} {v:,.3f}" if isinstance(v, float) else f"{k:32} {v:,}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "audit_log.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
