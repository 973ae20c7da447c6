"""Creating a node: its data folder, configuration, database and keys.

``init_node`` checks everything it can before it writes anything, and undoes what
it wrote if a later step fails or is interrupted (Ctrl-C included): a folder it
created is removed whole; in a folder that already existed only the entries it
added are removed. The data folder is made 0700, the SQLite file 0600 before any
engine opens it (SQLite gives its ``-wal`` and ``-shm`` files the database file's
mode). A production node's key passphrase and node secret must be files outside
the data folder (symlinks and ``..`` resolved), so that a copy of the folder does
not carry what unseals it. (A PostgreSQL schema that migrations created before a
failure is left as it is.)
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from accord import migrations
from accord.audit.tags import Action
from accord.bootstrap import Node, build_node
from accord.db import normalise_url
from accord.errors import Conflict, ValidationFailed
from accord.parties import services as parties
from accord.parties.domain import check_country
from accord.settings import Mode, Settings, is_inside, load_settings

# Entries of a data folder that only `init` makes; a folder holding one is not new.
_NODE_ENTRIES = ("accord.toml", "keys", "accord.db", "accord.db-wal", "accord.db-shm")


@dataclass(frozen=True)
class AgencySpec:
    id: str
    name: str
    kind: str = "police"

    @classmethod
    def parse(cls, text: str) -> AgencySpec:
        """``ES-PN:Policía Nacional:police`` (name and kind optional)."""
        parts = text.split(":")
        if not parts[0]:
            raise ValidationFailed(f"bad agency spec {text!r}", field="agency")
        return cls(parts[0].strip().upper(), (parts[1] if len(parts) > 1 else parts[0]).strip(),
                   (parts[2] if len(parts) > 2 else "police").strip())


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def check_secret_file(path: Path | None, data_dir: Path, *, mode: Mode, field: str,
                      what: str) -> None:
    """A file holding a secret for ``init``: in production required and outside the data folder."""
    option = "--" + field.replace("_", "-")
    if path is None:
        if mode == "production":
            raise ValidationFailed(
                f"production nodes need {option}: a file outside the data folder holding the "
                f"{what}", field=field)
        return
    if mode == "production" and is_inside(path, data_dir):
        raise ValidationFailed(
            f"{option} {path} is inside the data folder {data_dir} (symlinks and .. resolved): "
            f"in production keep the {what} in a file outside the data folder, so that a copy "
            "of the folder does not carry what unseals it", field=field)
    if not path.is_file():
        raise ValidationFailed(f"{option} {path} is not a file", field=field)


def write_config(
    data_dir: Path, *, node_id: str, country: str, base_url: str, host: str, port: int,
    mode: Mode, passphrase_file: Path | None, database_url: str | None,
    extra: dict[str, object] | None = None, secret_key_file: Path | None = None,
) -> Path:
    """Write ``accord.toml`` (mode 0600: outside production it holds the node secret)."""
    check_secret_file(passphrase_file, data_dir, mode=mode, field="passphrase_file",
                      what="passphrase that seals private keys")
    check_secret_file(secret_key_file, data_dir, mode=mode, field="secret_key_file",
                      what="node secret that seals TOTP seeds")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = data_dir / "accord.toml"
    if config.exists():
        raise Conflict(f"{config} exists: this folder already holds a node")
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(exist_ok=True, mode=0o700)
    if passphrase_file is None:
        passphrase_file = keys_dir / "passphrase"
        _write_private(passphrase_file, secrets.token_urlsafe(32) + "\n")
    values: dict[str, object] = {
        "mode": mode, "node_id": node_id, "country": country, "base_url": base_url,
        "host": host, "port": port, "data_dir": str(data_dir.resolve()),
        "key_passphrase_file": str(passphrase_file.resolve()),
    }
    if secret_key_file is not None:
        values["secret_key_file"] = str(secret_key_file.resolve())
    else:
        values["secret_key"] = secrets.token_urlsafe(48)
    if database_url:
        values["database_url"] = database_url
    values.update(extra or {})
    lines = ["# Accord node configuration, written by `accord init`. Keep it private.\n"]
    lines += [f"{k} = {_toml_value(v)}\n" for k, v in values.items()]
    _write_private(config, "".join(lines))
    return config


def initialise(node: Node, agencies: list[AgencySpec], *, migrate: bool = True) -> None:
    """Create the schema, the node key, the agencies and their keys; sign a first checkpoint."""
    if migrate:
        migrations.upgrade(node.settings.resolved_database_url)
    with node.uow() as s:
        now = node.now()
        node.keys.create(s, owner=node.settings.node_id, owner_kind="node", alg="ed25519", now=now)
        node.record(s, actor="system", action=Action.NODE_INIT, object=f"node:{node.settings.node_id}",
                    detail={"country": node.settings.country,
                            "agencies": [a.id for a in agencies]})
        for spec in agencies:
            parties.create_agency(node, s, agency_id=spec.id, name=spec.name, kind=spec.kind)
    with node.uow() as s:
        node.audit.checkpoint(s, at=node.now())


def private_sqlite_file(database_url: str) -> None:
    """Make an SQLite database file, and its ``-wal`` and ``-shm``, readable by us only.

    A missing file is created empty with mode 0600 before any engine opens it (SQLite
    then gives its ``-wal`` and ``-shm`` files the same mode); an existing one, and its
    companions, lose any group and other permissions. Other databases: nothing to do.
    """
    url = make_url(normalise_url(database_url))
    name = url.database or ""
    if url.get_backend_name() != "sqlite" or name in ("", ":memory:") or name.startswith("file:"):
        return
    db = Path(name)
    with suppress(FileExistsError):
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(path, mode & 0o700)


def _check_new_folder(data_dir: Path) -> None:
    """``data_dir`` is missing, or a folder without a node's files."""
    if not (data_dir.exists() or data_dir.is_symlink()):
        return
    if not data_dir.is_dir():
        raise ValidationFailed(f"{data_dir} is not a folder", field="data_dir")
    entries = set(os.listdir(data_dir))
    if "accord.toml" in entries:
        raise Conflict(f"{data_dir / 'accord.toml'} exists: this folder already holds a node")
    if found := sorted(entries.intersection(_NODE_ENTRIES)):
        raise Conflict(f"{data_dir} already holds {', '.join(found)}: init needs a new "
                       "folder, or one without a node's files")


