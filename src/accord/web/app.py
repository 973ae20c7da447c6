"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

import accord
from accord.alerts.reminders import reminder_loop
from accord.audit.witness import HttpWitnessClient, witness_once
from accord.bootstrap import Node
from accord.clock import OffsetClock
from accord.errors import AccordError, NotFound
from accord.exchange.events import broker_of
from accord.exchange.peer_refresher import PeerRefresher
from accord.exchange.transport import HttpTransport
from accord.exchange.worker import WORKER_KEY, DeliveryWorker
from accord.search import protocol as search_protocol
from accord.web import federation, openapi, problems
from accord.web.api import alerts as alerts_api
from accord.web.api import audit, auth, messages, parties
from accord.web.api import policy as policy_api
from accord.web.api import records as records_api
from accord.web.api import search as search_api
from accord.web.deps import NodeDep

log = logging.getLogger("accord.web")


class ClockMove(BaseModel):
    seconds: float = Field(ge=0, le=10 * 366 * 86400, allow_inf_nan=False,
                           description="how far to move forward (at most ten years at once)")


def _testing_router() -> APIRouter:
    router = APIRouter(prefix="/testing/v1", tags=["testing"])

    @router.post("/clock", responses=openapi.problem_responses(404))
    def move_clock(body: ClockMove, node: NodeDep) -> dict[str, str]:
        """Only in test mode with the offset clock: move the node's time forward."""
        if node.settings.mode != "test" or not isinstance(node.clock, OffsetClock):
            raise NotFound("no such route")
        return {"now": node.clock.advance(timedelta(seconds=body.seconds)).isoformat()}

    return router


async def _checkpointer(node: Node) -> None:
    """Sign an audit checkpoint every ``audit_checkpoint_seconds`` when the log has grown.

    The log head is read from the database, so entries appended by any process count.
    Together with the checkpoint a transaction signs when its entries cross a multiple of
    ``audit_checkpoint_entries`` (accord.audit.services), this bounds the unsigned tail. A
    failure (e.g. a log changed under this process) is logged and tried again next round.
    """
    while True:
        await asyncio.sleep(node.settings.audit_checkpoint_seconds)
        try:
            await asyncio.to_thread(_checkpoint_if_grown, node)
        except AccordError as exc:
            log.error("audit checkpoint failed: %s: %s", exc.slug, exc.detail)
        except Exception as exc:
            log.error("audit checkpoint failed: %s", type(exc).__name__)


def _checkpoint_if_grown(node: Node) -> bool:
    """Sign a checkpoint if the log head is not the newest checkpoint's size; True if signed.

    A read-only look first, so an idle node never takes the write lock for nothing.
    """
    def signed_already(s: Session) -> bool:
        latest = node.audit.latest_checkpoint(s)
        return latest is not None and node.audit.size(s) == latest.size

    with node.read() as s:
        if signed_already(s):
            return False
    with node.uow() as s:
        if signed_already(s):  # another process may have signed in between
            return False
        node.audit.checkpoint(s, at=node.now())
    return True


async def _witnessing(node: Node) -> None:
    """Send the latest checkpoint to the pinned peers to be witnessed (accord.audit.witness).

    The first round runs a second after start, then every ``audit_witness_seconds``. Each
    round runs in a thread with no transaction open while waiting on a peer, and every call
    is bounded by ``audit_witness_timeout_seconds``; on shutdown the task is cancelled and
    the round stops after the call in flight.
    """
    stop = threading.Event()
    delay = min(1.0, node.settings.audit_witness_seconds)
    try:
        while True:
            await asyncio.sleep(delay)
            delay = node.settings.audit_witness_seconds
            try:
                await asyncio.to_thread(_witness_round, node, stop)
            except AccordError as exc:
                log.error("audit witnessing failed: %s: %s", exc.slug, exc.detail)
            except Exception as exc:
                log.error("audit witnessing failed: %s", type(exc).__name__)
    finally:
        stop.set()


def _witness_round(node: Node, stop: threading.Event) -> None:
    client = HttpWitnessClient(timeout=node.settings.audit_witness_timeout_seconds)
    try:
        witness_once(node, client, stop=stop)
    finally:
        client.close()


def create_app(node: Node, *, background: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = ([asyncio.create_task(_checkpointer(node)), asyncio.create_task(_witnessing(node)),
                  asyncio.create_task(reminder_loop(node))]  # alerts: review and expiry
                 if background else [])
        worker = refresher = None
        if background:
            st = node.settings
            worker = DeliveryWorker(node, transport=HttpTransport(
                timeout=st.exchange_http_timeout_seconds,
                max_connections=st.exchange_worker_concurrency))
            node.extras[WORKER_KEY] = worker
            worker.start()
            # each peer's descriptor fetched again every exchange_peer_refresh_seconds, so a
            # revocation on a peer is learnt in bounded time (safe in every process of a node)
            refresher = PeerRefresher(node)
            refresher.start()
            # the matcher's tables take seconds to build: not while a peer waits for an answer
            threading.Thread(target=search_protocol.warm_up, name="search-warm-up",
                             daemon=True).start()
            # on PostgreSQL, events reach officers connected to the node's other processes
            relay = broker_of(node).relay
            if relay is not None:
                relay.start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if background and (relay := broker_of(node).relay) is not None:
                await asyncio.to_thread(relay.stop)
            if refresher is not None:
                await asyncio.to_thread(refresher.stop)
            if worker is not None:
                await asyncio.to_thread(worker.stop)
                node.extras.pop(WORKER_KEY, None)
            if background:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_checkpoint_if_grown, node)

    app = FastAPI(
        title=f"Accord node {node.settings.node_id}",
        version=accord.__version__,
        description="Cross-border law enforcement cooperation node. "
        "Errors are RFC 9457 problem documents.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.node = node
    problems.install(app)
    openapi.install(app)
    app.include_router(auth.router)
    app.include_router(parties.router)
    app.include_router(audit.router)
    app.include_router(messages.router)
    app.include_router(records_api.router)
    app.include_router(alerts_api.router)
    app.include_router(policy_api.router)
    app.include_router(search_api.router)
    app.include_router(federation.router)
    if node.settings.mode == "test":
        app.include_router(_testing_router())

    @app.get("/healthz", tags=["health"])
    def healthz(node: NodeDep) -> dict[str, Any]:
        with node.read() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok", "node_id": node.settings.node_id,
                "country": node.settings.country, "version": accord.__version__}

    return app
