"""/api/v1/messages through the app: compose, list, read, reply, acknowledge, SSE, problems."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.exchange.events import broker_of
from accord.web.app import create_app
from tests.factories.officers import OfficerHandle, make_officer
from tests.unit.exchange.conftest import ACCOUNT, World, audit_count, person_message


def login(client: TestClient, node: Node, officer: OfficerHandle) -> dict[str, str]:
    r = client.post("/auth/login", json={"username": officer.username, "password": officer.password,
                                         "totp": officer.code(node)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def es(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    officer = make_officer(world.es, "ruiz", agency="ES-PN", clearance="H2")
    with TestClient(create_app(world.es, background=False)) as client:
        yield client, login(client, world.es, officer)


@pytest.fixture
def fr(world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
    officer = make_officer(world.fr, "martin", agency="FR-PN", clearance="H2")
    with TestClient(create_app(world.fr, background=False)) as client:
        yield client, login(client, world.fr, officer)


def test_compose_list_read_reply_acknowledge(world: World, es: tuple, fr: tuple) -> None:
    es_client, es_auth = es
    fr_client, fr_auth = fr
    r = es_client.post("/api/v1/messages", json=person_message(records=[ACCOUNT]), headers=es_auth)
    assert r.status_code == 201, r.text
    sent = r.json()
    assert [x["agency"] for x in sent["refused"]] == ["MA-DGSN"]
    assert sent["refused"][0]["refusal"]["clause"] == "es-ma-police v2 clause art-3"
    assert {x["agency"]: x["state"] for x in sent["recipients"]} == {"FR-PN": "queued",
                                                                     "MA-DGSN": "refused"}
    world.pump()

    inbox = fr_client.get("/api/v1/messages", headers=fr_auth).json()
    assert [m["message_id"] for m in inbox] == [sent["message_id"]]
    opened = fr_client.get(f"/api/v1/messages/{sent['message_id']}", headers=fr_auth).json()
    assert opened["body"].startswith("Ana Ruiz") and opened["read_at"] is not None
    assert opened["proof"]["signature"] and opened["proof"]["receipt"]["body"]["recipient"] == "FR-PN"
    assert set(opened["categories"]) == {"person", "account"}
    acked = fr_client.post(f"/api/v1/messages/{sent['message_id']}/acknowledge", headers=fr_auth)
    assert acked.status_code == 200 and acked.json()["acknowledged_at"] is not None
    answer = fr_client.post(f"/api/v1/messages/{sent['message_id']}/reply",
                            json={"body": "Received, we follow up."}, headers=fr_auth)
    assert answer.status_code == 201 and answer.json()["to"] == ["ES-PN"]
    world.pump()

    sent_box = es_client.get("/api/v1/messages?box=sent", headers=es_auth).json()
    fr_state = {x["agency"]: x for x in sent_box[0]["recipients"]}["FR-PN"]
    assert fr_state["state"] == "acknowledged"
    assert all(fr_state[k] for k in ("queued_at", "sent_at", "delivered_at", "read_at",
                                      "acknowledged_at", "receipt"))
    thread = es_client.get(f"/api/v1/messages?box=all&thread={sent['thread_id']}", headers=es_auth).json()
    assert [m["direction"] for m in thread] == ["out", "in"]
    by_case = es_client.get("/api/v1/messages?box=all&case=ES-2026-001", headers=es_auth).json()
    assert len(by_case) == 2
    assert audit_count(world.fr, Action.MESSAGE_READ) >= 1


def test_problems(world: World, es: tuple) -> None:
    client, auth = es
    r = client.post("/api/v1/messages", json=person_message(to=["es pn"]), headers=auth)
    assert r.status_code == 422 and r.json()["type"].endswith("/validation")
    r = client.post("/api/v1/messages", json=person_message(to=["DE-BKA"]), headers=auth)
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-recipient")
    r = client.get("/api/v1/messages/" + "0" * 32, headers=auth)
    assert r.status_code == 404 and r.json()["type"].endswith("/message-not-found")
    r = client.get("/api/v1/messages")
    assert r.status_code == 401
    assert audit_count(world.es, Action.MESSAGE_FAILED) == 2


def test_legal_role_cannot_send(world: World) -> None:
    legal = make_officer(world.es, "lopez", agency="ES-PN", roles=["legal"], clearance="H2")
    with TestClient(create_app(world.es, background=False)) as client:
        auth = login(client, world.es, legal)
        r = client.post("/api/v1/messages", json=person_message(), headers=auth)
        assert r.status_code == 403
        assert client.get("/api/v1/messages", headers=auth).status_code == 200


def test_urgent_message_is_pushed_to_the_stream(world: World, fr: tuple) -> None:
    client, auth = fr
    broker = broker_of(world.fr)

    def send_when_listening() -> None:
        deadline = time.monotonic() + 10
        while broker.subscribers("FR-PN") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        world.send(world.es, "garcia", **person_message(to=["FR-PN"], subject="normal one"))
        world.send(world.es, "garcia", **person_message(to=["FR-PN"], priority="urgent",
                                                        subject="URGENT"))
        world.pump()

    sender = threading.Thread(target=send_when_listening)
    sender.start()
    with client.stream("GET", "/api/v1/messages/stream?limit=1&heartbeat=0.2", headers=auth) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    sender.join(10)
    assert "event: urgent-message" in text
    assert '"sender": "ES-PN"' in text
    assert broker.subscribers("FR-PN") == 0