@contextmanager
def _undone_on_failure(data_dir: Path) -> Iterator[None]:
    """Run init's steps; if one fails or is interrupted, remove what they made in ``data_dir``.

    A folder that did not exist (and the parents made for it) is removed whole; in a
    folder that existed, only the entries that were not there before are removed.
    """
    _check_new_folder(data_dir)
    made: list[Path] = []  # data_dir and the missing parents, innermost first
    folder = data_dir.absolute()
    while not (folder.exists() or folder.is_symlink()):
        made.append(folder)
        folder = folder.parent
    before = set() if made else set(os.listdir(data_dir))
    try:
        yield
        if made:
            os.chmod(data_dir, 0o700)
    except BaseException:
        if made:
            shutil.rmtree(data_dir, ignore_errors=True)
            for parent in made[1:]:
                try:
                    parent.rmdir()
                except OSError:
                    break
        elif data_dir.is_dir():
            for name in set(os.listdir(data_dir)) - before:
                entry = data_dir / name
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def init_node(
    data_dir: Path, *, node_id: str, country: str, agencies: list[AgencySpec],
    base_url: str | None = None, host: str = "127.0.0.1", port: int = 8400,
    mode: Mode = "production", passphrase_file: Path | None = None,
    database_url: str | None = None, extra: dict[str, object] | None = None,
    secret_key_file: Path | None = None,
) -> Settings:
    """Create a node in ``data_dir``; on refusal or failure leave no half-made node behind."""
    country = check_country(country)
    for spec in agencies:
        if spec.id[:2] != country:
            raise ValidationFailed(f"agency {spec.id} is not in {country}", field="agency")
    _check_new_folder(data_dir)
    check_secret_file(passphrase_file, data_dir, mode=mode, field="passphrase_file",
                      what="passphrase that seals private keys")
    check_secret_file(secret_key_file, data_dir, mode=mode, field="secret_key_file",
                      what="node secret that seals TOTP seeds")
    with _undone_on_failure(data_dir):
        config = write_config(
            data_dir, node_id=node_id, country=country,
            base_url=base_url or f"http://{host}:{port}", host=host, port=port, mode=mode,
            passphrase_file=passphrase_file, database_url=database_url, extra=extra,
            secret_key_file=secret_key_file,
        )
        settings = load_settings(config_file=config)
        private_sqlite_file(settings.resolved_database_url)
        node = build_node(settings)
        try:
            initialise(node, agencies)
        finally:
            node.dispose()
    return settings
