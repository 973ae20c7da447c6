"""Factories for peers: two in-process nodes pinned to each other."""

from __future__ import annotations

from accord.bootstrap import Node
from accord.parties import services as parties


def pin(a: Node, b: Node) -> None:
    """``a`` pins ``b`` (``b``'s signed descriptor fetched in-process)."""
    with b.read() as s:
        descriptor = parties.node_descriptor(b, s)
    with a.uow() as s:
        parties.add_peer(a, s, url=b.settings.base_url, expected_fingerprint=descriptor["fingerprint"],
                         fetch=lambda _url: descriptor, actor="test")
