"""Benchmark: secure messaging between two node processes, against a plain POST baseline.

Accord: an ES officer submits N messages to FR-PN through ``POST /api/v1/messages``
(``--clients`` concurrent clients); each is policy-checked, signed, encrypted and
committed to the outbox with its envelope, then the ES node's worker delivers it to
the FR node (``POST /federation/v1/envelopes``), which verifies, decides again, stores
it and answers with a signed receipt. Latency is submit → delivered (the recipient's
``queued_at`` → ``delivered_at`` on the sender, one clock); throughput is N over the
time from the first submit to the last delivery.

Baseline, in the same run and on the same machine: the same message JSON POSTed by the
same number of clients straight to a minimal HTTP server process (FastAPI + uvicorn,
like the node) that inserts it into SQLite — no signing, no encryption, no policy, no
audit, no outbox: latency is the POST's round trip.

Also printed: the submit phase alone (requests answered per second), and the CPU
time each node process spent per message (from /proc, so it does not depend on what
else the machine is doing). ``--database postgresql`` puts both nodes on PostgreSQL
(a fresh schema each, at ``ACCORD_BENCH_PG_URL``, default the local ``test`` database).

``--batch N`` submits N messages per request (``POST /api/v1/messages/batch``: each message
still checked, decided, sealed, delivered and receipted on its own); the default, 1, is one
``POST /api/v1/messages`` per message.

    .venv/bin/python bench/exchange.py [--count 5000] [--clients 8] [--batch 1] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import create_engine, text

from accord.demo import free_port_block

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "agreements"
SETTINGS = {"exchange_worker_poll_seconds": 0.05, "exchange_retry_base_seconds": 0.2,
            "exchange_retry_max_seconds": 2.0}
PG_URL = os.environ.get("ACCORD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def message(i: int) -> dict[str, Any]:
    return {
        "to": ["FR-PN"], "subject": f"bench #{i}", "priority": "normal", "handling": "H1",
        "body": "Ana Ruiz travels on Friday on the Algeciras–Tanger ferry with two couriers. " * 4,
        "case_ref": "BENCH", "crime_area": "0601", "purpose": "investigation",
        "records": [{"id": f"p-{i}", "schema": "Person",
                     "properties": {"name": ["Ana Ruiz"], "birthDate": ["1980-02-03"]}}],
    }



def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- baseline


def baseline_server(port: int, db: str) -> None:
    """The baseline receiver: store the POSTed JSON in SQLite, answer 201."""
    import uvicorn

    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT)")
    app = FastAPI()

    @app.post("/messages", status_code=201)
    async def receive(request: Request) -> dict[str, int]:
        body = await request.body()
        cur = conn.execute("INSERT INTO messages (body) VALUES (?)", (body.decode(),))
        return {"id": int(cur.lastrowid or 0)}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_baseline(count: int, clients: int, paced: int, workdir: Path) -> dict[str, float]:
    port = free_port_block(1)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--baseline-server", str(port), str(workdir / "baseline.db")])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = httpx.Client(base_url=url, timeout=30)

        def post(i: int) -> float:
            t0 = time.perf_counter()
            r = client.post("/messages", json=message(i))
            r.raise_for_status()
            return time.perf_counter() - t0

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(post, range(count)))
        elapsed = time.perf_counter() - start
        idle = [post(count + i) for i in range(paced)]
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"rate": count / elapsed, "p50": pct(latencies, 50) * 1000,
            "p99": pct(latencies, 99) * 1000, "elapsed": elapsed,
            "idle_p50": pct(idle, 50) * 1000, "idle_p99": pct(idle, 99) * 1000}


# --------------------------------------------------------------------------- accord


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pids: list[int], *, timeout: float = 90.0) -> None:
    """Wait until the processes are idle (less than 5 % of a core over a second, twice)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(1.0)
        quiet = quiet + 1 if sum(cpu_seconds(p) for p in pids) - before < 0.05 else 0


