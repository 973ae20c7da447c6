"""``accord messages …`` on a node's own store: batch send, deliver (same node), list, ack."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from accord.auth.domain import Operator
from accord.bootstrap import build_node
from accord.cli.main import app
from accord.lifecycle import AgencySpec, init_node
from accord.parties import services as parties


def test_batch_send_deliver_list_and_acknowledge(tmp_path: Path) -> None:
    data = tmp_path / "es"
    settings = init_node(data, node_id="es-node", country="ES", mode="development",
                         agencies=[AgencySpec("ES-PN", "PN", "police"),
                                   AgencySpec("ES-SVA", "SVA", "customs")])
    node = build_node(settings)
    try:
        with node.uow() as s:
            for user, agency in (("garcia", "ES-PN"), ("vega", "ES-SVA")):
                parties.provision_officer(node, s, username=user, display_name=user,
                                          agency_id=agency, roles=["officer"], clearance="H2",
                                          password="a long enough password", by=Operator())
    finally:
        node.dispose()
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps({"to": ["ES-SVA"], "subject": f"container {i}",
                                           "body": "check", "crime_area": "0601"})
                               for i in range(3))
                     + "\n" + json.dumps({"to": ["XX-NOPE"], "subject": "nowhere"}) + "\n")
    runner = CliRunner()

    def cli(*args: str) -> object:
        result = runner.invoke(app, ["--data-dir", str(data), "messages", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    queued = cli("send-batch", "--as", "garcia", str(batch), "--json")
    assert queued["queued"] == 3  # type: ignore[index]
    (failed,) = queued["failed"]  # type: ignore[index]
    assert failed["line"] == 4 and failed["problem"]["status"] == 422
    assert cli("outbox", "--json") == {"pending": 3, "failed_attempts": 0}
    cli("deliver")
    assert cli("outbox", "--json") == {"done": 3, "failed_attempts": 0}
    inbox = cli("list", "--as", "vega", "--json")
    assert [m["subject"] for m in inbox] == ["container 2", "container 1", "container 0"]  # type: ignore[union-attr]
    mid = inbox[0]["message_id"]  # type: ignore[index]
    cli("ack", mid, "--as", "vega", "--json")
    cli("deliver")  # the read and acknowledgement travel back as envelopes
    sent = cli("list", "--as", "garcia", "--box", "sent", "--json")
    states = {m["message_id"]: m["recipients"][0]["state"] for m in sent}  # type: ignore[union-attr]
    assert states[mid] == "acknowledged"
    bad = runner.invoke(app, ["--data-dir", str(data), "messages", "list", "--as", "nobody"])
    assert bad.exit_code == 2


def test_retry_a_dead_letter_and_refresh_peers(tmp_path: Path) -> None:
    from sqlalchemy import select

    from accord.exchange.models import OutboxEntry, Recipient

    data = tmp_path / "es"
    settings = init_node(data, node_id="es-node", country="ES", mode="development",
                         agencies=[AgencySpec("ES-PN", "PN", "police"),
                                   AgencySpec("ES-SVA", "SVA", "customs")])
    node = build_node(settings)
    try:
        with node.uow() as s:
            parties.provision_officer(node, s, username="garcia", display_name="garcia",
                                      agency_id="ES-PN", roles=["officer"], clearance="H2",
                                      password="a long enough password", by=Operator())
    finally:
        node.dispose()
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> object:
        result = runner.invoke(app, ["--data-dir", str(data), *args])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if "--json" in args and code == 0 else result.output

    sent = cli("messages", "send", "--as", "garcia", "--to", "ES-SVA", "--subject", "container",
               "--body", "check", "--crime-area", "0601", "--json")
    mid = sent["message_id"]  # type: ignore[index]
    assert "not a dead letter" in str(cli("messages", "retry", mid, "ES-SVA", "--as", "garcia",
                                          code=2))
    # as if ES-SVA had been unreachable for a day
    node = build_node(settings)
    try:
        with node.uow() as s:
            rec = s.scalars(select(Recipient)).one()
            rec.state = "dead-letter"
            s.scalars(select(OutboxEntry)).one().state = "dead"
    finally:
        node.dispose()
    shown = cli("messages", "retry", mid, "ES-SVA", "--as", "garcia", "--json")
    assert shown["recipients"][0]["state"] == "queued"  # type: ignore[index]
    assert cli("messages", "outbox", "--json") == {"dead": 1, "pending": 1, "failed_attempts": 0}
    cli("messages", "deliver")
    assert cli("messages", "outbox", "--json") == {"dead": 1, "done": 1, "failed_attempts": 0}

    assert cli("peers", "refresh", "--json") == []  # no peer pinned: nothing to do
    assert "no peer" in str(cli("peers", "refresh", "fr-node", code=2))
