"""The federation transport: a port with an HTTP and an in-memory implementation.

The delivery worker hands one sealed envelope and a :class:`Route` to a
:class:`Transport` and gets a :class:`Delivery`:

* ``accepted``: the receiver stored it (or had it already) and answered with
  its signed receipt;
* ``rejected``: the receiver refused it for good (a 4xx problem document with
  a ``reason``); retrying cannot help;
* ``retry``: anything else — the peer is down, slow, answered 5xx or 429, or
  the answer was lost.

:class:`HttpTransport` POSTs to ``{base_url}/federation/v1/envelopes``; a transport
that also has ``send_batch`` (both here do) delivers several envelopes to one peer
in one request (``{base_url}/federation/v1/envelopes/batch``), with one
:class:`Delivery` per envelope: the receiver checks and answers each on its own.
A peer that does not know the batch route (404/405) or refuses the batch as a
whole with a 4xx gets the envelopes one by one.
:class:`InMemoryTransport` calls :func:`accord.exchange.services.receive_envelope`
of in-process nodes: unit tests inject it instead of patching anything, and
the worker uses it for agencies hosted on its own node, so local delivery
takes the very same envelope path. It can also simulate a node that is down
or answers that get lost after the receiver committed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from accord.crypto.envelope import EnvelopeRejected
from accord.errors import AccordError, PeerError

if TYPE_CHECKING:
    from accord.bootstrap import Node

__all__ = ["BATCH_PATH", "ENVELOPES_PATH", "NODE_PATH", "BatchTransport", "Delivery",
           "HttpTransport", "InMemoryTransport", "Outcome", "Route", "Transport", "batch_body",
           "classify", "classify_item"]

ENVELOPES_PATH = "/federation/v1/envelopes"
BATCH_PATH = "/federation/v1/envelopes/batch"
NODE_PATH = "/federation/v1/node"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RETRY = "retry"


@dataclass(frozen=True)
class Route:
    """Where a recipient agency lives: its node id and that node's base URL (None: here)."""

    node_id: str
    base_url: str | None


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    receipt: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    error: str = ""


class Transport(Protocol):
    def send(self, route: Route, envelope: bytes) -> Delivery:
        """Deliver one envelope; never raises for network or peer trouble."""
        ...

    def close(self) -> None: ...


class BatchTransport(Transport, Protocol):
    def send_batch(self, route: Route, envelopes: list[bytes]) -> list[Delivery]:
        """Deliver envelopes to one node in one exchange: one :class:`Delivery` each, in order."""
        ...


def batch_body(envelopes: list[bytes]) -> bytes:
    """The batch request body: ``{"envelopes": [...]}`` around the envelopes as they are."""
    return b'{"envelopes":[' + b",".join(envelopes) + b"]}"


def classify_item(item: Any) -> Delivery:
    """One envelope's answer in a batch response: ``{"receipt": ...}`` or ``{"problem": ...}``."""
    if isinstance(item, dict) and isinstance(item.get("receipt"), dict):
        return classify(200, item)
    problem = item.get("problem") if isinstance(item, dict) else None
    if isinstance(problem, dict):
        status = problem.get("status")
        return classify(status if isinstance(status, int) else 500, problem)
    return Delivery(Outcome.RETRY, error="batch answer without a receipt or a problem")


def classify(status: int, body: Any) -> Delivery:
    """Turn a peer's HTTP answer into a :class:`Delivery`."""
    if 200 <= status < 300:
        if isinstance(body, dict) and isinstance(body.get("receipt"), dict):
            return Delivery(Outcome.ACCEPTED, receipt=body["receipt"])
        return Delivery(Outcome.RETRY, error=f"HTTP {status} without a receipt")
    if status in (408, 425, 429) or status >= 500:
        return Delivery(Outcome.RETRY, error=f"HTTP {status}")
    if isinstance(body, dict) and isinstance(body.get("reason"), str):
        return Delivery(Outcome.REJECTED, problem=body)
    return Delivery(Outcome.RETRY, error=f"HTTP {status} without a reason")