@contextlib.contextmanager
def pg_schemas(names: list[str]) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL schema per node, dropped afterwards."""
    admin = create_engine(PG_URL)
    schemas = {n: f"bench_{n.lower()}_{uuid.uuid4().hex[:8]}" for n in names}
    with admin.begin() as conn:
        for schema in schemas.values():
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {n: f"{PG_URL}?options=-csearch_path%3D{schema}" for n, schema in schemas.items()}
    finally:
        with admin.begin() as conn:
            for schema in schemas.values():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_accord(count: int, clients: int, paced: int, workdir: Path,
               urls: dict[str, str] | None = None, batch: int = 1) -> dict[str, float]:
    from accord.auth import secrets as sec
    from accord.demo import prepare_node, start_federation, stop_all

    base = workdir / "fed"
    port = free_port_block(2)
    for i, country in enumerate(["ES", "FR"]):
        dn = prepare_node(base, country, port + i, database_url=(urls or {}).get(country))
        config = dn.data_dir / "accord.toml"
        config.write_text(config.read_text() + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in SETTINGS.items()))
    nodes = start_federation(base, ["ES", "FR"], first_port=port, agreements=EXAMPLES,
                             say=lambda _m: None)
    es = nodes[0]
    try:
        login = next(x for x in es.logins if x.username == "es.officer")
        token = httpx.post(es.url + "/auth/login", timeout=30, json={
            "username": login.username, "password": login.password,
            "totp": sec.totp_now(login.totp_secret, time.time())}).json()["token"]
        client = httpx.Client(base_url=es.url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        client.post("/api/v1/messages", json=message(-1)).raise_for_status()  # warm-up

        def submit(i: int) -> str:
            r = client.post("/api/v1/messages", json=message(i))
            r.raise_for_status()
            if r.json()["refused"]:  # no agreement installed: nothing would ever be delivered
                raise SystemExit(f"the message was refused: {r.json()['refused']}")
            return str(r.json()["message_id"])

        def submit_many(first: int) -> list[str]:
            r = client.post("/api/v1/messages/batch", json={
                "messages": [message(i) for i in range(first, min(first + batch, count))]})
            r.raise_for_status()
            results = r.json()["results"]
            if any(x["status"] != 201 or x["recipients"][0]["state"] != "queued" for x in results):
                raise SystemExit(f"a message was refused: {results[0]}")
            return [str(x["message_id"]) for x in results]

        pids = [n.process.pid for n in nodes if n.process is not None]
        settle(pids)  # start-up work (e.g. the name matcher's warm-up) done before measuring
        cpu0 = [cpu_seconds(p) for p in pids]
        start = time.time()
        with ThreadPoolExecutor(clients) as pool:
            if batch > 1:
                ids = {m for got in pool.map(submit_many, range(0, count, batch)) for m in got}
            else:
                ids = set(pool.map(submit, range(count)))
        submitted = time.time() - start
        query = """
            SELECT m.message_id, r.queued_at, r.delivered_at FROM exchange_recipients r
            JOIN exchange_messages m ON m.id = r.message_pk
            WHERE m.case_ref = 'BENCH' AND r.delivered_at IS NOT NULL"""
        es_engine = create_engine(urls["ES"]) if urls else None

        def delivered() -> list[tuple[str, str, str]]:
            if es_engine is not None:
                with es_engine.connect() as pg:
                    return [(str(a), b.isoformat() if isinstance(b, datetime) else str(b),
                             c.isoformat() if isinstance(c, datetime) else str(c))
                            for a, b, c in pg.execute(text(query)).all()]
            conn = sqlite3.connect(f"file:{es.data_dir / 'accord.db'}?mode=ro", uri=True, timeout=30)
            try:
                return conn.execute(query).fetchall()
            finally:
                conn.close()

        deadline = time.time() + 600
        rows = delivered()
        while len({r[0] for r in rows} & ids) < count and time.time() < deadline:
            time.sleep(0.2)
            rows = delivered()
        cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
        # unloaded: one message at a time, the next once the previous is delivered
        idle_ids: set[str] = set()
        for i in range(paced):
            mid = submit(count + i)
            idle_ids.add(mid)
            until = time.time() + 30
            while mid not in {r[0] for r in delivered()} and time.time() < until:
                time.sleep(0.002)
        idle_rows = [r for r in delivered() if r[0] in idle_ids]
        client.close()
        if es_engine is not None:
            es_engine.dispose()
    finally:
        stop_all(nodes)
    mine = [r for r in rows if r[0] in ids]
    if len(mine) < count or len(idle_rows) < paced:
        raise SystemExit(f"only {len(mine)} of {count} (+{len(idle_rows)} of {paced}) delivered")

    def ts(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    latencies = [ts(d) - ts(q) for _, q, d in mine]
    idle = [ts(d) - ts(q) for _, q, d in idle_rows]
    first = min(ts(q) for _, q, _ in mine)
    last = max(ts(d) for _, _, d in mine)
    return {"rate": count / (last - first), "p50": pct(latencies, 50) * 1000,
            "p99": pct(latencies, 99) * 1000, "elapsed": last - first,
            "idle_p50": pct(idle, 50) * 1000, "idle_p99": pct(idle, 99) * 1000,
            "wall": time.time() - start, "submit_rate": count / submitted,
            "cpu_ms_sender": cpu[0] / count * 1000 if cpu else 0.0,
            "cpu_ms_receiver": cpu[1] / count * 1000 if len(cpu) > 1 else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--paced", type=int, default=50, help="messages sent one at a time, unloaded")
    ap.add_argument("--batch", type=int, default=1,
                    help="messages per submission request (POST /api/v1/messages/batch when > 1)")
    ap.add_argument("--baseline-server", nargs=2, metavar=("PORT", "DB"))
    args = ap.parse_args()
    if args.baseline_server:
        baseline_server(int(args.baseline_server[0]), args.baseline_server[1])
        return
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp:
        work = Path(tmp)
        base = run_baseline(args.count, args.clients, args.paced, work)
        if args.database == "postgresql":
            with pg_schemas(["ES", "FR"]) as urls:
                accord = run_accord(args.count, args.clients, args.paced, work, urls, args.batch)
        else:
            accord = run_accord(args.count, args.clients, args.paced, work, batch=args.batch)
    print(f"exchange benchmark ({args.database}): burst of {args.count} messages from "
          f"{args.clients} clients, then {args.paced} one at a time; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"{'':24}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'idle p50':>10}{'idle p99':>10}")
    for name, r in (("baseline (plain POST)", base), ("accord (submit→deliv.)", accord)):
        print(f"{name:24}{r['rate']:>9.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
              f"{r['idle_p50']:>10.1f}{r['idle_p99']:>10.1f}")
    print(f"ratio accord/baseline: throughput {accord['rate'] / base['rate']:.3f}×; "
          f"latency under burst p50 {accord['p50'] / base['p50']:.0f}×, "
          f"p99 {accord['p99'] / base['p99']:.0f}×; "
          f"unloaded p50 {accord['idle_p50'] / base['idle_p50']:.1f}×, "
          f"p99 {accord['idle_p99'] / base['idle_p99']:.1f}×")
    print(f"submit phase alone: {accord['submit_rate']:.0f} requests/s answered "
          f"({accord['submit_rate'] / base['rate']:.2f}× the baseline's POSTs); CPU per message: "
          f"sender node {accord['cpu_ms_sender']:.2f} ms, receiver node {accord['cpu_ms_receiver']:.2f} ms")
    print(json.dumps({"database": args.database, "count": args.count, "clients": args.clients, "paced": args.paced,
                      "baseline": base, "accord": accord}, default=float))


if __name__ == "__main__":
    main()
