"""The search index on both engines: kept current by record changes, searched by keys only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event, select

from accord.agreements import Handling
from accord.bootstrap import Node
from accord.errors import ValidationFailed
from accord.records import services as records
from accord.records.domain import Reader
from accord.search.index import (
    IndexHit,
    IndexItem,
    Query,
    SearchContext,
    index_entities,
    index_entity,
    parse_query,
    person_candidates,
    register_hit_listener,
    reindex,
    remove_entity,
    search_local,
)
from accord.search.matcher import PersonRecord
from accord.search.models import SearchEntry, SearchKey
from accord.search.services import search_as_officer

META: dict[str, Any] = {
    "owner": "ES-PN", "handling": "H1", "source_reliability": "B", "info_credibility": "2",
    "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
    "retention_until": "2031-01-01", "provenance": "test",
}
OPERATOR = Reader.operator("test")


def person(eid: str, name: str, dob: str | None = None, **props: list[str]) -> dict[str, Any]:
    p: dict[str, list[str]] = {"name": [name], **props}
    if dob:
        p["birthDate"] = [dob]
    return {"id": eid, "schema": "Person", "properties": p}


def search(node: Node, kind: str, value: Any, **kw: Any) -> list[IndexHit]:
    with node.read() as s:
        return search_local(node, s, Query(kind, value, kw.pop("country", None)), **kw)


def refs(hits: list[IndexHit]) -> list[str]:
    return [h.ref for h in hits]


def index_rows(node: Node) -> set[tuple[str, str, str, str]]:
    with node.read() as s:
        return {(src, ref, kind, key) for src, ref, kind, key in s.execute(
            select(SearchEntry.source, SearchEntry.ref, SearchKey.kind, SearchKey.key)
            .join(SearchKey, SearchKey.entry_id == SearchEntry.id))}


def test_create_update_delete_keep_the_index_current(node: Node) -> None:
    records.create_record(node, person("p1", "Ana Ruiz Pérez", "1984-05-06",
                                       passportNumber=["PAB123456"], phone=["+34612345678"],
                                       email=["Ana.Ruiz@Example.ES"]), META, reader=OPERATOR)
    assert refs(search(node, "document", "pab 123-456")) == ["p1"]
    assert refs(search(node, "phone", "612 34 56 78", country="ES")) == ["p1"]
    assert refs(search(node, "email", "ana.ruiz@example.es")) == ["p1"]
    hits = search(node, "person", PersonRecord(["Ana Ruiz"], ["1984-05-06"]))
    assert refs(hits) == ["p1"] and hits[0].band in ("strong", "possible")
    assert hits[0].owner == "ES-PN" and hits[0].handling == "H1"

    records.update_record(node, "p1", reader=OPERATOR, properties={
        "name": ["Beatriz Soto"], "birthDate": ["1990-01-02"], "passportNumber": ["PXY999999"]})
    assert search(node, "document", "PAB123456") == []
    assert search(node, "phone", "+34612345678") == []  # the update dropped the phone
    assert search(node, "person", PersonRecord(["Ana Ruiz"], ["1984-05-06"])) == []
    assert refs(search(node, "document", "PXY999999")) == ["p1"]
    assert refs(search(node, "person", PersonRecord(["Beatriz Soto"], ["1990-01-02"]))) == ["p1"]

    records.delete_record(node, "p1", reader=OPERATOR)
    assert search(node, "document", "PXY999999") == []
    assert index_rows(node) == set()


def test_import_indexes_every_kind(node: Node) -> None:
    lines = [json.dumps({"entity": e, "meta": META}) for e in [
        person("i1", "Karim Benali", "1979-11-23", idNumber=["12345678Z"]),
        {"id": "v1", "schema": "Vehicle", "properties": {
            "registrationNumber": ["1234 BCD", "1HGCM82633A004352"], "country": ["es"]}},
        {"id": "b1", "schema": "BankAccount", "properties": {"iban": ["ES91 2100 0418 4502 0005 1332"]}},
        {"id": "w1", "schema": "CryptoWallet", "properties": {
            "cryptoAddress": ["0x52908400098527886E0F7030069857D2E4169EE7"]}},
        {"id": "u1", "schema": "UserAccount", "properties": {"username": ["kb"],
                                                             "email": ["k.benali@mail.example"]}},
    ]]
    report = records.import_records(node, lines, by="test")
    assert report.inserted == 5, report.to_dict()
    assert refs(search(node, "plate", "1234-bcd", country="ES")) == ["v1"]
    assert search(node, "plate", "1234BCD", country="FR") == []  # another country's plate
    assert refs(search(node, "vin", "1hgcm82633a004352")) == ["v1"]
    assert refs(search(node, "iban", "es9121000418450200051332")) == ["b1"]
    assert refs(search(node, "wallet", "0x52908400098527886e0f7030069857d2e4169ee7")) == ["w1"]
    assert refs(search(node, "email", "K.Benali@MAIL.example")) == ["u1"]
    assert refs(search(node, "document", "12345678-z")) == ["i1"]
    # Re-importing changed content re-indexes the record.
    changed = json.dumps({"entity": person("i1", "Karim Benali", "1979-11-23",
                                           idNumber=["87654321X"]), "meta": META})
    records.import_records(node, [changed], by="test")
    assert search(node, "document", "12345678Z") == []
    assert refs(search(node, "document", "87654321X")) == ["i1"]


def test_identifier_normalisation_meets_in_the_index(node: Node) -> None:
    with node.uow() as s:
        index_entity(node, s, source="record", ref="d1", owner="ES-PN", handling="H0",
                     entity=person("d1", "Olga Ivanova", passportNumber=["ab 12-34.56"]))
    for written in ("AB123456", "ab123456", "AB 123 456", "АВ123456"):  # the last in Cyrillic
        assert refs(search(node, "document", written)) == ["d1"], written
    with pytest.raises(ValidationFailed):
        search(node, "iban", "ES00 0000 0000 0000 0000 0000")  # wrong check digits
    with pytest.raises(ValidationFailed):
        parse_query({"kind": "plate", "value": "1234BCD"})  # a plate needs its country


@pytest.mark.parametrize(("query", "dob"), [
    ("محمد بن سلمان", "1985-08-31"),
    ("Мухаммед бин Салман", "1985-08-31"),
    ("Salman Mohammed", "1985-08-31"),
])
def test_a_cross_script_person_query_finds_the_latin_record(node: Node, query: str, dob: str) -> None:
    records.create_record(node, person("ms", "Mohammed bin Salman", "1985-08-31",
                                       nationality=["sa"]), META, reader=OPERATOR)
    records.create_record(node, person("other", "Mohammed Hassan", "1985-08-31"), META,
                          reader=OPERATOR)
    hits = search(node, "person", PersonRecord([query], [dob]))
    assert hits and hits[0].ref == "ms", hits
    assert hits[0].band == "strong"
    assert any(f["field"] == "name" for f in hits[0].explanation)


def _crowd(node: Node, n: int) -> None:
    """``n`` persons who share the given name and birth year of the one we look for."""
    with node.uow() as s:
        index_entities(node, s, [
            IndexItem("record", f"c{i:04d}", "ES-PN", "H0",
                      person(f"c{i:04d}", f"Mohammed Surname{i:04d}x", f"1980-{1 + i % 12:02d}-{1 + i % 27:02d}"))
            for i in range(n)])
        index_entity(node, s, source="record", ref="target", owner="ES-PN", handling="H0",
                     entity=person("target", "Mohammed Alaoui", "1980-03-30"))


@contextmanager
def statements(node: Node) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_conn: Any, _cur: Any, stmt: str, *_args: Any) -> None:
        seen.append(stmt)

    event.listen(node.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(node.engine, "before_cursor_execute", before)


def test_a_query_reads_its_keys_only_and_drops_over_large_blocks(node: Node) -> None:
    _crowd(node, 60)
    query = PersonRecord(["Muhammad Alaoui"], ["1980-03-30"])
    with node.read() as s:
        cands = person_candidates(s, query, cap=20)
    # The block of "mhmd" + 1980 holds 61 entries: read up to the cap + 1 and dropped.
    assert cands.blocks["n:mhmd:1980"] == 21
    assert "n:mhmd:1980" in cands.dropped
    assert sum(cands.blocks.values()) <= len(cands.blocks) * 21
    with node.read() as s:
        target = s.scalar(select(SearchEntry.id).where(SearchEntry.ref == "target"))
    assert cands.best(1) == [target]

    with statements(node) as seen:
        hits = search(node, "person", query)
    assert hits[0].ref == "target" and hits[0].band == "strong"
    # One statement for the candidates, one for their entries (plus the transaction's own).
    data = [s for s in seen if "search_" in s]
    assert len(data) == 2, seen
    with statements(node) as seen:
        assert search(node, "document", "nothing123") == []
    assert len([s for s in seen if "search_" in s]) == 1
    if node.engine.dialect.name == "sqlite":
        with node.engine.connect() as conn:
            for stmt in data:
                params = tuple(["x"] * stmt.count("?"))
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params))
                assert "SCAN search_keys" not in plan and "SCAN search_entries" not in plan, plan
                assert "SEARCH search_" in plan, plan


def test_reindex_rebuilds_the_same_rows(node: Node) -> None:
    for i, name in enumerate(["Ana Ruiz", "Luis García López", "Youssef El Amrani"]):
        records.create_record(node, person(f"r{i}", name, f"19{70 + i}-02-0{i + 1}",
                                           phone=[f"+3461234567{i}"]), META, reader=OPERATOR)
    records.create_record(node, {"id": "veh", "schema": "Vehicle", "properties": {
        "registrationNumber": ["9999 XYZ"]}}, META, reader=OPERATOR)
    before = index_rows(node)
    assert {r[1] for r in before} == {"r0", "r1", "r2", "veh"}
    with node.uow() as s:
        s.execute(delete(SearchKey))
        s.execute(delete(SearchEntry))
        # An entry whose record is gone must not survive the rebuild.
        index_entity(node, s, source="record", ref="ghost", owner="ES-PN", handling="H0",
                     entity=person("ghost", "Nobody Here", "1999"))
        index_entity(node, s, source="alert", ref="a1", owner="FR-PN", handling="H1",
                     entity=person("a1", "Ana Ruiz", "1970-02-01"))
    progress: list[int] = []
    report = reindex(node, batch_size=2, by="test", progress=progress.append)
    assert report.records == 4 and report.batches == 2 and progress == [2, 2]
    assert report.removed == 1
    after = index_rows(node)
    assert {r for r in after if r[0] == "record"} == before
    assert {r[1] for r in after if r[0] == "alert"} == {"a1"}  # alerts are left alone
    with node.uow() as s:
        assert node.audit.query(s, action="search:index:rebuilt")


_HEARD: list[tuple[list[str], SearchContext | None]] = []


def _listener(_node: Node, _s: Any, hits: list[IndexHit], context: SearchContext | None) -> None:
    _HEARD.append(([h.ref for h in hits], context))


def test_alert_hits_reach_their_listener_with_the_context(node: Node) -> None:
    register_hit_listener("alert", _listener)
    _HEARD.clear()
    with node.uow() as s:
        index_entity(node, s, source="alert", ref="alert-1", owner="FR-PN", handling="H1",
                     entity=person("alert-1", "Jean Martin", passportNumber=["FR1234567"]))
        index_entity(node, s, source="record", ref="rec-1", owner="ES-PN", handling="H1",
                     entity=person("rec-1", "Jean Martin", passportNumber=["FR1234567"]))
    ctx = SearchContext("ES-PN", "ES-PN/garcia", "investigation", node.now(), "Algeciras")
    with node.uow() as s:
        hits = search_local(node, s, Query("document", "FR 1234567"), context=ctx)
    assert sorted(refs(hits)) == ["alert-1", "rec-1"]
    assert [(["alert-1"], ctx)] == _HEARD
    assert refs(search(node, "document", "FR1234567", sources=("record",))) == ["rec-1"]
    assert [(["alert-1"], ctx)] == _HEARD  # no alert searched, no call
    with node.uow() as s:
        remove_entity(node, s, source="alert", ref="alert-1")
    assert refs(search(node, "document", "FR1234567")) == ["rec-1"]


def test_an_officer_search_is_audited_and_respects_clearance(node: Node) -> None:
    records.create_record(node, person("low", "Pedro Gil", "1975-07-07"), META, reader=OPERATOR)
    records.create_record(node, person("high", "Pedro Gil Sanz", "1975-07-07"),
                          {**META, "handling": "H3"}, reader=OPERATOR)
    reader = Reader("ES-PN/garcia", "ES-PN", Handling.H1, "test")
    result = search_as_officer(node, parse_query({"kind": "person", "name": "Pedro Gil",
                                                  "dob": "1975-07-07"}),
                               reader=reader, purpose="investigation")
    assert refs(result.hits) == ["low"] and result.withheld == 1
    with node.uow() as s:
        searched = node.audit.query(s, action="search:query:local")
        reads = [e for e in node.audit.query(s, action="records:record:read")
                 if e.detail.get("via") == "search"]
    assert len(searched) == 1 and searched[0].detail["withheld"] == 1
    assert "Pedro" not in json.dumps(searched[0].detail)  # no query value in the trail
    assert [e.object for e in reads] == ["record:low"]
    with pytest.raises(ValidationFailed):
        search_as_officer(node, Query("document", "X1"), reader=reader, purpose="curiosity")
