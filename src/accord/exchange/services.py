"""Use cases of the exchange: send, list, read, reply, acknowledge, receive.

Sending writes the message, one recipient row per addressee and one sealed
envelope per allowed recipient into the outbox, all in the caller's
transaction: nothing leaves the node before that commits (the delivery worker
in :mod:`accord.exchange.worker` does the sending). Receiving runs every check
of :func:`accord.crypto.envelope.open_envelope`, then replay, payload and the
receiver's own policy decision, and stores the message, the proof (signed
header and signature) and the signed receipt in one transaction — or nothing
at all, with the rejection written to the audit trail in a transaction of its
own (folded per source when nothing about the envelope is authenticated:
:mod:`accord.exchange.rejections`). A sender key not known yet, of an agency on
a pinned peer, makes the receiver refresh that peer once and try again
(:mod:`accord.exchange.refresh`). A dead letter can be queued again in a fresh
envelope (:func:`requeue_recipient`).

Read and acknowledge travel back to the sender as envelopes too
(``accord/message-status``), through the same outbox.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import ValidationError
from sqlalchemy import Table, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from accord.agreements import Actor, Decision, DecisionCode, Handling, Purpose, Resource
from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.crypto.canonical import canonical_json, parse_json, sha256_hex
from accord.crypto.envelope import (
    EnvelopeRejected,
    EnvelopeTooLarge,
    OpenedEnvelope,
    RecipientKey,
    RevokedKey,
    SenderKey,
    UnknownKey,
    WrongRecipient,
    envelope_id,
    open_envelope,
    seal,
    verify_signed_header,
)
from accord.crypto.keys import load_public
from accord.db import tx_cache
from accord.errors import AccordError, PermissionDenied, PolicyDenied, ValidationFailed
from accord.exchange.domain import (
    CONTENT_MESSAGE,
    CONTENT_STATUS,
    MessagePayload,
    Priority,
    RecipientState,
    StatusPayload,
    advance,
    categories_of,
    clean_subject,
    validate_records,
)
from accord.exchange.errors import (
    EnvelopeReplayed,
    MessageNotFound,
    NotDeadLetter,
    PayloadInvalid,
    ReceiverPolicyDenied,
    RecipientNotFound,
    UnknownRecipient,
)
from accord.exchange.events import broker_of
from accord.exchange.models import INBOX, MESSAGES, OUTBOX, RECIPIENTS, InboxEntry, Message, OutboxEntry, Recipient
from accord.exchange.receipts import sign_receipt
from accord.exchange.refresh import learn_key
from accord.exchange.rejections import Folded, RejectionLedger, Source
from accord.exchange.schemas import MessageCreate, ReplyCreate
from accord.parties.keys import key_row, public_key
from accord.parties.models import Agency, KeyRecord
from accord.parties.services import Fetch

__all__ = [
    "DOMESTIC",
    "Accepted",
    "ContentHandler",
    "Incoming",
    "PreparedMessage",
    "Received",
    "SessionKeys",
    "StoredMessage",
    "Verdict",
    "acknowledge",
    "alert_sender",
    "audited",
    "current_recipient_key",
    "flush_rejections",
    "list_messages",
    "outbox_summary",
    "payload_error",
    "prepare_message",
    "proof_of",
    "queue_envelope",
    "read_message",
    "receive_batch",
    "receive_envelope",
    "record_rejection",
    "register_content",
    "rejection_ledger",
    "reply",
    "requeue_recipient",
    "send_batch",
    "send_grouped",
    "send_message",
    "store_counts",
    "store_message",
    "store_messages",
]

Box = str  # inbox | sent | all
log = logging.getLogger("accord.exchange")
T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


def audited(node: Node, *, actor: str, obj: str, fn: Callable[[Session], T],
            credential: str = "", grouped: bool = False) -> T:
    """Run ``fn`` in one transaction; a refusal or bad input is audited after the rollback.

    Services write their audit entries in the caller's transaction, so an
    error would take its entry down with it; this wrapper (used by the routes
    and the command line) writes one ``exchange:message:denied`` (403) or
    ``exchange:message:failed`` (other 4xx) entry in a transaction of its own.
    ``grouped``: the transaction may be shared with concurrent callers
    (:meth:`Node.grouped`, group commit; ``fn`` opens no transaction of its own).
    """
    try:
        if grouped:
            return node.grouped(fn)
        with node.uow() as s:
            return fn(s)
    except AccordError as exc:
        _audit_failure(node, exc, actor=actor, obj=obj, credential=credential)
        raise


def send_grouped(node: Node, principal: Principal, cmd: MessageCreate,
                 view: Callable[[Message], T]) -> T:
    """:func:`send_message` for the API under load: prepared (checks, policy, sealing) in a
    read-only transaction, then stored in a transaction shared with concurrent senders
    (group commit); ``view`` turns the stored message into the answer inside it. Failures
    are audited as by :func:`audited`."""
    try:
        with node.read() as s:
            prepared = prepare_message(node, s, principal, cmd)
        return node.grouped(lambda s: view(store_message(node, s, prepared)))
    except AccordError as exc:
        _audit_failure(node, exc, actor=principal.actor, obj="message:new",
                       credential=principal.audit_credential)
        raise


def send_batch(node: Node, principal: Principal,
               cmds: Sequence[MessageCreate]) -> list[StoredMessage | AccordError]:
    """Send several messages for one officer in one go (``POST /api/v1/messages/batch``): each
    is checked, decided and sealed on its own as by :func:`send_message` — one that fails
    gets its error (audited as a single send's would be) and the others go on — and the
    accepted ones are stored together in one transaction (shared with concurrent senders:
    group commit). Answers, in order, what was stored or the error. A failure of the commit
    itself (a busy database) raises: nothing of the batch was stored."""
    prepared: list[PreparedMessage | AccordError] = []
    with node.read() as s:
        now = node.now()  # one submission: one instant, so alike flows are decided once
        for cmd in cmds:
            try:
                prepared.append(prepare_message(node, s, principal, cmd, now=now))
            except AccordError as exc:
                prepared.append(exc)
    ready = [p for p in prepared if isinstance(p, PreparedMessage)]
    stored = iter(node.grouped(lambda s: store_messages(node, s, ready)) if ready else [])
    failures = [p for p in prepared if isinstance(p, AccordError)]
    if failures:
        _audit_failures(node, failures, actor=principal.actor, obj="message:new",
                        credential=principal.audit_credential)
    return [p if isinstance(p, AccordError) else next(stored) for p in prepared]


def _audit_failure(node: Node, exc: AccordError, *, actor: str, obj: str, credential: str) -> None:
    _audit_failures(node, [exc], actor=actor, obj=obj, credential=credential)


def _audit_failures(node: Node, errors: Sequence[AccordError], *, actor: str, obj: str,
                    credential: str) -> None:
    """One ``exchange:message:denied`` (403) or ``…:failed`` entry per refused or bad request,
    in one transaction of their own (server errors are logged, not audited here)."""
    audited = [e for e in errors if e.status < 500 and not isinstance(e, EnvelopeRejected)]
    if not audited:
        return
    with node.uow() as s:
        for exc in audited:
            node.record_failure(
                s, actor=actor,
                action=Action.MESSAGE_DENIED if exc.status == 403 else Action.MESSAGE_FAILED,
                object=obj, outcome=exc.slug, error=exc, credential=credential)


def _require(principal: Principal, permission: Permission) -> None:
    principal.require(permission)


def _check_clearance(principal: Principal, handling: str) -> None:
    if Handling(handling).rank > principal.clearance.rank:
        raise PermissionDenied(
            f"handling code {handling} is above your clearance {principal.clearance.value}",
            handling=handling, clearance=principal.clearance.value)


def _visible_handlings(principal: Principal) -> list[str]:
    return [h.value for h in Handling if h.rank <= principal.clearance.rank]


def current_recipient_key(s: Session, agency: str) -> RecipientKey | None:
    """The agency's current encryption key (newest, neither retired nor revoked), or None;
    looked up once per transaction."""
    cache = tx_cache(s, "exchange.recipient_keys")
    if agency in cache:
        return cache[agency]  # type: ignore[no-any-return]
    row = s.scalars(
        select(KeyRecord)
        .where(KeyRecord.owner == agency, KeyRecord.alg == "x25519",
               KeyRecord.retired_at.is_(None), KeyRecord.revoked_at.is_(None))
        .order_by(KeyRecord.created_at.desc())
    ).first()
    key = None
    if row is not None:
        pub = load_public("x25519", row.public_key)
        assert isinstance(pub, X25519PublicKey)
        key = RecipientKey(agency, row.kid, pub)
    cache[agency] = key
    return key


def _recipient_key(s: Session, agency: str) -> RecipientKey:
    key = current_recipient_key(s, agency)
    if key is None:
        raise UnknownRecipient(f"no encryption key is known for {agency}", field="to", agency=agency)
    return key


def _expiry(node: Node, now: datetime) -> datetime:
    st = node.settings
    # an envelope must outlive every retry: at least the dead-letter time plus an hour
    ttl = max(st.exchange_envelope_ttl_seconds, st.exchange_dead_letter_after_seconds + 3600)
    return now + timedelta(seconds=ttl)


def _seal_to(node: Node, s: Session, *, payload: dict[str, Any], content_type: str, sender: str,
             recipient: str, now: datetime) -> tuple[str, str]:
    """Seal ``payload`` from ``sender`` to the agency ``recipient``: (envelope id, envelope)."""
    kid, key = node.keys.signing_key(s, sender)
    env_id = uuid.uuid4().hex
    envelope = seal(payload, sender=SenderKey(sender, kid, key),
                    recipients=[_recipient_key(s, recipient)], envelope_id=env_id,
                    created=now, expires=_expiry(node, now), content_type=content_type)
    return env_id, canonical_json(envelope).decode("utf-8")


def _outbox_values(env_id: str, envelope: str, *, content_type: str, sender: str,
                   recipient: str, node_id: str, recipient_pk: int | None,
                   now: datetime) -> dict[str, Any]:
    return {"envelope_id": env_id, "content_type": content_type, "sender": sender,
            "recipient": recipient, "node_id": node_id, "recipient_pk": recipient_pk,
            "envelope": envelope, "state": "pending", "attempts": 0, "created_at": now,
            "next_attempt_at": now}


def _outbox_row(env_id: str, envelope: str, *, content_type: str, sender: str, recipient: str,
                node_id: str, recipient_pk: int | None, now: datetime) -> OutboxEntry:
    return OutboxEntry(**_outbox_values(env_id, envelope, content_type=content_type, sender=sender,
                                        recipient=recipient, node_id=node_id,
                                        recipient_pk=recipient_pk, now=now))


def _enqueue(
    node: Node, s: Session, *, payload: dict[str, Any], content_type: str, sender: str,
    recipient: Agency, recipient_pk: int | None, now: datetime,
) -> OutboxEntry:
    """Seal ``payload`` from ``sender`` to ``recipient`` and put it in the outbox."""
    env_id, envelope = _seal_to(node, s, payload=payload, content_type=content_type,
                                sender=sender, recipient=recipient.id, now=now)
    entry = _outbox_row(env_id, envelope, content_type=content_type, sender=sender,
                        recipient=recipient.id, node_id=recipient.node_id,
                        recipient_pk=recipient_pk, now=now)
    s.add(entry)
    return entry


def queue_envelope(node: Node, s: Session, *, payload: dict[str, Any], content_type: str,
                   sender: str, recipient: str) -> OutboxEntry:
    """Seal ``payload`` (a registered content type) from ``sender`` to the agency
    ``recipient`` and queue it in the caller's transaction; the delivery worker sends it
    with every guarantee a message has (retries, receipt, exactly-once on the receiver).
    The caller decides policy and audits before. Raises :class:`UnknownRecipient`."""
    target = s.get(Agency, recipient)
    if target is None:
        raise UnknownRecipient(f"unknown agency {recipient}", field="to", agency=recipient)
    return _enqueue(node, s, payload=payload, content_type=content_type, sender=sender,
                    recipient=target, recipient_pk=None, now=node.now())


def _own_copy(s: Session, agency: str, message_id: str) -> Message:
    msg = s.scalars(
        select(Message).where(Message.message_id == message_id, Message.owner == agency)
    ).first()
    if msg is None:
        raise MessageNotFound(f"no message {message_id} in the mailbox of {agency}",
                              message_id=message_id)
    return msg


@dataclass(frozen=True)
class Verdict:
    """A policy decision as the exchange uses it (a PDP decision, or a domestic exchange)."""

    allowed: bool
    code: str
    reason: str
    basis: dict[str, Any] | None
    obligations: dict[str, Any] | None

    @classmethod
    def of(cls, decision: Decision) -> Verdict:
        data = decision.to_dict()
        return cls(decision.allowed, decision.code.value, decision.reason, data["basis"],
                   data["obligations"])

    @property
    def clause(self) -> str | None:
        b = self.basis
        return f"{b['agreement_id']} v{b['version']} clause {b['clause_id']}" if b else None

    @property
    def basis_text(self) -> str:
        b = self.basis
        return f"{b['agreement_id']}@{b['version']}#{b['clause_id']}" if b else ""

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "code": self.code, "reason": self.reason,
                "basis": self.basis, "obligations": self.obligations}

    def refusal(self, side: str) -> dict[str, Any]:
        return {"side": side, "code": self.code, "reason": self.reason, "basis": self.basis,
                "clause": self.clause}


DOMESTIC = "domestic"


def _policy(node: Node, s: Session | None, *, actor: Actor, resource: Resource, purpose: str,
            by: str, side: str, at: datetime, record: bool = True, credential: str = "") -> Verdict:
    """Ask the policy decision point about one flow and audit the answer.

    Agreements are between countries: two agencies of one country (on this node
    or not) exchange under national law, so when no agreement names them the
    flow is allowed as ``domestic``; every other answer is the PDP's own.
    """
    decision = node.policy.decide(actor, "message", resource, purpose, at)
    if (not decision.allowed and decision.code is DecisionCode.NO_AGREEMENT
            and actor.agency[:2] == actor.counterpart[:2]):
        verdict = Verdict(True, DOMESTIC,
                          f"Allowed: {actor.agency} and {actor.counterpart} are both in "
                          f"{actor.agency[:2]}; a domestic exchange is governed by national law, "
                          "not by an agreement between countries.", None, None)
    else:
        verdict = Verdict.of(decision)
    if record:
        assert s is not None, "recording a decision needs the caller's session"
        _record_verdict(node, s, verdict, actor=actor, resource=resource, purpose=purpose, by=by,
                        side=side, credential=credential)
    return verdict


def _record_verdict(node: Node, s: Session, verdict: Verdict, *, actor: Actor, resource: Resource,
                    purpose: str, by: str, side: str, credential: str = "") -> None:
    """The decision's audit entry, in the format of :meth:`PolicyService.decide_and_record`."""
    node.record_at_commit(s, actor=by, action=Action.POLICY_DECISION,
                object=f"flow:{actor.agency}->{actor.counterpart}:message", purpose=purpose,
                basis=verdict.basis_text or (DOMESTIC if verdict.code == DOMESTIC else ""),
                outcome="allow" if verdict.allowed else "deny",
                detail={"side": side, "decision": verdict.to_dict(), "resource": resource.to_dict()},
                credential=credential)


# --------------------------------------------------------------------------- send


def send_message(node: Node, s: Session, principal: Principal, cmd: MessageCreate) -> Message:
    """Compose and queue a message; each recipient is decided by the policy decision point.

    A recipient the agreements refuse is kept with state ``refused``, the
    clause and the reason; the others get the message. Raises
    :class:`ValidationFailed` / :class:`UnknownRecipient` for a bad message
    (nothing stored) and :class:`PermissionDenied` above the officer's clearance.
    """
    return store_message(node, s, prepare_message(node, s, principal, cmd))


@dataclass
class PreparedMessage:
    """A message checked, decided and sealed (:func:`prepare_message`), not stored yet."""

    principal: Principal
    cmd: MessageCreate
    message_id: str
    thread_id: str
    now: datetime
    recipients: list[str]
    records: list[Any]
    categories: list[str]
    resource: Resource
    decisions: dict[str, Verdict]
    envelopes: dict[str, tuple[str, str, str]]  # agency -> (node id, envelope id, envelope)


def _agency_nodes(s: Session, agencies: list[str]) -> dict[str, str]:
    """The node of each known agency among ``agencies`` (looked up once per transaction)."""
    cache = tx_cache(s, "exchange.agency_nodes")
    missing = [a for a in agencies if a not in cache]
    if missing:
        found = dict(s.execute(select(Agency.id, Agency.node_id).where(Agency.id.in_(missing))).all())
        for agency in missing:
            cache[agency] = found.get(agency)
    return {a: cache[a] for a in agencies if cache[a] is not None}


def _decided(node: Node, s: Session, *, actor: Actor, resource: Resource, purpose: str,
             at: datetime) -> Verdict:
    """The sender's decision on one flow (not recorded): the same question at the same instant
    is asked of the policy decision point once per transaction (a batch of messages)."""
    cache = tx_cache(s, "exchange.decisions")
    key = (actor, resource, purpose, at)
    if key not in cache:
        cache[key] = _policy(node, s, actor=actor, resource=resource, purpose=purpose, by="",
                             side="sender", at=at, record=False)
    return cache[key]  # type: ignore[no-any-return]


def prepare_message(node: Node, s: Session, principal: Principal, cmd: MessageCreate, *,
                    now: datetime | None = None) -> PreparedMessage:
    """Everything of sending that only reads: validation, recipients and their keys, the
    thread, the policy decisions, the payload, and the sealed envelopes (signing and
    encryption). ``s`` may be a read-only session: the costly part of a send runs outside
    the write transaction, so writers (on SQLite, the one writer) are held only for the
    inserts (:func:`store_message`)."""
    _require(principal, Permission.MESSAGES_SEND)
    sender = principal.agency_id
    _check_clearance(principal, cmd.handling.value)
    recipients = list(dict.fromkeys(cmd.to))
    if sender in recipients:
        raise ValidationFailed(f"{sender} cannot send a message to itself", field="to")
    try:
        records = validate_records(cmd.records)
    except (ValueError, ValidationError) as exc:
        raise ValidationFailed(f"an attached record is not a valid FtM entity: {_first_error(exc)}",
                               field="records") from None
    known = _agency_nodes(s, recipients)
    unknown = [r for r in recipients if r not in known]
    if unknown:
        raise UnknownRecipient(f"unknown agencies: {', '.join(unknown)}", field="to", agencies=unknown)
    for agency in recipients:  # fail before anything is written, not half-way
        _recipient_key(s, agency)

    thread_id = message_id = uuid.uuid4().hex
    if cmd.in_reply_to is not None:
        thread_id = _own_copy(s, sender, cmd.in_reply_to).thread_id
    now = now or node.now()
    categories = categories_of(records)
    try:
        resource = Resource(categories, cmd.crime_area, cmd.handling)
        decisions = {
            r: _decided(node, s, actor=Actor(sender, r, officer=principal.username,
                                             clearance=principal.clearance.value),
                        resource=resource, purpose=cmd.purpose.value, at=now)
            for r in recipients
        }
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="crime_area") from None
    allowed = [r for r in recipients if decisions[r].allowed]
    envelopes: dict[str, tuple[str, str, str]] = {}
    if allowed:
        try:
            payload = MessagePayload(
                message_id=message_id, thread_id=thread_id, in_reply_to=cmd.in_reply_to,
                sender=sender, sender_officer=principal.actor, to=allowed,
                subject=clean_subject(cmd.subject), body=cmd.body, language=cmd.language,
                priority=cmd.priority, handling=cmd.handling, case_ref=cmd.case_ref,
                crime_area=cmd.crime_area, purpose=cmd.purpose, records=records,
                evidence=cmd.evidence, created=now,
            ).model_dump(mode="json", by_alias=True)
        except ValidationError as exc:
            raise ValidationFailed(f"the message is not valid: {_first_error(exc)}") from None
        for agency in allowed:
            env_id, text = _seal_to(node, s, payload=payload, content_type=CONTENT_MESSAGE,
                                    sender=sender, recipient=agency, now=now)
            envelopes[agency] = (known[agency], env_id, text)
    return PreparedMessage(principal, cmd, message_id, thread_id, now, recipients, records,
                           sorted(c.value for c in categories), resource, decisions, envelopes)


