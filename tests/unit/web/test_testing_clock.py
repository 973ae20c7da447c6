"""A test-mode node's clock can be moved from outside; no other node has the route."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from accord.bootstrap import build_node
from accord.clock import OffsetClock
from accord.web.app import create_app
from tests.conftest import make_settings


def test_offset_clock_moves_in_test_mode(db_url: str, tmp_path: Path) -> None:
    node = build_node(make_settings(tmp_path, db_url, clock="offset"))
    try:
        assert isinstance(node.clock, OffsetClock)
        before = node.now()
        r = TestClient(create_app(node, background=False)).post("/testing/v1/clock",
                                                                json={"seconds": 3600})
        assert r.status_code == 200
        assert node.now() - before >= timedelta(hours=1)
    finally:
        node.dispose()


def test_no_clock_route_outside_test_mode(db_url: str, tmp_path: Path) -> None:
    node = build_node(make_settings(tmp_path, db_url, mode="development"))
    try:
        r = TestClient(create_app(node, background=False)).post("/testing/v1/clock",
                                                                json={"seconds": 3600})
        assert r.status_code == 404
    finally:
        node.dispose()
