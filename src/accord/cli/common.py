"""Shared plumbing for commands: the node from the global options, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from accord.bootstrap import Node, build_node
from accord.errors import AccordError
from accord.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


@dataclass
class Globals:
    data_dir: Path | None = None
    config: Path | None = None
    # a node built by the caller (tests: in-process nodes with injected ports); commands
    # use it instead of building one from the settings, and leave it open
    node: Node | None = None


def globals_of(ctx: typer.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def settings_of(ctx: typer.Context) -> Settings:
    g = globals_of(ctx)
    return load_settings(config_file=g.config, data_dir=g.data_dir)


@contextmanager
def node_of(ctx: typer.Context) -> Iterator[Node]:
    given = globals_of(ctx).node
    if given is not None:
        yield given
        return
    node = build_node(settings_of(ctx))
    try:
        yield node
    finally:
        node.dispose()


def fail(exc: AccordError) -> typer.Exit:
    err_console.print(f"[bold red]{exc.title}:[/] {exc.detail}")
    return typer.Exit(code=2 if exc.status < 500 else 1)


def run(fn: Callable[[], T]) -> T:
    """Run a command body; domain errors become a clear message and a non-zero exit."""
    try:
        return fn()
    except AccordError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:  # e.g. a database deleted or replaced by hand
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).splitlines()[0] if str(orig) else ""
        err_console.print(f"[bold red]Database error:[/] {type(orig).__name__}: {first} — check "
                          "the node's database (`accord db current`, `accord audit verify`) "
                          "or restore it from a backup", highlight=False)
        raise typer.Exit(code=1) from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