def store_message(node: Node, s: Session, prepared: PreparedMessage) -> Message:
    """Write a prepared message (:func:`store_messages`) and return it with its recipients."""
    msg = s.get(Message, store_messages(node, s, [prepared])[0].pk)
    assert msg is not None
    return msg


@dataclass(frozen=True)
class StoredMessage:
    """What :func:`store_messages` wrote of one message: its row id, and each recipient's state
    with the refusal of those the agreements refused (sorted by agency)."""

    pk: int
    message_id: str
    created_at: datetime
    states: dict[str, str]
    refusals: dict[str, dict[str, Any]]


def _insert_rows(s: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in as few multi-row statements as their sets of columns allow and return
    their ids in order. A column a row leaves out gets its SQL default (NULL) — a JSON column
    given ``None`` would hold JSON ``null`` instead, so rows name only the columns they set."""
    ids: list[int] = [0] * len(rows)
    shapes: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        shapes.setdefault(tuple(row), []).append(i)
    for positions in shapes.values():
        got = s.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                        [rows[i] for i in positions]).all()
        for i, pk in zip(positions, got, strict=True):
            ids[i] = int(pk)
    return ids


def store_messages(node: Node, s: Session, prepared: Sequence[PreparedMessage]) -> list[StoredMessage]:
    """Write prepared messages in the caller's transaction: each message, one recipient row per
    addressee, the sealed envelopes in the outbox and the audit entries (per message: its
    policy decisions, then ``exchange:message:sent``). One multi-row insert per table for
    all of them (SQLAlchemy Core: the ORM's unit of work was half the CPU of a send)."""
    if not prepared:
        return []
    pks = _insert_rows(s, MESSAGES, [_message_row(p) for p in prepared])
    rec_rows: list[dict[str, Any]] = []
    owners: list[tuple[PreparedMessage, str]] = []
    stored: list[StoredMessage] = []
    for p, pk in zip(prepared, pks, strict=True):
        states: dict[str, str] = {}
        refusals: dict[str, dict[str, Any]] = {}
        for agency in sorted(p.recipients):  # the order of Message.recipients
            row: dict[str, Any] = {"message_pk": pk, "agency": agency, "queued_at": p.now,
                                   "state": RecipientState.QUEUED.value}
            decision = p.decisions[agency]
            if not decision.allowed:
                refusals[agency] = decision.refusal("sender")
                row.update(state=RecipientState.REFUSED.value, refused_at=p.now,
                           refusal=refusals[agency])
            elif agency in p.envelopes:
                row["envelope_id"] = p.envelopes[agency][1]
            states[agency] = row["state"]
            rec_rows.append(row)
            owners.append((p, agency))
        stored.append(StoredMessage(pk, p.message_id, p.now, states, refusals))
    rec_pks = _insert_rows(s, RECIPIENTS, rec_rows)
    outbox = [
        _outbox_values(p.envelopes[agency][1], p.envelopes[agency][2], content_type=CONTENT_MESSAGE,
                       sender=p.principal.agency_id, recipient=agency,
                       node_id=p.envelopes[agency][0], recipient_pk=rec_pk, now=p.now)
        for (p, agency), rec_pk in zip(owners, rec_pks, strict=True)
        if p.decisions[agency].allowed and agency in p.envelopes
    ]
    if outbox:
        s.execute(insert(OUTBOX), outbox)
    for p, done in zip(prepared, stored, strict=True):
        _audit_sent(node, s, p, done.states)
    return stored


def _message_row(p: PreparedMessage) -> dict[str, Any]:
    cmd, principal = p.cmd, p.principal
    return {
        "message_id": p.message_id, "owner": principal.agency_id, "direction": "out",
        "thread_id": p.thread_id, "in_reply_to": cmd.in_reply_to, "sender": principal.agency_id,
        "sender_officer": principal.actor, "to": p.recipients, "categories": p.categories,
        "created_at": p.now, **_content_columns(cmd, p.records),
    }


def _content_columns(m: MessageCreate | MessagePayload, records: Sequence[Any]) -> dict[str, Any]:
    """The columns of a message row that come from its content, alike for the sender's copy
    (from the command) and a recipient's (from the payload)."""
    return {"subject": clean_subject(m.subject), "body": m.body, "language": m.language,
            "priority": m.priority.value, "priority_rank": m.priority.rank,
            "handling": m.handling.value, "case_ref": m.case_ref, "crime_area": m.crime_area,
            "purpose": m.purpose.value, "records": [r.to_ftm() for r in records],
            "evidence": [e.model_dump() for e in m.evidence]}


def _audit_sent(node: Node, s: Session, p: PreparedMessage, states: dict[str, str]) -> None:
    """A sent message's audit entries: the sender's policy decision per recipient, then
    ``exchange:message:sent``."""
    cmd, principal, sender = p.cmd, p.principal, p.principal.agency_id
    for agency in p.recipients:
        _record_verdict(node, s, p.decisions[agency],
                        actor=Actor(sender, agency, officer=principal.username,
                                    clearance=principal.clearance.value),
                        resource=p.resource, purpose=cmd.purpose.value, by=principal.actor,
                        side="sender", credential=principal.audit_credential)
    node.record_at_commit(
        s, actor=principal.actor, action=Action.MESSAGE_SENT, object=f"message:{p.message_id}",
        purpose=cmd.purpose.value,
        detail={"recipients": states, "categories": p.categories, "handling": cmd.handling.value,
                "priority": cmd.priority.value, "case_ref": cmd.case_ref,
                "crime_area": cmd.crime_area, "in_reply_to": cmd.in_reply_to,
                "records": len(p.records)},
        credential=principal.audit_credential,
    )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        if errors:
            first = errors[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            return f"{loc}: {first.get('msg', '')}" if loc else str(first.get("msg", ""))
    return str(exc)


def reply(node: Node, s: Session, principal: Principal, message_id: str, cmd: ReplyCreate) -> Message:
    """Reply in the thread of ``message_id`` (to its sender; ``reply_all`` adds the other recipients)."""
    original = _own_copy(s, principal.agency_id, message_id)
    me = principal.agency_id
    if original.direction == "out":
        to = list(original.to)
    elif original.direction == "in":
        to = [original.sender] + ([a for a in original.to if a != me] if cmd.reply_all else [])
    else:
        raise ValidationFailed("alerts of this node cannot be replied to", field="message_id")
    subject = cmd.subject or (original.subject if original.subject.lower().startswith("re:")
                              else f"Re: {original.subject}")[:300]
    create = MessageCreate(
        to=to, subject=subject, body=cmd.body, language=original.language,
        priority=cmd.priority or Priority(original.priority),
        handling=cmd.handling or Handling(original.handling), case_ref=original.case_ref,
        crime_area=original.crime_area, purpose=original.purpose, records=cmd.records,
        evidence=cmd.evidence, in_reply_to=original.message_id,
    )
    return send_message(node, s, principal, create)


# --------------------------------------------------------------------------- dead letters


def requeue_recipient(node: Node, s: Session, principal: Principal, message_id: str,
                      agency: str) -> Message:
    """Queue a dead letter again: a fresh envelope to ``agency``, attempts from zero.

    Only an officer of the sending agency (``messages:send``, clearance for the
    message) can, and only for a recipient in ``dead-letter`` (else
    :class:`NotDeadLetter`, 409). The agreements are asked again (side
    ``sender``): they may have changed since the message was sent. The new
    envelope (new id, new expiry, sealed to the recipient's current key) goes
    into the outbox in the caller's transaction; the dead one stays as it was.
    """
    _require(principal, Permission.MESSAGES_SEND)
    msg = _own_copy(s, principal.agency_id, message_id)
    _check_clearance(principal, msg.handling)
    rec = next((r for r in msg.recipients if r.agency == agency), None)
    if msg.direction != "out" or rec is None:
        raise RecipientNotFound(f"message {message_id} was not sent to {agency}",
                                message_id=message_id, agency=agency)
    if rec.state != RecipientState.DEAD_LETTER.value:
        raise NotDeadLetter(f"{agency} is {rec.state}, not a dead letter: only a dead letter "
                            "is queued again", state=rec.state)
    target = s.get(Agency, agency)
    if target is None:
        raise UnknownRecipient(f"agency {agency} is no longer known", field="agency", agency=agency)
    now = node.now()
    records = validate_records(msg.records)
    resource = Resource(categories_of(records), msg.crime_area, Handling(msg.handling))
    verdict = _policy(node, s, actor=Actor(msg.sender, agency, officer=principal.username,
                                           clearance=principal.clearance.value),
                      resource=resource, purpose=msg.purpose, by=principal.actor, side="sender",
                      at=now, credential=principal.audit_credential)
    if not verdict.allowed:
        raise PolicyDenied(f"the agreements no longer allow this message to {agency}: "
                           f"{verdict.reason}", code=verdict.code, clause=verdict.clause)
    # the payload as first sent: it named the recipients the sender's policy allowed then
    refused_then = {r.agency for r in msg.recipients
                    if r.refusal is not None and r.refusal.get("side") == "sender"}
    payload = MessagePayload(
        message_id=msg.message_id, thread_id=msg.thread_id, in_reply_to=msg.in_reply_to,
        sender=msg.sender, sender_officer=msg.sender_officer,
        to=[a for a in msg.to if a not in refused_then], subject=msg.subject, body=msg.body,
        language=msg.language, priority=Priority(msg.priority), handling=Handling(msg.handling),
        case_ref=msg.case_ref, crime_area=msg.crime_area, purpose=Purpose(msg.purpose),
        records=records, evidence=msg.evidence, created=msg.created_at,
    ).model_dump(mode="json", by_alias=True)
    previous = rec.envelope_id
    old = s.scalars(select(OutboxEntry).where(OutboxEntry.envelope_id == previous)).first() \
        if previous else None
    entry = _enqueue(node, s, payload=payload, content_type=CONTENT_MESSAGE, sender=msg.sender,
                     recipient=target, recipient_pk=rec.id, now=now)
    dead_at = rec.dead_at
    rec.envelope_id, rec.state = entry.envelope_id, RecipientState.QUEUED.value
    rec.queued_at, rec.sent_at, rec.dead_at = now, None, None
    node.record_at_commit(s, actor=principal.actor, action=Action.MESSAGE_REQUEUED,
                object=f"message:{msg.message_id}", purpose=msg.purpose,
                basis=verdict.basis_text or (DOMESTIC if verdict.code == DOMESTIC else ""),
                detail={"recipient": agency, "envelope_id": entry.envelope_id,
                        "previous_envelope_id": previous,
                        "previous_attempts": old.attempts if old is not None else None,
                        "previous_error": old.last_error if old is not None else None,
                        "dead_at": dead_at.isoformat() if dead_at else None},
                credential=principal.audit_credential)
    s.flush()
    s.refresh(msg)
    return msg


# --------------------------------------------------------------------------- list, read, acknowledge


def list_messages(
    node: Node, s: Session, principal: Principal, *, box: Box = "inbox", case_ref: str | None = None,
    thread_id: str | None = None, limit: int = 50, offset: int = 0,
) -> list[Message]:
    """The agency's messages the officer may see (handling within clearance).

    ``inbox`` lists received messages and alerts, urgent first then newest;
    ``sent`` the sent ones, newest first; a thread is listed oldest first.
    """
    _require(principal, Permission.MESSAGES_READ)
    if box not in ("inbox", "sent", "all"):
        raise ValidationFailed("box is inbox, sent or all", field="box")
    stmt = select(Message).where(Message.owner == principal.agency_id,
                                 Message.handling.in_(_visible_handlings(principal)))
    if box == "inbox":
        stmt = stmt.where(Message.direction.in_(("in", "sys")))
    elif box == "sent":
        stmt = stmt.where(Message.direction == "out")
    if case_ref is not None:
        stmt = stmt.where(Message.case_ref == case_ref)
    if thread_id is not None:
        stmt = stmt.where(Message.thread_id == thread_id).order_by(Message.created_at, Message.id)
    elif box == "inbox":
        stmt = stmt.order_by(Message.priority_rank, Message.created_at.desc(), Message.id.desc())
    else:
        stmt = stmt.order_by(Message.created_at.desc(), Message.id.desc())
    rows = list(s.scalars(stmt.limit(max(1, min(limit, 1000))).offset(max(0, offset))))
    node.record_at_commit(s, actor=principal.actor, action=Action.MESSAGE_LISTED,
                object=f"messages:{principal.agency_id}",
                detail={"box": box, "case_ref": case_ref, "thread_id": thread_id,
                        "count": len(rows), "message_ids": [m.message_id for m in rows][:100]},
                credential=principal.audit_credential)
    return rows


def read_message(node: Node, s: Session, principal: Principal, message_id: str) -> Message:
    """Open one message; the first read of a received message is reported to its sender."""
    obj = f"message:{message_id}"
    _require(principal, Permission.MESSAGES_READ)
    msg = _own_copy(s, principal.agency_id, message_id)
    _check_clearance(principal, msg.handling)
    now = node.now()
    first = msg.direction == "in" and msg.read_at is None
    if first:
        msg.read_at, msg.read_by = now, principal.actor
        _queue_status(node, s, msg, "read", principal, now)
    node.record_at_commit(s, actor=principal.actor, action=Action.MESSAGE_READ, object=obj,
                purpose=msg.purpose, detail={"direction": msg.direction, "first_read": first},
                credential=principal.audit_credential)
    return msg


def acknowledge(node: Node, s: Session, principal: Principal, message_id: str) -> Message:
    """Acknowledge a received message (reading it first if nobody has); idempotent."""
    obj = f"message:{message_id}"
    _require(principal, Permission.MESSAGES_SEND)
    msg = _own_copy(s, principal.agency_id, message_id)
    _check_clearance(principal, msg.handling)
    if msg.direction != "in":
        raise ValidationFailed("only received messages are acknowledged", field="message_id")
    now = node.now()
    if msg.read_at is None:
        msg.read_at, msg.read_by = now, principal.actor
        _queue_status(node, s, msg, "read", principal, now)
    first = msg.acknowledged_at is None
    if first:
        msg.acknowledged_at, msg.acknowledged_by = now, principal.actor
        _queue_status(node, s, msg, "acknowledged", principal, now)
    node.record_at_commit(s, actor=principal.actor, action=Action.MESSAGE_ACKNOWLEDGED, object=obj,
                purpose=msg.purpose, detail={"first": first}, credential=principal.audit_credential)
    return msg


def _queue_status(node: Node, s: Session, msg: Message, state: str, principal: Principal,
                  now: datetime) -> None:
    sender = s.get(Agency, msg.sender)
    if sender is None:  # the sender's agency is no longer known: nothing to report to
        return
    payload = StatusPayload(message_id=msg.message_id, agency=msg.owner, state=state,
                            at=now, by=principal.actor[:200]).model_dump(mode="json")
    _enqueue(node, s, payload=payload, content_type=CONTENT_STATUS, sender=msg.owner,
             recipient=sender, recipient_pk=None, now=now)


def proof_of(s: Session, msg: Message) -> dict[str, Any] | None:
    """What proves a received message: the signed header, signature, payload commitment and salt."""
    if msg.envelope_id is None:
        return None
    row = s.get(InboxEntry, msg.envelope_id)
    if row is None:
        return None
    return {"envelope_id": row.envelope_id, "sender_kid": row.sender_kid,
            "signed_header": row.signed_header, "signature": row.signature,
            "payload_sha256": row.payload_digest, "payload_salt": row.payload_salt,
            "receipt": row.receipt}


# --------------------------------------------------------------------------- alerts


def alert_sender(node: Node, s: Session, rec: Recipient, *, what: str, reason: str) -> Message:
    """Tell the sending agency, in its inbox, that a recipient will not get its message."""
    original = rec.message
    now = node.now()
    alert = Message(
        message_id=uuid.uuid4().hex, owner=original.owner, direction="sys",
        thread_id=original.thread_id, in_reply_to=original.message_id, sender=original.owner,
        sender_officer=f"node:{node.settings.node_id}", to=[original.owner],
        subject=f"{what}: {rec.agency} — {original.subject}"[:300],
        body=f"Your message {original.message_id} to {rec.agency} {reason}",
        language="en", priority=Priority.HIGH.value, priority_rank=Priority.HIGH.rank,
        handling=original.handling, case_ref=original.case_ref, crime_area=original.crime_area,
        purpose=original.purpose, categories=[], records=[], evidence=[], created_at=now,
        received_at=now,
    )
    s.add(alert)
    s.flush()
    return alert


# --------------------------------------------------------------------------- receive


@dataclass(frozen=True)
class Incoming:
    """An opened, verified envelope's payload as a content handler gets it."""

    payload: dict[str, Any]
    sender: str
    recipient: str
    envelope_id: str
    now: datetime


@dataclass(frozen=True)
class Accepted:
    """What a content handler stored: the object's id (for the receipt's audit entry and the
    event), whether it is urgent (pushed to connected officers) and its handling code."""

    object_id: str | None
    urgent: bool = False
    handling: str = "H0"


ContentHandler = Callable[[Node, Session, Incoming], Accepted]
_HANDLERS: dict[str, ContentHandler] = {}


def register_content(content_type: str, handler: ContentHandler) -> None:
    """Accept envelopes of ``content_type`` (e.g. ``accord/alert``) with ``handler``.

    The handler runs inside the receiving transaction, after every envelope check
    (signature, decryption, expiry, replay of the envelope id): it validates the
    payload, decides policy on the receiving side, stores what it carries and audits
    it — or raises an :class:`EnvelopeRejected` (``PayloadInvalid``,
    ``ReceiverPolicyDenied``, ``EnvelopeReplayed``), and nothing of the envelope is
    stored. The receipt, the inbox row and the ``exchange:envelope:accepted`` entry
    are written here, as for messages. Capabilities register their content types
    when their module is imported (:mod:`accord.web.app` imports them).
    """
    if content_type in (CONTENT_MESSAGE, CONTENT_STATUS):
        raise ValueError(f"{content_type} is the exchange's own content type")
    _HANDLERS[content_type] = handler


@dataclass(frozen=True)
class Received:
    receipt: dict[str, Any]
    duplicate: bool
    message_id: str | None = None
    recipient: str | None = None
    urgent: bool = False
    sender: str | None = None
    handling: str = "H0"


class SessionKeys:
    """The key store as the envelope module's :class:`KeyResolver`, in one session (every
    route that opens envelopes: messages, batches, hit/no-hit queries)."""

    def __init__(self, node: Node, s: Session) -> None:
        self.node, self.s = node, s

    def signing_key(self, agency: str, kid: str) -> Ed25519PublicKey:
        row = key_row(self.s, kid)
        if row is None or row.alg != "ed25519" or row.owner != agency:
            raise UnknownKey(f"no signing key {kid} is known for {agency}")
        if row.revoked_at is not None:
            raise RevokedKey(f"{agency}'s key {kid} was revoked")
        pub = public_key(self.s, row)
        assert isinstance(pub, Ed25519PublicKey)
        return pub

    def decryption_key(self, agency: str, kid: str) -> X25519PrivateKey:
        row = key_row(self.s, kid)
        if row is None or row.alg != "x25519" or row.owner != agency or row.private_path is None:
            raise UnknownKey(f"{agency} holds no decryption key {kid}")
        return self.node.keys.encryption_key(self.s, kid)


def _peek(raw: bytes) -> tuple[str, list[str]]:
    """Sender and recipients as the (not yet verified) header claims them."""
    header = parse_json(raw)["header"]
    return str(header["sender"]), [str(r["agency"]) for r in header["recipients"]]


def receive_envelope(node: Node, raw: bytes, *, remote: str | None = None,
                     fetch: Fetch | None = None) -> Received:
    """Accept one envelope from a peer (or from this node), or reject it with a reason.

    Returns the signed receipt (the original one for an exact duplicate).
    Raises an :class:`EnvelopeRejected` whose ``reason`` says why; then
    nothing is stored but the rejection's audit entry (folded with others for
    unauthenticated envelopes: :mod:`accord.exchange.rejections`).

    A sender key this node does not know, of an agency on a pinned peer, makes
    it refresh that peer's keys once (``fetch``, no transaction open, rate
    limited: :func:`accord.exchange.refresh.learn_key`) and try again once.
    ``remote`` is the address the envelope came from, if known.
    """
    max_bytes = node.settings.exchange_envelope_max_bytes
    try:
        if len(raw) > max_bytes:
            raise EnvelopeTooLarge(f"envelope is {len(raw)} bytes, the limit is {max_bytes}",
                                   size=len(raw), limit=max_bytes)
        env_id = envelope_id(raw, max_bytes=max_bytes)
        try:
            received = _receive_once(node, raw, env_id)
        except UnknownKey:
            sender, kid = _claimed_key(raw)
            if not learn_key(node, agency=sender, kid=kid, fetch=fetch):
                raise
            received = _receive_once(node, raw, env_id)
    except EnvelopeRejected as exc:
        record_rejection(node, raw, exc, remote=remote)
        raise
    if received.duplicate:
        _note_duplicate(node, received, env_id, remote=remote)
    _publish_urgent(node, received)
    return received


def receive_batch(node: Node, raws: Sequence[bytes], *, remote: str | None = None,
                  fetch: Fetch | None = None) -> list[Received | AccordError]:
    """Accept a batch of envelopes from a peer: one answer per envelope, in order.

    Each envelope goes through every check of :func:`receive_envelope` on its own,
    in a SAVEPOINT of one shared transaction: the accepted ones are committed
    together with their audit entries (one commit, one audit append), a refused
    one is rolled back alone and answered with its :class:`EnvelopeRejected` (its
    rejection audited as for a single envelope), so one bad envelope never sinks
    the batch. Unknown sender keys are learnt (no transaction open) and their
    envelopes tried once more, as for a single envelope. An unexpected failure of
    one envelope is answered as an :class:`AccordError` 500 for that envelope
    (the sender retries it); a failure of the commit raises, and the sender
    retries the whole batch (the receiver's store is keyed by envelope id, so a
    retried envelope that did land is answered with its original receipt).
    """
    results: list[Received | AccordError | None] = [None] * len(raws)
    max_bytes = node.settings.exchange_envelope_max_bytes
    todo: list[tuple[int, bytes, str]] = []
    for i, raw in enumerate(raws):
        try:
            if len(raw) > max_bytes:
                raise EnvelopeTooLarge(f"envelope is {len(raw)} bytes, the limit is {max_bytes}",
                                       size=len(raw), limit=max_bytes)
            todo.append((i, raw, envelope_id(raw, max_bytes=max_bytes)))
        except EnvelopeRejected as exc:
            results[i] = exc
    unknown = _receive_group(node, todo, results)
    if unknown:
        learnt: dict[tuple[str, str], bool] = {}
        for _, raw, _ in unknown:
            claimed = _claimed_key(raw)
            if claimed not in learnt:
                learnt[claimed] = learn_key(node, agency=claimed[0], kid=claimed[1], fetch=fetch)
        _receive_group(node, [u for u in unknown if learnt[_claimed_key(u[1])]], results)
    answers: list[Received | AccordError] = []
    for i, result in enumerate(results):
        assert result is not None
        if isinstance(result, EnvelopeRejected):
            record_rejection(node, raws[i], result, remote=remote)
        elif isinstance(result, Received):
            if result.duplicate:
                _note_duplicate(node, result, _claims(node, raws[i])[0], remote=remote)
            _publish_urgent(node, result)
        answers.append(result)
    return answers


def _receive_group(node: Node, items: list[tuple[int, bytes, str]],
                   results: list[Received | AccordError | None]) -> list[tuple[int, bytes, str]]:
    """Receive ``items`` in one transaction; fills ``results`` and returns the items refused
    for an unknown sender key (to learn it and try again).

    Every envelope is opened and checked on its own (signature, decryption, replay, payload,
    the receiver's policy), with nothing written. The messages among them that pass are then
    stored together — one multi-row insert per table, each with its receipt and its audit
    entries — and any other content (a status, a registered content type) is stored on its
    own in a SAVEPOINT, rolled back alone if it fails. If the bulk insert meets an envelope
    or message stored concurrently (PostgreSQL), those envelopes are received one by one
    after the commit, as duplicates are."""
    if not items:
        return []
    unknown: list[tuple[int, bytes, str]] = []
    conflicts: list[tuple[int, bytes, str]] = []
    with node.uow() as s:
        now = node.now()
        ids = sorted({env_id for _, _, env_id in items})
        existing = {e.envelope_id: e for e in s.scalars(
            select(InboxEntry).where(InboxEntry.envelope_id.in_(ids)))}
        seen: set[str] = set()
        opened: list[tuple[tuple[int, bytes, str], _Opened]] = []
        for item in items:
            i, raw, env_id = item
            if env_id in seen:  # twice in one batch: answered as a duplicate once committed
                conflicts.append(item)
                continue
            seen.add(env_id)
            try:
                got = _open_in(node, s, raw, env_id, existing.get(env_id), now)
            except UnknownKey as exc:
                unknown.append(item)
                results[i] = exc
                continue
            except AccordError as exc:
                results[i] = exc
                continue
            except Exception as exc:
                results[i] = _failed_on_receipt(env_id, exc)
                continue
            if isinstance(got, Received):
                results[i] = got
            elif got.opened.content_type == CONTENT_MESSAGE:
                opened.append((item, got))
            else:
                _receive_alone(node, s, item, results, conflicts, partial(_store_other, node, s, got))
        delivered = _delivered_ids(s, [(o, x) for _, x in opened for o in [x.opened]])
        checked: list[tuple[tuple[int, bytes, str], _Opened, _IncomingMessage]] = []
        for item, got in opened:
            try:
                incoming = _check_message(node, got, delivered)
            except AccordError as exc:
                results[item[0]] = exc
                continue
            checked.append((item, got, incoming))
        if checked:
            mark = node.audit.mark(s)
            savepoint = s.begin_nested()
            try:
                stored = _store_received(node, s, [(got, incoming) for _, got, incoming in checked])
                savepoint.commit()
            except Exception:  # a row stored concurrently (PostgreSQL), or worse: one by one
                if savepoint.is_active:
                    savepoint.rollback()
                node.audit.rewind(s, mark)
                for item, got, incoming in checked:
                    _receive_alone(node, s, item, results, conflicts,
                                   partial(_store_received, node, s, [(got, incoming)]))
            else:
                for (item, _, _), received in zip(checked, stored, strict=True):
                    results[item[0]] = received
    for i, raw, env_id in conflicts:  # now they are duplicates: answered with their receipt
        try:
            results[i] = _receive_once(node, raw, env_id)
        except AccordError as exc:
            results[i] = exc
    return unknown


def _receive_alone(node: Node, s: Session, item: tuple[int, bytes, str],
                   results: list[Received | AccordError | None],
                   conflicts: list[tuple[int, bytes, str]],
                   store: Callable[[], Received | list[Received]]) -> None:
    """Store one envelope of a batch in a SAVEPOINT: its error rolls back only its own writes.
    One stored concurrently (PostgreSQL) goes to ``conflicts`` (answered as a duplicate after
    the commit); an unexpected error is a 500 for this envelope only (the sender retries it)."""
    i, _, env_id = item
    mark = node.audit.mark(s)
    savepoint = s.begin_nested()
    try:
        stored = store()
        results[i] = stored[0] if isinstance(stored, list) else stored
        savepoint.commit()
        return
    except sa_exc.IntegrityError:
        conflicts.append(item)
    except AccordError as exc:
        results[i] = exc
    except Exception as exc:
        results[i] = _failed_on_receipt(env_id, exc)
    if savepoint.is_active:
        savepoint.rollback()
    node.audit.rewind(s, mark)


def _failed_on_receipt(env_id: str, exc: Exception) -> AccordError:
    log.error("envelope %s failed on receipt: %s", env_id, type(exc).__name__)
    return AccordError(f"the envelope could not be stored ({type(exc).__name__}); retry later")


def _fault_pause(node: Node) -> None:
    """Fault drills (``unsafe_fault_batch_pause_seconds``, never in production): stop once
    per data folder with half a batch stored and not committed, so that a test can kill the
    node then (the file ``batch-paused`` says when, and that it happened)."""
    pause = node.settings.unsafe_fault_batch_pause_seconds
    marker = node.settings.data_dir / "batch-paused"
    if pause <= 0 or marker.exists():
        return
    marker.write_text(str(os.getpid()))
    log.warning("fault drill: pausing %.1f s with half a batch uncommitted", pause)
    time.sleep(pause)


def _publish_urgent(node: Node, received: Received) -> None:
    if received.urgent and received.recipient and not received.duplicate:
        broker_of(node).publish(received.recipient, {
            "event": "urgent-message", "message_id": received.message_id,
            "recipient": received.recipient, "sender": received.sender,
            "handling": received.handling})


def _receive_once(node: Node, raw: bytes, env_id: str) -> Received:
    try:
        return _receive(node, raw, env_id)
    except sa_exc.IntegrityError:
        # the same envelope committed concurrently (PostgreSQL): now it is a duplicate
        return _receive(node, raw, env_id)


def _claimed_key(raw: bytes) -> tuple[str, str]:
    """Sender and sender key id as the header claims them (structure already checked)."""
    header = parse_json(raw)["header"]
    return str(header["sender"]), str(header["sender_kid"])


def _receive(node: Node, raw: bytes, env_id: str) -> Received:
    with node.uow() as s:
        return _receive_in(node, s, raw, env_id)


@dataclass(frozen=True)
class _Opened:
    """An envelope opened and verified (not stored yet), with what its receipt covers."""

    opened: OpenedEnvelope
    env_id: str
    digest: str
    now: datetime


@dataclass(frozen=True)
class _IncomingMessage:
    """A received message checked and decided (not stored yet)."""

    row: dict[str, Any]
    decision: Verdict
    actor: Actor
    resource: Resource
    purpose: str


def _receive_in(node: Node, s: Session, raw: bytes, env_id: str) -> Received:
    """Check one envelope and store it, its message and its receipt in the session ``s``."""
    now = node.now()
    got = _open_in(node, s, raw, env_id, s.get(InboxEntry, env_id), now)
    if isinstance(got, Received):
        return got
    if got.opened.content_type == CONTENT_MESSAGE:
        incoming = _check_message(node, got, _delivered_ids(s, [(got.opened, got)]))
        return _store_received(node, s, [(got, incoming)])[0]
    return _store_other(node, s, got)


def _open_in(node: Node, s: Session, raw: bytes, env_id: str, existing: InboxEntry | None,
             now: datetime) -> _Opened | Received:
    """Verify and decrypt one envelope for the agency of this node it is addressed to (every
    check of :func:`open_envelope`), or answer an exact duplicate with its original receipt.
    Writes nothing."""
    digest = sha256_hex(canonical_json(parse_json(raw)))
    _, claimed = _peek(raw)
    if existing is not None:
        if existing.envelope_sha256 != digest:
            raise EnvelopeReplayed(f"envelope id {env_id} was already used by another envelope")
        # audited by the caller once committed, folded per sender (_note_duplicate)
        return Received(existing.receipt, duplicate=True, recipient=existing.recipient,
                        sender=existing.sender)
    cache = tx_cache(s, "exchange.hosted")
    if "hosted" not in cache:
        cache["hosted"] = list(s.scalars(select(Agency.id).where(Agency.hosted.is_(True))
                                         .order_by(Agency.id)))
    hosted: list[str] = cache["hosted"]
    target = next((a for a in claimed if a in hosted), None)
    if target is None:
        if not hosted:
            raise WrongRecipient(f"envelope {env_id} is not addressed to this node")
        target = hosted[0]  # open_envelope names the wrong recipient after the time checks
    opened = open_envelope(raw, recipient=target, keys=SessionKeys(node, s), now=now,
                           max_bytes=node.settings.exchange_envelope_max_bytes)
    return _Opened(opened, env_id, digest, now)


def _store_other(node: Node, s: Session, got: _Opened) -> Received:
    """Store an envelope that carries no message: a status, or a registered content type."""
    opened, now = got.opened, got.now
    urgent, handling = False, "H0"
    object_id: str | None
    if opened.content_type == CONTENT_STATUS:
        object_id = _accept_status(node, s, opened.payload, sender=opened.sender,
                                   recipient=opened.recipient, now=now)
    elif opened.content_type in _HANDLERS:
        accepted = _HANDLERS[opened.content_type](
            node, s, Incoming(opened.payload, opened.sender, opened.recipient, got.env_id, now))
        object_id, urgent, handling = accepted.object_id, accepted.urgent, accepted.handling
    else:
        raise PayloadInvalid(f"content type {opened.content_type} is not accepted here")
    inbox, received = _receipt_for(node, s, got, message_pk=None, object_id=object_id,
                                   urgent=urgent, handling=handling)
    s.execute(insert(INBOX), [inbox])
    return received


def _receipt_for(node: Node, s: Session, got: _Opened, *, message_pk: int | None,
                 object_id: str | None, urgent: bool, handling: str
                 ) -> tuple[dict[str, Any], Received]:
    """Sign the receipt of an accepted envelope and audit its acceptance (at commit): the
    inbox row to insert (the proof: signed header, signature, receipt) and the answer."""
    opened, env_id, now = got.opened, got.env_id, got.now
    kid, key = node.keys.signing_key(s, opened.recipient)
    receipt = sign_receipt(
        envelope_id=env_id, sender=opened.sender, recipient=opened.recipient,
        content_type=opened.content_type, envelope_sha256=got.digest,
        payload_sha256=opened.payload_digest, received_at=now, kid=kid, key=key)
    node.record_at_commit(s, actor=f"agency:{opened.sender}", action=Action.ENVELOPE_ACCEPTED,
                          object=f"envelope:{env_id}",
                          detail={"recipient": opened.recipient, "content_type": opened.content_type,
                                  "sender_kid": opened.sender_kid, "message_id": object_id,
                                  "payload_sha256": opened.payload_digest})
    inbox = {"envelope_id": env_id, "recipient": opened.recipient, "sender": opened.sender,
             "sender_kid": opened.sender_kid, "content_type": opened.content_type,
             "envelope_sha256": got.digest, "signed_header": opened.signed_header,
             "signature": opened.signature, "payload_digest": opened.payload_digest,
             "payload_salt": opened.payload_salt, "received_at": now, "receipt": receipt,
             "message_pk": message_pk}
    return inbox, Received(receipt, duplicate=False, message_id=object_id,
                           recipient=opened.recipient, urgent=urgent, sender=opened.sender,
                           handling=handling)


def payload_error(exc: ValidationError) -> PayloadInvalid:
    """A payload that fails its schema, as the envelope rejection (for content handlers too)."""
    return PayloadInvalid(f"the payload fails validation: {_first_error(exc)}")


def _delivered_ids(s: Session, envelopes: Sequence[tuple[OpenedEnvelope, _Opened]]
                   ) -> set[tuple[str, str]]:
    """Which of the messages these envelopes claim to carry (message id, recipient) are held
    here already (one query for a batch: a replay is refused by :func:`_check_message`)."""
    wanted = {(str(o.payload.get("message_id")), o.recipient) for o, _ in envelopes
              if isinstance(o.payload, dict)}
    if not wanted:
        return set()
    rows = s.execute(select(Message.message_id, Message.owner).where(
        Message.message_id.in_(sorted({m for m, _ in wanted})),
        Message.owner.in_(sorted({r for _, r in wanted})))).all()
    return {(m, o) for m, o in rows} & wanted


def _check_message(node: Node, got: _Opened, delivered: set[tuple[str, str]]) -> _IncomingMessage:
    """Check a received message (payload, sender, addressee, replay) and decide it with the
    receiver's policy; ``delivered`` holds the (message id, recipient) pairs stored already,
    and gets this one (so that a second copy in the same batch is a replay). Writes nothing."""
    data, sender, recipient = got.opened.payload, got.opened.sender, got.opened.recipient
    try:
        payload = MessagePayload.model_validate(data)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if payload.sender != sender:
        raise PayloadInvalid(f"the payload claims sender {payload.sender}, the envelope is signed by {sender}")
    if recipient not in payload.to:
        raise PayloadInvalid(f"the payload is not addressed to {recipient}")
    if (payload.message_id, recipient) in delivered:
        raise EnvelopeReplayed(f"message {payload.message_id} was already delivered to {recipient}")
    categories = categories_of(payload.records)
    resource = Resource(categories, payload.crime_area, payload.handling)
    actor = Actor(sender, recipient)
    decision = _policy(node, None, actor=actor, resource=resource, purpose=payload.purpose.value,
                       by="", side="receiver", at=got.now, record=False)
    if not decision.allowed:
        denied = ReceiverPolicyDenied(
            f"{recipient}'s node refuses the message: {decision.reason}",
            code=decision.code, clause=decision.clause, basis=decision.basis)
        denied.policy_inputs = (actor, resource, payload.purpose.value, got.now)  # type: ignore[attr-defined]
        raise denied
    delivered.add((payload.message_id, recipient))
    row = {
        "message_id": payload.message_id, "owner": recipient, "direction": "in",
        "thread_id": payload.thread_id, "in_reply_to": payload.in_reply_to, "sender": sender,
        "sender_officer": payload.sender_officer, "to": list(payload.to),
        "categories": sorted(c.value for c in categories), "created_at": payload.created,
        "received_at": got.now, "envelope_id": got.env_id, "decision": decision.to_dict(),
        **_content_columns(payload, payload.records),
    }
    return _IncomingMessage(row, decision, actor, resource, payload.purpose.value)


def _store_received(node: Node, s: Session, accepted: Sequence[tuple[_Opened, _IncomingMessage]]
                    ) -> list[Received]:
    """Store checked messages, their inbox rows (proof and signed receipt) and audit entries
    (per envelope: the receiver's decision, ``exchange:message:received``,
    ``exchange:envelope:accepted``): one multi-row insert per table."""
    pks = _insert_rows(s, MESSAGES, [m.row for _, m in accepted])
    _fault_pause(node)  # fault drills: messages stored, their inbox rows not, nothing committed
    by = f"node:{node.settings.node_id}"
    inbox: list[dict[str, Any]] = []
    answers: list[Received] = []
    for (got, m), pk in zip(accepted, pks, strict=True):
        row, sender, recipient = m.row, got.opened.sender, got.opened.recipient
        _record_verdict(node, s, m.decision, actor=m.actor, resource=m.resource,
                        purpose=m.purpose, by=by, side="receiver")
        node.record_at_commit(s, actor=f"agency:{sender}", action=Action.MESSAGE_RECEIVED,
                              object=f"message:{row['message_id']}", purpose=m.purpose,
                              basis=m.decision.basis_text,
                              detail={"recipient": recipient, "envelope_id": got.env_id,
                                      "priority": row["priority"], "handling": row["handling"],
                                      "categories": row["categories"],
                                      "obligations": m.decision.obligations})
        entry, received = _receipt_for(node, s, got, message_pk=pk, object_id=row["message_id"],
                                       urgent=row["priority"] == Priority.URGENT.value,
                                       handling=row["handling"])
        inbox.append(entry)
        answers.append(received)
    s.execute(insert(INBOX), inbox)
    return answers


def _accept_status(node: Node, s: Session, data: dict[str, Any], *, sender: str, recipient: str,
                   now: datetime) -> str:
    try:
        status = StatusPayload.model_validate(data)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if status.agency != sender:
        raise PayloadInvalid(f"{sender} cannot report the state of {status.agency}")
    rec = s.scalars(
        select(Recipient).join(Message)
        .where(Message.message_id == status.message_id, Message.owner == recipient,
               Message.direction == "out", Recipient.agency == sender)
    ).first()
    if rec is None:
        raise PayloadInvalid(f"{recipient} sent no message {status.message_id} to {sender}")
    new = RecipientState(status.state)
    column = "read_at" if new is RecipientState.READ else "acknowledged_at"
    if getattr(rec, column) is None:
        setattr(rec, column, status.at)
    moved = advance(RecipientState(rec.state), new)
    if moved:
        rec.state = new.value
    node.record_at_commit(s, actor=f"agency:{sender}", action=Action.MESSAGE_STATE,
                object=f"message:{status.message_id}",
                detail={"recipient": sender, "state": new.value, "at": status.at.isoformat(),
                        "by": status.by, "moved": moved})
    return status.message_id


# Reasons that say by themselves that nothing about the envelope is authenticated. The
# others (expired, not-yet-valid, wrong-recipient, replayed, decryption-failed,
# invalid-payload, policy-denied, malformed plaintext) are authenticated when the
# envelope's signature verifies with a known, unrevoked key of its sender.
_UNAUTHENTICATED = frozenset({"too-large", "bad-signature", "unknown-key", "revoked-key"})
# Folded as well: a signed replay (an envelope id or message already received) after the
# first of its window and source (what an attacker who captured one valid envelope can send
# without end), and exact duplicates (a sender's retry after a lost answer, or a captured
# envelope sent again), per sender under "duplicate".
REPLAYED = "replayed"
DUPLICATE = "duplicate"
_LEDGER_KEY = "exchange.rejections"
_ledger_lock = threading.Lock()


def rejection_ledger(node: Node) -> RejectionLedger:
    """This node's counts of unauthenticated rejections (one per node, in memory)."""
    with _ledger_lock:
        ledger = node.extras.get(_LEDGER_KEY)
        if not isinstance(ledger, RejectionLedger):
            st = node.settings
            ledger = node.extras[_LEDGER_KEY] = RejectionLedger(
                st.exchange_rejection_audit_window_seconds, st.exchange_rejection_audit_max_sources)
        return ledger


def _signed_by_sender(node: Node, raw: bytes) -> bool:
    """Does the envelope's signature verify with a known, unrevoked key of its claimed sender?"""
    max_bytes = node.settings.exchange_envelope_max_bytes
    try:
        envelope_id(raw, max_bytes=max_bytes)  # size and structure
        doc = parse_json(raw)
        header = doc["header"]
        text = str(doc["ciphertext"])
        ciphertext = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        with node.read() as s:
            public_key = SessionKeys(node, s).signing_key(str(header["sender"]), str(header["sender_kid"]))
        verify_signed_header({"header": header, "ciphertext_sha256": sha256_hex(ciphertext)},
                             str(doc["signature"]), public_key)
    except (EnvelopeRejected, ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        return False
    return True


def _claims(node: Node, raw: bytes) -> tuple[str | None, str | None]:
    """The envelope id and sender the (unverified) header claims, bounded in length."""
    env_id: str | None = None
    sender: str | None = None
    try:
        if len(raw) <= node.settings.exchange_envelope_max_bytes:
            doc = json.loads(raw)
            header = doc.get("header") if isinstance(doc, dict) else None
            if isinstance(header, dict):
                env_id = str(header.get("id"))[:128] if header.get("id") is not None else None
                sender = str(header.get("sender"))[:40] if header.get("sender") is not None else None
    except (ValueError, RecursionError):
        pass
    return env_id, sender


def _remote_key(remote: str | None) -> str | None:
    """An address as a source: IPv4 as is, IPv6 by its /64 (one host holds a whole /64)."""
    if not remote:
        return None
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def record_rejection(node: Node, raw: bytes, exc: EnvelopeRejected, *,
                     remote: str | None = None) -> None:
    """The audit trail of a rejected envelope (the store is untouched), for every route that
    receives envelopes (messages, batches, hit/no-hit queries).

    Authenticated envelopes get an entry each, in a transaction of its own (a signed
    replay: the first of its window and source); unauthenticated ones are folded per
    reason and source (:class:`~accord.exchange.rejections.RejectionLedger`).
    """
    env_id, sender = _claims(node, raw)
    count = 1
    signed = exc.reason not in _UNAUTHENTICATED and _signed_by_sender(node, raw)
    if signed and exc.reason == REPLAYED:
        # the first replay from a sender and source in a window gets its entry; the copies
        # after it in the window are counted into the next one (a captured envelope can be
        # sent without end)
        ledger = rejection_ledger(node)
        now = node.now()
        first = ledger.note(REPLAYED, Source(remote=_remote_key(remote), claimed_sender=sender), now)
        if first is None:
            log.warning("replayed envelope from %s: counted, audited with the next entry for its "
                        "source", sender or "unknown")
            _write_folded(node, ledger.due(now))
            return
        count = first.count
    if signed:
        with node.uow() as s:
            inputs = getattr(exc, "policy_inputs", None)
            if inputs is not None:
                actor, resource, purpose, at = inputs
                _policy(node, s, actor=actor, resource=resource, purpose=purpose,
                        by=f"node:{node.settings.node_id}", side="receiver", at=at)
            node.record_at_commit(s, actor=f"agency:{sender}" if sender else "unauthenticated",
                        action=Action.ENVELOPE_REJECTED, object=f"envelope:{env_id or '?'}",
                        outcome="rejected",
                        detail={"reason": exc.reason, "detail": exc.detail[:500],
                                "size": len(raw), "claimed_sender": sender,
                                "authenticated": True, "count": count,
                                **{k: v for k, v in exc.extra.items()
                                   if k in ("code", "clause", "basis")}})
        return
    known_sender: str | None = None
    if sender is not None:
        with node.read() as s:
            known_sender = sender if s.get(Agency, sender) is not None else None
    source = Source(remote=_remote_key(remote), claimed_sender=known_sender)
    ledger = rejection_ledger(node)
    now = node.now()
    now_entry = ledger.note(exc.reason, source, now)
    if now_entry is None:
        log.warning("envelope rejected (%s, claimed sender %s, %d bytes): counted, audited with "
                    "the next entry for its source", exc.reason, known_sender or "unknown", len(raw))
    _write_folded(node, ledger.due(now), now_entry, example=exc.detail[:300],
                  env_id=env_id, size=len(raw))


def _note_duplicate(node: Node, received: Received, env_id: str | None, *,
                    remote: str | None = None) -> None:
    """Audit an exact duplicate (answered with its original receipt): the first of a window
    per sender and source at once, the others counted into the next entry (as rejections)."""
    source = Source(remote=_remote_key(remote), claimed_sender=received.sender)
    ledger = rejection_ledger(node)
    now = node.now()
    now_entry = ledger.note(DUPLICATE, source, now)
    if now_entry is None:
        log.info("duplicate envelope from %s answered with its receipt: counted, audited with "
                 "the next entry for its source", received.sender or "unknown")
    _write_folded(node, ledger.due(now), now_entry, env_id=env_id)


def _write_folded(node: Node, due: list[Folded], now_entry: Folded | None = None, *,
                  example: str = "", env_id: str | None = None, size: int = 0) -> None:
    entries = [*due, *([now_entry] if now_entry else [])]
    if not entries:
        return
    window = node.settings.exchange_rejection_audit_window_seconds
    with node.uow() as s:
        for entry in entries:
            current = entry is now_entry
            duplicate = entry.reason == DUPLICATE  # an exact copy of an accepted envelope
            node.record_at_commit(
                s, actor=(f"agency:{entry.source.claimed_sender}" if duplicate
                          and entry.source.claimed_sender else "unauthenticated"),
                action=Action.ENVELOPE_DUPLICATE if duplicate else Action.ENVELOPE_REJECTED,
                object=f"envelope:{env_id or '?'}" if current else f"envelopes:{entry.reason}",
                outcome="ok" if duplicate else "rejected",
                detail={"reason": entry.reason, "authenticated": duplicate, "count": entry.count,
                        "first_at": entry.first_at.isoformat(),
                        "last_at": entry.last_at.isoformat(), "window_seconds": window,
                        "remote": entry.source.remote,
                        "claimed_sender": entry.source.claimed_sender,
                        **({"detail": example, "size": size} if current else {})})


def flush_rejections(node: Node, *, force: bool = False) -> int:
    """Audit the unauthenticated rejections folded in windows that have closed (all: ``force``).

    Called by the delivery worker each round and when it stops; returns the
    number of entries written.
    """
    ledger = node.extras.get(_LEDGER_KEY)
    if not isinstance(ledger, RejectionLedger):
        return 0
    due = ledger.due(node.now(), force=force)
    _write_folded(node, due)
    return len(due)


# --------------------------------------------------------------------------- counts (tests, CLI)


def store_counts(s: Session) -> dict[str, int]:
    """Rows in the exchange store, by table (for tests and the CLI)."""
    return {
        "messages": int(s.scalar(select(func.count()).select_from(Message)) or 0),
        "recipients": int(s.scalar(select(func.count()).select_from(Recipient)) or 0),
        "inbox": int(s.scalar(select(func.count()).select_from(InboxEntry)) or 0),
        "outbox": int(s.scalar(select(func.count()).select_from(OutboxEntry)) or 0),
    }


def outbox_summary(s: Session) -> dict[str, int]:
    """Envelopes by state, and ``failed_attempts``: attempts that got no final answer (a
    delivered or refused envelope's last attempt succeeded; every other attempt failed)."""
    rows = s.execute(select(OutboxEntry.state, func.count(), func.sum(OutboxEntry.attempts))
                     .group_by(OutboxEntry.state)).all()
    summary = {str(state): int(n) for state, n, _ in rows}
    answered = summary.get("done", 0) + summary.get("rejected", 0)
    summary["failed_attempts"] = sum(int(a or 0) for _, _, a in rows) - answered
    return summary
