"""Linkage secrets per agreement (privacy-preserving search): sealed at rest, never shown,
epochs that only go up, a key that cannot be opened stops its queries, not the records —
and ``accord search linkage-key generate | set | list | retire``. On both engines."""

from __future__ import annotations

import base64
import json
import logging
import stat
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from typer.testing import CliRunner

from accord import migrations
from accord.bootstrap import Node, build_node
from accord.cli.common import Globals
from accord.cli.main import app
from accord.clock import ManualClock
from accord.db import make_engine
from accord.errors import Conflict, NotFound, ValidationFailed
from accord.lifecycle import AgencySpec
from accord.records import Reader
from accord.records import services as records
from accord.search import private
from accord.search.linkage import parse_secret_text, secret_text
from accord.search.models import LinkageEntry
from tests.unit.exchange.conftest import install_agreements, make_peer_node
from tests.unit.search.test_protocol import ES_PERSON, META

AGREEMENT = "es-fr-private-search"
ES_FR_PRIVATE = f"""\
id: {AGREEMENT}
version: 1
title: Spain–France privacy-preserving hit/no-hit searches (test model)
instrument: bilateral-treaty
parties: [ES, FR]
valid_from: 2020-01-01
clauses:
  - id: search
    text: Automated hit/no-hit searches; no clear identifier leaves the asking node.
    grants:
      actions: [hit-no-hit-search]
      categories: [person, vehicle, document]
      crime_areas: [all]
      max_handling: H1
      purposes: [prevention, detection, investigation]
      retention: P1D
      search_mode: bloom
"""

SECRET = bytes(range(200, 232))
runner = CliRunner()


@pytest.fixture
def es(node: Node) -> Node:
    install_agreements(node)
    (node.settings.resolved_agreements_dir / "es-fr-private-search.yaml").write_text(ES_FR_PRIVATE)
    return node


def _entries(node: Node) -> int:
    with node.read() as s:
        return s.query(LinkageEntry).count()


def test_a_secret_is_sealed_audited_by_key_id_and_never_logged(
        es: Node, caplog: pytest.LogCaptureFixture) -> None:
    records.create_record(es, ES_PERSON, {**META, "owner": "ES-PN"}, reader=Reader.operator("t"))
    with caplog.at_level(logging.DEBUG):
        info = private.set_linkage_key(es, agreement=AGREEMENT, secret=SECRET, by="test")
    assert (info.epoch, len(info.key_id)) == (1, 16) and info.indexed_at is not None
    assert _entries(es) == 1
    files = list(es.settings.keys_dir.glob("linkage.*"))
    assert [f.name for f in files] == [f"linkage.{AGREEMENT}.1.{info.key_id}.sealed"]
    data = files[0].read_bytes()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert b"ACCORD SEALED SECRET" in data
    for form in (SECRET, SECRET.hex().encode(), base64.b64encode(SECRET),
                 secret_text(SECRET).strip().encode()):
        assert form not in data
    with es.uow() as s:
        entries = list(es.audit.query(s, action="search:linkage-key", limit=100))
    assert {e.action for e in entries} == {"search:linkage-key:set", "search:linkage-key:indexed"}
    text = json.dumps([e.detail for e in entries]) + caplog.text
    assert info.key_id in text
    assert SECRET.hex() not in text and secret_text(SECRET).strip() not in text

    # another process (a new store on the same folder) opens it to the same key
    again = build_node(es.settings)
    try:
        with again.read() as s:
            key = again.linkage.current(s, AGREEMENT)
        assert key is not None and key.key_id.hex() == info.key_id
        assert info.key_id in repr(key) and SECRET.hex() not in repr(key)
    finally:
        again.dispose()


