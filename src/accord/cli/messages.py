"""``accord messages …``: send, list, show, reply, acknowledge, retry a dead letter; the outbox.

Commands act as the officer named by ``--as USERNAME`` (their agency, roles and
clearance apply exactly as through the API; the command line runs on the node
itself, so it trusts the operator to name the officer). Sending only queues
the envelopes: the running node's delivery worker sends them within its poll
interval (``accord messages deliver`` sends them from here, for a node that is
not serving).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from accord.auth.domain import Principal
from accord.bootstrap import Node
from accord.cli.common import JsonOpt, console, emit_json, err_console, node_of, run
from accord.errors import AccordError, ValidationFailed
from accord.exchange import services
from accord.exchange.models import Message
from accord.exchange.schemas import BATCH_MAX, MessageCreate, MessagePublic, ReplyCreate, SendResult
from accord.parties import services as parties
from accord.parties.domain import Handling, parse_roles

app = typer.Typer(help="Messages between agencies: send, list, read, reply, acknowledge.",
                  no_args_is_help=True)

AsOpt = Annotated[str, typer.Option("--as", help="Act as this officer (username).")]


def _principal(node: Node, username: str) -> Principal:
    with node.uow() as s:
        officer = parties.get_officer(s, username)
        if not officer.active:
            raise ValidationFailed(f"officer {username} is not active", field="as")
        roles = frozenset(parse_roles(officer.roles))
        return Principal(officer_id=officer.id, username=officer.username,
                         agency_id=officer.agency_id, country=officer.agency_id[:2], roles=roles,
                         officer_roles=roles, clearance=Handling(officer.clearance), via="cli",
                         credential_id="cli")


def _records(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"cannot read records from {path}: {exc}", field="records") from exc
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(i, dict) for i in items):
        raise ValidationFailed("records are FtM entities (JSON objects)", field="records")
    return items


def _sent_view(msg: Message) -> dict[str, Any]:
    view = SendResult.model_validate(msg)
    view.refused = [r for r in view.recipients if r.state == "refused"]
    return view.model_dump(mode="json")


def _print_sent(data: dict[str, Any]) -> None:
    console.print(f"[green]message {data['message_id']} queued[/] — {data['subject']}")
    for r in data["recipients"]:
        if r["state"] == "refused":
            ref = r["refusal"] or {}
            console.print(f"  [red]{r['agency']}: refused[/] ({ref.get('code')}) {ref.get('reason')}")
        else:
            console.print(f"  {r['agency']}: {r['state']}")


@app.command()
def send(
    ctx: typer.Context, as_: AsOpt,
    to: Annotated[list[str], typer.Option("--to", help="Recipient agency (repeatable).")],
    subject: Annotated[str, typer.Option(help="Subject line.")],
    body: Annotated[str, typer.Option(help="Text; '-' reads standard input.")] = "",
    priority: Annotated[str, typer.Option(help="urgent, high or normal.")] = "normal",
    handling: Annotated[str, typer.Option(help="Handling code H0–H3.")] = "H1",
    language: Annotated[str, typer.Option(help="Language of the text (ISO 639).")] = "en",
    case: Annotated[str | None, typer.Option(help="Case reference.")] = None,
    crime_area: Annotated[str | None, typer.Option(help="ICCS code, e.g. 0601.")] = None,
    purpose: Annotated[str, typer.Option(help="prevention, detection, investigation, prosecution.")] = "investigation",
    records: Annotated[Path | None, typer.Option(help="JSON file with FtM entities to attach.")] = None,
    in_reply_to: Annotated[str | None, typer.Option(help="Message id this answers.")] = None,
    as_json: bool = JsonOpt,
) -> None:
    """Send a message to one or more agencies (each decided by the agreements)."""
    def _do() -> None:
        text = sys.stdin.read() if body == "-" else body
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            try:
                cmd = MessageCreate(
                    to=to, subject=subject, body=text, priority=priority, handling=handling,
                    language=language, case_ref=case, crime_area=crime_area, purpose=purpose,
                    records=_records(records), in_reply_to=in_reply_to)
            except ValidationError as exc:
                raise ValidationFailed(str(exc.errors()[0]["msg"])) from None
            data = services.audited(node, actor=principal.actor, obj="message:new",
                                    fn=lambda s: _sent_view(services.send_message(node, s, principal, cmd)),
                                    credential=principal.audit_credential)
        if as_json:
            emit_json(data)
        else:
            _print_sent(data)

    run(_do)


@app.command("send-batch")
def send_batch(
    ctx: typer.Context, as_: AsOpt,
    file: Annotated[Path, typer.Argument(help="JSON lines, one message each (the API's message body).")],
    as_json: bool = JsonOpt,
) -> None:
    """Send many messages from a JSON-lines file. Every line is checked first (a malformed one
    stops everything: nothing is sent); then the messages go in batches of up to 1,000, each
    batch stored in one transaction. A message that is refused (unknown recipient, above
    your clearance, …) is reported with its line and the others are sent."""
    def _do() -> None:
        cmds: list[tuple[int, MessageCreate]] = []
        with file.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    cmds.append((number, MessageCreate.model_validate_json(line)))
                except ValidationError as exc:
                    raise ValidationFailed(f"line {number}: {exc.errors()[0]['msg']}") from None
        ids: list[str] = []
        failed: list[dict[str, object]] = []
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            for start in range(0, len(cmds), BATCH_MAX):
                chunk = cmds[start:start + BATCH_MAX]
                outcomes = services.send_batch(node, principal, [cmd for _, cmd in chunk])
                for (number, _), outcome in zip(chunk, outcomes, strict=True):
                    if isinstance(outcome, AccordError):
                        failed.append({"line": number, "problem": outcome.to_problem()})
                    else:
                        ids.append(outcome.message_id)
                if not as_json and len(cmds) > BATCH_MAX:
                    console.print(f"{min(start + BATCH_MAX, len(cmds))} of {len(cmds)} lines sent")
        if as_json:
            emit_json({"queued": len(ids), "message_ids": ids, "failed": failed})
            return
        console.print(f"[green]{len(ids)} messages queued[/]")
        for failure in failed:
            problem = failure["problem"]
            assert isinstance(problem, dict)
            console.print(f"[red]line {failure['line']}: {problem.get('detail')}[/]")

    run(_do)


@app.command("list")
def list_(
    ctx: typer.Context, as_: AsOpt,
    box: Annotated[str, typer.Option(help="inbox, sent or all.")] = "inbox",
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    thread: Annotated[str | None, typer.Option(help="Only this thread (message id of its start).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: bool = JsonOpt,
) -> None:
    """List the inbox (urgent first), sent messages with recipient states, a case or a thread."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"messages:{principal.agency_id}",
                fn=lambda s: [MessagePublic.model_validate(m).model_dump(mode="json")
                              for m in services.list_messages(node, s, principal, box=box,
                                                              case_ref=case, thread_id=thread,
                                                              limit=limit)],
                credential=principal.audit_credential)
        if as_json:
            emit_json(data)
            return
        table = Table("id", "dir", "priority", "from", "to", "subject", "state")
        for m in data:
            states = ", ".join(f"{r['agency']}:{r['state']}" for r in m["recipients"])
            if m["direction"] != "out":
                states = "acknowledged" if m["acknowledged_at"] else ("read" if m["read_at"] else "new")
            table.add_row(m["message_id"][:12], m["direction"], m["priority"], m["sender"],
                          ", ".join(m["to"]), m["subject"], states)
        console.print(table)

    run(_do)


