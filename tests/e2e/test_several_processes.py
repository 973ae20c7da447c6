"""One node as two server processes on one PostgreSQL database.

ES runs as two ``accord serve`` processes on two ports (as behind a load balancer),
FR as one. 2,000 messages are submitted to both ES processes at once: each envelope
is claimed by one process only (``FOR UPDATE SKIP LOCKED``), sent once and delivered
once, and ES's audit log stays one ordered, verifiable log. An urgent message for ES,
received by one process, reaches the officer whose event stream is held by the other
(PostgreSQL ``NOTIFY``). And ``accord serve --workers 2`` runs two worker processes on
one port and stops them all on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from accord.demo import DemoNode, free_port_block, prepare_node, start_federation, stop_all
from tests.conftest import empty_pg_schema
from tests.e2e.test_exchange import EXAMPLES, FAST, PERSON, Api

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(400)]

COUNT = 2000
CASE = "TWO-PROCESSES"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}


def _healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the process serving {url} exited with {proc.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[DemoNode, DemoNode, str, str]]:
    with empty_pg_schema("procs") as es_url:
        port = free_port_block(3)
        for i, country in enumerate(["ES", "FR"]):
            dn = prepare_node(tmp_path, country, port + i,
                              database_url=es_url if country == "ES" else None)
            config = dn.data_dir / "accord.toml"
            config.write_text(config.read_text() + "".join(
                f"{k} = {json.dumps(v)}\n" for k, v in FAST.items()))
        nodes = start_federation(tmp_path, ["ES", "FR"], first_port=port, agreements=EXAMPLES,
                                 say=lambda _m: None)
        es, fr = nodes
        second = subprocess.Popen(
            [*es.serve_argv(), "--port", str(port + 2)], env=_env(), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url2 = f"http://127.0.0.1:{port + 2}"
        try:
            _healthy(url2, second)
            yield es, fr, url2, es_url
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(20)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
            stop_all(nodes)


def _api_on(dn: DemoNode, url: str, username: str) -> tuple[Api, Api]:
    """The officer logged in once (a TOTP code is good for one login), with a client on the
    node's published address and one on the second process (the session is in the database)."""
    api = Api(dn, username)
    other = Api.__new__(Api)
    other.url, other.headers = url, api.headers
    other.client = httpx.Client(base_url=url, headers=api.headers, timeout=60)
    return api, other


def test_two_processes_send_each_envelope_once(
        federation: tuple[DemoNode, DemoNode, str, str]) -> None:
    es, fr, url2, es_url = federation
    first, second = _api_on(es, url2, "es.officer")
    try:
        def send(i: int) -> str:
            api = first if i % 2 else second
            return str(api.send(to=["FR-PN"], subject=f"two processes #{i}", body=f"message {i}",
                                case_ref=CASE, crime_area="0601", handling="H1",
                                records=[PERSON])["message_id"])

        with ThreadPoolExecutor(8) as pool:
            sent = set(pool.map(send, range(COUNT)))
        assert len(sent) == COUNT
        engine = create_engine(es_url)
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    done = conn.execute(text(
                        "SELECT count(*) FROM exchange_outbox WHERE state = 'done'")).scalar_one()
                if done >= COUNT:
                    break
                time.sleep(0.5)
            with engine.connect() as conn:
                states = dict(conn.execute(text(
                    "SELECT state, count(*) FROM exchange_outbox GROUP BY state")).all())
                attempts = dict(conn.execute(text(
                    "SELECT attempts, count(*) FROM exchange_outbox GROUP BY attempts")).all())
                indexes = [i for (i,) in conn.execute(text("SELECT idx FROM audit_entries ORDER BY idx"))]
        finally:
            engine.dispose()
        assert states == {"done": COUNT}
        assert attempts == {1: COUNT}, f"some envelopes were sent more than once: {attempts}"
        assert indexes == list(range(len(indexes)))  # one ordered log, no gap, no duplicate index
        # the receiver holds each message once, and got no second copy of any envelope
        fr_api = Api(fr, "fr.officer")
        try:
            received: set[str] = set()
            for offset in range(0, COUNT + 1000, 1000):
                page = fr_api.get("/api/v1/messages", case=CASE, limit=1000, offset=offset)
                received.update(m["message_id"] for m in page)
            assert received == sent
        finally:
            fr_api.close()
        duplicates = subprocess.run(
            [sys.executable, "-m", "accord", "--data-dir", str(fr.data_dir), "audit", "show",
             "--action", "exchange:envelope:duplicate", "--json"],
            env=_env(), capture_output=True, text=True, timeout=120)
        assert duplicates.returncode == 0, duplicates.stderr
        assert json.loads(duplicates.stdout) == []
        verify = subprocess.run(
            [sys.executable, "-m", "accord", "--data-dir", str(es.data_dir), "audit", "verify"],
            env=_env(), capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        first.close()
        second.close()


def test_an_event_reaches_the_officer_on_the_other_process(
        federation: tuple[DemoNode, DemoNode, str, str]) -> None:
    es, fr, url2, _ = federation
    own, listener_api = _api_on(es, url2, "es.officer")  # the stream: on the second process
    own.close()
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", url2 + "/api/v1/messages/stream", headers=listener_api.headers,
                          params={"limit": 1, "heartbeat": 0.5}, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    fr_api = Api(fr, "fr.officer")
    try:
        assert ready.wait(30)
        # FR delivers to ES's published address: the first process receives the envelope
        sent = fr_api.send(to=["ES-PN"], subject="URGENT: ferry", body="Friday",
                           priority="urgent", case_ref=CASE, crime_area="0601", handling="H1",
                           records=[PERSON])
        thread.join(60)
        assert [e["message_id"] for e in events] == [sent["message_id"]]
    finally:
        fr_api.close()
        listener_api.close()


def test_serve_workers_runs_and_stops_them_all(tmp_path: Path) -> None:
    with empty_pg_schema("workers") as url:
        port = free_port_block(1)
        dn = prepare_node(tmp_path, "ES", port, database_url=url)
        proc = subprocess.Popen(
            [*dn.serve_argv(), "--workers", "2"], env=_env(), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _healthy(dn.url, proc)
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True).stdout.split()
            assert len(children) == 2
            for _ in range(20):  # both answer on the one port
                assert httpx.get(dn.url + "/healthz", timeout=5).status_code == 200
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(30)
            time.sleep(0.5)
            alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
                     and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
            assert alive == []
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
