"""A busy morning on a real node process: 16 concurrent clients, 2,000 mixed requests.

Reads (officers, messages, records, audit entries, /healthz), writes (records
created, messages sent to a peer node), requests without a token (the outside
review's hang: ``GET /api/v1/officers`` with no token, which used to leave the
SQLite writer lock owned by a dead request) and failed logins — on SQLite and on
PostgreSQL. No request may time out and none may answer 5xx. Then SIGTERM while
the clients keep sending: the node stops within 10 s.
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.demo import DemoNode, free_port_block, install_agreements, prepare_node, stop_all
from accord.demo import start_federation as _start_federation
from tests.conftest import BACKENDS, empty_pg_schema
from tests.e2e.test_exchange import EXAMPLES, FAST, PERSON, Api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CLIENTS = 16
REQUESTS = 2000
CLIENT_TIMEOUT = 30.0
STOP_WITHIN = 10.0
META: dict[str, Any] = {
    "handling": "H1", "source_reliability": "B", "info_credibility": "2",
    "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
    "retention_until": "2031-01-01", "cases": ["ES-LOAD-1"], "provenance": "load test",
}


@pytest.fixture(params=BACKENDS)
def federation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[DemoNode]]:
    """ES (on the backend under test) and FR (SQLite), pinned to each other, running."""
    with _maybe_pg(request.param) as es_url:
        port = free_port_block(2)
        prepare_node(tmp_path, "ES", port, database_url=es_url)
        prepare_node(tmp_path, "FR", port + 1)
        for country in ("es", "fr"):
            config = tmp_path / f"{country}-node" / "accord.toml"
            config.write_text(config.read_text() + "".join(
                f"{k} = {v}\n" for k, v in FAST.items()))
            install_agreements(tmp_path / f"{country}-node" / "agreements", EXAMPLES)
        nodes = _start_federation(tmp_path, ["ES", "FR"], first_port=port, agreements=EXAMPLES,
                                  say=lambda _m: None)
        try:
            yield nodes
        finally:
            stop_all(nodes)


def _maybe_pg(backend: str) -> Any:
    if backend == "sqlite":
        from contextlib import nullcontext
        return nullcontext(None)
    return empty_pg_schema("load")


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_kind: Counter[tuple[str, int]] = Counter()
        self.server_errors: list[str] = []
        self.timeouts: list[str] = []
        self.other: list[str] = []

    def add(self, kind: str, status: int, text: str) -> None:
        with self.lock:
            self.by_kind[(kind, status)] += 1
            if status >= 500:
                self.server_errors.append(f"{kind}: {status} {text[:300]}")


EXPECTED = {
    "officers": {200}, "messages": {200}, "records": {200}, "audit": {200}, "healthz": {200},
    "no-token": {401}, "bad-login": {401, 423}, "record-create": {201}, "send": {201},
}


def _mixed(es: DemoNode, apis: dict[str, Api], tally: Tally,
           stop: threading.Event | None = None, count: int = REQUESTS) -> None:
    admin, officer, dpo = apis["admin"], apis["officer"], apis["dpo"]
    anon = httpx.Client(base_url=es.url, timeout=CLIENT_TIMEOUT)
    seq = itertools.count()
    rng = random.Random(7)
    kinds = (["officers", "messages", "records", "audit", "healthz", "no-token", "no-token",
              "bad-login", "record-create", "send", "send"])
    plan = [rng.choice(kinds) for _ in range(count)]

    def one(kind: str) -> None:
        if stop is not None and stop.is_set():
            return
        n = next(seq)
        try:
            if kind == "officers":
                r = admin.client.get("/api/v1/officers")
            elif kind == "messages":
                r = officer.client.get("/api/v1/messages", params={"limit": 20})
            elif kind == "records":
                r = officer.client.get("/api/v1/records", params={"limit": 20})
            elif kind == "audit":
                r = dpo.client.get("/api/v1/audit/entries", params={"limit": 20})
            elif kind == "healthz":
                r = anon.get("/healthz")
            elif kind == "no-token":
                r = anon.get("/api/v1/officers")
            elif kind == "bad-login":
                r = anon.post("/auth/login", json={"username": "es.customs",
                                                   "password": "not-the-password", "totp": "000000"})
            elif kind == "record-create":
                entity = {"id": f"load-{n}", "schema": "Person",
                          "properties": {"name": [f"Person {n}"]}}
                r = officer.client.post("/api/v1/records", json={"entity": entity, "meta": META})
            else:
                r = officer.client.post("/api/v1/messages", json={
                    "to": ["FR-PN"], "subject": f"load #{n}", "body": f"message {n}",
                    "case_ref": "LOAD-1", "crime_area": "0601", "handling": "H1",
                    "records": [PERSON]})
        except httpx.TimeoutException as exc:
            with tally.lock:
                tally.timeouts.append(f"{kind}: {type(exc).__name__}")
            return
        except httpx.TransportError as exc:
            if stop is not None:  # the node is being stopped: refused connections are expected
                return
            with tally.lock:
                tally.other.append(f"{kind}: {type(exc).__name__}")
            return
        tally.add(kind, r.status_code, r.text)
        if r.status_code not in EXPECTED[kind] and r.status_code < 500:
            with tally.lock:
                tally.other.append(f"{kind}: {r.status_code} {r.text[:200]}")

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(one, plan))
    finally:
        anon.close()


def test_sixteen_clients_two_thousand_mixed_requests(federation: list[DemoNode]) -> None:
    es, _fr = federation
    # one login each (a TOTP code is good once), shared by the client threads
    apis = {who: Api(es, f"es.{who}") for who in ("admin", "officer", "dpo")}
    for api in apis.values():
        api.client.timeout = httpx.Timeout(CLIENT_TIMEOUT)
    try:
        _load_then_sigterm(es, apis)
    finally:
        for api in apis.values():
            api.close()


def _load_then_sigterm(es: DemoNode, apis: dict[str, Api]) -> None:
    tally = Tally()
    _mixed(es, apis, tally)
    total = sum(tally.by_kind.values())
    print(f"{total} answers: {dict(sorted(tally.by_kind.items()))}")
    assert tally.timeouts == []
    assert tally.server_errors == []
    assert tally.other == []
    assert total == REQUESTS
    # every kind of request was in the mix, and the node still answers at once
    assert {k for k, _ in tally.by_kind} == set(EXPECTED)
    assert httpx.get(es.url + "/healthz", timeout=5).status_code == 200

    # SIGTERM while the clients keep sending: the node stops within STOP_WITHIN seconds
    stop = threading.Event()
    load = threading.Thread(target=_mixed, args=(es, apis, Tally(), stop, 100_000), daemon=True)
    load.start()
    time.sleep(2.0)
    assert es.process is not None
    started = time.monotonic()
    es.process.send_signal(signal.SIGTERM)
    try:
        es.process.wait(timeout=30)
    finally:
        stop.set()
        load.join(60)
    took = time.monotonic() - started
    assert took <= STOP_WITHIN, f"the node took {took:.1f} s to stop after SIGTERM"
