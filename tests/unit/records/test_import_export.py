"""Import and export of FtM JSON lines: per-line errors, idempotence, round trip, CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from accord.agreements import Handling
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.cli.main import app
from accord.records import Reader
from accord.records import services as records
from accord.records.models import Record
from tests.unit.records.conftest import META, audit, person

runner = CliRunner()
LINE_META = {**META, "owner": "ES-PN"}


def line(entity: dict[str, Any], **meta: Any) -> str:
    return json.dumps({"entity": entity, "meta": {**LINE_META, **meta}}, ensure_ascii=False)


def mixed_file() -> list[str]:
    return [
        line(person("p1", phone=["612 34 56 78"])),                       # 1 good
        "{not json",                                                      # 2 bad JSON
        line(person("p2", birthDate=["31/02/1980"])),                     # 3 bad date
        "",                                                               # 4 blank: ignored
        json.dumps(person("p3")),                                         # 5 plain FtM, no meta
        line({"id": "v1", "schema": "Vehicle",
              "properties": {"registrationNumber": ["1234ABC"]}}),         # 6 good
        line(person("p4"), owner="FR-PN"),                                # 7 not hosted
        line(person("p5"), handling="H9"),                                # 8 bad handling
        line({"id": "x1", "schema": "Spaceship", "properties": {}}),      # 9 bad schema
        line(person("p6"), retention_until="2020-01-01"),                 # 10 good, past retention
        line(person("p7", name="Zoé Martin")),                            # 11 good
    ]


def count(node: Node) -> int:
    with node.uow() as s:
        return s.scalar(select(func.count()).select_from(Record)) or 0


def test_good_lines_are_kept_and_each_bad_one_reported(node: Node) -> None:
    report = records.import_records(node, mixed_file(), source="mixed.ftm.jsonl", batch_size=2)
    assert report.inserted == 4 and report.rejected == 6 and report.lines == 11
    assert report.past_retention == 1
    assert [e.line for e in report.errors] == [2, 3, 5, 7, 8, 9]
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[2].startswith("not JSON")
    assert "birthDate" in reasons[3]
    assert "meta.owner" in reasons[5]  # a plain entity needs --owner etc.
    assert "FR-PN" in reasons[7] and "hosted" in reasons[7]
    assert "meta.handling" in reasons[8]
    assert "Spaceship" in reasons[9]
    assert {e.id for e in report.errors if e.line == 3} == {"p2"}
    assert count(node) == 4
    with node.uow() as s:
        assert s.get(Record, "p1").properties["phone"] == ["+34612345678"]  # type: ignore[union-attr]
    # One audit entry per batch that wrote something, with count, id range and digest.
    batches = [e for e in audit(node) if e.action == Action.RECORD_IMPORTED]
    assert sum(e.detail["count"] for e in batches) == 4
    assert all(e.object.startswith("import:") and e.detail["ids_sha256"] for e in batches)
    first = batches[0].detail
    assert first["first_id"] == "p1" and first["lines"][0] == 1
    with node.uow() as s:
        row = s.get(Record, "v1")
        assert row is not None and row.audit_idx in {e.idx for e in batches}


def test_bytes_lines_and_broken_encoding(node: Node) -> None:
    good = line(person("p1", name="Zoé Martin")).encode() + b"\n"
    bad = b'{"entity": {"id": "p2", "schema": "Person", "properties": {"name": ["Zo\xe9"]}}}\n'
    report = records.import_records(node, [good, bad, b"\n", b"[1, 2]\n"])
    assert report.inserted == 1 and [(e.line, e.reason) for e in report.errors] == [
        (2, "not UTF-8 text"), (4, "a line must be a JSON object")]


def test_plain_ftm_lines_take_metadata_from_defaults(node: Node) -> None:
    lines = [json.dumps(person("p1")), json.dumps(person("p2"))]
    report = records.import_records(node, lines, defaults={**LINE_META, "owner": "ES-SVA"})
    assert report.inserted == 2 and report.rejected == 0
    with node.uow() as s:
        assert {r.owner for r in s.scalars(select(Record))} == {"ES-SVA"}


def test_reimport_is_idempotent_and_updates_what_changed(node: Node) -> None:
    good = [line(person(f"p{i}", f"Person {i}")) for i in range(5)]
    first = records.import_records(node, good, batch_size=2)
    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    entries = len(audit(node))
    again = records.import_records(node, good, batch_size=2)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert len(audit(node)) == entries  # nothing written, nothing to audit
    changed = [*good[:4], line(person("p4", "Person Four"), handling="H2")]
    third = records.import_records(node, changed)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 4)
    with node.uow() as s:
        row = s.get(Record, "p4")
        assert row is not None and row.caption == "Person Four" and row.handling == "H2"
    # Another agency's record is not overwritten by an import.
    clash = records.import_records(node, [line(person("p0"), owner="ES-SVA")])
    assert clash.rejected == 1 and "owned by ES-PN" in clash.errors[0].reason
    assert count(node) == 5


def test_same_id_twice_in_one_file_keeps_the_last(node: Node) -> None:
    report = records.import_records(node, [line(person("p1", "First")),
                                           line(person("p1", "Second"))])
    assert report.inserted == 1
    with node.uow() as s:
        assert s.get(Record, "p1").caption == "Second"  # type: ignore[union-attr]


def test_a_failed_batch_leaves_complete_records_only(node: Node) -> None:
    good = [line(person(f"p{i}")) for i in range(6)]

    class Boom(Exception):
        pass

    def crash_after(n: int) -> Any:
        seen = 0

        def gen() -> Any:
            nonlocal seen
            for text in good:
                seen += 1
                if seen > n:
                    raise Boom
                yield text
        return gen()

    with pytest.raises(Boom):
        records.import_records(node, crash_after(5), batch_size=2)
    assert count(node) == 4  # two whole batches; the third never committed
    report = records.import_records(node, good, batch_size=2)
    assert (report.inserted, report.unchanged) == (2, 4)


def test_export_round_trip(node: Node, tmp_path: Path) -> None:
    source = [line(person("p1", phone=["+34612345678"]), cases=["A", "B"]),
              line(person("p2", name="Zoé Martin"), handling="H3"),
              line({"id": "v1", "schema": "Vehicle",
                    "properties": {"registrationNumber": ["1234ABC"]}})]
    records.import_records(node, source)
    out = io.StringIO()
    report = records.export_records(node, out, reader=Reader.operator())
    assert report.count == 3 and report.first_id == "p1" and report.last_id == "v1"
    exported = out.getvalue().splitlines()
    assert [json.loads(x)["entity"]["id"] for x in exported] == ["p1", "p2", "v1"]
    assert json.loads(exported[0])["meta"]["cases"] == ["A", "B"]
    # Re-importing the export changes nothing; the same content round-trips.
    assert records.import_records(node, exported).unchanged == 3
    assert {json.loads(x)["entity"]["id"]: json.loads(x) for x in exported} == {
        json.loads(x)["entity"]["id"]: json.loads(x) for x in source}
    # Exports are filtered by clearance like every read.
    low = io.StringIO()
    assert records.export_records(node, low, reader=Reader("ES-PN/garcia", "ES-PN", Handling.H2)).withheld == 1
    assert "p2" not in low.getvalue()
    exports = [e for e in audit(node) if e.action == Action.RECORD_EXPORTED]
    assert [e.detail["count"] for e in exports] == [3, 2]


# --------------------------------------------------------------------------- the command line


def write_config(node: Node, path: Path) -> Path:
    st = node.settings
    values = {"mode": st.mode, "data_dir": str(st.data_dir), "database_url": st.database_url,
              "node_id": st.node_id, "country": st.country, "base_url": st.base_url,
              "secret_key": st.secret_key.get_secret_value(),
              "key_passphrase": "test-key-passphrase"}
    path.write_text("".join(f'{k} = {json.dumps(v)}\n' for k, v in values.items()))
    return path


def test_cli_import_export_show_list_delete(node: Node, tmp_path: Path) -> None:
    config = write_config(node, tmp_path / "cli.toml")
    src = tmp_path / "mixed.ftm.jsonl"
    src.write_text("\n".join(mixed_file()) + "\n", encoding="utf-8")

    def cli(*args: str) -> Any:
        return runner.invoke(app, ["--config", str(config), "records", *args])

    r = cli("import", str(src), "--json")
    assert r.exit_code == 1, r.output  # some lines were rejected
    summary = json.loads(r.stdout)
    assert summary["inserted"] == 4 and [e["line"] for e in summary["errors"]] == [2, 3, 5, 7, 8, 9]
    r = cli("import", str(src))
    assert "6 rejected" in r.output and "4 unchanged" in r.output and "retention" in r.output
    plain = tmp_path / "plain.ftm.json"
    plain.write_text(json.dumps(person("p3")) + "\n", encoding="utf-8")
    r = cli("import", str(plain), "--owner", "ES-SVA", "--handling", "H2", "--reliability", "A",
            "--credibility", "1", "--legal-basis", "LO 7/2021", "--purpose", "detection",
            "--retention-until", "2030-12-31", "--case", "C-1")
    assert r.exit_code == 0, r.output

    r = cli("show", "p3", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["owner"] == "ES-SVA"
    r = cli("list", "--json")
    assert json.loads(r.stdout)["total"] == 5
    r = cli("list", "--schema", "Person")
    assert r.exit_code == 0 and "p7" in r.output

    out = tmp_path / "out.ftm.jsonl"
    r = cli("export", "--out", str(out), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["count"] == 5
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5

    r = cli("add", "--schema", "Person", "-p", "name=Luis Gil", "-p", "phone=612345678",
            "--id", "p9", "--owner", "ES-PN", "--handling", "H1", "--reliability", "B",
            "--credibility", "3", "--legal-basis", "LO 7/2021", "--purpose", "investigation",
            "--retention-until", "2030-01-01", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["properties"]["phone"] == ["+34612345678"]
    r = cli("delete", "p9", "--reason", "test")
    assert r.exit_code == 0
    r = cli("show", "p9")
    assert r.exit_code == 2 and "p9" in r.output
    r = cli("retention", "--dry-run", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ids"] == ["p6"]
    r = cli("retention")
    assert r.exit_code == 0 and "1 record(s) deleted" in r.output
    assert json.loads(cli("list", "--json").stdout)["total"] == 4