class HttpTransport:
    """POST envelopes to peers with one pooled, thread-safe httpx client."""

    def __init__(self, *, timeout: float = 10.0, max_connections: int = 16,
                 client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
        )

    def send(self, route: Route, envelope: bytes) -> Delivery:
        if not route.base_url:
            return Delivery(Outcome.RETRY, error=f"no address known for node {route.node_id}")
        try:
            response = self._client.post(route.base_url.rstrip("/") + ENVELOPES_PATH,
                                         content=envelope,
                                         headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            return Delivery(Outcome.RETRY, error=type(exc).__name__)
        try:
            body = response.json()
        except ValueError:
            body = None
        return classify(response.status_code, body)

    def send_batch(self, route: Route, envelopes: list[bytes]) -> list[Delivery]:
        if len(envelopes) == 1:
            return [self.send(route, envelopes[0])]
        if not route.base_url:
            return [Delivery(Outcome.RETRY, error=f"no address known for node {route.node_id}")] * len(envelopes)
        try:
            response = self._client.post(route.base_url.rstrip("/") + BATCH_PATH,
                                         content=batch_body(envelopes),
                                         headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            return [Delivery(Outcome.RETRY, error=type(exc).__name__)] * len(envelopes)
        if response.status_code in (404, 405):  # a peer without the batch route
            return [self.send(route, e) for e in envelopes]
        try:
            body = response.json()
        except ValueError:
            body = None
        if not 200 <= response.status_code < 300:
            whole = classify(response.status_code, body)
            if whole.outcome is Outcome.REJECTED:  # the batch as such (size, form): one by one
                return [self.send(route, e) for e in envelopes]
            return [whole] * len(envelopes)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(envelopes):
            return [Delivery(Outcome.RETRY, error="batch answer does not match the batch")] * len(envelopes)
        return [classify_item(item) for item in results]

    def close(self) -> None:
        self._client.close()


class InMemoryTransport:
    """Deliver to nodes in this process by calling their receiving service directly."""

    def __init__(self, nodes: Mapping[str, Node] | None = None) -> None:
        self.nodes: dict[str, Node] = dict(nodes or {})
        self.down: set[str] = set()
        self.sent: list[tuple[str, bytes]] = []
        self.fetched: list[str] = []
        self._lose_answers = 0
        self._lock = threading.Lock()

    def lose_answers(self, count: int) -> None:
        """The next ``count`` deliveries reach the receiver, but its answer is lost."""
        with self._lock:
            self._lose_answers = count

    def send(self, route: Route, envelope: bytes) -> Delivery:
        from accord.exchange.services import receive_envelope

        with self._lock:
            self.sent.append((route.node_id, envelope))
        if route.node_id in self.down:
            return Delivery(Outcome.RETRY, error="ConnectError")
        node = self.nodes.get(route.node_id)
        if node is None:
            return Delivery(Outcome.RETRY, error=f"no node {route.node_id}")
        try:
            received = receive_envelope(node, envelope, fetch=self.fetch)
        except AccordError as exc:
            return _delivery_of_error(exc)
        except Exception as exc:  # the receiver failed: like an HTTP 500, try again later
            return Delivery(Outcome.RETRY, error=type(exc).__name__)
        with self._lock:
            if self._lose_answers > 0:
                self._lose_answers -= 1
                return Delivery(Outcome.RETRY, error="answer lost")
        return Delivery(Outcome.ACCEPTED, receipt=received.receipt)

    def send_batch(self, route: Route, envelopes: list[bytes]) -> list[Delivery]:
        from accord.exchange.services import receive_batch

        with self._lock:
            self.sent.extend((route.node_id, e) for e in envelopes)
        if route.node_id in self.down:
            return [Delivery(Outcome.RETRY, error="ConnectError")] * len(envelopes)
        node = self.nodes.get(route.node_id)
        if node is None:
            return [Delivery(Outcome.RETRY, error=f"no node {route.node_id}")] * len(envelopes)
        try:
            answers = receive_batch(node, envelopes, fetch=self.fetch)
        except Exception as exc:  # the receiver failed as a whole: like an HTTP 500
            return [Delivery(Outcome.RETRY, error=type(exc).__name__)] * len(envelopes)
        out: list[Delivery] = []
        for answer in answers:
            if isinstance(answer, AccordError):
                out.append(_delivery_of_error(answer))
                continue
            with self._lock:
                lost = self._lose_answers > 0
                self._lose_answers -= 1 if lost else 0
            out.append(Delivery(Outcome.RETRY, error="answer lost") if lost
                       else Delivery(Outcome.ACCEPTED, receipt=answer.receipt))
        return out

    def fetch(self, url: str) -> dict[str, Any]:
        """A node's signed descriptor, as ``GET {base_url}/federation/v1/node`` would answer."""
        from accord.parties.services import node_descriptor

        with self._lock:
            self.fetched.append(url)
        for node_id, node in self.nodes.items():
            if url == node.settings.base_url.rstrip("/") + NODE_PATH:
                if node_id in self.down:
                    raise PeerError(f"cannot fetch {url}: ConnectError")
                with node.read() as s:
                    return node_descriptor(node, s)
        raise PeerError(f"cannot fetch {url}: no such node")

    def close(self) -> None:
        return None


def _delivery_of_error(exc: AccordError) -> Delivery:
    """A receiver's error as the sender sees it (what the HTTP route would answer)."""
    if isinstance(exc, EnvelopeRejected):
        return Delivery(Outcome.REJECTED, problem=exc.to_problem())
    if exc.status >= 500:
        return Delivery(Outcome.RETRY, error=type(exc).__name__)
    return Delivery(Outcome.REJECTED, problem={**exc.to_problem(), "reason": exc.slug})
