"""The hit/no-hit protocol in privacy-preserving mode, between in-process nodes (ES on SQLite
and PostgreSQL, FR and MA on SQLite) joined by the in-memory search port.

Agreements: the examples (eu-prum: ES–FR clear searches) plus a test agreement whose search
clause says ``search_mode: bloom`` between ES and FR — the decision point prefers it — and the
clear FR–MA test agreement of the clear protocol tests. Both ES and FR hold the same linkage
secret for the bloom agreement, so an FR officer's search goes to ES as encodings and keyed
hashes, and to MA in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.auth.domain import Principal
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.crypto.envelope import open_envelope
from accord.exchange.refresh import set_peer_fetch
from accord.exchange.services import SessionKeys
from accord.exchange.transport import InMemoryTransport
from accord.lifecycle import AgencySpec
from accord.records import Reader
from accord.records import services as records
from accord.search import index, private, protocol
from accord.search.models import LinkageEntry, LinkageToken
from accord.search.schemas import SearchCreate, SearchResult
from accord.search.transport import InMemorySearchPort
from tests.factories.officers import make_officer
from tests.factories.peers import pin
from tests.unit.exchange.conftest import install_agreements, make_peer_node, principal_of
from tests.unit.search.test_linkage import AGREEMENT, ES_FR_PRIVATE
from tests.unit.search.test_protocol import ARABIC, ES_PERSON, FR_MA_SEARCH, META

SECRET = bytes(range(100, 132))
OTHER_SECRET = bytes(range(1, 33))
# what must never appear in a privacy-mode query envelope to ES
CLEAR = ("يوسف", "العمراني", "Youssef", "youssef", "Amrani", "amrani", "AMRANI", "yusf",
         "1985-08-31", "19850831", "XDA123456", "XDA 123456", "xda123456")


@dataclass
class PrivFed:
    es: Node
    fr: Node
    ma: Node
    port: InMemorySearchPort
    dupont: Principal

    def search(self, **body: Any) -> SearchResult:
        return protocol.search_peers(self.fr, self.dupont, SearchCreate(**body))


def _answer(result: SearchResult, agency: str, index_: int = 0) -> Any:
    return next(a for a in result.results[index_].answers if a.agency == agency)


def _peer(result: SearchResult, agency: str) -> Any:
    return next(p for p in result.peers if p.agency == agency)


def _audit(node: Node, prefix: str) -> list[Any]:
    with node.uow() as s:
        return list(node.audit.query(s, action=prefix, limit=10_000))


def _opened(node: Node, raw: bytes, recipient: str) -> Any:
    with node.read() as s:
        return open_envelope(raw, recipient=recipient, keys=SessionKeys(node, s), now=node.now())


@pytest.fixture
def pfed(node: Node, tmp_path: Path, clock: ManualClock) -> Iterator[PrivFed]:
    install_agreements(node)
    fr = make_peer_node(tmp_path / "fr", clock, country="FR", node_id="fr-node",
                        agencies=[AgencySpec("FR-PN", "Police nationale", "police")],
                        base_url="http://127.0.0.1:8402")
    ma = make_peer_node(tmp_path / "ma", clock, country="MA", node_id="ma-node",
                        agencies=[AgencySpec("MA-DGSN", "DGSN", "police")],
                        base_url="http://127.0.0.1:8403")
    nodes = {"es-node": node, "fr-node": fr, "ma-node": ma}
    for n in nodes.values():
        folder = n.settings.resolved_agreements_dir
        (folder / "fr-ma-search.yaml").write_text(FR_MA_SEARCH)
        (folder / "es-fr-private-search.yaml").write_text(ES_FR_PRIVATE)
    for a in nodes.values():
        for b in nodes.values():
            if a is not b:
                pin(a, b)
    port = InMemorySearchPort(nodes)
    transport = InMemoryTransport(nodes)
    for n in nodes.values():
        protocol.set_search_port(n, port)
        set_peer_fetch(n, transport.fetch)
    make_officer(fr, "dupont", agency="FR-PN", clearance="H2")
    # a record indexed before the key is set: encoded by set_linkage_key
    records.create_record(node, ES_PERSON, {**META, "owner": "ES-PN"}, reader=Reader.operator("test"))
    private.set_linkage_key(node, agreement=AGREEMENT, secret=SECRET, by="test")
    private.set_linkage_key(fr, agreement=AGREEMENT, secret=SECRET, by="test")
    try:
        yield PrivFed(node, fr, ma, port, principal_of(fr, "dupont"))
    finally:
        for n in (fr, ma):
            n.dispose()


def test_a_person_query_leaves_as_encodings_only_and_hits_across_scripts(pfed: PrivFed) -> None:
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")

    es = _answer(result, "ES-PN")
    assert es.outcome == "hit" and es.band == "strong"
    assert _peer(result, "ES-PN").clause == f"{AGREEMENT}@1#search"
    assert es.follow_up.clause == "eu-prum@1#after-hit"  # follow-ups rest on their own clause
    assert protocol.resolve_reference(pfed.es, es.reference, asker="FR-PN").ref == "es-p-17"
    assert _answer(result, "MA-DGSN").outcome == "no-hit"  # asked in clear (fr-ma agreement)

    to_es = [raw for nid, raw in pfed.port.sent if nid == "es-node"]
    assert len(to_es) == 2  # ES-PN and ES-SVA, both hosted on the ES node
    for raw in to_es:
        opened = _opened(pfed.es, raw, "ES-PN" if b'"ES-PN"' in raw else "ES-SVA")
        payload = opened.payload
        assert payload["mode"] == "bloom"
        assert payload["linkage"]["agreement"] == AGREEMENT and payload["linkage"]["epoch"] == 1
        assert set(payload["items"][0]) == {"i", "kind", "encoding"}
        text = json.dumps(payload, ensure_ascii=False)
        for clear in CLEAR:
            assert clear not in text, clear
    # the clear-mode peer gets the name as typed: the mode is per agreement, not per node
    to_ma = [raw for nid, raw in pfed.port.sent if nid == "ma-node"]
    assert ARABIC in json.dumps(_opened(pfed.ma, to_ma[0], "MA-DGSN").payload, ensure_ascii=False)

    sent = _audit(pfed.fr, "search:query:sent")[0]
    key_id = sent.detail["private"]["ES-PN"][0]
    answered = [e for e in _audit(pfed.es, "search:query:answered")
                if e.detail["recipient"] == "ES-PN"]
    assert answered[0].detail["mode"] == "bloom" and answered[0].detail["key_id"] == key_id
    assert answered[0].basis == f"{AGREEMENT}@1#search"


def test_a_typo_and_an_identifier_hit_by_keyed_tokens(pfed: PrivFed) -> None:
    result = pfed.search(items=[
        {"kind": "person", "value": "Yousef Amrany", "dob": "1985-08-31"},
        {"kind": "document", "value": "xda 123-456"},
        {"kind": "document", "value": "ZZ9999999"},
        {"kind": "person", "value": "Marie Dupont", "dob": "1985-08-31"},
    ])
    assert [_answer(result, "ES-PN", i).outcome for i in range(4)] == ["hit", "hit", "no-hit", "no-hit"]
    assert _answer(result, "ES-PN", 1).band == "strong"
    for nid, raw in pfed.port.sent:
        if nid == "es-node":
            text = raw.decode() + json.dumps(_opened(pfed.es, raw, "ES-PN" if b'"ES-PN"' in raw
                                                     else "ES-SVA").payload)
            assert "123456" not in text and "ZZ9999999" not in text and "Dupont" not in text


def test_the_encoded_index_follows_record_changes_and_reindex(pfed: PrivFed) -> None:
    reader = Reader.operator("test")
    entity = {"id": "es-p-18", "schema": "Person",
              "properties": {"name": ["Олег Петренко"], "birthDate": ["1979-03-14"]}}
    records.create_record(pfed.es, entity, {**META, "owner": "ES-PN"}, reader=reader)
    result = pfed.search(kind="person", value="Oleg Petrenko", dob="1979-03-14")
    assert _answer(result, "ES-PN").outcome == "hit"

    records.delete_record(pfed.es, "es-p-18", reader=reader, reason="test")
    result = pfed.search(kind="person", value="Oleg Petrenko", dob="1979-03-14")
    assert _answer(result, "ES-PN").outcome == "no-hit"
    with pfed.es.read() as s:
        assert s.query(LinkageEntry).count() == 1  # es-p-17 only, under the one key

    report = index.reindex(pfed.es)
    assert report.linkage_keys == 1
    with pfed.es.read() as s:
        assert s.query(LinkageEntry).count() == 1
        assert s.query(LinkageToken).filter(LinkageToken.kind == "document").count() == 1
    assert _answer(pfed.search(kind="person", value=ARABIC, dob="1985-08-31"), "ES-PN").outcome == "hit"


def test_without_the_key_the_peer_is_not_asked_never_asked_in_clear(pfed: PrivFed) -> None:
    private.retire_linkage_key(pfed.fr, agreement=AGREEMENT, epoch=1, by="test")
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")
    es = _peer(result, "ES-PN")
    assert es.status == "not-asked" and es.code == "linkage-key-missing"
    assert AGREEMENT in (es.reason or "")
    assert _answer(result, "ES-PN").outcome == "not-asked"
    assert not [nid for nid, _ in pfed.port.sent if nid == "es-node"]  # nothing went to ES
    assert _answer(result, "MA-DGSN").outcome == "no-hit"
    not_asked = _audit(pfed.fr, "search:query:sent")[0].detail["not_asked"]
    assert not_asked["ES-PN"]["code"] == "linkage-key-missing"


def test_different_secrets_or_no_key_on_the_peer_are_refused_with_the_reason(pfed: PrivFed) -> None:
    private.retire_linkage_key(pfed.es, agreement=AGREEMENT, epoch=1, by="test")
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")
    assert _peer(result, "ES-PN").status == "refused"
    assert _peer(result, "ES-PN").code == "linkage-key-missing"
    assert _answer(result, "ES-PN").outcome == "refused"

    private.set_linkage_key(pfed.es, agreement=AGREEMENT, secret=OTHER_SECRET, by="test")
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")
    es = _peer(result, "ES-PN")
    assert es.status == "refused" and es.code == "linkage-key-mismatch"
    assert "epoch 2" in (es.reason or "")
    rejected = _audit(pfed.es, "search:query:rejected")
    assert {e.detail["reason"] for e in rejected} == {"linkage-key-missing", "linkage-key-mismatch"}
    assert all(e.detail["mode"] == "bloom" for e in rejected)


def test_a_peer_whose_index_is_not_encoded_yet_refuses_rather_than_no_hit(pfed: PrivFed) -> None:
    with pfed.es.uow() as s:
        key = pfed.es.linkage.current(s, AGREEMENT)
        assert key is not None
        pfed.es.linkage.mark_indexed(s, key.key_id.hex(), None)
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")
    assert _peer(result, "ES-PN").code == "linkage-index-not-ready"
    assert _answer(result, "ES-PN").outcome == "refused"


def test_a_clear_query_under_a_privacy_clause_is_refused(pfed: PrivFed) -> None:
    # FR's agreements lack the bloom clause: FR asks in clear under eu-prum; ES refuses
    (pfed.fr.settings.resolved_agreements_dir / "es-fr-private-search.yaml").unlink()
    result = pfed.search(kind="person", value=ARABIC, dob="1985-08-31")
    es = _peer(result, "ES-PN")
    assert es.status == "refused" and es.code == "search-mode-mismatch"
    assert es.clause == f"{AGREEMENT}@1#search"
    assert _audit(pfed.es, "search:query:rejected")[0].detail["reason"] == "search-mode-mismatch"