@app.command()
def show(ctx: typer.Context, message_id: str, as_: AsOpt, as_json: bool = JsonOpt) -> None:
    """Read one message (a first read is reported to the sender)."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)

            def _read(s: Any) -> dict[str, Any]:
                msg = services.read_message(node, s, principal, message_id)
                view = MessagePublic.model_validate(msg)
                view.proof = services.proof_of(s, msg)
                return view.model_dump(mode="json")

            data = services.audited(node, actor=principal.actor, obj=f"message:{message_id}", fn=_read,
                                    credential=principal.audit_credential)
        if as_json:
            emit_json(data)
            return
        console.print(f"[bold]{data['subject']}[/]  ({data['priority']}, {data['handling']})")
        console.print(f"from {data['sender']} ({data['sender_officer']}) to {', '.join(data['to'])}")
        console.print(data["body"])
        for r in data["recipients"]:
            console.print(f"  {r['agency']}: {r['state']}")

    run(_do)


@app.command()
def reply(
    ctx: typer.Context, message_id: str, as_: AsOpt,
    body: Annotated[str, typer.Option(help="Text of the reply.")],
    reply_all: Annotated[bool, typer.Option("--all", help="Also to the other recipients.")] = False,
    as_json: bool = JsonOpt,
) -> None:
    """Reply in the thread of MESSAGE_ID."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            cmd = ReplyCreate(body=body, reply_all=reply_all)
            data = services.audited(
                node, actor=principal.actor, obj=f"message:{message_id}",
                fn=lambda s: _sent_view(services.reply(node, s, principal, message_id, cmd)),
                credential=principal.audit_credential)
        if as_json:
            emit_json(data)
        else:
            _print_sent(data)

    run(_do)


