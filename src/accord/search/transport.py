"""The search port: one query envelope to one peer, its answer envelope back, now or never.

Unlike messages, a query is not stored and forwarded: the sender POSTs it and waits at
most the deadline. A :class:`SearchPort` turns every outcome into a :class:`Reply`:

* ``answer``: the peer's answer envelope (bytes, still to be opened and checked);
* ``problem``: the peer refused the query (a problem document with a ``reason``);
* ``error``: no answer (peer down, too slow, 5xx, lost) — shown as "no answer", never as
  "no hit".

:class:`HttpSearchPort` POSTs to ``{base_url}/federation/v1/search``;
:class:`InMemorySearchPort` calls :func:`accord.search.protocol.answer_query` of nodes in
this process (unit tests inject it; nothing is patched) and can simulate a peer that is
down or too slow. Ports never raise for a peer's trouble.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from accord.errors import AccordError

if TYPE_CHECKING:
    from accord.bootstrap import Node

__all__ = ["SEARCH_PATH", "HttpSearchPort", "InMemorySearchPort", "Reply", "SearchPort"]

SEARCH_PATH = "/federation/v1/search"


@dataclass(frozen=True)
class Reply:
    answer: bytes | None = None
    problem: dict[str, Any] | None = None
    error: str = ""


class SearchPort(Protocol):
    def search(self, node_id: str, base_url: str | None, envelope: bytes, *,
               timeout: float) -> Reply:
        """Send one query envelope; wait at most ``timeout`` seconds for the answer."""
        ...


class HttpSearchPort:
    """POST query envelopes with one pooled, thread-safe httpx client."""

    def __init__(self, *, max_connections: int = 32, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections))

    def search(self, node_id: str, base_url: str | None, envelope: bytes, *,
               timeout: float) -> Reply:
        if not base_url:
            return Reply(error=f"no address known for node {node_id}")
        try:
            response = self._client.post(base_url.rstrip("/") + SEARCH_PATH, content=envelope,
                                         headers={"content-type": "application/json"},
                                         timeout=httpx.Timeout(timeout))
        except httpx.HTTPError as exc:
            return Reply(error=type(exc).__name__)
        if response.status_code == 200:
            return Reply(answer=response.content)
        try:
            body = response.json()
        except ValueError:
            body = None
        if 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429) \
                and isinstance(body, dict) and isinstance(body.get("reason"), str):
            return Reply(problem=body)
        return Reply(error=f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


class InMemorySearchPort:
    """Ask nodes in this process by calling their answering service directly."""

    def __init__(self, nodes: Mapping[str, Node] | None = None) -> None:
        self.nodes: dict[str, Node] = dict(nodes or {})
        self.down: set[str] = set()
        self.slow: dict[str, float] = {}  # node id -> seconds before it answers
        self.sent: list[tuple[str, bytes]] = []
        self.answers: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def search(self, node_id: str, base_url: str | None, envelope: bytes, *,
               timeout: float) -> Reply:
        from accord.search.protocol import answer_query

        with self._lock:
            self.sent.append((node_id, envelope))
        if node_id in self.down:
            return Reply(error="ConnectError")
        node = self.nodes.get(node_id)
        if node is None:
            return Reply(error=f"no node {node_id}")
        delay = self.slow.get(node_id, 0.0)
        if delay:
            time.sleep(min(delay, timeout))
            if delay >= timeout:
                return Reply(error="ReadTimeout")
        try:
            answer = answer_query(node, envelope)
        except AccordError as exc:
            if exc.status >= 500:
                return Reply(error=type(exc).__name__)
            problem = exc.to_problem()
            problem.setdefault("reason", exc.slug)
            return Reply(problem=problem)
        with self._lock:
            self.answers.append((node_id, answer))
        return Reply(answer=answer)

    def close(self) -> None:
        return None
