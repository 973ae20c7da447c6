"""Micro-benchmark: seal / open of one envelope, against a baseline in the same run.

Baseline: the same payload as canonical JSON with a bare Ed25519 signature (no
encryption, no structure checks) — what an "authenticated only" exchange costs.

    .venv/bin/python bench/envelope_micro.py [--payload-bytes 2048] [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.crypto.canonical import canonical_json
from accord.crypto.envelope import RecipientKey, SenderKey, open_envelope, seal
from accord.crypto.keyid import key_id_of


class Keys:
    def __init__(self, pub: Ed25519PublicKey, priv: dict[str, X25519PrivateKey]) -> None:
        self.pub, self.priv = pub, priv

    def signing_key(self, agency: str, kid: str) -> Ed25519PublicKey:
        return self.pub

    def decryption_key(self, agency: str, kid: str) -> X25519PrivateKey:
        return self.priv[agency]


def timeit(fn: Callable[[], object], n: int) -> float:
    """Median of 5 runs, microseconds per call."""
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payload-bytes", type=int, default=2048)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()

    sk = Ed25519PrivateKey.generate()
    sender = SenderKey("ES-PN", key_id_of(sk.public_key()), sk)
    agencies = ["FR-PN", "MA-DGSN", "IT-PS"]
    xs = {a: X25519PrivateKey.generate() for a in agencies}
    recips = {a: RecipientKey(a, key_id_of(k.public_key()), k.public_key()) for a, k in xs.items()}
    keys = Keys(sk.public_key(), xs)
    payload = {"subject": "bench", "body": "x" * max(0, args.payload_bytes - 40)}
    created = datetime(2025, 1, 1, tzinfo=UTC)
    expires, now = created + timedelta(days=1), created + timedelta(minutes=1)

    def base_seal() -> bytes:
        body = canonical_json(payload)
        return json.dumps({"p": payload, "s": sk.sign(body).hex()}).encode()

    raw_base = base_seal()

    def base_open() -> None:
        d = json.loads(raw_base)
        sk.public_key().verify(bytes.fromhex(d["s"]), canonical_json(d["p"]))

    print(f"payload {len(canonical_json(payload))} bytes, n={args.n}, median of 5 runs")
    b_s, b_o = timeit(base_seal, args.n), timeit(base_open, args.n)
    print(f"  baseline sign+json     {b_s:8.1f} µs   verify {b_o:8.1f} µs")
    for k in (1, 3):
        to = [recips[a] for a in agencies[:k]]

        def do_seal(to: list[RecipientKey] = to) -> bytes:
            env = seal(
                payload,
                sender=sender,
                recipients=to,
                envelope_id="bench-1",
                created=created,
                expires=expires,
            )
            return json.dumps(env).encode()

        raw = do_seal()

        def do_open(raw: bytes = raw) -> None:
            open_envelope(raw, recipient="FR-PN", keys=keys, now=now)

        s, o = timeit(do_seal, args.n), timeit(do_open, args.n)
        print(
            f"  envelope {k} recipient(s)  seal {s:8.1f} µs ({s / b_s:4.1f}x)"
            f"   open {o:8.1f} µs ({o / b_o:4.1f}x)   wire {len(raw)} bytes"
        )


if __name__ == "__main__":
    main()
