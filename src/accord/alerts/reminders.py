"""Reminders of review and expiry dates, and the expiry of alerts.

:func:`run_reminders` looks at every active alert this node holds
(:func:`accord.alerts.domain.due_reminders`):

* an **own** alert whose review date has come gets a ``review`` reminder in the
  issuing agency's inbox (priority high); ``alerts_expiry_notice_days`` before the
  end of validity an ``expiry-notice``; at the end the alert becomes ``expired``,
  leaves the index and an ``expired`` message says so;
* a **foreign** copy whose validity ended becomes ``expired`` and leaves the
  index (the issuer's node tells its own officers).

Each reminder is written once per alert and date: its key is kept in
``alerts.reminded`` in the same transaction as the message (rows are locked
``FOR UPDATE`` on PostgreSQL, so the processes of a node never write one twice).
The server runs it every ``alerts_reminder_seconds`` (:func:`reminder_loop`,
started by the app lifespan beside the audit checkpointer); ``accord alerts
remind`` runs one round by hand.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from accord.alerts.domain import AlertState, due_reminders
from accord.alerts.models import Alert
from accord.alerts.notify import system_message
from accord.alerts.subjects import unindex_subject
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.errors import AccordError
from accord.exchange.domain import Priority

__all__ = ["reminder_loop", "run_reminders"]

log = logging.getLogger("accord.alerts")

_TEXT = {
    "review": ("Review due: alert {type} — {caption}",
               "Your alert {alert_id} ({type}, {caption}) is due for review on {due}. Confirm "
               "it, change its dates or withdraw it. Valid until {until}."),
    "expiry-notice": ("Expires soon: alert {type} — {caption}",
                      "Your alert {alert_id} ({type}, {caption}) expires on {until}. Extend it "
                      "by issuing it again if it is still needed."),
    "expired": ("Expired: alert {type} — {caption}",
                "Your alert {alert_id} ({type}, {caption}) expired on {until}; peers no longer "
                "check against it."),
}


def run_reminders(node: Node, *, batch: int = 500) -> int:
    """One round: write the reminders due now and expire what ended; returns the number of
    reminders written and copies expired."""
    now = node.now()
    notice = timedelta(days=node.settings.alerts_expiry_notice_days)
    done = 0
    with node.uow() as s:
        stmt = select(Alert).where(Alert.state == AlertState.ACTIVE.value).order_by(Alert.id)
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        for alert in s.scalars(stmt.limit(batch)):
            if alert.origin != "own":
                if alert.valid_until <= now:
                    alert.state, alert.expired_at = AlertState.EXPIRED.value, now
                    unindex_subject(node, s, alert.alert_id)
                    node.record_at_commit(s, actor=f"node:{node.settings.node_id}",
                                          action=Action.ALERT_EXPIRED,
                                          object=f"alert:{alert.alert_id}",
                                          detail={"holder": alert.holder, "origin": alert.origin})
                    done += 1
                continue
            due = due_reminders(review_at=alert.review_at, valid_until=alert.valid_until,
                                now=now, sent=alert.reminded, expiry_notice=notice)
            if any(r.kind == "expired" for r in due):  # an expired alert needs no other reminder
                due = [r for r in due if r.kind == "expired"]
            for reminder in due:
                title, body = _TEXT[reminder.kind]
                fields = {"type": alert.type, "caption": alert.subject_caption,
                          "alert_id": alert.alert_id, "due": reminder.due.isoformat(),
                          "until": alert.valid_until.isoformat()}
                msg = system_message(node, s, owner=alert.issuer, priority=Priority.HIGH,
                                     handling=alert.handling, purpose=alert.purpose,
                                     crime_area=alert.crime_area, now=now,
                                     subject=title.format(**fields), body=body.format(**fields))
                alert.reminded = [*alert.reminded, reminder.key]
                if reminder.kind == "expired":
                    alert.state, alert.expired_at = AlertState.EXPIRED.value, now
                    unindex_subject(node, s, alert.alert_id)
                node.record_at_commit(
                    s, actor=f"node:{node.settings.node_id}",
                    action=Action.ALERT_EXPIRED if reminder.kind == "expired"
                    else Action.ALERT_REMINDER,
                    object=f"alert:{alert.alert_id}",
                    detail={"kind": reminder.kind, "due": reminder.due.isoformat(),
                            "message_id": msg.message_id})
                done += 1
    return done


async def reminder_loop(node: Node) -> None:
    """Run :func:`run_reminders` every ``alerts_reminder_seconds`` (a task of the app lifespan);
    a failed round is logged and tried again next time."""
    while True:
        await asyncio.sleep(node.settings.alerts_reminder_seconds)
        try:
            await asyncio.to_thread(run_reminders, node)
        except AccordError as exc:
            log.error("alert reminders failed: %s: %s", exc.slug, exc.detail)
        except Exception as exc:
            log.error("alert reminders failed: %s", type(exc).__name__)
