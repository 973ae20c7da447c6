"""Benchmark: the node's search index at scale, against a plain dict and DuckDB in the same run.

    .venv/bin/python bench/search.py                    # 1,000,000 persons
    .venv/bin/python bench/search.py --persons 100000   # a quick run
    .venv/bin/python bench/search.py --large            # 10,000,000 persons

Single node (issue 8's benchmark, first half). Generated persons, deterministic by
``--seed``: 30 % Maghrebi names from the scenario generator's tables (Arabic script
and French-style romanisation; 85 given names and 52 family names, so common names
make the large blocks a real index meets), 70 % western names from faker pools of
six locales; dates of birth 1940–2005; a passport number each. Each person is indexed
by :func:`accord.search.index.index_entities` into a SQLite node database (the path
records, imports and ``accord search reindex`` take), in transactions of 5,000.

Measured: index build time and peak memory (the process's peak RSS, before and after);
p50/p99 latency of exact identifier queries (passport numbers written with spaces and
lower case) and of fuzzy person queries (a typo in the family name, name parts in
another order, and the Arabic-script form of a Latin-indexed Maghrebi name, each with
the date of birth); the recall of those queries; the sizes of the blocks they read and
how many keys were over-large; batch throughput for 10,000 identifiers. Baselines, same
data, same queries: a Python dict (exact key → refs; for persons, the exact normalised
name and date of birth, which finds only the unmodified ones) and DuckDB (in-memory
table; identifiers by equality, persons by date of birth and Jaro–Winkler ≥ 0.85 on
the name, as one would write it in SQL). Each figure is printed beside its baselines
with the ratio.

:func:`measure_node` runs the single-node part against any node.

End to end (:func:`measure_e2e`, second half; ``--e2e-only`` runs it alone): three node
processes (ES, FR, MA, started as ``accord demo`` does, with the sample agreements and
one granting FR–MA searches), ``--e2e-persons`` generated persons (default 10,000)
imported on ES with ``accord records import`` (one process, batches; the index follows
the records). Once every node answers searches (the matcher warms up in a thread), an FR
officer's ``POST /api/v1/search`` is timed from the client: single person queries (a
typo in the family name, with the date of birth) and single identifier queries (passport
numbers as written by hand), one at a time, p50/p99; then the queries per second FR
sustains with 8 concurrent clients over a fixed number of identifier queries. Each FR
search is policy-decided, signed and encrypted per peer agency (ES-PN, ES-SVA, MA-DGSN),
POSTed to ES and MA, opened, decided, matched, answered, signed, checked and audited on
both sides. Baseline in the same run, same client, same node: the same number of
authenticated ``GET /api/v1/me`` (token check and one officer read), one at a time and
with 8 clients. The CPU seconds each node process spent per query (from /proc) are
printed too: on a loaded machine they say more than the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
from faker import Faker

from accord.auth import secrets as sec
from accord.bootstrap import Node, build_node
from accord.demo import DemoNode, free_port_block, prepare_node, start_federation, stop_all
from accord.search.index import IndexItem, Query, index_entities, person_candidates, search_local
from accord.search.keys import document_key
from accord.search.matcher import PersonRecord
from accord.settings import Settings
from accord.tables import metadata
from accord.training.scenario import names as nm

LOCALES = ("es_ES", "fr_FR", "de_DE", "en_GB", "it_IT", "nl_NL")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "agreements"
FR_MA_SEARCH = """\
id: fr-ma-search-bench
version: 1
title: France–Morocco hit/no-hit searches (benchmark model)
instrument: bilateral-treaty
parties: [FR, MA]
valid_from: 2020-01-01
languages: [fr, ar]
clauses:
  - id: search
    text: Automated hit/no-hit searches of persons, vehicles and documents.
    grants:
      actions: [hit-no-hit-search]
      categories: [person, vehicle, document]
      crime_areas: [all]
      max_handling: H1
      purposes: [prevention, detection, investigation]
      retention: P1D
      onward_transfer: forbidden
