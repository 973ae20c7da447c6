"""``accord demo``: a local federation of three nodes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accord.cli.common import JsonOpt, console, emit_json, run

if TYPE_CHECKING:
    from accord.demo import DemoNode


def demo(
    countries: Annotated[str, typer.Option(help="Comma-separated ISO country codes.")] = "ES,FR,MA",
    base_dir: Annotated[Path, typer.Option(help="Where the nodes keep their data.")] = Path("var/demo"),
    first_port: Annotated[int, typer.Option(help="Port of the first node; the others follow.")] = 8401,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete the demo data and start over.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic scenario that fills the nodes.")] = 7,
    persons: Annotated[int, typer.Option(help="Persons in the scenario.")] = 2000,
    no_scenario: Annotated[bool, typer.Option(
        "--no-scenario",
        help="Start the nodes without the synthetic scenario (no records); they get the sample "
             "agreements of examples/agreements, so messages can be exchanged.")] = False,
    agreements: Annotated[Path | None, typer.Option(
        help="A folder of agreement YAML files to install into every node (each run).")] = None,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going",
        help="When a node stops, keep the others running and print the command that starts "
             "it again by hand (fault drills).")] = False,
    as_json: bool = JsonOpt,
) -> None:
    """Start a local federation (one node per country) until Ctrl-C."""
    from accord import demo as d

    say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]{m}[/]"))
    nodes = run(lambda: d.start_federation(base_dir, [c.strip() for c in countries.split(",") if c.strip()],
                                           first_port=first_port, fresh=fresh, say=say,
                                           agreements=agreements,
                                           scenario=None if no_scenario else d.ScenarioSpec(seed, persons)))
    # in JSON mode stdout holds the one document; what happens later goes to stderr
    # a node that stopped, and how to start it: one unwrapped line, to copy the command from
    notice = ((lambda m: print(m, file=sys.stderr, flush=True)) if as_json else
              (lambda m: console.print(m, style="bold yellow", soft_wrap=True, markup=False,
                                       highlight=False)))
    try:
        _announce(nodes, as_json)
        code = d.run_until_signal(nodes, say=say, keep_going=keep_going, notice=notice)
    except BaseException:  # Ctrl-C before the signal handlers are in place: stop the nodes
        d.stop_all(nodes)
        raise
    raise typer.Exit(code)


def _announce(nodes: list[DemoNode], as_json: bool) -> None:
    if as_json:
        emit_json({"nodes": [{"node_id": n.node_id, "country": n.country, "url": n.url,
                              "logins": [vars(login) for login in n.logins],
                              "serve_command": n.serve_command()} for n in nodes]})
    else:
        for n in nodes:
            console.print(f"\n[bold]{n.country}[/] — {n.node_id} — [link]{n.url}[/]  "
                          f"(API docs {n.url}/api/v1/docs)")
            for login in n.logins:
                console.print(f"  {login.username:<12} {login.agency:<9} {','.join(login.roles):<16} "
                              f"{login.clearance}  password [cyan]{login.password}[/]  "
                              f"TOTP secret [cyan]{login.totp_secret}[/]", soft_wrap=True)
        console.print("[bold green]Federation running.[/] Log in: POST /auth/login with "
                      "username, password and the current TOTP code "
                      "(python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"). "
                      "Press Ctrl-C to stop.")
