"""Receiving alerts, withdrawals and hit reports from peers (content handlers).

Registered with :func:`accord.exchange.services.register_content`, so each runs
inside the exchange's receiving transaction after every envelope check
(signature, decryption, expiry, replay); what they raise refuses the envelope
and nothing of it is stored.

* ``accord/alert``: the payload is validated (the signer must be the issuer),
  the receiver's own agreements are asked (``alert-propagation`` from the issuer
  to this agency, ``side: receiver``; a deny refuses the envelope with
  ``policy-denied`` and the clause), then the alert is stored as a ``foreign``
  copy with the decision and its subject indexed (``source="alert"``).
* ``accord/alert-withdrawal``: from the issuer only; the copy becomes
  ``withdrawn`` and the subject leaves the index.
* ``accord/alert-hit``: a peer met the subject of one of this node's own
  alerts: the follow-up row is stored on the issuer's side and an urgent
  system message lands in the issuer's inbox (pushed to its connected officers
  by the exchange as ``urgent-message``).
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.agreements import Actor, Resource
from accord.alerts.domain import (
    CONTENT_ALERT,
    CONTENT_HIT,
    CONTENT_WITHDRAWAL,
    AlertPayload,
    AlertState,
    HitPayload,
    WithdrawalPayload,
)
from accord.alerts.models import Alert, AlertHit
from accord.alerts.notify import system_message
from accord.alerts.subjects import index_subject, unindex_subject
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.exchange.domain import Priority
from accord.exchange.errors import PayloadInvalid, ReceiverPolicyDenied
from accord.exchange.services import Accepted, Incoming, payload_error, register_content
from accord.records.domain import categories_of

__all__ = ["accept_alert", "accept_hit", "accept_withdrawal"]


def accept_alert(node: Node, s: Session, incoming: Incoming) -> Accepted:
    from accord.alerts.services import decide_propagation

    try:
        payload = AlertPayload.model_validate(incoming.payload)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if payload.issuer != incoming.sender:
        raise PayloadInvalid(f"the alert claims issuer {payload.issuer}, the envelope is signed "
                             f"by {incoming.sender}")
    existing = s.scalars(select(Alert).where(Alert.alert_id == payload.alert_id,
                                             Alert.holder == incoming.recipient)).first()
    if existing is not None:
        raise PayloadInvalid(f"alert {payload.alert_id} is held by {incoming.recipient} already")
    subject = payload.subject.to_ftm()
    categories = categories_of(payload.subject.schema_, payload.subject.properties)
    resource = Resource(categories, payload.crime_area, payload.handling)
    actor = Actor(incoming.sender, incoming.recipient)
    by = f"node:{node.settings.node_id}"
    verdict = decide_propagation(node, s, actor=actor, resource=resource,
                                 purpose=payload.purpose.value, by=by, side="receiver",
                                 at=incoming.now, record=False)
    if not verdict.allowed:
        denied = ReceiverPolicyDenied(
            f"{incoming.recipient}'s node refuses the alert: {verdict.reason}",
            code=verdict.code, clause=verdict.clause, basis=verdict.basis)
        # the exchange audits the decision with the rejection (after the rollback)
        denied.policy_inputs = (actor, resource, payload.purpose.value,  # type: ignore[attr-defined]
                                incoming.now)
        raise denied
    decide_propagation(node, s, actor=actor, resource=resource, purpose=payload.purpose.value,
                       by=by, side="receiver", at=incoming.now)
    caption = next(iter(subject["properties"].get("name") or
                        subject["properties"].get("registrationNumber") or
                        subject["properties"].get("number") or []), subject["id"])
    state = (AlertState.ACTIVE if payload.valid_until > incoming.now else AlertState.EXPIRED).value
    alert = Alert(
        alert_id=payload.alert_id, holder=incoming.recipient, origin="foreign",
        issuer=payload.issuer, issuer_officer=payload.issuer_officer,
        issuer_node=payload.issuer_node, type=payload.type.value, subject=subject,
        subject_schema=payload.subject.schema_, subject_caption=str(caption)[:500],
        action=payload.action, remarks=payload.remarks, crime_area=payload.crime_area,
        handling=payload.handling.value, purpose=payload.purpose.value,
        categories=sorted(c.value for c in categories), valid_until=payload.valid_until,
        review_at=payload.review_at, state=state, created_at=payload.created,
        received_at=incoming.now, envelope_id=incoming.envelope_id,
        decision=verdict.to_dict(), propagation={}, reminded=[])
    s.add(alert)
    s.flush()
    if state == AlertState.ACTIVE.value:
        index_subject(node, s, alert)
    node.record_at_commit(
        s, actor=f"agency:{incoming.sender}", action=Action.ALERT_RECEIVED,
        object=f"alert:{payload.alert_id}", purpose=payload.purpose.value,
        basis=verdict.basis_text,
        detail={"recipient": incoming.recipient, "envelope_id": incoming.envelope_id,
                "type": alert.type, "schema": alert.subject_schema, "handling": alert.handling,
                "state": state, "obligations": verdict.obligations})
    return Accepted(payload.alert_id, urgent=False, handling=alert.handling)


def accept_withdrawal(node: Node, s: Session, incoming: Incoming) -> Accepted:
    try:
        payload = WithdrawalPayload.model_validate(incoming.payload)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if payload.issuer != incoming.sender:
        raise PayloadInvalid(f"only the issuer withdraws an alert, not {incoming.sender}")
    alert = s.scalars(select(Alert).where(Alert.alert_id == payload.alert_id,
                                          Alert.holder == incoming.recipient,
                                          Alert.issuer == incoming.sender)).first()
    if alert is None:
        raise PayloadInvalid(f"{incoming.recipient} holds no alert {payload.alert_id} of "
                             f"{incoming.sender}")
    previous = alert.state
    if alert.state == AlertState.ACTIVE.value:
        alert.state = AlertState.WITHDRAWN.value
    alert.withdrawn_at, alert.withdrawn_reason = payload.at, payload.reason
    unindex_subject(node, s, alert.alert_id)
    node.record_at_commit(
        s, actor=f"agency:{incoming.sender}", action=Action.ALERT_WITHDRAWAL_RECEIVED,
        object=f"alert:{payload.alert_id}", purpose=alert.purpose,
        detail={"recipient": incoming.recipient, "envelope_id": incoming.envelope_id,
                "previous_state": previous, "reason": payload.reason[:500]})
    return Accepted(payload.alert_id, urgent=False, handling=alert.handling)


def accept_hit(node: Node, s: Session, incoming: Incoming) -> Accepted:
    from accord.alerts.checks import _issuer_body

    try:
        payload = HitPayload.model_validate(incoming.payload)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if payload.reporter != incoming.sender:
        raise PayloadInvalid(f"the hit claims reporter {payload.reporter}, the envelope is "
                             f"signed by {incoming.sender}")
    if payload.issuer != incoming.recipient:
        raise PayloadInvalid(f"the hit is about an alert of {payload.issuer}, not of "
                             f"{incoming.recipient}")
    alert = s.scalars(select(Alert).where(Alert.alert_id == payload.alert_id,
                                          Alert.holder == incoming.recipient,
                                          Alert.origin == "own")).first()
    if alert is None:
        raise PayloadInvalid(f"{incoming.recipient} issued no alert {payload.alert_id}")
    if alert.propagation.get(incoming.sender, {}).get("state") != "queued":
        raise PayloadInvalid(f"alert {payload.alert_id} was never sent to {incoming.sender}")
    if s.scalars(select(AlertHit.id).where(AlertHit.hit_id == payload.hit_id)).first() is not None:
        raise PayloadInvalid(f"hit {payload.hit_id} was reported already")
    hit = AlertHit(
        hit_id=payload.hit_id, alert_id=payload.alert_id, issuer=payload.issuer,
        reporter=payload.reporter, officer=payload.officer, node_id=payload.node,
        place=payload.place, kind=payload.kind.value, ref=None, band=payload.band, score=None,
        at=payload.at, answer_due=payload.answer_due,
        deadline_source=f"reported by {payload.reporter}", handling=alert.handling,
        state="open", envelope_id=incoming.envelope_id, basis=payload.basis)
    s.add(hit)
    s.flush()
    msg = system_message(
        node, s, owner=alert.issuer, priority=Priority.URGENT, handling=alert.handling,
        purpose=alert.purpose, crime_area=alert.crime_area, now=incoming.now,
        subject=f"HIT on your alert {alert.type} — {alert.subject_caption}",
        body=_issuer_body(alert, hit), publish=False)  # the exchange pushes urgent ones
    hit.message_id = msg.message_id
    node.record_at_commit(
        s, actor=f"agency:{incoming.sender}", action=Action.ALERT_HIT_RECEIVED,
        object=f"alert:{payload.alert_id}", purpose=alert.purpose, basis=payload.basis,
        detail={"hit_id": payload.hit_id, "kind": payload.kind.value, "band": payload.band,
                "reporter": payload.reporter, "officer": payload.officer, "node": payload.node,
                "at": payload.at.isoformat(), "answer_due": payload.answer_due.isoformat(),
                "envelope_id": incoming.envelope_id, "message_id": msg.message_id})
    return Accepted(msg.message_id, urgent=True, handling=alert.handling)


register_content(CONTENT_ALERT, accept_alert)
register_content(CONTENT_WITHDRAWAL, accept_withdrawal)
register_content(CONTENT_HIT, accept_hit)
