"""What alerts write into agencies' inboxes, and the events pushed once it is committed.

Alerts speak to officers through the exchange's mailbox: a hit, a reminder or an
expiry is a *system message* (``direction = "sys"``) in the inbox of the agency
concerned, listed with its messages (urgent first) and filtered by clearance
like them. Connected clients are told through the exchange's event broker
(:func:`accord.exchange.events.broker_of`) — only after the transaction that
wrote the message committed: the events wait in the session and a rollback
drops them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from accord.agreements import AgreementNotFound, DeadlineNotDefined, RequestType, Urgency, deadline_for
from accord.bootstrap import Node
from accord.exchange.domain import Priority
from accord.exchange.events import broker_of
from accord.exchange.models import Message

__all__ = ["answer_deadline", "publish_after_commit", "system_message", "wake_after_commit"]

_EVENTS = "alerts.events"
_HOOKED = "alerts.events.hooked"


def _hook(node: Node, s: Session) -> list[tuple[str, dict[str, Any]]]:
    pending: list[tuple[str, dict[str, Any]]] = s.info.setdefault(_EVENTS, [])
    if not s.info.get(_HOOKED):
        s.info[_HOOKED] = True

        @event.listens_for(s, "after_commit")
        def _published(session: Session) -> None:
            events = session.info.pop(_EVENTS, [])
            wake = session.info.pop("alerts.wake", False)
            broker = broker_of(node)
            for agency, payload in events:
                broker.publish(agency, payload)
            if wake:
                from accord.exchange.worker import wake_worker

                wake_worker(node)

        @event.listens_for(s, "after_soft_rollback")
        def _dropped(session: Session, previous: Any) -> None:
            if not session.in_transaction():  # the whole transaction, not a savepoint
                session.info.pop(_EVENTS, None)
                session.info.pop("alerts.wake", None)

    return pending


def publish_after_commit(node: Node, s: Session, agency: str, payload: dict[str, Any]) -> None:
    """Push ``payload`` to ``agency``'s connected clients once ``s`` commits."""
    _hook(node, s).append((agency, payload))


def wake_after_commit(node: Node, s: Session) -> None:
    """Wake this process's delivery worker once ``s`` commits (an envelope was queued)."""
    _hook(node, s)
    s.info["alerts.wake"] = True


def system_message(node: Node, s: Session, *, owner: str, subject: str, body: str,
                   priority: Priority, handling: str, purpose: str, crime_area: str | None,
                   thread_id: str | None = None, now: datetime | None = None,
                   publish: bool = True) -> Message:
    """Write a system message into ``owner``'s inbox and push its event after the commit:
    ``urgent-message`` for an urgent one, ``alert`` otherwise (``publish=False``: the caller
    pushes it — the exchange does for what a content handler accepted)."""
    now = now or node.now()
    message_id = uuid.uuid4().hex
    msg = Message(
        message_id=message_id, owner=owner, direction="sys", thread_id=thread_id or message_id,
        in_reply_to=None, sender=owner, sender_officer=f"node:{node.settings.node_id}",
        to=[owner], subject=subject[:300], body=body, language="en", priority=priority.value,
        priority_rank=priority.rank, handling=handling, case_ref=None, crime_area=crime_area,
        purpose=purpose, categories=[], records=[], evidence=[], created_at=now, received_at=now,
    )
    s.add(msg)
    s.flush()
    if not publish:
        return msg
    kind = "urgent-message" if priority is Priority.URGENT else "alert"
    publish_after_commit(node, s, owner, {
        "event": kind, "kind": "alert", "message_id": message_id, "recipient": owner,
        "sender": owner, "handling": handling})
    return msg


def answer_deadline(node: Node, basis: dict[str, Any] | None, at: datetime) -> tuple[datetime, str]:
    """When the answer to a hit is due, and why: the hit follow-up deadline (urgent) of the
    agreement the alert travelled under, if it states one; else the node's default
    (``alerts_hit_answer_hours``)."""
    if basis:
        try:
            agreement = node.policy.registry().get(str(basis["agreement_id"]),
                                                   int(basis["version"]))
            delay = deadline_for(agreement, RequestType.HIT_FOLLOW_UP, Urgency.URGENT)
            return at + delay, (f"{basis['agreement_id']} v{basis['version']}: hit-follow-up "
                                "(urgent)")
        except (AgreementNotFound, DeadlineNotDefined, KeyError, ValueError):
            pass
    hours = node.settings.alerts_hit_answer_hours
    return at + timedelta(hours=hours), f"default ({hours:g} h)"
