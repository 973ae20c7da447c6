"""``accord db``: schema migrations."""

from __future__ import annotations

import typer

from accord import migrations
from accord.cli.common import console, run, settings_of

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Migrate the node's database to REVISION (default: the newest)."""
    settings = run(lambda: settings_of(ctx))
    migrations.upgrade(settings.resolved_database_url, revision)
    console.print(f"[green]database at {migrations.current(settings.resolved_database_url)}[/]")


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the database's migration revision."""
    settings = run(lambda: settings_of(ctx))
    console.print(migrations.current(settings.resolved_database_url) or "(empty)")
