"""Messages between real node processes on loopback (ES, FR, MA), over real HTTP.

A message from ES to FR and MA arrives, is read and acknowledged, and every state
shows on the sender; a recipient whose agreement does not grant the content is refused
with the clause while the others receive it; urgent messages are pushed over SSE; the
command line sees the same mailbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.auth import secrets as sec
from accord.demo import DemoNode, free_port_block, prepare_node, start_federation, stop_all

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agreements"
FAST = {"exchange_worker_poll_seconds": 0.2, "exchange_retry_base_seconds": 0.2,
        "exchange_retry_max_seconds": 2.0}
PERSON = {"id": "p-1", "schema": "Person", "properties": {"name": ["Ana Ruiz"]}}
ACCOUNT = {"id": "a-1", "schema": "BankAccount", "properties": {"iban": ["ES9121000418450200051332"]}}


# --- helpers, shared with the fault test --------------------------------------------------



def start_nodes(base: Path, countries: list[str], settings: dict[str, object]) -> list[DemoNode]:
    """Create the nodes, add ``settings`` to their configuration, start and pin them."""
    port = free_port_block(len(countries))
    for i, country in enumerate(countries):
        dn = prepare_node(base, country, port + i)
        config = dn.data_dir / "accord.toml"
        text = config.read_text()
        for key, value in settings.items():
            assert f"\n{key} =" not in text
            text += f"{key} = {json.dumps(value)}\n"
        config.write_text(text)
    return start_federation(base, countries, first_port=port, agreements=EXAMPLES,
                            say=lambda _m: None)


class Api:
    """An officer logged in to a node's API."""

    def __init__(self, dn: DemoNode, username: str) -> None:
        login = next(x for x in dn.logins if x.username == username)
        self.url = dn.url
        r = httpx.post(dn.url + "/auth/login", timeout=30, json={
            "username": username, "password": login.password,
            "totp": sec.totp_now(login.totp_secret, time.time())})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}
        self.client = httpx.Client(base_url=dn.url, headers=self.headers, timeout=30)

    def send(self, **fields: Any) -> dict[str, Any]:
        r = self.client.post("/api/v1/messages", json=fields)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.client.close()


def wait_for(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def sent_states(api: Api, message_id: str) -> dict[str, dict[str, Any]]:
    for m in api.get("/api/v1/messages", box="sent", limit=1000):
        if m["message_id"] == message_id:
            return {r["agency"]: r for r in m["recipients"]}
    raise AssertionError(f"{message_id} is not in the sent box")


# --- the federation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoNode]]:
    base = tmp_path_factory.mktemp("exchange-fed")
    started = start_nodes(base, ["ES", "FR", "MA"], FAST)
    try:
        yield {dn.country: dn for dn in started}
    finally:
        stop_all(started)


@pytest.fixture(scope="module")
def officers(nodes: dict[str, DemoNode]) -> Iterator[dict[str, Api]]:
    apis = {"ES": Api(nodes["ES"], "es.officer"), "FR": Api(nodes["FR"], "fr.officer"),
            "MA": Api(nodes["MA"], "ma.officer")}
    yield apis
    for api in apis.values():
        api.close()


def message(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "to": ["FR-PN", "MA-DGSN"], "subject": "Courier on the Algeciras ferry",
        "body": "Ana Ruiz travels on Friday.", "priority": "high", "handling": "H2",
        "case_ref": "ES-2026-E2E", "crime_area": "0601", "purpose": "investigation",
        "records": [PERSON],
    }
    fields.update(overrides)
    return fields


def test_delivered_read_acknowledged_and_all_states_on_the_sender(officers: dict[str, Api]) -> None:
    es = officers["ES"]
    sent = es.send(**message())
    mid = sent["message_id"]
    assert sent["refused"] == []

    def delivered() -> bool:
        return all(r["state"] == "delivered" for r in sent_states(es, mid).values())

    wait_for(delivered)
    for country in ("FR", "MA"):
        api = officers[country]
        inbox = api.get("/api/v1/messages")
        assert mid in [m["message_id"] for m in inbox]
        opened = api.get(f"/api/v1/messages/{mid}")
        assert opened["sender"] == "ES-PN" and opened["records"][0]["schema"] == "Person"
        assert opened["decision"]["allowed"] and opened["proof"]["signature"]
        r = api.client.post(f"/api/v1/messages/{mid}/acknowledge")
        assert r.status_code == 200, r.text

    def acknowledged() -> dict[str, dict[str, Any]] | None:
        states = sent_states(es, mid)
        return states if all(r["state"] == "acknowledged" for r in states.values()) else None

    states = wait_for(acknowledged)
    for agency, r in states.items():
        times = [r[k] for k in ("queued_at", "sent_at", "delivered_at", "read_at", "acknowledged_at")]
        assert all(times), (agency, r)
        assert times == sorted(times)
        assert r["receipt"]["body"]["recipient"] == agency


def test_recipient_without_agreement_for_the_content_is_refused_with_clause(
        officers: dict[str, Api]) -> None:
    es = officers["ES"]
    sent = es.send(**message(records=[PERSON, ACCOUNT], subject="Accounts of the network"))
    mid = sent["message_id"]
    (refused,) = sent["refused"]
    assert refused["agency"] == "MA-DGSN"
    assert refused["refusal"]["code"] == "category-not-granted"
    assert refused["refusal"]["clause"] == "es-ma-police v2 clause art-3"
    wait_for(lambda: sent_states(es, mid)["FR-PN"]["state"] == "delivered")
    assert mid in [m["message_id"] for m in officers["FR"].get("/api/v1/messages")]
    assert mid not in [m["message_id"] for m in officers["MA"].get("/api/v1/messages")]
    assert sent_states(es, mid)["MA-DGSN"]["state"] == "refused"


def test_urgent_message_is_pushed_and_listed_first(officers: dict[str, Api]) -> None:
    fr = officers["FR"]
    events: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", fr.url + "/api/v1/messages/stream", headers=fr.headers,
                          params={"limit": 1, "heartbeat": 0.5}, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    ready.set()
                if line.startswith("data: "):
                    events.append(line)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(30)
    sent = officers["ES"].send(**message(to=["FR-PN"], priority="urgent", subject="URGENT: ferry"))
    listener.join(60)
    assert events and json.loads(events[0][6:])["message_id"] == sent["message_id"]
    inbox = fr.get("/api/v1/messages")
    assert inbox[0]["message_id"] == sent["message_id"] and inbox[0]["priority"] == "urgent"


def test_same_node_and_command_line(nodes: dict[str, DemoNode], officers: dict[str, Api]) -> None:
    es_dir = str(nodes["ES"].data_dir)

    def cli(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "accord", "--data-dir", es_dir, "messages", *args],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    sent = cli("send", "--as", "es.officer", "--to", "ES-SVA", "--subject", "Container check",
               "--body", "MSCU1234567 at Valencia", "--crime-area", "0601", "--json")
    mid = sent["message_id"]
    # the running node's worker delivers what the command line queued
    wait_for(lambda: sent_states(officers["ES"], mid)["ES-SVA"]["state"] == "delivered")
    inbox = cli("list", "--as", "es.customs", "--json")
    assert mid in [m["message_id"] for m in inbox]
    shown = cli("show", mid, "--as", "es.customs", "--json")
    assert shown["proof"]["sender_kid"].startswith("ed25519:")
    cli("ack", mid, "--as", "es.customs", "--json")
    wait_for(lambda: sent_states(officers["ES"], mid)["ES-SVA"]["state"] == "acknowledged")
    assert cli("outbox", "--json").get("pending", 0) >= 0
