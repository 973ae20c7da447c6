"""Alembic migrations; run them with ``accord db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from accord.db import normalise_url
from accord.errors import ConfigurationError

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision this version of Accord knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def check_current(url: str) -> None:
    """Refuse, with the way out, a database that is not at this Accord's newest revision.

    ``accord serve`` checks this before it binds: a deleted, foreign or outdated
    database is a clear message at start-up, not a 500 on every request.
    """
    from sqlalchemy import exc
    from sqlalchemy.engine import make_url

    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    try:
        at = current(url)
    except exc.DBAPIError as e:
        raise ConfigurationError(
            f"cannot read the database at {shown}: {type(e.orig).__name__}: "
            f"{str(e.orig).splitlines()[0] if str(e.orig) else ''} — restore it from a backup "
            "or point database_url at the node's database") from None
    want = head()
    if at is None:
        raise ConfigurationError(
            f"the database at {shown} holds no Accord schema: create the node with `accord "
            "init`, restore the database from a backup, or run `accord db upgrade`")
    if at != want:
        from alembic.script import ScriptDirectory

        known = {r.revision for r in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}
        if at in known:
            raise ConfigurationError(
                f"the database at {shown} is at schema revision {at}; this Accord needs {want}: "
                "run `accord db upgrade` (after a backup)")
        raise ConfigurationError(
            f"the database at {shown} is at schema revision {at}, which this Accord does not "
            "know (made by a newer version?); run the Accord version that made it")
