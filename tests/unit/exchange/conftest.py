"""A small federation in one process: ES (the ``node`` fixture, SQLite and PostgreSQL),
FR and MA (SQLite), pinned to each other, with the example agreements, joined by the
in-memory transport (injected, nothing patched)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.audit.models import AuditEntry
from accord.auth.domain import Principal
from accord.bootstrap import Node, build_node
from accord.clock import ManualClock
from accord.db import make_engine
from accord.exchange import services
from accord.exchange.refresh import set_peer_fetch
from accord.exchange.schemas import MessageCreate
from accord.exchange.transport import InMemoryTransport
from accord.exchange.worker import DeliveryWorker
from accord.lifecycle import AgencySpec, initialise
from accord.parties import services as parties
from accord.parties.domain import Handling, parse_roles
from accord.tables import metadata
from tests.conftest import make_settings
from tests.factories.officers import make_officer
from tests.factories.peers import pin

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "agreements"

PERSON = {"id": "p-1", "schema": "Person",
          "properties": {"name": ["Ana Ruiz"], "birthDate": ["1980-02-03"]}}
ACCOUNT = {"id": "a-1", "schema": "BankAccount", "properties": {"iban": ["ES9121000418450200051332"]}}


def install_agreements(node: Node) -> None:
    target = node.settings.resolved_agreements_dir
    target.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copyfile(path, target / path.name)


def make_peer_node(base: Path, clock: ManualClock, *, country: str, node_id: str,
                   agencies: list[AgencySpec], **overrides: Any) -> Node:
    base.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{base / 'accord.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    node = build_node(make_settings(base, url, node_id=node_id, country=country, **overrides),
                      clock=clock)
    initialise(node, agencies, migrate=False)
    install_agreements(node)
    return node


def principal_of(node: Node, username: str) -> Principal:
    with node.uow() as s:
        officer = parties.get_officer(s, username)
        roles = frozenset(parse_roles(officer.roles))
        return Principal(officer.id, officer.username, officer.agency_id, officer.agency_id[:2],
                         roles, roles, Handling(officer.clearance), "test", "test")


def count_rows(node: Node) -> dict[str, int]:
    with node.uow() as s:
        return services.store_counts(s)


def audit_actions(node: Node, limit: int = 5000) -> list[str]:
    with node.uow() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.idx).limit(limit)))


def audit_count(node: Node, action: str) -> int:
    with node.uow() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == action)) or 0)


def rejection_entries(node: Node) -> list[AuditEntry]:
    with node.uow() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "exchange:envelope:rejected")
                              .order_by(AuditEntry.idx)))


def rejections_counted(node: Node) -> dict[str, int]:
    """Rejections by reason: the counts carried by audit entries plus those still folded."""
    totals: dict[str, int] = dict(services.rejection_ledger(node).pending())
    for entry in rejection_entries(node):
        reason = entry.detail["reason"]
        totals[reason] = totals.get(reason, 0) + int(entry.detail["count"])
    return totals


@dataclass
class World:
    es: Node
    fr: Node
    ma: Node
    clock: ManualClock
    transport: InMemoryTransport
    workers: dict[str, DeliveryWorker] = field(default_factory=dict)

    def worker(self, node: Node) -> DeliveryWorker:
        nid = node.settings.node_id
        if nid not in self.workers:
            self.workers[nid] = DeliveryWorker(node, transport=self.transport,
                                               rng=random.Random(7), concurrency=1,
                                               fetch=self.transport.fetch)
        return self.workers[nid]

    def pump(self, rounds: int = 20) -> int:
        """Deliver everything due on every node, replies included, until quiet."""
        total = 0
        for _ in range(rounds):
            done = sum(self.worker(n).drain() for n in (self.es, self.fr, self.ma))
            total += done
            if done == 0:
                break
        return total

    def send(self, node: Node, username: str, **fields: Any) -> Any:
        principal = principal_of(node, username)
        cmd = MessageCreate(**fields)
        return services.audited(node, actor=principal.actor, obj="message:new",
                                fn=lambda s: services.send_message(node, s, principal, cmd))


@pytest.fixture
def world(node: Node, tmp_path: Path, clock: ManualClock) -> Iterator[World]:
    install_agreements(node)
    fr = make_peer_node(tmp_path / "fr", clock, country="FR", node_id="fr-node",
                        agencies=[AgencySpec("FR-PN", "Police nationale", "police")],
                        base_url="http://127.0.0.1:8402", exchange_envelope_max_bytes=65536)
    ma = make_peer_node(tmp_path / "ma", clock, country="MA", node_id="ma-node",
                        agencies=[AgencySpec("MA-DGSN", "DGSN", "police")],
                        base_url="http://127.0.0.1:8403")
    for a in (node, fr, ma):
        for b in (node, fr, ma):
            if a is not b:
                pin(a, b)
    transport = InMemoryTransport({"es-node": node, "fr-node": fr, "ma-node": ma})
    for n in (node, fr, ma):  # key refreshes fetch descriptors in-process, never over the network
        set_peer_fetch(n, transport.fetch)
    make_officer(node, "garcia", agency="ES-PN", clearance="H2")
    make_officer(node, "vega", agency="ES-SVA", clearance="H2")
    make_officer(fr, "dupont", agency="FR-PN", clearance="H2")
    make_officer(ma, "alaoui", agency="MA-DGSN", clearance="H2")
    w = World(node, fr, ma, clock, transport)
    try:
        yield w
    finally:
        for worker in w.workers.values():
            worker.stop()
        fr.dispose()
        ma.dispose()


def person_message(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "to": ["FR-PN", "MA-DGSN"], "subject": "Courier on the Algeciras ferry",
        "body": "Ana Ruiz travels on Friday with 2 kg of cocaine.", "priority": "high",
        "handling": "H2", "case_ref": "ES-2026-001", "crime_area": "0601",
        "purpose": "investigation", "records": [PERSON], "language": "en",
    }
    fields.update(overrides)
    return fields


def random_seed() -> random.Random:
    return random.Random(42)
