"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text

import accord
from accord.bootstrap import Node
from accord.clock import OffsetClock
from accord.errors import NotFound
from accord.exchange.transport import HttpTransport
from accord.exchange.worker import WORKER_KEY, DeliveryWorker
from accord.web import federation, openapi, problems
from accord.web.api import audit, auth, messages, parties
from accord.web.api import policy as policy_api
from accord.web.api import records as records_api
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
    """Sign an audit checkpoint whenever the log has grown, every few seconds."""
    last = -1
    while True:
        await asyncio.sleep(node.settings.audit_checkpoint_seconds)
        try:
            await asyncio.to_thread(_checkpoint_if_grown, node, last)
            with node.uow() as s:
                last = node.audit.size(s)
        except Exception as exc:
            log.error("audit checkpoint failed: %s", type(exc).__name__)


def _checkpoint_if_grown(node: Node, last: int) -> None:
    with node.uow() as s:
        latest = node.audit.latest_checkpoint(s)
        if node.audit.size(s) != (latest.size if latest else -1):
            node.audit.checkpoint(s, at=node.now())


def create_app(node: Node, *, background: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_checkpointer(node))] if background else []
        worker = None
        if background:
            st = node.settings
            worker = DeliveryWorker(node, transport=HttpTransport(
                timeout=st.exchange_http_timeout_seconds,
                max_connections=st.exchange_worker_concurrency))
            node.extras[WORKER_KEY] = worker
            worker.start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if worker is not None:
                await asyncio.to_thread(worker.stop)
                node.extras.pop(WORKER_KEY, None)
            if background:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_checkpoint_if_grown, node, -1)

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
    app.include_router(policy_api.router)
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
