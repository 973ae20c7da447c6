"""Records through /api/v1/records: CRUD, clearance, withholding, ownership, audit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.bootstrap import Node
from tests.unit.records.conftest import Login, audit, body, person


def test_crud_round_trip(client: TestClient, node: Node, login: Login) -> None:
    h = login()
    r = client.post("/api/v1/records", headers=h, json=body(
        person(phone=["612 34 56 78"], birthDate=["1980-05-01"])))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["owner"] == "ES-PN"  # defaults to the officer's agency
    assert created["properties"]["phone"] == ["+34612345678"]
    assert created["tlp"] == "TLP:GREEN" and created["evaluation"] == "B2"
    assert created["categories"] == ["person", "phone"]
    assert created["created_by"] == "ES-PN/garcia"

    r = client.get("/api/v1/records/p1", headers=h)
    assert r.status_code == 200 and r.json()["caption"] == "Ana Ruiz"

    r = client.patch("/api/v1/records/p1", headers=h, json={
        "properties": {"name": ["Ana Ruiz Gómez"]}, "meta": {"handling": "H2"}})
    assert r.status_code == 200, r.text
    assert r.json()["caption"] == "Ana Ruiz Gómez" and r.json()["handling"] == "H2"
    assert "phone" not in r.json()["properties"]  # properties are replaced as a whole

    assert client.delete("/api/v1/records/p1", headers=h,
                         params={"reason": "entered in error"}).status_code == 204
    r = client.get("/api/v1/records/p1", headers=h)
    assert r.status_code == 404 and r.json()["type"].endswith("/record-not-found")

    entries = audit(node)
    actions = [e.action for e in entries]
    for a in (Action.RECORD_CREATED, Action.RECORD_READ, Action.RECORD_UPDATED,
              Action.RECORD_DELETED):
        assert a in actions
    written = [e for e in entries if e.object == "record:p1"]
    assert all(e.actor == "ES-PN/garcia" for e in written)
    created_entry = next(e for e in written if e.action == Action.RECORD_CREATED)
    assert created_entry.purpose == "investigation" and created_entry.basis == "Ley Orgánica 7/2021"
    updated = next(e for e in written if e.action == Action.RECORD_UPDATED)
    assert updated.detail["changed"] == ["handling", "properties"]
    # No personal data in the audit trail.
    assert all("Ana" not in str(e.detail) for e in entries)
    # The rejected read of the deleted record is audited too.
    assert written[-1].action == Action.RECORD_READ and written[-1].outcome == "rejected"


def test_create_generates_an_id_and_refuses_duplicates(client: TestClient, login: Login) -> None:
    h = login()
    entity = {"schema": "Vehicle", "properties": {"registrationNumber": ["1234ABC"]}}
    r = client.post("/api/v1/records", headers=h, json=body(entity))
    assert r.status_code == 201 and len(r.json()["id"]) == 40
    assert client.post("/api/v1/records", headers=h, json=body()).status_code == 201
    r = client.post("/api/v1/records", headers=h, json=body())
    assert r.status_code == 409 and r.json()["type"].endswith("/record-exists")


def test_invalid_record_is_a_problem_listing_every_field(client: TestClient, node: Node,
                                                         login: Login) -> None:
    h = login()
    r = client.post("/api/v1/records", headers=h, json=body(
        person(phone=["12"], birthDate=["yesterday"]), handling="H7"))
    assert r.status_code == 422
    doc = r.json()
    assert doc["type"].endswith("/record-invalid")
    assert {e["field"] for e in doc["errors"]} >= {"properties.phone", "properties.birthDate"}
    rejected = [e for e in audit(node) if e.outcome == "rejected"]
    assert len(rejected) == 1 and rejected[0].action == Action.RECORD_CREATED
    assert rejected[0].detail["fields"] == ["properties.birthDate", "properties.phone"]
    with node.uow() as s:
        from accord.records.models import Record
        assert s.get(Record, "p1") is None


def test_clearance_too_low_is_403_with_the_reason(client: TestClient, node: Node,
                                                  login: Login) -> None:
    chief = login("chief", clearance="H3")
    assert client.post("/api/v1/records", headers=chief,
                       json=body(handling="H3")).status_code == 201
    h = login("garcia", clearance="H2")
    r = client.get("/api/v1/records/p1", headers=h)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert doc["type"].endswith("/clearance-too-low")
    assert doc["reason"] == "clearance-too-low"
    assert doc["handling"] == "H3" and doc["clearance"] == "H2"
    assert "Ana" not in r.text  # nothing of the record leaks
    denied = [e for e in audit(node) if e.action == Action.RECORD_DENIED]
    assert len(denied) == 1
    assert denied[0].actor == "ES-PN/garcia" and denied[0].object == "record:p1"
    assert denied[0].outcome == "denied" and denied[0].detail["attempted"] == "read"
    # Nor may they change or delete it, or create above their clearance.
    assert client.patch("/api/v1/records/p1", headers=h, json={"meta": {"handling": "H1"}}
                        ).json()["reason"] == "clearance-too-low"
    assert client.delete("/api/v1/records/p1", headers=h).status_code == 403
    r = client.post("/api/v1/records", headers=h, json=body(person("p2"), handling="H3"))
    assert r.status_code == 403 and r.json()["reason"] == "clearance-too-low"
    assert len([e for e in audit(node) if e.action == Action.RECORD_DENIED]) == 4


def test_list_withholds_what_the_officer_may_not_see(client: TestClient, node: Node,
                                                     login: Login) -> None:
    chief = login("chief", clearance="H3")
    for i, handling in enumerate(["H0", "H1", "H2", "H3", "H3"]):
        r = client.post("/api/v1/records", headers=chief,
                        json=body(person(f"p{i}", f"Person {i}"), handling=handling))
        assert r.status_code == 201, r.text
    h = login("garcia", clearance="H1")
    r = client.get("/api/v1/records", headers=h)
    assert r.status_code == 200
    page = r.json()
    assert [i["id"] for i in page["items"]] == ["p0", "p1"]
    assert page["total"] == 2 and page["withheld"] == 3
    assert client.get("/api/v1/records", headers=chief).json()["withheld"] == 0
    # Filters apply to both counts.
    page = client.get("/api/v1/records", headers=h, params={"handling": "H3"}).json()
    assert page["items"] == [] and page["withheld"] == 2
    page = client.get("/api/v1/records", headers=h, params={"q": "person 1"}).json()
    assert [i["id"] for i in page["items"]] == ["p1"]
    page = client.get("/api/v1/records", headers=h, params={"case": "ES-2026-001"}).json()
    assert page["total"] == 2
    assert client.get("/api/v1/records", headers=h, params={"case": "OTHER"}).json()["total"] == 0
    listed = [e for e in audit(node) if e.action == Action.RECORD_LISTED]
    assert listed[0].actor == "ES-PN/garcia" and listed[0].detail["withheld"] == 3
    reads = [e for e in audit(node) if e.action == Action.RECORD_READ and e.actor == "ES-PN/garcia"]
    assert {e.object for e in reads} == {"record:p0", "record:p1"}


def test_agencies_of_the_node_share_but_only_the_owner_changes(
        client: TestClient, node: Node, login: Login) -> None:
    pn = login("garcia")
    assert client.post("/api/v1/records", headers=pn, json=body()).status_code == 201
    sva = login("lopez", agency="ES-SVA")
    r = client.get("/api/v1/records/p1", headers=sva)
    assert r.status_code == 200
    read = [e for e in audit(node) if e.action == Action.RECORD_READ][-1]
    assert read.actor == "ES-SVA/lopez" and read.detail["shared"] is True
    r = client.patch("/api/v1/records/p1", headers=sva, json={"meta": {"handling": "H0"}})
    assert r.status_code == 403 and r.json()["reason"] == "not-owner"
    assert r.json()["owner"] == "ES-PN"
    r = client.post("/api/v1/records", headers=sva, json=body(person("p2"), owner="ES-PN"))
    assert r.status_code == 403 and r.json()["reason"] == "not-owner"
    r = client.post("/api/v1/records", headers=sva, json=body(person("p3"), owner="FR-PN"))
    assert r.status_code == 422  # not hosted here


def test_owner_cannot_change_and_read_purpose_is_checked(client: TestClient, login: Login) -> None:
    h = login()
    assert client.post("/api/v1/records", headers=h, json=body()).status_code == 201
    r = client.patch("/api/v1/records/p1", headers=h, json={"meta": {"owner": "ES-SVA"}})
    assert r.status_code == 422  # MetaUpdate has no owner field
    r = client.get("/api/v1/records/p1", headers=h, params={"purpose": "curiosity"})
    assert r.status_code == 422


def test_roles_without_records_permissions_are_refused(client: TestClient, login: Login) -> None:
    h = login("dpo", roles=["dpo"])
    assert client.get("/api/v1/records", headers=h).status_code == 403
    legal = login("legal", roles=["legal"])
    assert client.get("/api/v1/records", headers=legal).status_code == 200
    assert client.post("/api/v1/records", headers=legal, json=body()).status_code == 403
