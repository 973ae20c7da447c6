"""Benchmark the FtM records import at 100,000 records against a plain executemany.

The import (``accord.records.services.import_records``) reads JSON lines,
validates each entity against the FtM model, normalises phones to E.164,
checks the metadata, looks up existing ids (idempotence), writes batches of
1,000 records per transaction and one audit entry per batch.

Baseline, in the same run on a fresh database of the same engine: the very
same rows, already validated and in memory, inserted with a plain
``executemany`` in the same batches — the cost of the database alone. The
ratio is what parsing, validation, the idempotence check and the audit add.

Also measured: a re-import of the same file (every record unchanged) and the
validation alone (no database).

Run: ``.venv/bin/python bench/records_import.py [--records 100000] [--db URL]``
(``--db`` a PostgreSQL URL: the bench creates scratch schemas there and drops
them; default: a temporary SQLite file in WAL mode, synchronous=FULL). Figures are printed and written to
bench/results/records_import.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.db import make_engine
from accord.lifecycle import AgencySpec, initialise
from accord.records import parse_line
from accord.records import services as records
from accord.records.models import Record
from accord.settings import Settings
from accord.tables import metadata

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIRST = ["María", "José", "Ana", "Luis", "Carmen", "Javier", "Lucía", "Pablo", "Fatima", "Youssef"]
LAST = ["García", "Fernández", "López", "Martín", "Sánchez", "Pérez", "El Amrani", "Benali"]
META = {"owner": "ES-PN", "source_reliability": "B", "info_credibility": "2",
        "legal_basis": "Ley Orgánica 7/2021, art. 13", "purpose": "investigation",
        "retention_until": "2031-01-01", "provenance": "bench"}


def entity(i: int) -> dict[str, Any]:
    """A mix like a scenario: 70 % persons (with phones), 15 % vehicles, 15 % passports."""
    eid = f"bench-{i:07d}"
    kind = i % 20
    if kind < 14:
        return {"id": eid, "schema": "Person", "properties": {
            "name": [f"{FIRST[i % len(FIRST)]} {LAST[(i // 10) % len(LAST)]}"],
            "birthDate": [f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}"],
            "nationality": ["es"], "phone": [f"6{i:08d}"]}}
    if kind < 17:
        return {"id": eid, "schema": "Vehicle", "properties": {
            "registrationNumber": [f"{i % 10000:04d}BCD"], "model": ["Seat León"]}}
    return {"id": eid, "schema": "Passport", "properties": {
        "holder": [f"bench-{i - 1:07d}"], "number": [f"PA{i:07d}"], "country": ["es"]}}


def lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        meta = {**META, "handling": f"H{i % 3}", "cases": [f"ES-2026-{i % 50:03d}"]}
        out.append(json.dumps({"entity": entity(i), "meta": meta}, ensure_ascii=False))
    return out


SCHEMAS: list[tuple[str, str]] = []  # (server url, schema) to drop at the end


def scratch(url: str) -> str:
    """On PostgreSQL, a fresh schema of its own (dropped at the end); SQLite as is."""
    if not url.startswith("postgres"):
        return url
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    SCHEMAS.append((url, schema))
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def drop_scratch() -> None:
    for url, schema in SCHEMAS:
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fresh_node(url: str, tmp: Path) -> Node:
    url = scratch(url)
    engine = make_engine(url)
    metadata.create_all(engine)
    settings = Settings(mode="test", data_dir=tmp, database_url=url, node_id="bench",
                        country="ES", secret_key="b" * 48, key_passphrase="bench")
    node = build_node(settings, clock=ManualClock(AT), engine=engine)
    initialise(node, [AgencySpec("ES-PN", "Policía Nacional")], migrate=False)
    return node


def baseline(url: str, tmp: Path, source: list[str], batch: int) -> float:
    """Plain executemany of the same, already validated rows, same batches."""
    node = fresh_node(url, tmp)
    table = Record.__table__
    rows = []
    for raw in source:
        data = parse_line(json.loads(raw), defaults={})
        e, m = data.entity, data.meta
        rows.append({
            "id": e.id, "schema": e.schema, "properties": e.properties, "caption": e.caption,
            "owner": m.owner, "handling": m.handling.value,
            "source_reliability": m.source_reliability.value,
            "info_credibility": m.info_credibility.value, "legal_basis": m.legal_basis,
            "purpose": m.purpose.value, "retention_until": m.retention_until,
            "cases": list(m.cases), "provenance": m.provenance, "digest": data.digest,
            "created_at": AT, "created_by": "bench", "updated_at": AT, "updated_by": "bench",
            "audit_idx": None, "flagged_at": None, "flag_reason": None})
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        with node.engine.begin() as conn:
            conn.execute(table.insert(), rows[i:i + batch])  # type: ignore[attr-defined]
    took = time.perf_counter() - start
    node.dispose()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL URL (the bench works in scratch schemas it drops)")
    args = parser.parse_args()
    n, batch = args.records, args.batch
    source = lines(n)

    start = time.perf_counter()
    for raw in source:
        parse_line(json.loads(raw), defaults={})
    validate = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        url = args.db or f"sqlite:///{tmp / 'import.db'}"
        node = fresh_node(url, tmp)
        engine_name = node.engine.dialect.name
        start = time.perf_counter()
        report = records.import_records(node, source, batch_size=batch, source="bench")
        first = time.perf_counter() - start
        assert report.inserted == n and report.rejected == 0, report.to_dict()
        start = time.perf_counter()
        again = records.import_records(node, source, batch_size=batch, source="bench")
        second = time.perf_counter() - start
        assert again.unchanged == n
        node.dispose()
        base_url = args.db or f"sqlite:///{tmp / 'baseline.db'}"
        try:
            base = baseline(base_url, tmp, source, batch)
        finally:
            drop_scratch()

    results = {
        "engine": engine_name,
        "records": n,
        "batch": batch,
        "import_seconds": round(first, 2),
        "import_records_per_second": round(n / first),
        "baseline_executemany_seconds": round(base, 2),
        "baseline_records_per_second": round(n / base),
        "ratio_import_to_baseline": round(first / base, 2),
        "reimport_unchanged_seconds": round(second, 2),
        "validation_only_records_per_second": round(n / validate),
    }
    for k, v in results.items():
        print(f"{k:38s} {v}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"records_import{'' if engine_name == 'sqlite' else '_' + engine_name}.json"
     ).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