def test_epochs_only_go_up_and_bad_secrets_are_refused(es: Node) -> None:
    private.set_linkage_key(es, agreement=AGREEMENT, secret=SECRET, by="test")
    with pytest.raises(Conflict) as held:
        private.set_linkage_key(es, agreement=AGREEMENT, secret=SECRET, by="test")
    assert held.value.extra["reason"] == "linkage-key-held"
    with pytest.raises(Conflict) as used:
        private.set_linkage_key(es, agreement=AGREEMENT, secret=bytes(32), by="test", epoch=1)
    assert used.value.extra["reason"] == "linkage-epoch-used"
    with pytest.raises(ValidationFailed):
        private.set_linkage_key(es, agreement=AGREEMENT, secret=b"short", by="test")
    with pytest.raises(NotFound):
        private.set_linkage_key(es, agreement="no-such-agreement", secret=SECRET, by="test")
    second = private.set_linkage_key(es, agreement=AGREEMENT, secret=bytes(32), by="test")
    assert second.epoch == 2
    with es.read() as s:
        current = es.linkage.current(s, AGREEMENT)
        assert current is not None and current.epoch == 2
        assert [k.epoch for k in es.linkage.held(s, AGREEMENT)] == [1, 2]
    retired = private.retire_linkage_key(es, agreement=AGREEMENT, epoch=1, by="test")
    assert retired.retired_at is not None
    assert not list(es.settings.keys_dir.glob(f"linkage.{AGREEMENT}.1.*"))
    with es.read() as s:
        assert [k.epoch for k in es.linkage.held(s, AGREEMENT)] == [2]
    with pytest.raises(Conflict):  # a retired epoch is never used again
        private.set_linkage_key(es, agreement=AGREEMENT, secret=bytes(range(32)), by="test", epoch=1)


def test_secret_files_read_base64_and_base64url() -> None:
    assert parse_secret_text(secret_text(SECRET)) == SECRET
    assert parse_secret_text(base64.b64encode(SECRET).decode() + "\n") == SECRET
    with pytest.raises(ValidationFailed):
        parse_secret_text(base64.b64encode(b"x" * 16).decode())
    with pytest.raises(ValidationFailed):
        parse_secret_text("not base64 at all!")


def test_a_key_that_cannot_be_opened_stops_its_queries_not_the_records(es: Node) -> None:
    info = private.set_linkage_key(es, agreement=AGREEMENT, secret=SECRET, by="test")
    fresh = build_node(es.settings)  # nothing unsealed in this process yet
    try:
        next(fresh.settings.keys_dir.glob("linkage.*")).unlink()
        records.create_record(fresh, ES_PERSON, {**META, "owner": "ES-PN"},
                              reader=Reader.operator("t"))
        with fresh.read() as s:  # the record is there; queries under the key are refused
            assert records.get_record(fresh, "es-p-17", reader=Reader.operator("t")) is not None
            assert [i.key_id for i in fresh.linkage.infos(s)] == [info.key_id]
            assert fresh.linkage.infos(s)[0].indexed_at is None
    finally:
        fresh.dispose()


def test_cli_generate_set_list_retire(es: Node, tmp_path: Path, clock: ManualClock) -> None:
    out = tmp_path / "secret.txt"
    r = runner.invoke(app, ["search", "linkage-key", "generate", "--agreement", AGREEMENT,
                            "--out", str(out), "--json"], obj=Globals(node=es))
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["epoch"] == 1 and info["indexed_at"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    secret = parse_secret_text(out.read_text())
    assert out.read_text().strip() not in r.output

    r = runner.invoke(app, ["search", "linkage-key", "generate", "--agreement", AGREEMENT,
                            "--out", str(out)], obj=Globals(node=es))
    assert r.exit_code != 0 and "exists" in r.output  # never over a file

    # the other party sets the same file: the same key id
    peer = make_peer_node(tmp_path / "fr", clock, country="FR", node_id="fr-node",
                          agencies=[AgencySpec("FR-PN", "Police nationale", "police")])
    try:
        (peer.settings.resolved_agreements_dir / "p.yaml").write_text(ES_FR_PRIVATE)
        r = runner.invoke(app, ["search", "linkage-key", "set", "--agreement", AGREEMENT,
                                "--file", str(out)], obj=Globals(node=peer))
        assert r.exit_code == 0, r.output
        assert info["key_id"] in r.output and "epoch 1" in r.output
        assert secret.hex() not in r.output
    finally:
        peer.dispose()

    r = runner.invoke(app, ["search", "linkage-key", "list", "--json"], obj=Globals(node=es))
    assert r.exit_code == 0, r.output
    listed = json.loads(r.output)
    assert [(i["key_id"], bool(i["indexed_at"])) for i in listed] == [(info["key_id"], True)]
    r = runner.invoke(app, ["search", "linkage-key", "retire", "--agreement", AGREEMENT,
                            "--epoch", "1"], obj=Globals(node=es))
    assert r.exit_code == 0 and "retired" in r.output


def test_migration_0008_creates_and_drops_the_linkage_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    tables = {"search_linkage_secrets", "search_linkage_entries", "search_linkage_tokens"}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= tables
    finally:
        engine.dispose()
    command.downgrade(migrations.alembic_config(url), "0007")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) & tables == set()
    finally:
        engine.dispose()
