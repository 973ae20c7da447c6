"""``accord audit``: verify and read the tamper-evident audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from accord.audit.tags import Action
from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run

app = typer.Typer(help="The audit trail (Merkle log with signed checkpoints).", no_args_is_help=True)


@app.command()
def verify(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Recompute the log, check every checkpoint; exit 1 on any tampering found."""
    def _do() -> bool:
        with node_of(ctx) as node, node.uow() as s:
            with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=err_console,
                          disable=as_json) as progress:
                task = progress.add_task("verify", total=None)

                def tick(done: int, total: int) -> None:
                    if done % 1000 == 0 or done == total:
                        progress.update(task, completed=done, total=total)

                report = node.audit.verify(s, progress=tick)
            node.record(s, actor="cli", action=Action.AUDIT_VERIFIED, object="audit:log",
                        outcome="ok" if report.ok else "tampered",
                        detail={"size": report.size, "findings": len(report.findings)})
        if as_json:
            emit_json(report.to_dict())
        elif report.ok:
            console.print(f"[green]audit log intact:[/] {report.entries} entries, "
                          f"{report.checkpoints} checkpoints verified, root {report.root[:16]}…")
        else:
            console.print(f"[bold red]audit log tampered: {len(report.findings)} finding(s)[/]")
            table = Table("index", "kind", "detail")
            for f in report.findings:
                table.add_row(str(f.index if f.index is not None else ""), f.kind, f.detail)
            console.print(table)
        return report.ok

    if not run(_do):
        raise typer.Exit(1)


@app.command()
def show(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Exact actor, e.g. ES-PN/garcia.")] = None,
    object: Annotated[str | None, typer.Option("--object", help="Object prefix, e.g. officer:.")] = None,
    action: Annotated[str | None, typer.Option(help="Action prefix, e.g. auth:login.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (ISO 8601, UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
    limit: int = 200,
    as_json: bool = JsonOpt,
) -> None:
    """Read the audit trail (for the DPO); the reading itself is audited."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            rows = node.audit.query(s, actor=actor, obj=object, action=action,
                                    since=_aware(since), until=_aware(until), limit=limit)
            data: list[dict[str, Any]] = [{"idx": r.idx, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                     "object": r.object, "purpose": r.purpose, "basis": r.basis,
                     "outcome": r.outcome, "detail": r.detail} for r in rows]
            node.record(s, actor="cli", action=Action.AUDIT_READ, object="audit:entries",
                        detail={"actor": actor, "object": object, "count": len(data)})
        if as_json:
            emit_json(data)
            return
        table = Table("#", "time", "actor", "action", "object", "outcome", "purpose", "basis")
        for d in data:
            table.add_row(str(d["idx"]), d["at"][:19], d["actor"], d["action"], d["object"],
                          d["outcome"], d["purpose"], d["basis"])
        console.print(table)

    run(_do)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command()
def checkpoint(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Sign a checkpoint of the log as it stands now."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            cp = node.audit.checkpoint(s, at=node.now())
            if as_json:
                emit_json({"size": cp.size, "root": cp.root_hash.hex(), "note": cp.note})
            else:
                console.print(cp.note)

    run(_do)


@app.command()
def proof(ctx: typer.Context, index: int, size: int | None = None) -> None:
    """Print the inclusion proof of entry INDEX (JSON)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            emit_json(node.audit.inclusion_proof(s, index, size))

    run(_do)
