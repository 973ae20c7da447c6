"""``accord audit``: verify and read the tamper-evident audit trail, and its witnesses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select

from accord.audit.errors import AuditLogDamaged
from accord.audit.models import WitnessAlarm, WitnessState
from accord.audit.tags import Action
from accord.audit.verify import VerifyReport
from accord.audit.witness import (
    HttpWitnessClient,
    check_witnesses,
    describe_alarm,
    describe_state,
    witness_once,
)
from accord.bootstrap import Node
from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run

app = typer.Typer(help="The audit trail (Merkle log with signed checkpoints).", no_args_is_help=True)


def _record(node: Node, *, action: str, object: str, outcome: str, detail: dict[str, Any],
            sign: bool = True) -> None:
    """Append the command's own audit entry (after its output); a damaged log is said, loudly.

    When a checkpoint covered the whole log before, one is signed over the new entry too, in
    the same transaction (so a stopped node's log stays covered); an uncovered tail is never
    signed here — that is left to the server, and ``verify`` reports it.
    """
    try:
        with node.uow() as s:
            latest = node.audit.latest_checkpoint(s)
            covered = latest is not None and latest.size == node.audit.size(s)
            node.record(s, actor="cli", action=action, object=object, outcome=outcome, detail=detail)
            if sign and covered:
                node.audit.checkpoint(s, at=node.now())
    except AuditLogDamaged as exc:
        err_console.print(f"[bold red]the audit log is damaged; this command could not be "
                          f"recorded in it:[/] {exc.detail}")


def _print_report(report: VerifyReport) -> None:
    errors, warnings = report.errors, report.warnings
    checked = (f"{report.entries} entries, {report.checkpoints} checkpoints, "
               f"{report.witnesses} witness checkpoint(s) checked")
    if report.ok and not warnings:
        console.print(f"[green]audit log intact:[/] {checked}, root {report.root[:16]}…")
        return
    if report.ok:
        console.print(f"[yellow]audit log intact, with {len(warnings)} warning(s):[/] {checked}")
    else:
        console.print(f"[bold red]audit log tampered or damaged: {len(errors)} finding(s)"
                      f"{f', {len(warnings)} warning(s)' if warnings else ''}[/] ({checked})")
    table = Table("index", "severity", "kind", "detail")
    for f in report.findings:
        style = "red" if f.severity == "error" else "yellow"
        table.add_row(str(f.index if f.index is not None else ""), f"[{style}]{f.severity}[/]",
                      f.kind, f.detail)
    console.print(table)


@app.command()
def verify(
    ctx: typer.Context,
    witnesses: Annotated[bool, typer.Option(
        "--witnesses", help="Also ask every pinned peer what it holds of this log, and prove "
                            "the log extends it.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 on warnings too (entries not yet covered by a checkpoint, "
                         "an unreachable witness).")] = False,
    as_json: bool = JsonOpt,
) -> None:
    """Recompute the log, check every checkpoint; exit 1 on any tampering or damage found.

    The log is read in one read-only snapshot and the report is printed before this
    verification is itself recorded in the audit log.
    """
    def _do() -> VerifyReport:
        with node_of(ctx) as node:
            with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=err_console,
                          disable=as_json) as progress:
                task = progress.add_task("verify", total=None)

                def tick(done: int, total: int) -> None:
                    if done % 1000 == 0 or done == total:
                        progress.update(task, completed=done, total=total)

                with node.read() as s:
                    report = node.audit.verify(s, progress=tick)
            if witnesses:
                client = HttpWitnessClient(timeout=node.settings.audit_witness_timeout_seconds)
                try:
                    check_witnesses(node, report, client)
                finally:
                    client.close()
                report.sort()
            if as_json:
                emit_json(report.to_dict())
            else:
                _print_report(report)
            _record(node, action=Action.AUDIT_VERIFIED, object="audit:log",
                    outcome="ok" if report.ok else "tampered",
                    detail={"size": report.size, "errors": len(report.errors),
                            "warnings": len(report.warnings), "witnesses": witnesses},
                    sign=report.ok)
        return report

    report = run(_do)
    if not report.ok or (strict and report.warnings):
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
    """Read the audit trail (for the DPO); the reading itself is audited.

    On a damaged log (``accord audit verify`` says how) the entries are still shown, and
    it is said that the reading could not be recorded.
    """
    def _do() -> None:
        with node_of(ctx) as node:
            with node.read() as s:
                data = node.audit.read_entries(s, actor=actor, obj=object, action=action,
                                               since=_aware(since), until=_aware(until),
                                               limit=limit)
            _record(node, action=Action.AUDIT_READ, object="audit:entries", outcome="ok",
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
        with node_of(ctx) as node, node.read() as s:
            emit_json(node.audit.inclusion_proof(s, index, size))

    run(_do)


@app.command()
def witness(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Send the latest checkpoint to every pinned peer to be witnessed now; show what each holds."""
    def _do() -> None:
        with node_of(ctx) as node:
            client = HttpWitnessClient(timeout=node.settings.audit_witness_timeout_seconds)
            try:
                witness_once(node, client, force=True)
            finally:
                client.close()
            with node.read() as s:
                data = [describe_state(r) for r in
                        s.scalars(select(WitnessState).order_by(WitnessState.peer_id))]
        if as_json:
            emit_json(data)
            return
        table = Table("peer", "holds size", "cosigned at", "error")
        for d in data:
            table.add_row(d["peer"], str(d["size"]), d["cosigned_at"] or "", d["error"])
        console.print(table)

    run(_do)


@app.command()
def alarms(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Witness alarms: a peer's audit log contradicted a checkpoint this node witnessed (for the DPO)."""
    def _do() -> None:
        with node_of(ctx) as node:
            with node.read() as s:
                data = [describe_alarm(r) for r in
                        s.scalars(select(WitnessAlarm).order_by(WitnessAlarm.id.desc()))]
            _record(node, action=Action.AUDIT_READ, object="audit:alarms", outcome="ok",
                    detail={"count": len(data)})
        if as_json:
            emit_json(data)
            return
        table = Table("#", "raised at", "peer", "kind", "held size", "presented size")
        for d in data:
            table.add_row(str(d["id"]), d["raised_at"][:19], d["peer"], d["kind"],
                          str(d["held"]["size"]), str(d["presented"]["size"]))
        console.print(table)

    run(_do)
