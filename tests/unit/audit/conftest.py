"""Audit fixtures: a peer node (FR, SQLite) that witnesses ES (the ``node`` fixture, both
engines) and is witnessed by it, joined by the in-memory witness client (injected)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from accord.audit.witness import InMemoryWitnessClient
from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.db import make_engine
from accord.lifecycle import AgencySpec, initialise
from accord.tables import metadata
from tests.conftest import make_settings
from tests.factories.peers import pin


def fill(node: Node, clock: ManualClock, n: int = 20, *, actor: str = "ES-PN/garcia") -> int:
    """``n`` audit entries in one transaction; returns the log size."""
    with node.uow() as s:
        for i in range(n):
            clock.advance(timedelta(seconds=1))
            node.record(s, actor=actor, action="records:record:read", object=f"record:{i}",
                        purpose="investigation", basis="eu-2023-977@1#art-4")
        return node.audit.size(s)


def checkpoint(node: Node) -> int:
    with node.uow() as s:
        return node.audit.checkpoint(s, at=node.now()).size


@pytest.fixture
def peer(tmp_path: Path, clock: ManualClock) -> Iterator[Node]:
    """FR: a second node, pinned by ES and pinning it."""
    base = tmp_path / "fr"
    base.mkdir()
    url = f"sqlite:///{base / 'accord.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    fr = build_node(make_settings(base, url, node_id="fr-node", country="FR",
                                  base_url="http://127.0.0.1:8402"), clock=clock)
    initialise(fr, [AgencySpec("FR-PN", "Police nationale", "police")], migrate=False)
    yield fr
    fr.dispose()


@pytest.fixture
def pinned(node: Node, peer: Node) -> Node:
    pin(node, peer)
    pin(peer, node)
    return peer


@pytest.fixture
def wire(node: Node, peer: Node) -> InMemoryWitnessClient:
    return InMemoryWitnessClient([node, peer])
