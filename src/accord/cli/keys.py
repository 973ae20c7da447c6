"""``accord keys``: list, rotate and reseal keys."""

from __future__ import annotations

import typer
from rich.table import Table

from accord.audit.tags import Action
from accord.cli.common import JsonOpt, console, emit_json, node_of, run
from accord.parties import services as parties
from accord.parties.keys import KeyStore

app = typer.Typer(help="Signing and encryption keys.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, owner: str, as_json: bool = JsonOpt) -> None:
    """List OWNER's keys (an agency id or the node id)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            data = [k.to_public() for k in KeyStore.keys_of(s, owner)]
        if as_json:
            emit_json(data)
            return
        table = Table("kid", "alg", "fingerprint", "created", "retired", "revoked")
        for d in data:
            table.add_row(*(str(d[c] or "") for c in ("kid", "alg", "fingerprint", "created_at",
                                                      "retired_at", "revoked_at")))
        console.print(table)

    run(_do)


@app.command()
def rotate(ctx: typer.Context, owner: str) -> None:
    """Make new keys for OWNER; old public keys stay to verify what they signed."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            kids = parties.rotate_keys(node, s, owner=owner, actor="cli")
        console.print("[green]new keys:[/] " + ", ".join(kids))

    run(_do)


@app.command()
def reseal(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Rewrite private key files sealed the old way (PBKDF2, 2,048 rounds) with Argon2id.

    Each file is replaced atomically after the new one has been read back; the keys,
    their ids and the passphrase stay the same. Safe to run again: sealed files are skipped.
    """
    def _do() -> None:
        with node_of(ctx) as node:
            with node.read() as s:
                kids = node.keys.reseal(s)
            if kids:
                with node.uow() as s:
                    node.record(s, actor="cli", action=Action.KEY_RESEALED, object="keys",
                                detail={"keys": kids}, credential="cli")
        if as_json:
            emit_json({"resealed": kids})
        else:
            console.print(f"[green]resealed {len(kids)} key file(s)[/]"
                          + "".join(f"\n  {kid}" for kid in kids))

    run(_do)
