"""A rewrite of a node's audit log, re-signed with its own key, is caught by its peers
(issue 7, finding 2) — two real ``accord serve`` processes on loopback.

ES and FR pin each other. ES's server signs checkpoints and sends them to FR, which
cosigns them. ES is stopped; its database is rewritten consistently (an entry changed, its
leaf hash recomputed, the checkpoints deleted and a new one signed with ES's node key, as
anyone holding its data folder can in development mode). ``accord audit verify`` on ES then
finds nothing, but ``accord audit verify --witnesses`` fails and names FR, which still holds
the checkpoint it witnessed. Started again, ES sends its new checkpoint to FR, which refuses
it and raises a signed alarm that FR's DPO reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from accord.audit.models import AuditEntry, Checkpoint
from accord.audit.services import entry_bytes
from accord.bootstrap import build_node
from accord.crypto.merkle import leaf_hash
from accord.demo import DemoNode, restart_node, stop_all
from accord.settings import load_settings
from tests.e2e.test_exchange import Api, start_nodes, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAST = {"audit_checkpoint_seconds": 0.5, "audit_witness_seconds": 0.5,
        "audit_witness_timeout_seconds": 5}


def accord(dn: DemoNode, *args: str) -> tuple[int, str, str]:
    """The command line on the node's data folder, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    done = subprocess.run(
        [sys.executable, "-m", "accord", "--data-dir", str(dn.data_dir), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


def witnessed(es: Api) -> dict[str, Any] | None:
    """FR's state in ES's view once FR holds ES's latest checkpoint."""
    latest = es.get("/api/v1/audit/checkpoint")
    for state in es.get("/api/v1/audit/witnesses"):
        if state["peer"] == "fr-node" and not state["error"] and state["size"] == latest["size"]:
            return dict(state)
    return None


def rewrite_and_resign(dn: DemoNode, idx: int) -> None:
    """What someone holding ES's stopped data folder can do, key passphrase included."""
    node = build_node(load_settings(data_dir=dn.data_dir))
    try:
        with node.uow() as s:
            row = s.get(AuditEntry, idx)
            assert row is not None
            row.purpose = "nothing-to-see"
            row.leaf_hash = leaf_hash(entry_bytes(idx, row.at, row))
            s.execute(delete(Checkpoint))
        with node.uow() as s:
            node.audit.checkpoint(s, at=node.now())
    finally:
        node.dispose()


def test_a_rewrite_resigned_with_the_node_key_is_caught_by_the_peer(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path, ["ES", "FR"], FAST)
    es, fr = nodes
    try:
        es_dpo = Api(es, "es.dpo")
        try:
            state = wait_for(lambda: witnessed(es_dpo), timeout=60)
        finally:
            es_dpo.close()
        held_size = int(state["size"])
        assert held_size > 2
        stop_all([es])

        code, out, err = accord(es, "audit", "verify", "--json")
        assert code == 0, out + err  # the untouched log, witnessed: intact
        rewrite_and_resign(es, idx=2)
        code, out, err = accord(es, "audit", "verify", "--json")
        assert code == 0, out + err  # locally the rewrite is invisible: re-signed with the node key
        assert json.loads(out)["errors"] == 0

        code, out, err = accord(es, "audit", "verify", "--witnesses", "--json")
        assert code == 1, out + err
        report = json.loads(out)
        [finding] = [f for f in report["findings"] if f["severity"] == "error"]
        assert finding["kind"] == "witness" and finding["peer"] == "fr-node"
        assert finding["index"] >= held_size and "rewritten" in finding["detail"]
        code, out, _ = accord(es, "audit", "verify", "--witnesses")
        assert code == 1 and "fr-node" in out

        # ES runs again and sends its re-signed checkpoint: FR refuses it and alarms its DPO
        restart_node(es, tmp_path / "logs")
        fr_dpo = Api(fr, "fr.dpo")
        try:
            alarms = wait_for(lambda: fr_dpo.get("/api/v1/audit/alarms"), timeout=60)
            assert alarms[0]["kind"] == "inconsistent" and alarms[0]["peer"] == "es-node"
            assert alarms[0]["held"]["size"] == finding["index"]
            assert alarms[0]["statement"].startswith("accord-witness-alarm/v1\n")
        finally:
            fr_dpo.close()
    finally:
        stop_all(nodes)


def test_an_unreachable_witness_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    nodes = start_nodes(tmp_path, ["ES", "FR"], FAST)
    es, fr = nodes
    try:
        es_dpo = Api(es, "es.dpo")
        try:
            wait_for(lambda: witnessed(es_dpo), timeout=60)
        finally:
            es_dpo.close()
        stop_all([fr])
        code, out, err = accord(es, "audit", "verify", "--witnesses", "--json")
        assert code == 0, out + err  # ES runs and is intact; FR cannot be asked
        report = json.loads(out)
        [finding] = [f for f in report["findings"] if f["kind"] == "witness-unreachable"]
        assert finding["severity"] == "warning" and finding["peer"] == "fr-node"
        code, out, err = accord(es, "audit", "verify", "--witnesses", "--strict")
        assert code == 1 and "unreachable" in out and "Traceback" not in out + err
    finally:
        stop_all(nodes)
