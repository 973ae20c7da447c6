"""/federation/v1: node-to-node traffic. The descriptor is public and signed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from accord.audit import witness
from accord.audit.errors import WitnessStaleSize
from accord.audit.schemas import HeldCheckpointPublic
from accord.crypto.canonical import canonical_json, parse_json
from accord.crypto.envelope import EnvelopeTooLarge, MalformedEnvelope
from accord.errors import AccordError
from accord.exchange import services as exchange
from accord.parties import services as parties
from accord.search import protocol as search_protocol
from accord.web.deps import NodeDep, ReadSessionDep
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/federation/v1", tags=["federation"])


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, read no further than the first chunk past ``limit`` (so that a
    huge body is not read whole; the caller refuses what is longer than ``limit``)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


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
    body = await read_limited(request, limit)
    remote = request.client.host if request.client else None
    received = await run_in_threadpool(exchange.receive_envelope, node, body,
                                       remote=remote)
    return {"receipt": received.receipt, "duplicate": received.duplicate}


@router.post("/envelopes/batch", responses=problem_responses(400, 413), openapi_extra={
    "requestBody": {"required": True, "description": "``{\"envelopes\": [...]}``: up to "
                    "exchange_send_batch envelopes to this node (docs/exchange.md), read as raw "
                    "bytes up to exchange_batch_max_bytes",
                    "content": {"application/json": {"schema": {"type": "object"}}}}})
async def receive_batch(request: Request, node: NodeDep) -> dict[str, Any]:
    """Accept several envelopes at once. Each is checked on its own; the answer lists, in
    order, each envelope's signed receipt (``{"receipt", "duplicate"}``) or the problem
    document that refused it (``{"problem"}``). The accepted ones are stored in one transaction."""
    st = node.settings
    limit = st.exchange_batch_max_bytes
    body = await read_limited(request, limit)
    if len(body) > limit:
        raise EnvelopeTooLarge(f"a batch is at most {limit} bytes", size=len(body), limit=limit)
    raws = _split_batch(body, st.exchange_send_batch)
    remote = request.client.host if request.client else None
    answers = await run_in_threadpool(exchange.receive_batch, node, raws, remote=remote)
    return {"results": [
        {"problem": a.to_problem()} if isinstance(a, AccordError)
        else {"receipt": a.receipt, "duplicate": a.duplicate}
        for a in answers]}


def _split_batch(body: bytes, most: int) -> list[bytes]:
    """The envelopes of a batch body, each as canonical JSON bytes (what its digest covers)."""
    try:
        doc = parse_json(body)
    except (ValueError, RecursionError):
        raise MalformedEnvelope("the batch is not valid JSON") from None
    envelopes = doc.get("envelopes") if isinstance(doc, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        raise MalformedEnvelope('a batch is {"envelopes": [...]} with at least one envelope')
    if len(envelopes) > most:
        raise EnvelopeTooLarge(f"a batch holds at most {most} envelopes", count=len(envelopes),
                               limit=most)
    raws: list[bytes] = []
    for envelope in envelopes:
        try:
            raws.append(canonical_json(envelope))
        except ValueError:
            raws.append(b"null")  # refused as malformed, on its own
    return raws


@router.post("/search", responses=problem_responses(400, 403, 409, 413, 422), openapi_extra={
    "requestBody": {"required": True, "description": "an accord/search-query envelope "
                    "(docs/search.md, \"Hit/no-hit protocol\"), read as raw bytes up to "
                    "exchange_envelope_max_bytes",
                    "content": {"application/json": {"schema": {"type": "object"}}}}})
async def search(request: Request, node: NodeDep) -> Response:
    """Answer a hit/no-hit query now: an accord/search-answer envelope (per query only hit or
    no hit, band and an opaque reference), or a problem document whose ``reason`` says why
    the query was refused. Nothing of the query is stored but its audit entries."""
    limit = node.settings.exchange_envelope_max_bytes
    body = await read_limited(request, limit)
    remote = request.client.host if request.client else None
    answer = await run_in_threadpool(search_protocol.answer_query, node, body,
                                     remote=remote)
    return Response(answer, media_type="application/json")


# The add-checkpoint call speaks C2SP tlog-witness (plain text, a 409 answered with
# text/x.tlog.size), not this API's JSON and problem documents, so it is described in
# docs/audit.md rather than in the OpenAPI document.
@router.post("/witness/add-checkpoint", include_in_schema=False)
async def witness_add_checkpoint(request: Request, node: NodeDep) -> PlainTextResponse:
    """Witness a pinned peer's audit checkpoint: check it against the one held, store it, cosign it."""
    body = await read_limited(request, witness.MAX_BODY)
    try:
        line = await run_in_threadpool(witness.add_checkpoint, node, body,
                                       dict(request.headers))
    except WitnessStaleSize as exc:
        return PlainTextResponse(f"{exc.size}\n", status_code=409, media_type=witness.SIZE_MEDIA_TYPE)
    return PlainTextResponse(line)


@router.get("/witness/{origin:path}", response_model=HeldCheckpointPublic,
            responses=problem_responses(401, 403))
def witness_held(origin: str, request: Request, node: NodeDep) -> HeldCheckpointPublic:
    """The checkpoint of the log ``origin`` this node holds as its witness, with its cosignature.

    Only for the log's own node: the request is signed with its node key (headers
    ``Accord-Node``, ``Accord-Time``, ``Accord-Signature``; docs/audit.md)."""
    return HeldCheckpointPublic(**witness.held_checkpoint(node, origin, request.headers))