@app.command()
def ack(ctx: typer.Context, message_id: str, as_: AsOpt, as_json: bool = JsonOpt) -> None:
    """Acknowledge a received message."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"message:{message_id}",
                fn=lambda s: MessagePublic.model_validate(
                    services.acknowledge(node, s, principal, message_id)).model_dump(mode="json"),
                credential=principal.audit_credential)
        if as_json:
            emit_json(data)
        else:
            console.print(f"[green]message {message_id} acknowledged[/]")

    run(_do)


@app.command()
def retry(
    ctx: typer.Context, message_id: str,
    agency: Annotated[str, typer.Argument(help="The recipient agency whose delivery is a dead letter.")],
    as_: AsOpt, as_json: bool = JsonOpt,
) -> None:
    """Queue a dead letter again: a fresh envelope to AGENCY, attempts from zero."""
    def _do() -> None:
        with node_of(ctx) as node:
            principal = _principal(node, as_)
            data = services.audited(
                node, actor=principal.actor, obj=f"message:{message_id}",
                fn=lambda s: MessagePublic.model_validate(services.requeue_recipient(
                    node, s, principal, message_id, agency)).model_dump(mode="json"),
                credential=principal.audit_credential)
        if as_json:
            emit_json(data)
        else:
            console.print(f"[green]message {message_id} queued again for {agency}[/]")

    run(_do)


@app.command()
def outbox(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Envelopes in the outbox, by state (pending, done, rejected, dead), and the failed
    delivery attempts (each is in the node's log with its peer, error and next try)."""
    def _do() -> None:
        with node_of(ctx) as node, node.uow() as s:
            data = services.outbox_summary(s)
        if as_json:
            emit_json(data)
        else:
            failed = data.pop("failed_attempts", 0)
            for state, count in sorted(data.items()):
                console.print(f"{state}: {count}")
            console.print(f"failed attempts: {failed}")

    run(_do)


@app.command()
def deliver(ctx: typer.Context) -> None:
    """Deliver what is due in the outbox now, from this process (for a node that is not serving)."""
    from accord.exchange.transport import HttpTransport
    from accord.exchange.worker import DeliveryWorker

    def _do() -> None:
        with node_of(ctx) as node:
            st = node.settings
            worker = DeliveryWorker(node, transport=HttpTransport(timeout=st.exchange_http_timeout_seconds))
            try:
                count = worker.drain()
            finally:
                worker.stop()
        err_console.print(f"{count} envelope(s) handled")

    run(_do)
