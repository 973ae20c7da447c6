"""``accord agreements …``: validate, list and show agreement files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from accord.agreements import (
    Registry,
    agreement_schema,
    agreement_to_data,
    dump_agreement,
    load_registry,
    resolve_agreements_dir,
    validate_paths,
)
from accord.errors import AccordError

app = typer.Typer(
    help="Agreements: validate, list and show the files the decision point uses.",
    no_args_is_help=True,
)

AgreementsOpt = Annotated[
    Path | None,
    typer.Option(
        "--agreements",
        help="Folder of agreement files (default: $ACCORD_AGREEMENTS_DIR).",
        file_okay=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _fail(exc: AccordError) -> typer.Exit:
    _err().print(f"[bold red]{exc.title}:[/] {exc.detail}", markup=True)
    for issue in exc.extra.get("issues", [])[1:]:
        _err().print(
            f"  {issue['file']}:{issue['line']}: {issue['field']}: {issue['message']}",
            markup=False,
        )
    return typer.Exit(code=2 if exc.status < 500 else 1)


def _registry(folder: Path | None) -> Registry:
    try:
        return load_registry(resolve_agreements_dir(folder))
    except AccordError as exc:
        raise _fail(exc) from None


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Agreement files or folders (validated together).")],
    as_json: JsonFlag = False,
) -> None:
    """Report every error with file, line and field; exit 1 if there is any."""
    report = validate_paths(files)
    if as_json:
        _emit_json(report.to_dict())
    else:
        out = _out()
        for issue in report.issues:
            field = f" {issue.field}:" if issue.field else ""
            out.print(f"[bold]{issue.file}:{issue.line}:[/]{field} [red]{issue.message}[/] [dim]\\[{issue.code}][/]")
        n_files = len(report.files)
        if report.ok:
            out.print(f"[green]OK[/]: {len(report.agreements)} agreement version(s) in {n_files} file(s)")
        else:
            out.print(f"[red]{len(report.issues)} error(s)[/] in {n_files} file(s)")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("list")
def list_(agreements: AgreementsOpt = None, as_json: JsonFlag = False) -> None:
    """Every version of every agreement in the folder."""
    registry = _registry(agreements)
    if as_json:
        _emit_json(
            [
                {
                    "id": a.id,
                    "version": a.version,
                    "amends": a.amends,
                    "title": a.title,
                    "instrument": a.instrument.value,
                    "parties": list(a.parties),
                    "valid_from": a.valid_from.isoformat(),
                    "valid_until": a.valid_until.isoformat() if a.valid_until else None,
                    "clauses": [c.id for c in a.clauses],
                }
                for a in registry
            ]
        )
        return
    table = Table(title="Agreements")
    for column in ("id", "v", "instrument", "parties", "valid"):
        table.add_column(column, no_wrap=True)
    table.add_column("clauses", overflow="fold")
    table.add_column("title", overflow="fold", ratio=1)
    for a in registry:
        until = a.valid_until.isoformat() if a.valid_until else "…"
        table.add_row(
            a.id,
            str(a.version),
            a.instrument.value,
            ", ".join(a.parties),
            f"{a.valid_from} → {until}",
            ", ".join(c.id for c in a.clauses),
            a.title,
        )
    _out().print(table)


@app.command("show")
def show(
    agreement_id: Annotated[str, typer.Argument(help="Agreement id.")],
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    agreements: AgreementsOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """One agreement version as YAML (or JSON)."""
    registry = _registry(agreements)
    try:
        agreement = registry.get(agreement_id, version)
    except AccordError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit_json(agreement_to_data(agreement))
    else:
        sys.stdout.write(dump_agreement(agreement))


@app.command("schema")
def schema() -> None:
    """Print the published JSON Schema of the agreement format."""
    _emit_json(agreement_schema())
