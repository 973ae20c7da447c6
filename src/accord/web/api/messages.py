"""/api/v1/messages: compose, list, read, reply, acknowledge, retry a dead letter, and the
urgent-message stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from accord.agreements import Handling
from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.errors import AccordError
from accord.exchange import services
from accord.exchange.events import broker_of
from accord.exchange.models import Message
from accord.exchange.schemas import (
    BatchItem,
    BatchRecipient,
    MessageBatchCreate,
    MessageBatchResult,
    MessageCreate,
    MessagePublic,
    MessageSummary,
    ReplyCreate,
    SendResult,
)
from accord.exchange.worker import wake_worker
from accord.web.bounds import Offset
from accord.web.deps import NodeDep, require
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])

MessagesRead = Annotated[Principal, Depends(require(Permission.MESSAGES_READ))]
MessagesSend = Annotated[Principal, Depends(require(Permission.MESSAGES_SEND))]


def _public(s: Session, msg: Message) -> MessagePublic:
    view = MessagePublic.model_validate(msg)
    view.proof = services.proof_of(s, msg)
    return view


def _sent(msg: Message) -> SendResult:
    view = SendResult.model_validate(msg)
    view.refused = [r for r in view.recipients if r.state == "refused"]
    return view


@router.post("", response_model=SendResult, status_code=status.HTTP_201_CREATED)
def send(body: MessageCreate, node: NodeDep, principal: MessagesSend) -> SendResult:
    """Send a message. Recipients refused by the agreements are listed in ``refused`` with the
    clause and reason; the others are queued for delivery."""
    result = services.send_grouped(node, principal, body, _sent)
    wake_worker(node)
    return result


@router.post("/batch", response_model=MessageBatchResult, responses=problem_responses(503))
def send_batch(body: MessageBatchCreate, node: NodeDep, principal: MessagesSend) -> MessageBatchResult:
    """Send up to 1,000 messages in one request (a batch check, an action day's notices). Each
    is checked, decided and sealed on its own, exactly as by ``POST /api/v1/messages``; the
    answer lists, in order, each message's id and recipients' states (``status`` 201), or the
    problem document that refused it — one bad message does not sink the others. The
    accepted ones are stored in one transaction: all of them, or (a 503) none."""
    outcomes = services.send_batch(node, principal, body.messages)
    wake_worker(node)
    items: list[BatchItem] = []
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, AccordError):
            items.append(BatchItem(index=i, status=outcome.status, problem=outcome.to_problem()))
        else:
            items.append(BatchItem(
                index=i, status=status.HTTP_201_CREATED, message_id=outcome.message_id,
                created_at=outcome.created_at,
                recipients=[BatchRecipient(agency=a, state=st, refusal=outcome.refusals.get(a))
                            for a, st in outcome.states.items()]))
    sent = sum(1 for item in items if item.problem is None)
    return MessageBatchResult(sent=sent, failed=len(items) - sent, results=items)


@router.get("", response_model=list[MessageSummary])
def list_messages(
    node: NodeDep, principal: MessagesRead,
    box: Literal["inbox", "sent", "all"] = "inbox",
    case: Annotated[str | None, Query(max_length=100)] = None,
    thread: Annotated[str | None, Query(pattern="^[a-f0-9]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> list[MessageSummary]:
    """The agency's inbox (urgent first), sent messages with each recipient's state, a case or a thread."""
    return services.audited(
        node, actor=principal.actor, obj=f"messages:{principal.agency_id}",
        fn=lambda s: [MessageSummary.model_validate(m) for m in services.list_messages(
            node, s, principal, box=box, case_ref=case, thread_id=thread, limit=limit,
            offset=offset)], credential=principal.audit_credential)


@router.get("/stream", response_class=StreamingResponse, responses={200: {
    "description": "server-sent events (text/event-stream) until ``limit`` events or the client leaves",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(
    request: Request, node: NodeDep, principal: MessagesRead,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="close after this many events")] = None,
    heartbeat: Annotated[float, Query(ge=0.05, le=300, allow_inf_nan=False)] = 15.0,
) -> StreamingResponse:
    """Server-sent events: ``urgent-message`` when an urgent message arrives for the officer's
    agency, ``alert`` when one of its messages is refused or becomes a dead letter."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    def _put(event: dict[str, Any]) -> None:
        if not queue.full():
            queue.put_nowait(event)

    def push(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(_put, event)

    broker = broker_of(node)
    token = broker.subscribe(principal.agency_id, push)

    def _audit() -> None:
        with node.uow() as s:
            node.record(s, actor=principal.actor, action=Action.MESSAGE_LISTED,
                        object=f"messages:{principal.agency_id}", detail={"stream": "opened"},
                        credential=principal.audit_credential)

    try:
        await run_in_threadpool(_audit)
    except BaseException:
        broker.unsubscribe(token)
        raise
    clearance = principal.clearance.value

    async def events() -> AsyncIterator[str]:
        sent = 0
        try:
            yield ": connected\n\n"
            while limit is None or sent < limit:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=heartbeat)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield ": keep-alive\n\n"
                    continue
                if Handling(event.get("handling", "H0")).rank > Handling(clearance).rank:
                    continue
                yield f"event: {event['event']}\ndata: {json.dumps(event, sort_keys=True)}\n\n"
                sent += 1
        finally:
            broker.unsubscribe(token)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{message_id}", response_model=MessagePublic)
def read(message_id: str, node: NodeDep, principal: MessagesRead) -> MessagePublic:
    """Open a message (the first read of a received message is reported to its sender)."""
    result = services.audited(
        node, actor=principal.actor, obj=f"message:{message_id}",
        fn=lambda s: _public(s, services.read_message(node, s, principal, message_id)),
        credential=principal.audit_credential)
    wake_worker(node)
    return result


@router.post("/{message_id}/reply", response_model=SendResult, status_code=status.HTTP_201_CREATED)
def reply(message_id: str, body: ReplyCreate, node: NodeDep, principal: MessagesSend) -> SendResult:
    """Reply in the message's thread (to its sender; ``reply_all`` for every recipient)."""
    result = services.audited(
        node, actor=principal.actor, obj=f"message:{message_id}",
        fn=lambda s: _sent(services.reply(node, s, principal, message_id, body)),
        credential=principal.audit_credential, grouped=True)
    wake_worker(node)
    return result


@router.post("/{message_id}/acknowledge", response_model=MessagePublic)
def acknowledge(message_id: str, node: NodeDep, principal: MessagesSend) -> MessagePublic:
    """Acknowledge a received message; the acknowledgement travels back to the sender."""
    result = services.audited(
        node, actor=principal.actor, obj=f"message:{message_id}",
        fn=lambda s: _public(s, services.acknowledge(node, s, principal, message_id)),
        credential=principal.audit_credential)
    wake_worker(node)
    return result


@router.post("/{message_id}/recipients/{agency}/retry", response_model=MessagePublic,
             responses=problem_responses(409))
def retry(message_id: str, agency: str, node: NodeDep, principal: MessagesSend) -> MessagePublic:
    """Queue a dead letter again for ``agency``: a fresh envelope, attempts from zero.
    409 ``not-dead-letter`` for a recipient in any other state."""
    result = services.audited(
        node, actor=principal.actor, obj=f"message:{message_id}",
        fn=lambda s: _public(s, services.requeue_recipient(node, s, principal, message_id, agency)),
        credential=principal.audit_credential)
    wake_worker(node)
    return result
