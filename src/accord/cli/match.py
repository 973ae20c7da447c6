"""``accord match …``: try the person matcher directly — no node, no database.

``explain NAME1 NAME2`` prints the score, the band and the explanation field by field
(a Rich table, or JSON with ``--json``). ``pairs FILE.csv`` reads columns ``left`` and
``right`` (optionally ``dob_left`` and ``dob_right``, dates as ``YYYY``, ``YYYY-MM`` or
``YYYY-MM-DD``) and writes the rows back with ``score`` and ``band`` columns, to
standard output or ``-o OUT.csv``; a missing column or a bad date stops it with one
line on standard error and exit code 2, before anything is written. Files of more
than 1,000 rows show a progress bar on standard error.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from accord.cli.common import console, emit_json, err_console
from accord.errors import ValidationFailed
from accord.search.matcher import PersonRecord, compare, parse_birth_date

app = typer.Typer(help="Person matching across scripts: explain a pair, score a file of pairs.",
                  no_args_is_help=True)

_PROGRESS_FROM = 1000


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _dates(value: str | None, what: str) -> list[str]:
    if value is None or not value.strip():
        return []
    try:
        parse_birth_date(value.strip())
    except ValidationFailed as exc:
        raise _fail(f"{what}: {exc.detail}") from None
    return [value.strip()]


@app.command("explain")
def explain_cmd(
    name1: Annotated[str, typer.Argument(help="A name in any script.")],
    name2: Annotated[str, typer.Argument(help="Another name in any script.")],
    dob1: Annotated[str | None, typer.Option("--dob1", help="Birth date of NAME1: YYYY[-MM[-DD]].")] = None,
    dob2: Annotated[str | None, typer.Option("--dob2", help="Date of birth of NAME2.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare two persons and show the score, the band and why."""
    a = PersonRecord(names=[name1], birth_dates=_dates(dob1, "--dob1"))
    b = PersonRecord(names=[name2], birth_dates=_dates(dob2, "--dob2"))
    if not a.prepared.names or not b.prepared.names:
        raise _fail("both names need at least one letter or digit")
    m = compare(a, b)
    if as_json:
        emit_json(m.as_dict())
        return
    colour = {"strong": "green", "possible": "yellow"}.get(m.band, "red")
    console.print(f"score [bold]{m.score:.4f}[/]  band [bold {colour}]{m.band}[/]  "
                  f"weight {m.weight:+.2f} (log2 odds, prior included)")
    table = Table("field", "level", "weight", "left", "right", "detail")
    for f in m.explanation:
        table.add_row(f.field, f.level, f"{f.weight:+.2f}", f.left, f.right, f.detail)
    console.print(table)


@app.command("pairs")
def pairs_cmd(
    file: Annotated[Path, typer.Argument(help="CSV with columns left,right[,dob_left,dob_right].",
                                         exists=True, dir_okay=False, readable=True)],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here instead of standard output.")] = None,
) -> None:
    """Score every row of a CSV of name pairs; add columns score (0 to 1) and band."""
    with file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        missing = [c for c in ("left", "right") if c not in columns]
        if missing:
            raise _fail(f"{file}: missing column {', '.join(missing)} (have: {', '.join(columns) or 'none'})")
        rows = list(reader)
    people: list[tuple[PersonRecord, PersonRecord]] = []
    for line, row in enumerate(rows, start=2):
        dates = []
        for col in ("dob_left", "dob_right"):
            value = (row.get(col) or "").strip()
            if value:
                try:
                    parse_birth_date(value)
                except ValidationFailed as exc:
                    raise _fail(f"{file}:{line}: {col}: {exc.detail}") from None
            dates.append([value] if value else [])
        people.append((PersonRecord(names=[row.get("left") or ""], birth_dates=dates[0]),
                       PersonRecord(names=[row.get("right") or ""], birth_dates=dates[1])))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*columns, *(c for c in ("score", "band") if c not in columns)],
                            lineterminator="\n")
    writer.writeheader()
    with Progress(TextColumn("matching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, disable=len(rows) < _PROGRESS_FROM) as progress:
        task = progress.add_task("pairs", total=len(rows))
        for row, (a, b) in zip(rows, people, strict=True):
            if a.prepared.names and b.prepared.names:
                m = compare(a, b)
                row["score"], row["band"] = f"{m.score:.4f}", m.band
            else:
                row["score"], row["band"] = "0.0000", "none"
            writer.writerow(row)
            progress.advance(task)
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        out.write_text(buffer.getvalue(), encoding="utf-8")
