"""In-process push of exchange events (urgent messages, alerts) to connected clients.

The receiving code runs in request threads and in the delivery worker's
threads; the server-sent-events route runs on the event loop. Subscribers
register a callback that must be thread-safe (the SSE route uses
``loop.call_soon_threadsafe``). Events are published only after the
transaction that stored the message committed.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.bootstrap import Node

__all__ = ["Broker", "broker_of"]

log = logging.getLogger("accord.exchange")
Event = dict[str, Any]
_KEY = "exchange.broker"
_lock = threading.Lock()


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

    def publish(self, agency: str, event: Event) -> None:
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
        return broker
