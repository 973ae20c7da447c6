"""Hit/no-hit search between real node processes on loopback (ES, FR, MA, IT), over real HTTP.

The sample agreements plus one granting FR–MA searches; IT has no agreement with anyone.
An FR officer's person search in Arabic script finds the ES record written in Latin
letters (hit from ES), gets no answer from the stopped MA node (never "no hit"), and asks
nothing of IT (not asked, with the reason). The answer envelopes ES sends are captured by
an in-process FR client over the same HTTP route, opened, and searched for personal data.

Last, the privacy-preserving mode: ES and IT are given an agreement whose search clause
says ``search_mode: bloom``, ES generates the linkage secret with ``accord search
linkage-key generate`` and IT sets the same file with ``… set`` (the commands run against
the running nodes' data folders), and an IT officer's searches over the API — a Cyrillic
name, a typo'd Latin name, a passport number as written by hand — hit the ES record, with
nothing but encodings and keyed hashes in the query envelopes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from accord.bootstrap import Node, build_node
from accord.cli.common import Globals
from accord.cli.main import app
from accord.crypto.canonical import parse_json
from accord.crypto.envelope import open_envelope
from accord.demo import DemoNode, free_port_block, start_federation, stop_all
from accord.exchange.services import SessionKeys
from accord.records import Reader
from accord.records import services as records
from accord.search import protocol
from accord.search.schemas import SearchCreate
from accord.search.transport import HttpSearchPort, Reply
from accord.settings import load_settings
from tests.e2e.test_exchange import EXAMPLES, Api, wait_for
from tests.unit.exchange.conftest import principal_of
from tests.unit.search.test_protocol import FR_MA_SEARCH

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ARABIC = "يوسف العمراني"
ES_PERSON = {"schema": "Person",
             "properties": {"name": ["Youssef El Amrani"], "birthDate": ["1985-08-31"],
                            "passportNumber": ["XDA123456"]}}
META = {"handling": "H1", "source_reliability": "B", "info_credibility": "2",
        "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
        "retention_until": "2031-01-01", "provenance": "e2e"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoNode]]:
    base = tmp_path_factory.mktemp("search-fed")
    agreements = base / "agreements"
    shutil.copytree(EXAMPLES, agreements)
    (agreements / "fr-ma-search.yaml").write_text(FR_MA_SEARCH)
    countries = ["ES", "FR", "MA", "IT"]
    port = free_port_block(len(countries))
    started = start_federation(base, countries, first_port=port, agreements=agreements,
                               say=lambda _m: None)
    try:
        yield {dn.country: dn for dn in started}
    finally:
        stop_all(started)


@pytest.fixture(scope="module")
def record_id(nodes: dict[str, DemoNode]) -> str:
    """ES's record of the person, written once per federation (each xdist worker starts its
    own federation, and tests may run in any order), once every node answers: a node builds
    the matcher's tables in a thread at start-up (seconds), and until every node is warm a
    peer may not answer within the deadline. In-process clients of ES's and FR's own stores:
    a second login of an officer within one TOTP step is refused, and the tests log in."""
    es_node = build_node(load_settings(config_file=nodes["ES"].data_dir / "accord.toml"))
    fr_node = build_node(load_settings(config_file=nodes["FR"].data_dir / "accord.toml"))
    try:
        made = records.create_record(es_node, ES_PERSON, {**META, "owner": "ES-PN"},
                                     reader=Reader.operator("e2e"))
        officer = principal_of(fr_node, "fr.officer")

        def warm() -> bool:
            result = protocol.search_peers(fr_node, officer, SearchCreate(
                kind="person", value=ARABIC, dob="1985-08-31"))
            return all(p.status in ("answered", "not-asked") for p in result.peers)

        wait_for(warm, timeout=120, every=1.0)
        return str(made.id)
    finally:
        es_node.dispose()
        fr_node.dispose()


def _answer(result: dict[str, Any], agency: str) -> dict[str, Any]:
    return next(a for a in result["results"][0]["answers"] if a["agency"] == agency)


def _peer(result: dict[str, Any], agency: str) -> dict[str, Any]:
    return next(p for p in result["peers"] if p["agency"] == agency)


def test_arabic_search_hits_es_no_answer_from_stopped_ma_not_asked_it(
        nodes: dict[str, DemoNode], record_id: str) -> None:
    es, fr = Api(nodes["ES"], "es.officer"), Api(nodes["FR"], "fr.officer")
    try:
        ma = nodes["MA"]
        assert ma.process is not None
        ma.process.terminate()
        ma.process.wait(timeout=30)

        started = time.perf_counter()
        r = fr.client.post("/api/v1/search", json={"kind": "person", "value": ARABIC,
                                                   "dob": "1985-08-31"})
        seconds = time.perf_counter() - started
        assert r.status_code == 200, r.text
        result = r.json()
        hit = _answer(result, "ES-PN")
        assert hit["outcome"] == "hit" and hit["band"] == "strong"
        assert hit["follow_up"]["clause"] == "eu-prum@1#after-hit"
        assert record_id not in hit["reference"]
        assert _answer(result, "MA-DGSN")["outcome"] == "no-answer"
        assert _peer(result, "MA-DGSN")["status"] == "no-answer"
        italian = [p for p in result["peers"] if p["agency"].startswith("IT-")]
        assert italian
        for it in italian:
            assert it["status"] == "not-asked" and it["code"] == "no-agreement"
            assert it["asked"] == 0 and _answer(result, it["agency"])["outcome"] == "not-asked"
        assert seconds < 10, seconds
        print(f"search with MA down: {seconds * 1000:.0f} ms; ES answered in "
              f"{_peer(result, 'ES-PN')['latency_ms']} ms")
    finally:
        es.close()
        fr.close()


class _Capturing(HttpSearchPort):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, bytes]] = []
        self.sent: list[tuple[str, bytes]] = []

    def search(self, node_id: str, base_url: str | None, envelope: bytes, *,
               timeout: float) -> Reply:
        self.sent.append((node_id, envelope))
        reply = super().search(node_id, base_url, envelope, timeout=timeout)
        if reply.answer is not None:
            self.answers.append((node_id, reply.answer))
        return reply


def test_answer_envelopes_hold_no_personal_data(nodes: dict[str, DemoNode], record_id: str) -> None:
    """An FR client in this process (FR's own store and keys) asks the real ES process."""
    fr_dir: Path = nodes["FR"].data_dir
    node = build_node(load_settings(config_file=fr_dir / "accord.toml"))
    port = _Capturing()
    try:
        result = protocol.search_peers(node, principal_of(node, "fr.officer"),
                                       SearchCreate(kind="person", value=ARABIC,
                                                    dob="1985-08-31"), port=port)
        hit = next(a for a in result.results[0].answers if a.agency == "ES-PN")
        assert hit.outcome == "hit"
        answers = [raw for node_id, raw in port.answers if node_id == "es-node"]
        assert answers
        for raw in answers:
            with node.read() as s:
                opened = open_envelope(raw, recipient="FR-PN", keys=SessionKeys(node, s),
                                       now=node.now())
            assert opened.content_type == "accord/search-answer"
            for item in opened.payload["results"]:
                assert set(item) <= {"i", "outcome", "band", "ref"}
            header = str(parse_json(raw)["header"])
            text = str(opened.payload)
            for secret in ("Youssef", "Amrani", "1985", "XDA123456", ARABIC):
                assert secret not in text and secret not in header
                assert secret.encode() not in raw
    finally:
        port.close()
        node.dispose()


def test_the_federation_route_refuses_junk(nodes: dict[str, DemoNode]) -> None:
    r = httpx.post(nodes["ES"].url + "/federation/v1/search", content=b"{}", timeout=10)
    assert r.status_code == 400 and r.json()["reason"] == "malformed"



ES_IT_PRIVATE = """\
id: es-it-private-search
version: 1
title: Spain–Italy privacy-preserving hit/no-hit searches (e2e test model)
instrument: bilateral-treaty
parties: [ES, IT]
valid_from: 2020-01-01
clauses:
  - id: search
    text: Automated hit/no-hit searches; no clear identifier leaves the asking node.
    grants:
      actions: [hit-no-hit-search]
      categories: [person, document]
      crime_areas: [all]
      max_handling: H1
      purposes: [prevention, detection, investigation]
      retention: P1D
      search_mode: bloom
"""


def _accord(node: Node, *args: str) -> dict[str, Any]:
    """An ``accord`` command run against a running node's data folder and store (in this
    process: the name tables a person encoding needs load once, not once per command)."""
    done = CliRunner().invoke(app, [*args, "--json"], obj=Globals(node=node))
    assert done.exit_code == 0, done.output
    result: dict[str, Any] = json.loads(done.output)
    return result


def test_privacy_mode_hits_a_cyrillic_and_a_typod_name_with_encodings_only(
        nodes: dict[str, DemoNode], tmp_path: Path) -> None:
    es_dn, it_dn = nodes["ES"], nodes["IT"]
    written = [dn.data_dir / "agreements" / "es-it-private-search.yaml" for dn in (es_dn, it_dn)]
    for path in written:
        path.write_text(ES_IT_PRIVATE)
    # in-process clients of the ES and IT nodes' own stores and keys (a second login of an
    # officer within one TOTP step is refused, so the ES record is written by the operator)
    es_node = build_node(load_settings(config_file=es_dn.data_dir / "accord.toml"))
    it_node = build_node(load_settings(config_file=it_dn.data_dir / "accord.toml"))
    it = Api(it_dn, "it.officer")
    port = _Capturing()
    try:
        person = {"id": "es-e2e-petrenko", "schema": "Person",
                  "properties": {"name": ["Oleg Petrenko"], "birthDate": ["1979-03-14"],
                                 "passportNumber": ["EP7654321"]}}
        records.create_record(es_node, person, {**META, "owner": "ES-PN"},
                              reader=Reader.operator("e2e"))

        secret = tmp_path / "es-it.secret"
        made = _accord(es_node, "search", "linkage-key", "generate", "--agreement",
                       "es-it-private-search", "--out", str(secret))
        held = _accord(it_node, "search", "linkage-key", "set", "--agreement",
                       "es-it-private-search", "--file", str(secret))
        assert held["key_id"] == made["key_id"] and made["indexed_at"] and held["indexed_at"]

        def ask(value: str, **extra: str) -> dict[str, Any]:
            r = it.client.post("/api/v1/search", json={"kind": "person", "value": value, **extra})
            assert r.status_code == 200, r.text
            return dict(r.json())

        # the nodes read a new agreement file within seconds
        wait_for(lambda: _peer(ask("Олег Петренко", dob="1979-03-14"), "ES-PN")["status"]
                 == "answered", timeout=60, every=1.0)
        cyrillic = ask("Олег Петренко", dob="1979-03-14")
        hit = _answer(cyrillic, "ES-PN")
        assert hit["outcome"] == "hit" and hit["band"] == "strong", cyrillic
        assert _peer(cyrillic, "ES-PN")["clause"] == "es-it-private-search@1#search"
        typo = ask("Oleg Petrenco", dob="1979-03-14")
        assert _answer(typo, "ES-PN")["outcome"] == "hit"
        r = it.client.post("/api/v1/search", json={"kind": "document", "value": "ep 765 4321"})
        assert _answer(r.json(), "ES-PN")["outcome"] == "hit"
        assert _answer(ask("Marie Dupont", dob="1979-03-14"), "ES-PN")["outcome"] == "no-hit"

        # the query envelopes IT sends to ES, captured by the in-process IT client and opened
        # with ES's own keys: encodings and keyed hashes only
        result = protocol.search_peers(it_node, principal_of(it_node, "it.officer"), SearchCreate(
            items=[{"kind": "person", "value": "Олег Петренко", "dob": "1979-03-14"},
                   {"kind": "document", "value": "EP7654321"}]), port=port)
        assert [a.outcome for r in result.results for a in r.answers
                if a.agency == "ES-PN"] == ["hit", "hit"]
        sent = [raw for node_id, raw in port.sent if node_id == "es-node"]
        assert sent
        for raw in sent:
            recipient = str(parse_json(raw)["header"]["recipients"][0]["agency"])
            with es_node.read() as s:
                opened = open_envelope(raw, recipient=recipient, keys=SessionKeys(es_node, s),
                                       now=es_node.now())
            assert opened.payload["mode"] == "bloom"
            assert opened.payload["linkage"]["key_id"] == made["key_id"]
            text = json.dumps(opened.payload, ensure_ascii=False)
            for clear in ("Олег", "Петренко", "Oleg", "Petrenko", "petrenko", "1979-03-14",
                          "19790314", "EP7654321"):
                assert clear not in text
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        port.close()
        it.close()
        it_node.dispose()
        es_node.dispose()
