"""The DPO's API reads a log whose rows were edited by hand, instead of answering 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from accord.bootstrap import Node
from accord.web.app import create_app
from tests.factories.officers import make_officer


def test_entries_with_an_unreadable_time_or_detail_are_shown_flagged(node: Node) -> None:
    client = TestClient(create_app(node, background=False))
    dpo = make_officer(node, "dpo", roles=["dpo"])
    r = client.post("/auth/login", json={"username": "dpo", "password": dpo.password,
                                         "totp": dpo.code(node)})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    with node.uow() as s:
        if node.engine.dialect.name == "sqlite":  # SQLite stores whatever it is given
            s.execute(text("UPDATE audit_entries SET at = 'yesterday-ish', "
                           "detail = '{not json' WHERE idx = 0"))
        else:  # PostgreSQL types hold: only valid JSON of another shape fits
            s.execute(text("UPDATE audit_entries SET detail = '[1, 2]' WHERE idx = 0"))
    r = client.get("/api/v1/audit/entries", headers=headers, params={"limit": 5})
    assert r.status_code == 200, r.text
    first = r.json()[0]
    assert first["idx"] == 0
    if node.engine.dialect.name == "sqlite":
        assert first["unreadable"] == ["at", "detail"]
        assert first["at"] == "yesterday-ish" and first["detail"] == "{not json"
    else:
        assert first["unreadable"] == ["detail"] and first["detail"] == "[1, 2]"
    assert all(e["unreadable"] == [] for e in r.json()[1:])
