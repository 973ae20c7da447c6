"""``accord records …``: FtM records — add, show, list, delete, import, export, retention.

The command line acts as the node operator (it sees every record hosted on
the node) unless ``--as USERNAME`` names an officer, whose agency and
clearance then apply exactly as through the API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from accord.agreements import Handling
from accord.bootstrap import Node
from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run
from accord.parties import services as parties
from accord.records import services as records
from accord.records.domain import Reader
from accord.records.models import Record
from accord.records.schemas import RecordPublic

app = typer.Typer(help="Records: FtM entities with owner, handling code, evaluation, retention.",
                  no_args_is_help=True)

AsOpt = Annotated[str | None, typer.Option(
    "--as", help="Act as this officer (their agency and clearance apply).")]
OwnerOpt = Annotated[str | None, typer.Option(help="Owner agency, e.g. ES-PN.")]
HandlingOpt = Annotated[str | None, typer.Option(help="Handling code H0–H3 (or TLP:…).")]
ReliabilityOpt = Annotated[str | None, typer.Option(
    "--reliability", help="Source reliability A, B, C or X.")]
CredibilityOpt = Annotated[str | None, typer.Option(
    "--credibility", help="Information credibility 1–4.")]
BasisOpt = Annotated[str | None, typer.Option("--legal-basis", help="Legal basis (text).")]
PurposeOpt = Annotated[str | None, typer.Option(
    help="prevention, detection, investigation or prosecution.")]
RetentionOpt = Annotated[str | None, typer.Option(
    "--retention-until", help="Retention date YYYY-MM-DD.")]
CaseOpt = Annotated[list[str] | None, typer.Option("--case", help="Case reference (repeatable).")]
ProvenanceOpt = Annotated[str | None, typer.Option(help="Where the information comes from.")]


def _reader(node: Node, username: str | None) -> Reader:
    if not username:
        return Reader.operator("cli")
    with node.uow() as s:
        officer = parties.get_officer(s, username)
        return Reader(actor=f"{officer.agency_id}/{officer.username}", agency_id=officer.agency_id,
                      clearance=Handling(officer.clearance), credential="cli")


def _meta(owner: str | None, handling: str | None, reliability: str | None,
          credibility: str | None, legal_basis: str | None, purpose: str | None,
          retention_until: str | None, case: list[str] | None,
          provenance: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "owner": owner, "handling": handling, "source_reliability": reliability,
        "info_credibility": credibility, "legal_basis": legal_basis, "purpose": purpose,
        "retention_until": retention_until, "cases": case or None, "provenance": provenance,
    }
    return {k: v for k, v in meta.items() if v is not None}


def _public(row: Record) -> dict[str, Any]:
    return RecordPublic.of(row).model_dump(mode="json", by_alias=True)


def _show(row: Record) -> None:
    data = _public(row)
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in ("id", "schema", "caption", "owner", "handling", "tlp", "evaluation",
                "legal_basis", "purpose", "retention_until", "cases", "provenance",
                "categories", "updated_at", "updated_by", "flagged_at"):
        value = data[key]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value or ""))
    for name, values in sorted(data["properties"].items()):
        table.add_row(f"  {name}", "; ".join(values))
    console.print(table)


@app.command("add")
def add(
    ctx: typer.Context,
    schema: Annotated[str, typer.Option(help="FtM schema: Person, Vehicle, Passport, …")],
    prop: Annotated[list[str] | None, typer.Option(
        "--prop", "-p", help="Property NAME=VALUE (repeatable), e.g. -p name='Ana Ruiz'.")] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="Entity id (default: new).")] = None,
    owner: OwnerOpt = None, handling: HandlingOpt = None, reliability: ReliabilityOpt = None,
    credibility: CredibilityOpt = None, legal_basis: BasisOpt = None, purpose: PurposeOpt = None,
    retention_until: RetentionOpt = None, case: CaseOpt = None, provenance: ProvenanceOpt = None,
    as_officer: AsOpt = None, as_json: bool = JsonOpt,
) -> None:
    """Create a record from a schema and NAME=VALUE properties."""
    properties: dict[str, list[str]] = {}
    for item in prop or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"--prop {item!r}: expected NAME=VALUE")
        properties.setdefault(name.strip(), []).append(value)
    entity: dict[str, Any] = {"schema": schema, "properties": properties}
    if entity_id:
        entity["id"] = entity_id
    meta = _meta(owner, handling, reliability, credibility, legal_basis, purpose,
                 retention_until, case, provenance)

    def _do() -> None:
        with node_of(ctx) as node:
            row = records.create_record(node, entity, meta, reader=_reader(node, as_officer))
        if as_json:
            emit_json(_public(row))
        else:
            console.print(f"[green]record {row.id} created[/] ({row.schema}: {row.caption})")

    run(_do)


@app.command("show")
def show(
    ctx: typer.Context, record_id: str, purpose: PurposeOpt = None,
    as_officer: AsOpt = None, as_json: bool = JsonOpt,
) -> None:
    """Show one record (the read is audited)."""
    def _do() -> None:
        with node_of(ctx) as node:
            row = records.get_record(node, record_id, reader=_reader(node, as_officer),
                                     purpose=purpose)
        if as_json:
            emit_json(_public(row))
        else:
            _show(row)

    run(_do)


@app.command("list")
def list_(
    ctx: typer.Context,
    schema: Annotated[str | None, typer.Option(help="Only this FtM schema.")] = None,
    owner: OwnerOpt = None,
    case: Annotated[str | None, typer.Option(help="Only records linked to this case.")] = None,
    handling: HandlingOpt = None,
    q: Annotated[str | None, typer.Option("--q", help="Caption contains.")] = None,
    flagged: Annotated[bool | None, typer.Option(
        "--flagged/--not-flagged", help="Only (not) flagged by retention.")] = None,
    limit: int = 50, offset: int = 0, as_officer: AsOpt = None, as_json: bool = JsonOpt,
) -> None:
    """List records (what you may see; the rest is counted as withheld)."""
    def _do() -> None:
        with node_of(ctx) as node:
            page = records.list_records(
                node, reader=_reader(node, as_officer), limit=limit, offset=offset,
                filters=records.RecordFilter(schema=schema, owner=owner, case=case,
                                             handling=handling, q=q, flagged=flagged))
        if as_json:
            emit_json({"items": [_public(r) for r in page.items], "total": page.total,
                       "withheld": page.withheld, "limit": page.limit, "offset": page.offset})
            return
        table = Table("id", "schema", "caption", "owner", "handling", "eval", "retention")
        for r in page.items:
            table.add_row(r.id, r.schema, r.caption, r.owner, r.handling,
                          f"{r.source_reliability}{r.info_credibility}",
                          r.retention_until.isoformat() + (" (flagged)" if r.flagged_at else ""))
        console.print(table)
        console.print(f"{len(page.items)} of {page.total} shown"
                      + (f", {page.withheld} withheld" if page.withheld else ""))

    run(_do)


@app.command("delete")
def delete(
    ctx: typer.Context, record_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
    as_officer: AsOpt = None,
) -> None:
    """Erase a record (the audit trail keeps its id, schema, owner and handling)."""
    def _do() -> None:
        with node_of(ctx) as node:
            records.delete_record(node, record_id, reader=_reader(node, as_officer),
                                  reason=reason)
        console.print(f"[green]record {record_id} deleted[/]")

    run(_do)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="FtM JSON lines (.ftm.jsonl / .ftm.json).",
                                         exists=True, dir_okay=False, readable=True)],
    owner: OwnerOpt = None, handling: HandlingOpt = None, reliability: ReliabilityOpt = None,
    credibility: CredibilityOpt = None, legal_basis: BasisOpt = None, purpose: PurposeOpt = None,
    retention_until: RetentionOpt = None, case: CaseOpt = None, provenance: ProvenanceOpt = None,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 1000,
    as_json: bool = JsonOpt,
) -> None:
    """Import records; the options are defaults for lines without their own metadata.

    A bad line is reported with its number and skipped; the good ones are
    kept. Re-importing is safe: unchanged records are skipped, changed ones
    updated. Exit 0 when every line was taken, 1 when some were rejected.
    """
    defaults = _meta(owner, handling, reliability, credibility, legal_basis, purpose,
                     retention_until, case, provenance)
    defaults.setdefault("provenance", f"import:{file.name}")

    def _do() -> records.ImportReport:
        with node_of(ctx) as node, file.open("rb") as fh:
            columns = (TextColumn("importing {task.description}"), BarColumn(),
                       DownloadColumn(), TimeElapsedColumn(), TimeRemainingColumn())
            with Progress(*columns, console=err_console) as progress:
                task = progress.add_task(file.name, total=file.stat().st_size)
                return records.import_records(
                    node, fh, defaults=defaults, by="cli", source=file.name,
                    batch_size=batch_size, progress=lambda n: progress.advance(task, n))

    report = run(_do)
    if as_json:
        emit_json(report.to_dict())
    else:
        console.print(f"{report.lines} line(s): [green]{report.inserted} inserted[/], "
                      f"{report.updated} updated, {report.unchanged} unchanged, "
                      + (f"[red]{report.rejected} rejected[/]" if report.rejected
                         else "0 rejected"))
        if report.past_retention:
            console.print(f"[yellow]{report.past_retention} record(s) already past their "
                          "retention date[/]: run `accord records retention`")
        if report.errors:
            table = Table("line", "id", "reason")
            for e in report.errors[:200]:
                table.add_row(str(e.line), e.id or "", e.reason)
            console.print(table)
            if len(report.errors) > 200:
                console.print(f"… and {len(report.errors) - 200} more (use --json for all)")
    if report.rejected:
        raise typer.Exit(1)


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Output file ('-' for stdout).")],
    schema: Annotated[str | None, typer.Option(help="Only this FtM schema.")] = None,
    owner: OwnerOpt = None,
    case: Annotated[str | None, typer.Option(help="Only records linked to this case.")] = None,
    as_officer: AsOpt = None, as_json: bool = JsonOpt,
) -> None:
    """Write records as FtM JSON lines in the import format, sorted by id."""
    def _do() -> records.ExportReport:
        with node_of(ctx) as node:
            reader = _reader(node, as_officer)
            filters = records.RecordFilter(schema=schema, owner=owner, case=case)
            if str(out) == "-":
                return records.export_records(node, sys.stdout, reader=reader, filters=filters)
            tmp = out.with_name(out.name + ".part")
            with tmp.open("w", encoding="utf-8") as fh:
                report = records.export_records(node, fh, reader=reader, filters=filters)
            tmp.replace(out)
            return report

    report = run(_do)
    if str(out) == "-":
        return
    if as_json:
        emit_json({**report.to_dict(), "out": str(out)})
    else:
        console.print(f"[green]{report.count} record(s) written to {out}[/]"
                      + (f", {report.withheld} withheld" if report.withheld else ""))


@app.command("retention")
def retention(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what is due.")] = False,
    flag_only: Annotated[bool, typer.Option(
        "--flag-only", help="Flag records past their date instead of deleting them.")] = False,
    as_json: bool = JsonOpt,
) -> None:
    """Delete (or flag) records past their retention date; each one is audited."""
    def _do() -> records.RetentionReport:
        with node_of(ctx) as node:
            return records.run_retention(node, flag_only=flag_only, dry_run=dry_run, by="cli")

    report = run(_do)
    if as_json:
        emit_json(report.to_dict())
        return
    verb = {"delete": "deleted", "flag": "flagged"}[report.mode]
    if report.dry_run:
        console.print(f"{report.count} record(s) past retention as of {report.as_of} "
                      f"would be {verb}")
    else:
        console.print(f"[green]{report.count} record(s) {verb}[/] (retention as of {report.as_of})")
    for rid in report.ids[:50]:
        console.print(f"  {rid}")
