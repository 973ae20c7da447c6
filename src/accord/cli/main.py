"""``accord``: the command line of an Accord node."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from accord.cli import audit, db, demo, keys, node, officers, peers
from accord.cli.common import globals_of

app = typer.Typer(
    name="accord",
    help="Accord: cross-border law enforcement cooperation node.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="ACCORD_DATA_DIR", help="The node's data folder.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="ACCORD_CONFIG", help="A TOML settings file.")] = None,
) -> None:
    g = globals_of(ctx)
    g.data_dir, g.config = data_dir, config


app.command("init")(node.init)
app.command("serve")(node.serve)
app.add_typer(db.app, name="db")
app.add_typer(officers.app, name="officers")
app.add_typer(peers.app, name="peers")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.command("demo")(demo.demo)

# Groups of later capabilities, mounted when their module is present.
for _name in ("agreements", "policy", "scenario", "records", "messages", "match", "search",
              "alerts"):
    try:
        _mod = importlib.import_module(f"accord.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"accord.cli.{_name}":
            raise
        continue
    app.add_typer(_mod.app, name=_name)