"""
META = {"owner": "ES-PN", "handling": "H1", "source_reliability": "B", "info_credibility": "2",
        "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
        "retention_until": "2031-01-01", "provenance": "bench"}


@dataclass(frozen=True)
class Person:
    ref: str
    name: str
    arabic: str | None  # the same name in Arabic script (Maghrebi names)
    given: str
    family: str
    dob: str
    passport: str


def generate(n: int, seed: int = 1) -> list[Person]:
    rng = random.Random(seed)
    firsts: list[str] = []
    lasts: list[str] = []
    for loc in LOCALES:
        fk = Faker(loc)
        fk.seed_instance(seed)
        firsts += list({fk.first_name() for _ in range(600)})
        lasts += list({fk.last_name() for _ in range(1500)})
    given = nm.GIVEN_MALE + nm.GIVEN_FEMALE
    out: list[Person] = []
    for i in range(n):
        dob = f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        passport = f"P{rng.randint(0, 36**8):010d}{i}"
        if rng.random() < 0.3:
            g, f = rng.choice(given), rng.choice(nm.FAMILY)
            father = rng.choice(nm.GIVEN_MALE) if rng.random() < 0.5 else None
            latin = " ".join(x for x in (g.french, father.french if father else None, f.french) if x)
            arabic = " ".join(x for x in (g.arabic, f"بن {father.arabic}" if father else None, f.arabic) if x)
            out.append(Person(f"p{i}", latin, arabic, g.french, f.french, dob, passport))
        else:
            g2, f2 = rng.choice(firsts), rng.choice(lasts)
            out.append(Person(f"p{i}", f"{g2} {f2}", None, g2, f2, dob, passport))
    return out


def entity(p: Person) -> dict[str, Any]:
    return {"id": p.ref, "schema": "Person", "properties": {
        "name": [p.name], "birthDate": [p.dob], "passportNumber": [p.passport]}}


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


@dataclass
class Queries:
    ids: list[tuple[str, str]] = field(default_factory=list)  # (written, expected ref)
    persons: list[tuple[str, str, PersonRecord]] = field(default_factory=list)  # (variant, ref, q)


def make_queries(people: Sequence[Person], n: int, seed: int = 2) -> Queries:
    rng = random.Random(seed)
    q = Queries()
    for p in rng.sample(list(people), n):
        q.ids.append((" ".join(p.passport[i:i + 4] for i in range(0, len(p.passport), 4)).lower(),
                      p.ref))
    arabic = [p for p in people if p.arabic]
    for p in rng.sample(list(people), n):
        q.persons.append(("typo", p.ref, PersonRecord([f"{p.given} {typo(p.family, rng)}"], [p.dob])))
    for p in rng.sample(list(people), n):
        q.persons.append(("order", p.ref, PersonRecord([f"{p.family} {p.given}"], [p.dob])))
    for p in rng.sample(arabic, min(n, len(arabic))):
        assert p.arabic
        q.persons.append(("arabic", p.ref, PersonRecord([p.arabic], [p.dob])))
    return q


def pct(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def line(what: str, ours: float, unit: str, baselines: dict[str, float]) -> None:
    parts = [f"{what:<44} accord {ours:10.3f} {unit}"]
    for name, v in baselines.items():
        ratio = ours / v if v else float("inf")
        parts.append(f"{name} {v:10.3f} {unit} (×{ratio:,.1f})")
    print(" | ".join(parts), flush=True)


def make_node(folder: Path) -> Node:
    settings = Settings(mode="test", data_dir=folder, database_url=f"sqlite:///{folder / 'bench.db'}",
                        node_id="bench-node", country="ES", base_url="http://127.0.0.1:1",
                        secret_key="b" * 48, key_passphrase="bench-key-passphrase",
                        unsafe_fast_key_sealing=True)
    node = build_node(settings)
    metadata.create_all(node.engine)
    return node


def build_index(node: Node, people: Sequence[Person], batch: int = 5000) -> tuple[float, int]:
    t = time.perf_counter()
    keys = 0
    for i in range(0, len(people), batch):
        chunk = people[i:i + batch]
        with node.uow() as s:
            keys += index_entities(node, s, [IndexItem("record", p.ref, "ES-PN", "H1", entity(p))
                                             for p in chunk])
        if (i // batch) % 20 == 0:
            print(f"  indexed {i + len(chunk):,} persons, {keys:,} keys, "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - t, keys


def measure_node(node: Node, queries: Queries) -> dict[str, Any]:
    """Single-node figures on ``node``'s index: latencies, recall, block sizes, batch rate.

    The end-to-end part (three node processes, hit/no-hit over HTTP) belongs beside this
    function: same ``Queries``, sent through the protocol instead of :func:`search_local`.
    """
    out: dict[str, Any] = {}
    lat: list[float] = []
    found = 0
    with node.read() as s:
        for written, ref in queries.ids:
            ms, hits = timed(lambda w=written: search_local(node, s, Query("document", w)))
            lat.append(ms)
            found += any(h.ref == ref for h in hits)
    out["id_ms"] = lat
    out["id_recall"] = found / len(queries.ids)
    per_variant: dict[str, list[float]] = {}
    recall: dict[str, list[int]] = {}
    blocks: list[int] = []
    dropped = 0
    with node.read() as s:
        for variant, ref, q in queries.persons:
            q.prepared  # noqa: B018  the officer's query is parsed before it is timed
            ms, hits = timed(lambda q=q: search_local(node, s, Query("person", q)))
            per_variant.setdefault(variant, []).append(ms)
            recall.setdefault(variant, []).append(int(any(h.ref == ref for h in hits)))
        for _variant, _ref, q in queries.persons[:300]:
            c = person_candidates(s, q)
            blocks += list(c.blocks.values())
            dropped += len(c.dropped)
    out["person_ms"] = per_variant
    out["person_recall"] = {k: sum(v) / len(v) for k, v in recall.items()}
    out["blocks"] = blocks
    out["dropped_per_query"] = dropped / min(300, len(queries.persons))
    batch = [w for w, _ in queries.ids] * (10_000 // max(1, len(queries.ids)) + 1)
    batch = batch[:10_000]
    with node.read() as s:
        ms, _ = timed(lambda: [search_local(node, s, Query("document", w)) for w in batch])
    out["batch_per_s"] = len(batch) / (ms / 1000)
    return out


# --------------------------------------------------------------------------- end to end


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _login(dn: DemoNode, username: str, clients: int) -> httpx.Client:
    login = next(x for x in dn.logins if x.username == username)
    r = httpx.post(dn.url + "/auth/login", timeout=30, json={
        "username": username, "password": login.password,
        "totp": sec.totp_now(login.totp_secret, time.time())})
    r.raise_for_status()
    return httpx.Client(base_url=dn.url, timeout=60,
                        headers={"Authorization": f"Bearer {r.json()['token']}"},
                        limits=httpx.Limits(max_connections=clients,
                                            max_keepalive_connections=clients))


def _import_on(dn: DemoNode, people: Sequence[Person], folder: Path) -> float:
    """``accord records import`` of the persons on the (stopped) node; seconds taken."""
    path = folder / "persons.ftm.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for p in people:
            fh.write(json.dumps({"entity": entity(p), "meta": META}, ensure_ascii=False) + "\n")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accord", "--data-dir", str(dn.data_dir), "records",
                    "import", str(path), "--batch-size", "2000", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {a["agency"]: a["outcome"] for a in result["results"][0]["answers"]}


def measure_e2e(people: Sequence[Person], *, queries: int, rate_queries: int, clients: int,
                folder: Path) -> dict[str, Any]:
    """Hit/no-hit across three node processes, from an FR officer, against GET /api/v1/me."""
    base = folder / "fed"
    agreements = folder / "agreements"
    shutil.copytree(EXAMPLES, agreements, dirs_exist_ok=True)
    (agreements / "fr-ma-search.yaml").write_text(FR_MA_SEARCH)
    port = free_port_block(3)
    es = prepare_node(base, "ES", port)
    import_s = _import_on(es, people, folder)
    print(f"  {len(people):,} persons imported on ES in {import_s:.0f} s", file=sys.stderr,
          flush=True)
    nodes = start_federation(base, ["ES", "FR", "MA"], first_port=port, agreements=agreements,
                             say=lambda _m: None)
    out: dict[str, Any] = {"import_s": import_s}
    try:
        fr = next(n for n in nodes if n.country == "FR")
        client = _login(fr, "fr.officer", clients)
        rng = random.Random(3)
        sample = rng.sample(list(people), min(queries, len(people)))
        person_bodies = [{"kind": "person", "value": f"{p.given} {typo(p.family, rng)}",
                          "dob": p.dob} for p in sample]
        id_bodies = [{"kind": "document",
                      "value": " ".join(p.passport[i:i + 4]
                                        for i in range(0, len(p.passport), 4)).lower()}
                     for p in sample]

        def search(body: dict[str, Any]) -> tuple[float, dict[str, str]]:
            t = time.perf_counter()
            r = client.post("/api/v1/search", json=body)
            ms = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            return ms, _outcomes(r.json())

        def me(_i: int = 0) -> float:
            t = time.perf_counter()
            client.get("/api/v1/me").raise_for_status()
            return (time.perf_counter() - t) * 1000

        # warm: every peer answers (the matcher's tables are built in a thread at start-up)
        t = time.perf_counter()
        while True:
            _ms, got = search(person_bodies[0])
            if got.get("ES-PN") == "hit" and got.get("MA-DGSN") == "no-hit":
                break
            if time.perf_counter() - t > 300:
                raise SystemExit(f"the federation did not warm up in 300 s: {got}")
            time.sleep(1)
        out["warm_s"] = time.perf_counter() - t
        for body in person_bodies[:20] + id_bodies[:20]:
            search(body)
        for _ in range(20):
            me()

        def run_seq(bodies: list[dict[str, Any]]) -> tuple[list[float], float, float]:
            ms, hits, answered = [], 0, 0
            for body in bodies:
                m, got = search(body)
                ms.append(m)
                hits += got.get("ES-PN") == "hit"
                answered += all(v in ("hit", "no-hit") for v in got.values())
            return ms, hits / len(bodies), answered / len(bodies)

        out["person_ms"], out["person_hit"], out["person_answered"] = run_seq(person_bodies)
        out["id_ms"], out["id_hit"], out["id_answered"] = run_seq(id_bodies)
        out["me_ms"] = [me() for _ in range(len(person_bodies))]

        pids = {n.country: n.process.pid for n in nodes if n.process is not None}
        rate_bodies = [id_bodies[i % len(id_bodies)] for i in range(rate_queries)]
        cpu0 = {c: cpu_seconds(p) for c, p in pids.items()}
        t = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(search, rate_bodies))
        out["rate"] = rate_queries / (time.perf_counter() - t)
        out["cpu_ms"] = {c: (cpu_seconds(p) - cpu0[c]) / rate_queries * 1000
                         for c, p in pids.items()}
        out["rate_ms"] = [m for m, _ in results]
        out["rate_answered"] = sum(all(v in ("hit", "no-hit") for v in got.values())
                                   for _, got in results) / rate_queries
        t = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            out["me_rate_ms"] = list(pool.map(me, range(rate_queries)))
        out["me_rate"] = rate_queries / (time.perf_counter() - t)
        client.close()
    finally:
        stop_all(nodes)
    return out


def report_e2e(e: dict[str, Any], n: int, clients: int) -> None:
    print(f"\n== end to end: FR officer → ES ({n:,} persons imported in {e['import_s']:.0f} s) "
          f"and MA, three node processes; warm after {e['warm_s']:.0f} s")
    me = e["me_ms"]
    line("person query p50 (ms)", pct(e["person_ms"], 50), "ms", {"GET /me": pct(me, 50)})
    line("person query p99 (ms)", pct(e["person_ms"], 99), "ms", {"GET /me": pct(me, 99)})
    line("identifier query p50 (ms)", pct(e["id_ms"], 50), "ms", {"GET /me": pct(me, 50)})
    line("identifier query p99 (ms)", pct(e["id_ms"], 99), "ms", {"GET /me": pct(me, 99)})
    print(f"  ES hit rate: persons {e['person_hit']:.3f}, identifiers {e['id_hit']:.3f}; every "
          f"peer answered: {e['person_answered']:.3f} / {e['id_answered']:.3f}")
    line(f"queries/s, {clients} clients (identifiers)", e["rate"], "/s",
         {"GET /me": e["me_rate"]})
    print(f"  under load p50 {pct(e['rate_ms'], 50):.1f} ms, p99 {pct(e['rate_ms'], 99):.1f} ms "
          f"(GET /me p50 {pct(e['me_rate_ms'], 50):.1f}, p99 {pct(e['me_rate_ms'], 99):.1f}); "
          f"every peer answered {e['rate_answered']:.3f}")
    cpu = ", ".join(f"{c} {v:.2f} ms" for c, v in e["cpu_ms"].items())
    print(f"  CPU per query: {cpu} (FR → {1000 / e['cpu_ms']['FR']:,.0f} queries/s per core if "
          f"it had the core alone; ES answering two agencies → "
          f"{1000 / e['cpu_ms']['ES']:,.0f}/s per core)")
    load = os.getloadavg()
    print(f"  machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} (shared)")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--large", action="store_true", help="10,000,000 persons")
    ap.add_argument("--queries", type=int, default=500, help="queries per variant")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--folder", type=Path, default=None, help="where the SQLite file goes")
    ap.add_argument("--e2e-persons", type=int, default=10_000,
                    help="persons imported on ES for the end-to-end part")
    ap.add_argument("--e2e-queries", type=int, default=300,
                    help="single queries of each kind, one at a time")
    ap.add_argument("--e2e-rate-queries", type=int, default=2000,
                    help="identifier queries for the queries-per-second figure")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--e2e-only", action="store_true", help="only the three-node part")
    ap.add_argument("--no-e2e", action="store_true", help="only the single-node part")
    args = ap.parse_args(argv)
    n = 10_000_000 if args.large else args.persons
    if args.e2e_only:
        run_e2e(args)
        return

    t0 = time.perf_counter()
    people = generate(n, args.seed)
    queries = make_queries(people, min(args.queries, n))
    print(f"{n:,} persons generated in {time.perf_counter() - t0:.0f} s; "
          f"{len(queries.ids)} identifier and {len(queries.persons)} person queries", flush=True)

    folder = args.folder or Path(tempfile.mkdtemp(prefix="accord-bench-search-"))
    node = make_node(folder)
    rss0 = rss_mb()
    build_s, keys = build_index(node, people)
    rss1 = rss_mb()
    db_mb = sum(f.stat().st_size for f in folder.glob("bench.db*")) / 1e6

    # Baselines over the same data.
    t = time.perf_counter()
    exact: dict[str, list[str]] = {}
    names: dict[tuple[str, str], list[str]] = {}
    for p in people:
        exact.setdefault(document_key(p.passport), []).append(p.ref)
        names.setdefault((" ".join(p.name.lower().split()), p.dob), []).append(p.ref)
    dict_build_s = time.perf_counter() - t
    t = time.perf_counter()
    duck = duckdb.connect()
    duck.execute("CREATE TABLE persons (ref VARCHAR, name VARCHAR, dob VARCHAR, passport VARCHAR)")
    for i in range(0, n, 200_000):
        chunk = people[i:i + 200_000]
        duck.executemany("INSERT INTO persons VALUES (?, ?, ?, ?)",
                         [(p.ref, p.name.lower(), p.dob, document_key(p.passport)) for p in chunk])
    duck_build_s = time.perf_counter() - t

    ours = measure_node(node, queries)

    dict_id = [timed(lambda w=w: exact.get(document_key(w), []))[0] for w, _ in queries.ids]
    duck_id = [timed(lambda w=w: duck.execute("SELECT ref FROM persons WHERE passport = ?",
                                              [document_key(w)]).fetchall())[0]
               for w, _ in queries.ids[:100]]
    dict_p: list[float] = []
    dict_found = 0
    for _v, ref, q in queries.persons:
        ms, got = timed(lambda q=q: names.get((" ".join(q.names[0].lower().split()), q.birth_dates[0]), []))
        dict_p.append(ms)
        dict_found += ref in got
    duck_p: list[float] = []
    duck_found = 0
    for _v, ref, q in queries.persons[::10]:
        ms, rows = timed(lambda q=q: duck.execute(
            "SELECT ref FROM persons WHERE dob = ? AND jaro_winkler_similarity(name, ?) >= 0.85",
            [q.birth_dates[0], q.names[0].lower()]).fetchall())
        duck_p.append(ms)
        duck_found += any(r[0] == ref for r in rows)
    batch = [w for w, _ in queries.ids] * (10_000 // len(queries.ids) + 1)
    batch = batch[:10_000]
    dict_batch_ms, _ = timed(lambda: [exact.get(document_key(w)) for w in batch])
    duck.execute("CREATE TEMP TABLE q (k VARCHAR)")
    duck.executemany("INSERT INTO q VALUES (?)", [(document_key(w),) for w in batch])
    duck_batch_ms, _ = timed(lambda: duck.execute(
        "SELECT q.k, p.ref FROM q JOIN persons p ON p.passport = q.k").fetchall())

    print(f"\n== {n:,} persons, {keys:,} key rows ({keys / n:.1f} per person), SQLite file {db_mb:,.0f} MB")
    line("index build (s)", build_s, "s", {"dict": dict_build_s, "duckdb": duck_build_s})
    print(f"{'peak RSS (MB), before → after build':<44} {rss0:,.0f} → {rss1:,.0f}")
    line("identifier query p50 (ms)", pct(ours["id_ms"], 50), "ms",
         {"dict": pct(dict_id, 50), "duckdb": pct(duck_id, 50)})
    line("identifier query p99 (ms)", pct(ours["id_ms"], 99), "ms",
         {"dict": pct(dict_id, 99), "duckdb": pct(duck_id, 99)})
    all_p = [x for v in ours["person_ms"].values() for x in v]
    line("fuzzy person query p50 (ms)", pct(all_p, 50), "ms",
         {"dict (exact only)": pct(dict_p, 50), "duckdb (scan, JW)": pct(duck_p, 50)})
    line("fuzzy person query p99 (ms)", pct(all_p, 99), "ms",
         {"dict (exact only)": pct(dict_p, 99), "duckdb (scan, JW)": pct(duck_p, 99)})
    for variant, v in ours["person_ms"].items():
        print(f"  {variant:<8} p50 {pct(v, 50):7.2f} ms  p99 {pct(v, 99):7.2f} ms  "
              f"recall {ours['person_recall'][variant]:.3f}")
    print(f"{'person recall (all variants)':<44} accord "
          f"{statistics.mean(ours['person_recall'].values()):.3f} | dict "
          f"{dict_found / len(queries.persons):.3f} | duckdb {duck_found / len(duck_p):.3f}")
    b = ours["blocks"]
    print(f"{'blocks read per key (300 queries)':<44} median {pct(b, 50)}, p99 {pct(b, 99)}, "
          f"max {max(b)}; over-large keys dropped per query {ours['dropped_per_query']:.2f}")
    line("batch of 10,000 identifiers (per s)", ours["batch_per_s"], "/s",
         {"dict": 10_000 / (dict_batch_ms / 1000), "duckdb (join)": 10_000 / (duck_batch_ms / 1000)})
    print(f"identifier recall {ours['id_recall']:.3f}; database in {folder}")
    node.dispose()
    if not args.no_e2e:
        run_e2e(args)


def run_e2e(args: argparse.Namespace) -> None:
    people = generate(args.e2e_persons, args.seed)
    with tempfile.TemporaryDirectory(prefix="accord-bench-search-e2e-") as tmp:
        e = measure_e2e(people, queries=args.e2e_queries, rate_queries=args.e2e_rate_queries,
                        clients=args.clients, folder=Path(tmp))
    report_e2e(e, args.e2e_persons, args.clients)


if __name__ == "__main__":
    main()
