"""Creating a node: its data folder, configuration, database and keys."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from accord import migrations
from accord.audit.tags import Action
from accord.bootstrap import Node, build_node
from accord.errors import Conflict, ValidationFailed
from accord.parties import services as parties
from accord.parties.domain import check_country
from accord.settings import Mode, Settings, load_settings


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


def write_config(
    data_dir: Path, *, node_id: str, country: str, base_url: str, host: str, port: int,
    mode: Mode, passphrase_file: Path | None, database_url: str | None,
    extra: dict[str, object] | None = None,
) -> Path:
    """Write ``accord.toml`` (mode 0600: it holds the node secret)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = data_dir / "accord.toml"
    if config.exists():
        raise Conflict(f"{config} exists: this folder already holds a node")
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(exist_ok=True, mode=0o700)
    if passphrase_file is None:
        if mode == "production":
            raise ValidationFailed(
                "production nodes need --passphrase-file (kept apart from the data folder)",
                field="passphrase_file")
        passphrase_file = keys_dir / "passphrase"
        _write_private(passphrase_file, secrets.token_urlsafe(32) + "\n")
    values: dict[str, object] = {
        "mode": mode, "node_id": node_id, "country": country, "base_url": base_url,
        "host": host, "port": port, "data_dir": str(data_dir.resolve()),
        "secret_key": secrets.token_urlsafe(48),
        "key_passphrase_file": str(passphrase_file.resolve()),
    }
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


def init_node(
    data_dir: Path, *, node_id: str, country: str, agencies: list[AgencySpec],
    base_url: str | None = None, host: str = "127.0.0.1", port: int = 8400,
    mode: Mode = "production", passphrase_file: Path | None = None,
    database_url: str | None = None, extra: dict[str, object] | None = None,
) -> Settings:
    country = check_country(country)
    for spec in agencies:
        if spec.id[:2] != country:
            raise ValidationFailed(f"agency {spec.id} is not in {country}", field="agency")
    config = write_config(
        data_dir, node_id=node_id, country=country,
        base_url=base_url or f"http://{host}:{port}", host=host, port=port, mode=mode,
        passphrase_file=passphrase_file, database_url=database_url, extra=extra,
    )
    settings = load_settings(config_file=config)
    node = build_node(settings)
    try:
        initialise(node, agencies)
    finally:
        node.dispose()
    return settings
