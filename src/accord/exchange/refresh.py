"""Learning a peer's new keys when they first show up.

A peer's agency keys are learned when the peer is pinned and whenever it is
refreshed (:func:`accord.parties.services.refresh_peer`). An agency on a peer
node that rotates its keys signs with a key this node does not know yet: an
envelope from it would be rejected (``unknown-key``, final) and a receipt from
it would not verify. So both ends, on meeting an unknown key id of an agency
that lives on a pinned peer, refresh that peer once and try again:

* the receiver (:func:`accord.exchange.services.receive_envelope`) on an
  envelope whose ``sender_kid`` is unknown;
* the delivery worker on a receipt signed by an unknown key of the recipient.

The descriptor must still be signed by the pinned node key: nothing here can
re-pin a peer. The fetch happens with no transaction open, and at most once
per peer per ``exchange_peer_refresh_min_seconds`` (an unauthenticated
envelope can ask for a refresh, so it must not be able to make this node hammer
its peers); concurrent requests for one peer wait for the refresh in progress
and then look again.

The fetch function is a port: :func:`set_peer_fetch` injects one per node
(tests use :meth:`accord.exchange.transport.InMemoryTransport.fetch`); by
default descriptors are fetched over HTTP.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from accord.bootstrap import Node
from accord.errors import AccordError
from accord.parties.models import Agency, KeyRecord, Peer
from accord.parties.remote import fetch_descriptor
from accord.parties.services import Fetch, refresh_peer_now

__all__ = ["learn_key", "peer_fetch_of", "peer_lock", "set_peer_fetch"]

log = logging.getLogger("accord.exchange")
FETCH_KEY = "exchange.peer_fetch"
_LIMITER_KEY = "exchange.peer_refresh"
_extras_lock = threading.Lock()


def set_peer_fetch(node: Node, fetch: Fetch) -> None:
    """Use ``fetch`` (url -> descriptor) for this node's automatic peer refreshes."""
    node.extras[FETCH_KEY] = fetch


def peer_fetch_of(node: Node) -> Fetch:
    """The fetch injected for this node, or one over HTTP."""
    fetch = node.extras.get(FETCH_KEY)
    if fetch is not None:
        return fetch  # type: ignore[no-any-return]
    timeout = node.settings.exchange_http_timeout_seconds
    return lambda url: fetch_descriptor(url, timeout=timeout)


class _Limiter:
    """Per peer: a lock held while refreshing, and the time of the last attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peer_locks: dict[str, threading.Lock] = {}
        self._last: dict[str, datetime] = {}

    def lock(self, peer_id: str) -> threading.Lock:
        with self._lock:
            return self._peer_locks.setdefault(peer_id, threading.Lock())

    def allow(self, peer_id: str, now: datetime, min_seconds: float) -> bool:
        """Take the peer's slot if its last attempt is old enough (call with its lock held)."""
        with self._lock:
            last = self._last.get(peer_id)
            if last is not None and now < last + timedelta(seconds=min_seconds):
                return False
            self._last[peer_id] = now
            return True


def _limiter(node: Node) -> _Limiter:
    with _extras_lock:
        limiter = node.extras.get(_LIMITER_KEY)
        if not isinstance(limiter, _Limiter):
            limiter = node.extras[_LIMITER_KEY] = _Limiter()
        return limiter


def peer_lock(node: Node, peer_id: str) -> threading.Lock:
    """The lock this process holds while refreshing ``peer_id`` (one refresh of a peer at a
    time per process, whoever asks: an envelope, a receipt, the periodic refresher)."""
    return _limiter(node).lock(peer_id)


def _known(node: Node, kid: str) -> bool:
    with node.read() as s:
        return s.get(KeyRecord, kid) is not None


def _peer_of(node: Node, agency: str) -> str | None:
    """The pinned peer that hosts ``agency``; for an agency not known yet, the only peer of
    its country (a new agency on a peer node)."""
    with node.read() as s:
        row = s.get(Agency, agency)
        if row is not None:
            if row.hosted:
                return None
            return row.node_id if s.get(Peer, row.node_id) is not None else None
        peers = list(s.scalars(select(Peer.node_id).where(Peer.country == agency[:2]).limit(2)))
        return peers[0] if len(peers) == 1 else None


def learn_key(node: Node, *, agency: str, kid: str, fetch: Fetch | None = None) -> bool:
    """Make sure this node knows key ``kid`` of ``agency``, refreshing its peer if need be.

    Returns True when the key is known afterwards (then a check that failed on an
    unknown key is worth repeating once), False when it is not: the agency is not
    on a pinned peer, the peer was refreshed too recently, the refresh failed or
    was refused (audited by the refresh), or the peer does not list the key.
    Never raises for the peer's trouble, and opens no transaction while fetching.
    """
    if _known(node, kid):
        return True
    peer_id = _peer_of(node, agency)
    if peer_id is None:
        return False
    limiter = _limiter(node)
    with limiter.lock(peer_id):
        if _known(node, kid):  # refreshed by another thread while we waited
            return True
        if not limiter.allow(peer_id, node.now(), node.settings.exchange_peer_refresh_min_seconds):
            log.info("key %s of %s unknown; peer %s was refreshed recently, not again yet",
                     kid[:80], agency, peer_id)
            return False
        try:
            result = refresh_peer_now(node, node_id=peer_id, fetch=fetch or peer_fetch_of(node),
                                      actor=f"node:{node.settings.node_id}")
        except AccordError as exc:
            log.warning("refreshing the keys of peer %s failed: %s", peer_id, exc.slug)
            return False
        log.info("refreshed peer %s for key %s of %s: %d new key(s)", peer_id, kid[:80], agency,
                 len(result.added))
    return _known(node, kid)
