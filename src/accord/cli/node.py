"""``accord init`` and ``accord serve``."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from accord.cli.common import JsonOpt, console, emit_json, err_console, globals_of, run, settings_of
from accord.lifecycle import AgencySpec, init_node


def init(
    ctx: typer.Context,
    node_id: Annotated[str, typer.Option(help="This node's id, e.g. es-node.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code.")],
    agency: Annotated[list[str], typer.Option(
        help="A hosted agency as ID:Name:kind (repeatable), e.g. 'ES-PN:Policía Nacional:police'.")],
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8400,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    base_url: Annotated[str | None, typer.Option(help="URL peers use to reach this node.")] = None,
    mode: Annotated[str, typer.Option(help="development, test or production.")] = "production",
    passphrase_file: Annotated[Path | None, typer.Option(
        help="File holding the passphrase that seals private keys (required in production, "
             "outside the data folder).")] = None,
    secret_key_file: Annotated[Path | None, typer.Option(
        help="File holding the node secret that seals TOTP seeds, at least 32 characters "
             "(required in production, outside the data folder).")] = None,
    database_url: Annotated[str | None, typer.Option(
        help="PostgreSQL URL; default: SQLite in the data folder.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Create a node: data folder, configuration, database, node and agency keys."""
    data_dir = globals_of(ctx).data_dir or Path("var/node")
    if mode not in ("development", "test", "production"):
        raise typer.BadParameter("mode is development, test or production")

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # SIGTERM like Ctrl-C: init removes what it wrote

    def _do() -> None:
        settings = init_node(
            data_dir, node_id=node_id, country=country,
            agencies=[AgencySpec.parse(a) for a in agency], base_url=base_url, host=host,
            port=port, mode=mode, passphrase_file=passphrase_file,  # type: ignore[arg-type]
            database_url=database_url, secret_key_file=secret_key_file,
        )
        if as_json:
            emit_json({"node_id": settings.node_id, "data_dir": str(settings.data_dir)})
        else:
            console.print(f"[green]Node {settings.node_id} ({settings.country}) created in "
                          f"{settings.data_dir}[/]")

    if threading.current_thread() is not threading.main_thread():  # signals go to the main one
        run(_do)
        return
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        run(_do)
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Override the bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Override the port.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Server processes on one port (several need PostgreSQL; "
        "docs/operations.md).")] = 1,
    fd: Annotated[int | None, typer.Option(hidden=True, help="Serve on this inherited socket "
                                           "(set by --workers).")] = None,
) -> None:
    """Serve the API, the federation endpoint and /healthz (Ctrl-C stops cleanly)."""
    from accord import migrations
    from accord.bootstrap import Node, build_node
    from accord.lifecycle import private_sqlite_file
    from accord.logging import setup_logging
    from accord.web.app import create_app
    from accord.web.server import serve_app

    settings = run(lambda: settings_of(ctx))
    setup_logging(settings.log_level)
    run(lambda: migrations.check_current(settings.resolved_database_url))
    if workers > 1:
        from accord.web.server import serve_workers

        if settings.resolved_database_url.startswith("sqlite"):
            err_console.print("accord: several worker processes need PostgreSQL (database_url); "
                              "on SQLite one process serves, with group commit")
            raise typer.Exit(2)
        raise typer.Exit(serve_workers(
            _without_workers(sys.argv[1:]), host=host or settings.host, port=port or settings.port,
            workers=workers, stop_within=settings.shutdown_seconds))
    private_sqlite_file(settings.resolved_database_url)  # tightens a node made before 0600
    node = run(lambda: build_node(settings))

    def _unseal(node: Node) -> None:
        # The slow KDF runs here, once per key, not on the first requests.
        with node.read() as s:
            node.keys.preload(s)
            node.linkage.preload(s)  # linkage secrets of privacy-preserving search

    run(lambda: _unseal(node))
    serve_app(create_app(node), host=host or settings.host, port=port or settings.port,
              log_level=settings.log_level, stop_within=settings.shutdown_seconds, fd=fd)
    node.dispose()


def _without_workers(argv: list[str]) -> list[str]:
    """The command line without ``--workers N`` (for the worker processes)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out
