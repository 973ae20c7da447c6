"""``accord peers``: pin peer nodes by their key fingerprint, refresh their keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import JsonOpt, console, emit_json, node_of, run
from accord.exchange.refresh import peer_fetch_of
from accord.parties import services as parties
from accord.parties.remote import fetch_descriptor

app = typer.Typer(help="Peer nodes.", no_args_is_help=True)


@app.command()
def add(
    ctx: typer.Context, url: str,
    fingerprint: Annotated[str, typer.Option(help="The peer's node key fingerprint, obtained out of band.")],
) -> None:
    """Pin the peer at URL, only if its node key has FINGERPRINT."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            peer = parties.add_peer(node, s, url=url, expected_fingerprint=fingerprint,
                                    fetch=fetch_descriptor, actor="cli")
            console.print(f"[green]peer {peer.node_id} ({peer.country}) pinned[/]")

    run(_do)


@app.command()
def refresh(
    ctx: typer.Context,
    node_id: Annotated[str | None, typer.Argument(help="The peer's node id; all peers if omitted.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Learn the current keys of pinned peers from their signed descriptors (same pinned node key)."""
    def _do() -> None:
        with node_of(ctx) as node:
            if node_id is None:
                with node.read() as s:
                    ids = [p.node_id for p in parties.list_peers(s)]
            else:
                ids = [node_id]
            data = []
            for nid in ids:
                result = parties.refresh_peer_now(node, node_id=nid, fetch=peer_fetch_of(node),
                                                  actor="cli")
                data.append({"node_id": nid, "added": result.added, "changed": result.changed})
        if as_json:
            emit_json(data)
            return
        for d in data:
            console.print(f"[green]peer {d['node_id']} refreshed[/]: {len(d['added'])} new key(s), "
                          f"{len(d['changed'])} changed")

    run(_do)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List pinned peers."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            data = [{"node_id": p.node_id, "url": p.base_url, "country": p.country,
                     "fingerprint": p.fingerprint} for p in parties.list_peers(s)]
        if as_json:
            emit_json(data)
            return
        table = Table("node", "country", "url", "fingerprint")
        for d in data:
            table.add_row(d["node_id"], d["country"], d["url"], d["fingerprint"])
        console.print(table)

    run(_do)


@app.command()
def fingerprint(ctx: typer.Context) -> None:
    """Print this node's key fingerprint (give it to peers out of band)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            console.print(parties.node_descriptor(node, s)["fingerprint"])

    run(_do)
