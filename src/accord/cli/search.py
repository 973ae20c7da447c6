"""``accord search …``: the node's search index — rebuild it, search it locally.

``reindex`` rebuilds the record half of the index from the records table (batches,
progress bar, bounded memory); ``local`` lets an officer at the node search its
records and alerts, audited as a read (:func:`accord.search.services.search_as_officer`).
The command line acts as the node operator unless ``--as USERNAME`` names an officer.
Cross-border queries (the hit/no-hit protocol) belong in this group too.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run
from accord.cli.records import AsOpt, _reader
from accord.records.models import Record
from accord.search import index
from accord.search.services import search_as_officer

app = typer.Typer(help="Search: the node's index of records and alerts.", no_args_is_help=True)


@app.command("reindex")
def reindex(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 2000,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild the index of this node's records (searches keep working meanwhile)."""

    def _do() -> index.ReindexReport:
        with node_of(ctx) as node:
            with node.read() as s:
                total = s.scalar(select(func.count()).select_from(Record)) or 0
            columns = (TextColumn("indexing records"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=err_console, disable=as_json) as progress:
                task = progress.add_task("records", total=total)
                return index.reindex(node, batch_size=batch_size, by="cli",
                                     progress=lambda n: progress.advance(task, n))

    report = run(_do)
    if as_json:
        emit_json(report.to_dict())
    else:
        console.print(f"{report.records} record(s) indexed: {report.entries} entries, "
                      f"{report.keys} keys, {report.removed} stale entries removed")


@app.command("local")
def local(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(index.KINDS)}.")],
    value: Annotated[str, typer.Argument(help="A name (any script) or an identifier.")],
    dob: Annotated[str | None, typer.Option("--dob", help="Date of birth YYYY[-MM[-DD]].")] = None,
    country: Annotated[str | None, typer.Option(
        help="Plate country, or the region of a phone number.")] = None,
    nationality: Annotated[str | None, typer.Option(help="A person's nationality.")] = None,
    gender: Annotated[str | None, typer.Option(help="A person's gender.")] = None,
    purpose: Annotated[str, typer.Option(
        help="prevention, detection, investigation or prosecution.")] = "investigation",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    as_user: AsOpt = None,
    as_json: bool = JsonOpt,
) -> None:
    """Search this node's records and alerts (audited)."""
    data: dict[str, Any] = {"kind": kind, "country": country}
    if kind.strip().lower() == "person":
        data.update(name=value, birth_date=dob, nationality=nationality, gender=gender)
    else:
        data["value"] = value

    def _do() -> Any:
        query = index.parse_query(data)
        with node_of(ctx) as node:
            return search_as_officer(node, query, reader=_reader(node, as_user), purpose=purpose,
                                     limit=limit, where="cli")

    result = run(_do)
    if as_json:
        emit_json({"hits": [{"source": h.source, "ref": h.ref, "owner": h.owner, "kind": h.kind,
                             "score": h.score, "band": h.band, "handling": h.handling,
                             "explanation": list(h.explanation)} for h in result.hits],
                   "withheld": result.withheld})
        return
    if not result.hits:
        console.print("no hit" + (f" ({result.withheld} withheld)" if result.withheld else ""))
        return
    table = Table("source", "ref", "owner", "band", "score", "why")
    for h in result.hits:
        why = "; ".join(f"{e['field']} {e['level']}" for e in h.explanation)
        table.add_row(h.source, h.ref, h.owner, h.band, f"{h.score:.3f}", why)
    console.print(table)
    if result.withheld:
        console.print(f"{result.withheld} hit(s) withheld (clearance or another country's record)")
