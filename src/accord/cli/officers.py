"""``accord officers``: officers, their enrolment and API tokens.

These commands are the node operator's (who holds the data folder): they act
as the operator, with no officer rule binding them, and are audited as ``cli``.
A new officer gets a one-time enrolment code, never a password or a TOTP
secret; the officer enrols with it (``POST /auth/enrolment``, or ``accord
officers enrol`` at the node's terminal) and only then learns the secret.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.auth import services as auth
from accord.auth.domain import Operator
from accord.cli.common import JsonOpt, console, emit_json, node_of, run
from accord.parties import services as parties

app = typer.Typer(help="Officers, their enrolment, logins and API tokens.", no_args_is_help=True)
OPERATOR = Operator("cli")


def _print_enrolment(username: str, code: str, expires: str) -> None:
    console.print(f"Enrolment code for {username} (hand it to the officer; valid until {expires}): "
                  f"[bold]{code}[/]\nThe officer enrols with POST /auth/enrolment (user name, "
                  "this code and a password of their choosing) and gets the TOTP secret.")


@app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    agency: Annotated[str, typer.Option(help="Agency id, e.g. ES-PN.")],
    role: Annotated[list[str], typer.Option(
        help="Role (repeatable): officer, analyst, spoc, legal, dpo, admin, node-admin.")],
    clearance: Annotated[str, typer.Option(help="Highest handling code: H0–H3.")] = "H1",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Create an officer; prints its one-time enrolment code (no password, no TOTP secret)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            new = parties.create_officer(node, s, username=username, display_name=name or username,
                                         agency_id=agency, roles=role, clearance=clearance,
                                         by=OPERATOR)
        expires = new.enrolment_expires_at.isoformat(timespec="seconds")
        if as_json:
            emit_json({"username": username, "enrolment_code": new.enrolment_code,
                       "enrolment_expires_at": expires})
        else:
            console.print(f"[green]officer {username} created.[/]")
            _print_enrolment(username, new.enrolment_code, expires)

    run(_do)


@app.command("enrol")
def enrol(
    ctx: typer.Context,
    username: str,
    code: Annotated[str | None, typer.Option(
        envvar="ACCORD_ENROLMENT_CODE", help="The enrolment code (prompted when absent).")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="ACCORD_NEW_PASSWORD", help="The password you choose (prompted when absent).")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Enrol as an officer at this terminal (as POST /auth/enrolment does): your enrolment
    code and a password you choose give your TOTP secret, shown once."""
    the_code = code or getpass.getpass("Enrolment code: ")
    pw = password or getpass.getpass("Your new password (12+ characters): ")

    def _do() -> None:
        with node_of(ctx) as node:
            result = auth.enrol(node, username=username, code=the_code, password=pw)
        if as_json:
            emit_json({"username": result.username, "totp_secret": result.totp_secret,
                       "provisioning_uri": result.provisioning_uri})
        else:
            console.print(f"[green]{username} enrolled.[/] TOTP secret (add it to your "
                          f"authenticator app now; it is not shown again): [bold]{result.totp_secret}[/]\n"
                          f"As a URI (or QR code): {result.provisioning_uri}", soft_wrap=True)

    run(_do)


@app.command("reset")
def reset(ctx: typer.Context, username: str, as_json: bool = JsonOpt) -> None:
    """End an officer's password, second factor and sessions; prints a new enrolment code."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            new = parties.reset_enrolment(node, s, username=username, by=OPERATOR)
        expires = new.enrolment_expires_at.isoformat(timespec="seconds")
        if as_json:
            emit_json({"username": username, "enrolment_code": new.enrolment_code,
                       "enrolment_expires_at": expires})
        else:
            _print_enrolment(username, new.enrolment_code, expires)

    run(_do)


@app.command("list")
def list_(ctx: typer.Context, agency: str | None = None, as_json: bool = JsonOpt) -> None:
    """List officers."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            rows = parties.list_officers(s, agency, by=OPERATOR)
            data: list[dict[str, Any]] = [
                {"username": o.username, "agency": o.agency_id, "roles": o.roles,
                 "clearance": o.clearance, "enrolled": o.enrolled, "locked_until": o.locked_until}
                for o in rows]
        if as_json:
            emit_json(data)
            return
        table = Table("username", "agency", "roles", "clearance", "enrolled", "locked until")
        for d in data:
            table.add_row(d["username"], d["agency"], ", ".join(d["roles"]), d["clearance"],
                          "yes" if d["enrolled"] else "no", str(d["locked_until"] or ""))
        console.print(table)

    run(_do)


@app.command()
def unlock(ctx: typer.Context, username: str) -> None:
    """Lift a lock after failed logins."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            parties.unlock_officer(node, s, username=username, by=OPERATOR)
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
    """Create an API token for an officer's machine (shown once; only its hash is stored).
    Officers make their own with POST /api/v1/tokens."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            new = auth.create_api_token(node, s, by=OPERATOR, username=username, roles=role,
                                        days=days, description=description)
        if as_json:
            emit_json({"id": new.id, "token": new.token, "expires_at": new.expires_at})
        else:
            console.print(f"token {new.id} (expires {new.expires_at:%Y-%m-%d}): [bold]{new.token}[/]")

    run(_do)
