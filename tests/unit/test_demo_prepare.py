"""Demo nodes are created once and reused; their logins are stable across runs; without the
scenario they get the sample agreements, so the demo nodes can exchange messages."""

from __future__ import annotations

import shutil
from pathlib import Path

from accord.auth.domain import Principal
from accord.bootstrap import Node, build_node
from accord.demo import SAMPLE_AGREEMENTS, DemoNode, install_sample_agreements, prepare_node
from accord.exchange import services
from accord.exchange.refresh import set_peer_fetch
from accord.exchange.schemas import MessageCreate
from accord.exchange.transport import InMemoryTransport
from accord.exchange.worker import DeliveryWorker
from accord.parties import services as parties
from accord.parties.domain import Handling, parse_roles
from accord.settings import load_settings
from tests.factories.peers import pin


def test_prepare_reuses_existing_node(tmp_path: Path) -> None:
    first = prepare_node(tmp_path, "FR", 18502)
    config = (first.data_dir / "accord.toml").read_text()
    again = prepare_node(tmp_path, "FR", 18502)
    assert (again.data_dir / "accord.toml").read_text() == config  # not re-initialised
    assert [vars(lg) for lg in again.logins] == [vars(lg) for lg in first.logins]
    assert {lg.agency for lg in first.logins} <= {"FR-PN", "FR-DGDDI"}
    assert all(len(lg.totp_secret) >= 16 for lg in first.logins)


def _principal(node: Node, username: str) -> Principal:
    with node.read() as s:
        officer = parties.get_officer(s, username)
        roles = frozenset(parse_roles(officer.roles))
        return Principal(officer.id, officer.username, officer.agency_id, officer.agency_id[:2],
                         roles, roles, Handling(officer.clearance), "test", "test")


def _yaml_names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.yaml")}


def test_no_scenario_nodes_get_the_sample_agreements_and_can_exchange(tmp_path: Path) -> None:
    demo = [prepare_node(tmp_path, c, 18600 + i) for i, c in enumerate(["ES", "FR", "MA"])]
    said: list[str] = []
    assert install_sample_agreements(demo, say=said.append) == []  # every pair is covered
    for dn in demo:
        assert _yaml_names(dn.data_dir / "agreements") == _yaml_names(SAMPLE_AGREEMENTS)
    assert said == [f"installed the sample agreements ({SAMPLE_AGREEMENTS}) into "
                    "es-node, fr-node, ma-node"]

    # a message from ES to FR and MA is allowed by the agreements on both sides, and delivered
    nodes = [build_node(load_settings(data_dir=dn.data_dir)) for dn in demo]
    es, fr, ma = nodes
    try:
        for a in nodes:
            for b in nodes:
                if a is not b:
                    pin(a, b)
        transport = InMemoryTransport({n.settings.node_id: n for n in nodes})
        for n in nodes:
            set_peer_fetch(n, transport.fetch)
        officer = _principal(es, "es.officer")
        cmd = MessageCreate(to=["FR-PN", "MA-DGSN"], subject="Courier", body="Friday ferry",
                            handling="H1", crime_area="0601", purpose="investigation",
                            records=[{"id": "p-1", "schema": "Person",
                                      "properties": {"name": ["Ana Ruiz"]}}])
        services.audited(es, actor=officer.actor, obj="message:new",
                         fn=lambda s: services.send_message(es, s, officer, cmd))
        worker = DeliveryWorker(es, transport=transport, concurrency=1, fetch=transport.fetch)
        assert worker.drain() == 2
        worker.stop()
        for peer in (fr, ma):
            with peer.read() as s:
                assert services.store_counts(s)["messages"] == 1
    finally:
        for n in nodes:
            n.dispose()

    # a later run leaves the node's own agreements alone
    mine = demo[0].data_dir / "agreements"
    for path in mine.glob("*.yaml"):
        if path.name != "jit-es-fr-2025.yaml":
            path.unlink()
    said.clear()
    assert install_sample_agreements(demo[:2], say=said.append) == []
    assert _yaml_names(mine) == {"jit-es-fr-2025.yaml"} and said == []


def test_without_the_samples_it_says_what_is_missing_and_how_to_add_it(tmp_path: Path) -> None:
    demo = [prepare_node(tmp_path, c, 18700 + i) for i, c in enumerate(["ES", "DE"])]
    said: list[str] = []
    uncovered = install_sample_agreements(demo, say=said.append, source=tmp_path / "nowhere")
    assert uncovered == [("ES", "DE")]
    assert all(_yaml_names(dn.data_dir / "agreements") == set() for dn in demo)
    (line,) = said
    assert "no sample agreements found" in line and "every message" in line
    assert "--agreements DIR" in line and str(demo[0].data_dir / "agreements") in line

    # with the samples, a country they do not name is reported pair by pair
    said.clear()
    assert install_sample_agreements(demo, say=said.append) == [("ES", "DE")]
    assert said[-1].startswith("no agreement between ES and DE in the agreements of "
                               "es-node and de-node: messages between them will be refused")


def test_a_node_folder_with_agreements_is_not_overwritten(tmp_path: Path) -> None:
    (dn,) = [prepare_node(tmp_path, "FR", 18800)]
    folder = dn.data_dir / "agreements"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_AGREEMENTS / "fr-ma-police-cooperation.yaml", folder / "mine.yaml")
    assert install_sample_agreements([dn], say=lambda _m: None) == []
    assert _yaml_names(folder) == {"mine.yaml"}
    assert isinstance(dn, DemoNode)
