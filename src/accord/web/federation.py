"""/federation/v1: node-to-node traffic. The descriptor is public and signed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from accord.exchange import services as exchange
from accord.parties import services as parties
from accord.web.deps import NodeDep, ReadSessionDep
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/federation/v1", tags=["federation"])


@router.get("/node")
def node_descriptor(s: ReadSessionDep, node: NodeDep) -> dict[str, Any]:
    """This node's id, agencies, public keys and fingerprints, signed by the node key."""
    return parties.node_descriptor(node, s)


@router.post("/envelopes", responses=problem_responses(400, 403, 409, 413, 422), openapi_extra={
    "requestBody": {"required": True, "description": "a signed and encrypted envelope "
                    "(docs/exchange.md), read as raw bytes up to exchange_envelope_max_bytes",
                    "content": {"application/json": {"schema": {"type": "object"}}}}})
async def receive_envelope(request: Request, node: NodeDep) -> dict[str, Any]:
    """Accept one envelope; answer with the recipient's signed receipt (the original one
    for a repeated envelope) or a problem document whose ``reason`` says why it was refused."""
    limit = node.settings.exchange_envelope_max_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # stop reading past the limit
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    remote = request.client.host if request.client else None
    received = await run_in_threadpool(exchange.receive_envelope, node, b"".join(chunks),
                                       remote=remote)
    return {"receipt": received.receipt, "duplicate": received.duplicate}
