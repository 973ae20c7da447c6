"""Re-fetching every peer's descriptor periodically, so that revocations arrive in bounded time.

A key an agency revokes on its node is refused by that node at once, but its
peers learn of it only when they fetch the node's descriptor again. The
refreshes on demand (:mod:`accord.exchange.refresh`) happen only on an
*unknown* key, never on a revoked one that is still known; so the server runs a
:class:`PeerRefresher` beside the delivery worker, which refreshes each pinned
peer at least every ``exchange_peer_refresh_seconds`` (default 300 s). Each wait
is that period shortened by a random share of up to
``exchange_peer_refresh_jitter`` (default 10 %): the refreshes of many peers,
and of many nodes, spread out instead of arriving together, and the period is
still an upper bound — a revocation on a reachable peer is learnt within one
period (plus the time the round takes).

Each refresh is :func:`accord.parties.services.refresh_peer_now`: the
descriptor must be signed by the node key whose fingerprint was pinned, so
nothing here can re-pin a peer; a descriptor that is refused (another node
key, older than the one held, a claim the peer may not make) is audited as
``node:peer:refused`` by the refresh itself. A refresh that learnt keys (new
ones, or a known key now retired or revoked) is audited as
``node:peer:refreshed`` with their ids; one that learnt nothing only moves the
peer's ``refreshed_at`` (no audit entry every few minutes for nothing). The
network is used with no transaction open.

A peer that cannot be reached or whose descriptor is refused is logged (its
id and the error's slug or type; no descriptor, no key, no secret) and tried
again after ``exchange_peer_refresh_min_seconds`` (at most one period), while
the others go on: one failing peer never stops the round.

**Several processes per node.** Each server process runs its own refresher on
the node's one database. This is safe: when a peer is due is read from the
database (``peers.refreshed_at``, which any process's successful refresh
moves), so the processes of a node together refresh a peer about once per
period, not once per process; refreshes of one peer take turns (the peer's row
is locked ``FOR UPDATE`` on PostgreSQL; SQLite has one writer), and a refresh
is idempotent — the same descriptor upserts the same keys, a revocation is
never undone, and the later of two refreshes finds nothing left to learn and
audits nothing.

The schedule follows the node's clock (:meth:`Node.now`), so tests move time
by moving the clock and call :meth:`PeerRefresher.run_once`; the thread only
decides how long to sleep (between 1 and 10 s of real time) before it looks
again.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from accord.bootstrap import Node
from accord.clock import as_utc
from accord.errors import AccordError
from accord.exchange.refresh import peer_fetch_of, peer_lock
from accord.parties.models import Peer
from accord.parties.services import Fetch, refresh_peer_now

__all__ = ["PeerRefresher", "RefreshRound"]

log = logging.getLogger("accord.exchange")
_MIN_SLEEP, _MAX_SLEEP = 1.0, 10.0


@dataclass
class RefreshRound:
    """What one round did: peers refreshed (with the key ids learnt) and peers that failed."""

    refreshed: dict[str, list[str]] = field(default_factory=dict)  # peer -> added + changed kids
    failed: dict[str, str] = field(default_factory=dict)  # peer -> error slug or type


class PeerRefresher:
    """Refreshes the node's peers periodically; ``run_once`` for tests, ``start``/``stop`` for
    the server (started and stopped with the delivery worker)."""

    def __init__(self, node: Node, *, fetch: Fetch | None = None,
                 rng: random.Random | None = None) -> None:
        st = node.settings
        self.node = node
        self.fetch = fetch  # None: the node's (accord.exchange.refresh.peer_fetch_of)
        self.period = st.exchange_peer_refresh_seconds
        self.jitter = st.exchange_peer_refresh_jitter
        self.retry = min(self.period, max(st.exchange_peer_refresh_min_seconds, _MIN_SLEEP))
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        # per peer: the time the plan was drawn from, and the time it is due
        self._plan: dict[str, tuple[datetime, datetime]] = {}
        self._failed_at: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- schedule -----------------------------------------------------------
    def _due_at(self, peer_id: str, refreshed_at: datetime) -> datetime:
        """When ``peer_id`` is due: a jittered period after its last refresh (by any process),
        or ``retry`` after this process's last failed attempt, if that is later."""
        failed = self._failed_at.get(peer_id)
        if failed is not None and failed > refreshed_at:
            base, wait = failed, self.retry
        else:
            base, wait = refreshed_at, self.period
        plan = self._plan.get(peer_id)
        if plan is None or plan[0] != base:
            factor = 1.0 - self.jitter * self.rng.random()
            plan = self._plan[peer_id] = (base, base + timedelta(seconds=wait * factor))
        return plan[1]

    def _peers(self) -> dict[str, datetime]:
        with self.node.read() as s:
            return {node_id: as_utc(at) for node_id, at in
                    s.execute(select(Peer.node_id, Peer.refreshed_at).order_by(Peer.node_id))}

    def next_due(self) -> datetime | None:
        """The earliest time a peer is due (None without peers)."""
        times = [self._due_at(p, at) for p, at in self._peers().items()]
        return min(times) if times else None

    # -- one round ----------------------------------------------------------
    def run_once(self) -> RefreshRound:
        """Refresh every peer whose time has come; never raises for a peer's trouble."""
        done = RefreshRound()
        now = self.node.now()
        due = [p for p, at in self._peers().items() if self._due_at(p, at) <= now]
        for peer_id in due:
            self._refresh(peer_id, done)
        return done

    def _refresh(self, peer_id: str, done: RefreshRound) -> None:
        with peer_lock(self.node, peer_id):
            try:
                result = refresh_peer_now(
                    self.node, node_id=peer_id, fetch=self.fetch or peer_fetch_of(self.node),
                    actor=f"node:{self.node.settings.node_id}", audit_unchanged=False)
            except AccordError as exc:
                done.failed[peer_id] = exc.slug
            except Exception as exc:  # a database hiccup: this peer only, the others go on
                done.failed[peer_id] = type(exc).__name__
            else:
                learnt = [*result.added, *result.changed]
                done.refreshed[peer_id] = learnt
                self._failed_at.pop(peer_id, None)
                if learnt:
                    log.info("periodic refresh of peer %s: %d new key(s), %d changed (%s)",
                             peer_id, len(result.added), len(result.changed),
                             ", ".join(k[:80] for k in learnt[:20]))
                return
        self._failed_at[peer_id] = self.node.now()
        log.warning("periodic refresh of peer %s failed: %s; trying again in %g s",
                    peer_id, done.failed[peer_id], self.retry)

    # -- running ------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="accord-peer-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop; a refresh in flight is not waited for past ``timeout`` (the thread is a daemon,
        and a refresh cut short is simply done again)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            sleep = _MAX_SLEEP
            try:
                self.run_once()
                due = self.next_due()
                if due is not None:
                    sleep = (due - self.node.now()).total_seconds()
            except Exception as exc:  # the database may be away for a moment; look again later
                log.error("peer refresh round failed: %s", type(exc).__name__)
            self._stop.wait(min(max(sleep, _MIN_SLEEP), _MAX_SLEEP))
