"""``accord officers``: officers and their API tokens."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.auth import services as auth
from accord.cli.common import JsonOpt, console, emit_json, node_of, run
from accord.parties import services as parties

app = typer.Typer(help="Officers, their logins and API tokens.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    agency: Annotated[str, typer.Option(help="Agency id, e.g. ES-PN.")],
    role: Annotated[list[str], typer.Option(help="Role (repeatable): officer, analyst, spoc, legal, dpo, admin.")],
    clearance: Annotated[str, typer.Option(help="Highest handling code: H0–H3.")] = "H1",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="ACCORD_NEW_PASSWORD", help="Password (prompted when absent).")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Create an officer; prints the TOTP secret to enrol once."""
    pw = password or getpass.getpass("Password (12+ characters): ")

    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            new = parties.create_officer(node, s, username=username, display_name=name or username,
                                         agency_id=agency, roles=role, clearance=clearance,
                                         password=pw, actor="cli")
            if as_json:
                emit_json({"username": username, "totp_secret": new.totp_secret})
            else:
                console.print(f"[green]officer {username} created.[/] TOTP secret (enrol it now): "
                              f"[bold]{new.totp_secret}[/]")

    run(_do)


@app.command("list")
def list_(ctx: typer.Context, agency: str | None = None, as_json: bool = JsonOpt) -> None:
    """List officers."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            rows = parties.list_officers(s, agency)
            data: list[dict[str, Any]] = [{"username": o.username, "agency": o.agency_id, "roles": o.roles,
                     "clearance": o.clearance, "locked_until": o.locked_until} for o in rows]
        if as_json:
            emit_json(data)
            return
        table = Table("username", "agency", "roles", "clearance", "locked until")
        for d in data:
            table.add_row(d["username"], d["agency"], ", ".join(d["roles"]), d["clearance"],
                          str(d["locked_until"] or ""))
        console.print(table)

    run(_do)


@app.command()
def unlock(ctx: typer.Context, username: str) -> None:
    """Lift a lock after failed logins."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            parties.unlock_officer(node, s, username=username, actor="cli")
        console.print(f"[green]{username} unlocked[/]")

    run(_do)


@app.command()
def token(
    ctx: typer.Context, username: str,
    role: Annotated[list[str], typer.Option(help="Role the token may act as (repeatable).")],
    days: Annotated[int, typer.Option(help="Lifetime in days.")] = 30,
    description: str = "",
    as_json: bool = JsonOpt,
) -> None:
    """Create an API token for machines (shown once; only its hash is stored)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            new = auth.create_api_token(node, s, by="cli", username=username, roles=role,
                                        days=days, description=description)
        if as_json:
            emit_json({"id": new.id, "token": new.token, "expires_at": new.expires_at})
        else:
            console.print(f"token {new.id} (expires {new.expires_at:%Y-%m-%d}): [bold]{new.token}[/]")

    run(_do)
