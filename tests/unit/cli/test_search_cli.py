"""``accord search query``: the hit/no-hit fan-out from the command line, on in-process nodes
(ES, FR, MA, IT of the protocol tests, joined by the in-memory search port — injected by
handing the FR node to the command, nothing patched)."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from accord.cli.common import Globals
from accord.cli.main import app
from accord.search import protocol
from tests.unit.search.test_protocol import ARABIC, Fed, _audit, fed  # noqa: F401  fixture

runner = CliRunner()


def cli(f: Fed, *args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["search", "query", *args], obj=Globals(node=f.fr))
    return r.exit_code, r.output


def _by_agency(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["agency"]: a for a in data["results"][0]["answers"]}


def test_person_query_as_json_hit_no_hit_not_asked(fed: Fed) -> None:  # noqa: F811
    code, out = cli(fed, "person", ARABIC, "--dob", "1985-08-31", "--as", "dupont", "--json")
    assert code == 0, out
    data = json.loads(out)
    answers = _by_agency(data)
    assert answers["ES-PN"]["outcome"] == "hit" and answers["ES-PN"]["band"] == "strong"
    assert answers["MA-DGSN"]["outcome"] == "no-hit"
    assert answers["IT-PS"]["outcome"] == "not-asked"
    it = next(p for p in data["peers"] if p["agency"] == "IT-PS")
    assert it["code"] == "no-agreement" and it["asked"] == 0
    # the reference is ES's: only ES resolves it, for FR-PN, to its record
    resolved = protocol.resolve_reference(fed.es, answers["ES-PN"]["reference"], asker="FR-PN")
    assert resolved.ref == "es-p-17"
    sent = _audit(fed.fr, "search:query:sent")
    assert len(sent) == 1 and sent[0].actor.endswith("dupont")
    assert sent[0].object == f"search:{data['query_id']}"


def test_human_output_one_line_per_peer(fed: Fed) -> None:  # noqa: F811
    fed.port.down.add("ma-node")
    code, out = cli(fed, "person", "Youssef El Amrani", "--dob", "1985-08-31", "--as", "dupont")
    assert code == 0, out
    lines = {ln.split()[0]: ln for ln in out.splitlines()[1:] if ln.strip()}
    assert "hit" in lines["ES-PN"].split() and "band strong" in lines["ES-PN"]
    assert "reference r1." in lines["ES-PN"] and "clause eu-prum@1#search" in lines["ES-PN"]
    assert "no-answer" in lines["MA-DGSN"] and "(unreachable)" in lines["MA-DGSN"]
    assert "not-asked" in lines["IT-PS"] and "(no-agreement)" in lines["IT-PS"]
    assert out.splitlines()[0].startswith("search ") and "1 hit(s)" in out


def test_document_and_plate_no_hit(fed: Fed) -> None:  # noqa: F811
    code, out = cli(fed, "document", "xda 123 456", "--as", "dupont", "--json")
    assert code == 0, out
    assert _by_agency(json.loads(out))["ES-PN"]["outcome"] == "hit"
    code, out = cli(fed, "plate", "1234 BCD", "--country", "ES", "--as", "dupont", "--json")
    assert code == 0, out
    assert _by_agency(json.loads(out))["ES-PN"]["outcome"] == "no-hit"


def test_bad_identifiers_are_one_line_exit_2(fed: Fed) -> None:  # noqa: F811
    cases = [
        (["car", "X", "--as", "dupont"], "kind"),
        (["person", "Ana", "--dob", "31/08/1985", "--as", "dupont"], "dob"),
        (["document", "XDA1", "--dob", "1985", "--as", "dupont"], "persons only"),
        (["iban", "ES00 0000", "--as", "dupont"], "identifier 0"),
        (["person", "Ana", "--as", "nobody"], "nobody"),
    ]
    for args, expected in cases:
        code, out = cli(fed, *args)
        assert code == 2, (args, out)
        assert expected in out, (args, out)
        assert "Traceback" not in out and len(out.strip().splitlines()) <= 2, out
    assert not _audit(fed.fr, "search:query:sent")  # nothing was sent
    assert _audit(fed.fr, "search:query:failed")  # the refused identifier is audited
