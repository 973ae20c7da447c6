"""1,000 messages from ES to FR while the FR node is killed (SIGKILL) and restarted: once
with a batch half stored and not committed (the node pauses there in a fault drill,
``unsafe_fault_batch_pause_seconds``), then three times during the burst as deliveries go
on. Every message is delivered exactly once — in FR's store and in ES's recipient states
— none lost, none duplicated. Bounded in time (pytest-timeout)."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accord.demo import DemoNode, restart_node, stop_all
from tests.e2e.test_exchange import FAST, PERSON, Api, start_nodes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

COUNT = 1000
KILLS_IN_BURST = 3
CASE = "FAULT-1000"


def query(dn: DemoNode, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(f"file:{dn.data_dir / 'accord.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def delivered_on_sender(es: DemoNode) -> int:
    return query(es, """
        SELECT count(*) FROM exchange_recipients r JOIN exchange_messages m ON m.id = r.message_pk
        WHERE m.case_ref = ? AND m.direction = 'out' AND r.state = 'delivered'
          AND r.receipt IS NOT NULL""", CASE)[0][0]


def _kill(fr: DemoNode, log_dir: Path, kills: list[str], why: str, rng: random.Random) -> None:
    assert fr.process is not None
    fr.process.send_signal(signal.SIGKILL)
    fr.process.wait()
    kills.append(why)
    time.sleep(rng.uniform(0.2, 1.0))
    restart_node(fr, log_dir)


def killer(es: DemoNode, fr: DemoNode, log_dir: Path, stop: threading.Event,
           kills: list[str]) -> None:
    """Kill FR once in the middle of a batch, then at 25, 50 and 75 % of the deliveries."""
    rng = random.Random()
    marker = fr.data_dir / "batch-paused"
    while not marker.exists():
        if stop.wait(0.01):
            return
    _kill(fr, log_dir, kills, "mid-batch", rng)
    for share in (0.25, 0.5, 0.75)[:KILLS_IN_BURST]:
        while delivered_on_sender(es) < COUNT * share:
            if stop.wait(0.05):
                return
        _kill(fr, log_dir, kills, f"at {share:.0%}", rng)


def test_thousand_messages_exactly_once_through_kills(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path, ["ES", "FR"], {**FAST, "exchange_worker_batch": 100,
                                                 "unsafe_fault_batch_pause_seconds": 20.0})
    es, fr = nodes
    apis: list[Api] = []
    stop = threading.Event()
    kills: list[str] = []
    chaos = threading.Thread(target=killer, args=(es, fr, tmp_path / "logs", stop, kills),
                             daemon=True)
    try:
        apis = [Api(es, "es.officer")]
        api = apis[0]
        chaos.start()

        def send(i: int) -> str:
            return api.send(to=["FR-PN"], subject=f"fault test #{i}", body=f"message {i}",
                            case_ref=CASE, crime_area="0601", handling="H1",
                            records=[PERSON])["message_id"]

        with ThreadPoolExecutor(8) as pool:
            sent = list(pool.map(send, range(COUNT)))
        assert len(set(sent)) == COUNT

        deadline = time.monotonic() + 200
        while delivered_on_sender(es) < COUNT and time.monotonic() < deadline:
            time.sleep(0.5)
        stop.set()
        chaos.join(60)
        assert kills == ["mid-batch", "at 25%", "at 50%", "at 75%"], kills

        # the sender: every recipient delivered, with a receipt, exactly one envelope done each
        assert delivered_on_sender(es) == COUNT
        outbox = dict(query(es, """
            SELECT o.state, count(*) FROM exchange_outbox o
            JOIN exchange_recipients r ON r.id = o.recipient_pk
            JOIN exchange_messages m ON m.id = r.message_pk
            WHERE m.case_ref = ? GROUP BY o.state""", CASE))
        assert outbox == {"done": COUNT}
        # the kills hit traffic in flight: some envelopes needed more than one attempt
        attempts = query(es, "SELECT sum(attempts) FROM exchange_outbox")[0][0]
        print(f"kills={kills} attempts={attempts} for {COUNT} envelopes")
        assert attempts > COUNT

        # the receiver: each message exactly once, and exactly those sent
        rows = query(fr, """SELECT message_id, count(*) FROM exchange_messages
                            WHERE case_ref = ? AND owner = 'FR-PN' GROUP BY message_id""", CASE)
        duplicates = [mid for mid, n in rows if n != 1]
        assert duplicates == []
        assert {mid for mid, _ in rows} == set(sent)
        inbox = query(fr, """SELECT count(*) FROM exchange_inbox i
                             JOIN exchange_messages m ON m.id = i.message_pk
                             WHERE m.case_ref = ?""", CASE)[0][0]
        assert inbox == COUNT
        # and the receipts on the sender name the envelopes the receiver holds
        es_envelopes = {e for (e,) in query(es, """
            SELECT r.envelope_id FROM exchange_recipients r JOIN exchange_messages m
            ON m.id = r.message_pk WHERE m.case_ref = ?""", CASE)}
        fr_envelopes = {e for (e,) in query(fr, """
            SELECT envelope_id FROM exchange_messages WHERE case_ref = ?""", CASE)}
        assert es_envelopes == fr_envelopes
    finally:
        stop.set()
        for a in apis:
            a.close()
        chaos.join(30)
        stop_all(nodes)
