"""Push of exchange events (urgent messages, alerts) to connected clients.

The receiving code runs in request threads and in the delivery worker's
threads; the server-sent-events route runs on the event loop. Subscribers
register a callback that must be thread-safe (the SSE route uses
``loop.call_soon_threadsafe``). Events are published only after the
transaction that stored the message committed.

**Several processes per node.** A node on PostgreSQL may run as several server
processes; the envelope for an officer may be received by one while the officer's
stream is held by another. So on PostgreSQL each published event is also sent
with ``NOTIFY`` on the channel ``accord_events`` (after the commit, tagged with the
node id and this process's id), and each process runs a listener thread
(:class:`PgEventRelay`) that listens (``LISTEN``) and hands the events of *other*
processes of *its* node to its local subscribers. A notification carries no
personal data (event kind, message id, agencies, handling code), stays inside the
node's own database server, and is bounded (PostgreSQL refuses payloads over
8,000 bytes; events are far smaller). An event missed while a listener reconnects
is not lost for the officer: the inbox holds the message; the stream is a hint.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.bootstrap import Node

__all__ = ["CHANNEL", "Broker", "PgEventRelay", "broker_of"]

log = logging.getLogger("accord.exchange")
Event = dict[str, Any]
_KEY = "exchange.broker"
_lock = threading.Lock()
CHANNEL = "accord_events"
PROCESS = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Broker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._subs: dict[int, tuple[str, Callable[[Event], None]]] = {}

    def subscribe(self, agency: str, callback: Callable[[Event], None]) -> int:
        with self._lock:
            token = next(self._ids)
            self._subs[token] = (agency, callback)
            return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subs.pop(token, None)

    def subscribers(self, agency: str) -> int:
        with self._lock:
            return sum(1 for a, _ in self._subs.values() if a == agency)

    relay: PgEventRelay | None = None

    def publish(self, agency: str, event: Event) -> None:
        """Hand ``event`` to this process's subscribers of ``agency`` (and, through the
        relay, to the node's other processes)."""
        self.deliver(agency, event)
        if self.relay is not None:
            self.relay.send(agency, event)

    def deliver(self, agency: str, event: Event) -> None:
        with self._lock:
            targets = [cb for a, cb in self._subs.values() if a == agency]
        for callback in targets:
            try:
                callback(event)
            except Exception as exc:  # a gone client must not break delivery
                log.warning("event subscriber failed: %s", type(exc).__name__)


def broker_of(node: Node) -> Broker:
    with _lock:
        broker = node.extras.get(_KEY)
        if not isinstance(broker, Broker):
            broker = node.extras[_KEY] = Broker()
            if node.engine.dialect.name == "postgresql":
                broker.relay = PgEventRelay(node, broker)
        return broker


class PgEventRelay:
    """Events between the processes of one node, through PostgreSQL ``NOTIFY``/``LISTEN``."""

    def __init__(self, node: Node, broker: Broker) -> None:
        self.node = node
        self.broker = broker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def send(self, agency: str, event: Event) -> None:
        from sqlalchemy import text

        payload = json.dumps({"node": self.node.settings.node_id, "origin": PROCESS,
                              "agency": agency, "event": event}, separators=(",", ":"))
        if len(payload.encode()) > 7900:
            log.warning("event not relayed to the node's other processes: %d bytes", len(payload))
            return
        try:
            with self.node.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                             {"channel": CHANNEL, "payload": payload})
                conn.commit()
        except Exception as exc:  # the local subscribers have it; the others read their inbox
            log.warning("event not relayed to the node's other processes: %s", type(exc).__name__)

    def start(self) -> None:
        """Listen for the other processes' events (a daemon thread; :meth:`stop` ends it)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="accord-events", daemon=True)
            self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _listen(self) -> None:
        import psycopg

        url = self.node.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0, stop_after=100):
                            self._deliver(note.payload)
            except Exception as exc:  # reconnect after a database hiccup
                self._ready.clear()
                log.warning("event listener: %s; reconnecting", type(exc).__name__)
                self._stop.wait(1.0)

    def _deliver(self, payload: str) -> None:
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        if (not isinstance(doc, dict) or doc.get("node") != self.node.settings.node_id
                or doc.get("origin") == PROCESS or not isinstance(doc.get("event"), dict)):
            return
        self.broker.deliver(str(doc.get("agency")), doc["event"])
