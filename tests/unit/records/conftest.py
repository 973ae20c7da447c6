"""Helpers for records tests: logged-in API clients and sample records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.bootstrap import Node
from accord.web.app import create_app
from tests.factories.officers import make_officer

META: dict[str, Any] = {
    "handling": "H1", "source_reliability": "B", "info_credibility": "2",
    "legal_basis": "Ley Orgánica 7/2021", "purpose": "investigation",
    "retention_until": "2031-01-01", "cases": ["ES-2026-001"], "provenance": "test",
}


def person(entity_id: str = "p1", name: str = "Ana Ruiz", **props: list[str]) -> dict[str, Any]:
    return {"id": entity_id, "schema": "Person", "properties": {"name": [name], **props}}


def body(entity: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"entity": entity or person(), "meta": {**META, **meta}}


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


Login = Callable[..., dict[str, str]]


@pytest.fixture
def login(node: Node, client: TestClient) -> Login:
    """``login("garcia", clearance="H2", agency="ES-PN")`` → Authorization headers."""

    def _login(username: str = "garcia", *, clearance: str = "H2", agency: str = "ES-PN",
               roles: list[str] | None = None) -> dict[str, str]:
        o = make_officer(node, username, roles=roles or ["officer"], agency=agency,
                         clearance=clearance)
        r = client.post("/auth/login", json={"username": o.username, "password": o.password,
                                             "totp": o.code(node)})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return _login


def audit(node: Node, prefix: str = "records:") -> list[Any]:
    with node.uow() as s:
        return node.audit.query(s, action=prefix, limit=10_000)
