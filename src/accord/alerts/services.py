"""Use cases of alerts: create, withdraw, list, show; hits listed for both sides.

Every use case takes the node, the caller's session and the officer
(:class:`~accord.auth.domain.Principal`): it checks the permission
(``alerts:write`` to issue and withdraw, ``alerts:read`` to see), the officer's
clearance against the alert's handling code, and writes its audit entries in the
caller's transaction. Refusals and bad input are audited after the rollback by
:func:`audited` (used by the routes and the command line).

**Propagation.** Creating an alert stores the issuer's copy, indexes its subject in
this node's search index (``source="alert"``) and, for every agency of another
node, asks the policy decision point for ``alert-propagation`` (the subject's
categories, the crime area, the handling code, the purpose, the officer's
clearance) and audits the answer (``side: sender``). Allowed peers get an
``accord/alert`` envelope through :func:`accord.exchange.services.queue_envelope`
(the exchange's retries, signed receipts and exactly-once delivery); refused
ones are kept on the alert (``propagation``) with the clause and the reason.
Withdrawing sends ``accord/alert-withdrawal`` to every peer that was sent the
alert and removes the subject from the index; receivers do the same
(:mod:`accord.alerts.receiving`). Hits and reminders: :mod:`accord.alerts.checks`
and :mod:`accord.alerts.reminders`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accord.agreements import Actor, DecisionCode, Handling, Resource
from accord.alerts import checks, receiving  # noqa: F401  (registers hooks and content types)
from accord.alerts.domain import (
    CONTENT_ALERT,
    CONTENT_WITHDRAWAL,
    DEFAULT_ACTIONS,
    AlertPayload,
    AlertState,
    WithdrawalPayload,
    check_subject,
    validity_window,
)
from accord.alerts.errors import AlertInvalid, AlertNotActive, AlertNotFound
from accord.alerts.models import Alert, AlertHit
from accord.alerts.notify import wake_after_commit
from accord.alerts.schemas import AlertCreate
from accord.alerts.subjects import index_subject, unindex_subject
from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.errors import AccordError, PermissionDenied
from accord.exchange.errors import UnknownRecipient
from accord.exchange.services import DOMESTIC, Verdict, queue_envelope
from accord.parties.models import Agency
from accord.records.domain import categories_of, validate_entity
from accord.records.errors import RecordInvalid

__all__ = [
    "audited",
    "create_alert",
    "decide_propagation",
    "get_alert",
    "list_alerts",
    "list_hits",
    "withdraw_alert",
]

T = TypeVar("T")
PROPAGATION = "alert-propagation"


def audited(node: Node, *, actor: str, obj: str, fn: Callable[[Session], T],
            credential: str = "") -> T:
    """Run ``fn`` in one transaction; a refusal (``alerts:alert:denied``) or bad input
    (``alerts:alert:failed``) is audited after the rollback, in a transaction of its own."""
    try:
        with node.uow() as s:
            return fn(s)
    except AccordError as exc:
        if exc.status < 500:
            with node.uow() as s:
                node.record_failure(
                    s, actor=actor,
                    action=Action.ALERT_DENIED if exc.status == 403 else Action.ALERT_FAILED,
                    object=obj, outcome=exc.slug, error=exc, credential=credential)
        raise


def _check_clearance(principal: Principal, handling: str) -> None:
    if Handling(handling).rank > principal.clearance.rank:
        raise PermissionDenied(
            f"handling code {handling} is above your clearance {principal.clearance.value}",
            handling=handling, clearance=principal.clearance.value)


def _visible(principal: Principal) -> list[str]:
    return [h.value for h in Handling if h.rank <= principal.clearance.rank]


def decide_propagation(node: Node, s: Session, *, actor: Actor, resource: Resource, purpose: str,
                       by: str, side: str, at: datetime, record: bool = True,
                       credential: str = "") -> Verdict:
    """The PDP's answer for ``alert-propagation`` from ``actor.agency`` to ``actor.counterpart``,
    audited (``policy:decision:made``, ``side``). Two agencies of one country need no
    agreement between countries: allowed as ``domestic``, as for messages."""
    decision = node.policy.decide(actor, PROPAGATION, resource, purpose, at)
    if (not decision.allowed and decision.code is DecisionCode.NO_AGREEMENT
            and actor.agency[:2] == actor.counterpart[:2]):
        verdict = Verdict(True, DOMESTIC, f"Allowed: {actor.agency} and {actor.counterpart} are "
                          f"both in {actor.agency[:2]} (national law).", None, None)
    else:
        verdict = Verdict.of(decision)
    if record:
        node.record_at_commit(
            s, actor=by, action=Action.POLICY_DECISION,
            object=f"flow:{actor.agency}->{actor.counterpart}:{PROPAGATION}", purpose=purpose,
            basis=verdict.basis_text or (DOMESTIC if verdict.code == DOMESTIC else ""),
            outcome="allow" if verdict.allowed else "deny",
            detail={"side": side, "decision": verdict.to_dict(), "resource": resource.to_dict()},
            credential=credential)
    return verdict


def _payload(alert: Alert) -> AlertPayload:
    return AlertPayload.model_validate({
        "alert_id": alert.alert_id, "issuer": alert.issuer, "issuer_officer": alert.issuer_officer,
        "issuer_node": alert.issuer_node, "type": alert.type, "subject": alert.subject,
        "action": alert.action, "remarks": alert.remarks, "crime_area": alert.crime_area,
        "handling": alert.handling, "purpose": alert.purpose, "valid_until": alert.valid_until,
        "review_at": alert.review_at, "created": alert.created_at})


def _peer_agencies(node: Node, s: Session) -> list[Agency]:
    """Agencies of other nodes: the candidates for propagation."""
    return list(s.scalars(select(Agency).where(Agency.hosted.is_(False),
                                               Agency.node_id != node.settings.node_id)
                          .order_by(Agency.id)))


def create_alert(node: Node, s: Session, principal: Principal, cmd: AlertCreate) -> Alert:
    """Issue an alert for the officer's agency and propagate it as the agreements allow."""
    principal.require(Permission.ALERTS_WRITE)
    _check_clearance(principal, cmd.handling.value)
    issuer = principal.agency_id
    now = node.now()
    review_at = cmd.review_at or cmd.valid_until
    try:
        check_subject(cmd.type, str(cmd.subject.get("schema", "")))
        validity_window(now, cmd.valid_until, review_at,
                        max_days=node.settings.alerts_max_validity_days)
        entity = validate_entity(cmd.subject, default_region=issuer[:2], generate_id=True)
    except ValueError as exc:
        raise AlertInvalid(str(exc)) from None
    except RecordInvalid as exc:
        raise AlertInvalid(f"the subject is not a valid FtM entity: {exc.detail}",
                           errors=exc.extra.get("errors", [])) from None
    categories = categories_of(entity.schema, entity.properties)
    alert = Alert(
        alert_id=uuid.uuid4().hex, holder=issuer, origin="own", issuer=issuer,
        issuer_officer=principal.actor, issuer_node=node.settings.node_id, type=cmd.type.value,
        subject=entity.to_dict(), subject_schema=entity.schema,
        subject_caption=entity.caption[:500], action=cmd.action or DEFAULT_ACTIONS[cmd.type],
        remarks=cmd.remarks, crime_area=cmd.crime_area, handling=cmd.handling.value,
        purpose=cmd.purpose.value, categories=sorted(c.value for c in categories),
        valid_until=cmd.valid_until, review_at=review_at, state=AlertState.ACTIVE.value,
        created_at=now, propagation={}, reminded=[])
    try:
        payload = _payload(alert).model_dump(mode="json", by_alias=True)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
        raise AlertInvalid(f"the alert is not valid: {first.get('msg', '')}") from None
    s.add(alert)
    s.flush()
    try:
        resource = Resource(categories, cmd.crime_area, cmd.handling)
    except ValueError as exc:
        raise AlertInvalid(str(exc), field="crime_area") from None
    propagation: dict[str, dict[str, str | None]] = {}
    for peer in _peer_agencies(node, s):
        verdict = decide_propagation(
            node, s, actor=Actor(issuer, peer.id, officer=principal.username,
                                 clearance=principal.clearance.value),
            resource=resource, purpose=cmd.purpose.value, by=principal.actor, side="sender",
            at=now, credential=principal.audit_credential)
        if not verdict.allowed:
            propagation[peer.id] = {"state": "refused", "code": verdict.code,
                                    "reason": verdict.reason, "clause": verdict.clause}
            continue
        try:
            entry = queue_envelope(node, s, payload=payload, content_type=CONTENT_ALERT,
                                   sender=issuer, recipient=peer.id)
        except UnknownRecipient as exc:
            propagation[peer.id] = {"state": "refused", "code": "no-key", "reason": exc.detail,
                                    "clause": None}
            continue
        propagation[peer.id] = {"state": "queued", "envelope_id": entry.envelope_id,
                                "clause": verdict.clause}
    alert.propagation = propagation
    index_subject(node, s, alert)
    node.record_at_commit(
        s, actor=principal.actor, action=Action.ALERT_CREATED, object=f"alert:{alert.alert_id}",
        purpose=alert.purpose,
        detail={"type": alert.type, "schema": alert.subject_schema, "handling": alert.handling,
                "crime_area": alert.crime_area, "categories": alert.categories,
                "valid_until": alert.valid_until.isoformat(),
                "review_at": alert.review_at.isoformat(),
                "propagation": {a: p["state"] for a, p in propagation.items()}},
        credential=principal.audit_credential)
    if any(p["state"] == "queued" for p in propagation.values()):
        wake_after_commit(node, s)
    s.flush()
    return alert


def _own_copy(s: Session, agency: str, alert_id: str) -> Alert:
    alert = s.scalars(select(Alert).where(Alert.alert_id == alert_id,
                                          Alert.holder == agency)).first()
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id} held by {agency}", alert_id=alert_id)
    return alert


def withdraw_alert(node: Node, s: Session, principal: Principal, alert_id: str,
                   reason: str = "") -> Alert:
    """Withdraw an active alert of the officer's agency, here and on every peer it reached."""
    principal.require(Permission.ALERTS_WRITE)
    alert = _own_copy(s, principal.agency_id, alert_id)
    _check_clearance(principal, alert.handling)
    if alert.origin != "own":
        raise PermissionDenied(f"alert {alert_id} was issued by {alert.issuer}; only the issuer "
                               "withdraws it", alert_id=alert_id, issuer=alert.issuer)
    if alert.state != AlertState.ACTIVE.value:
        raise AlertNotActive(f"alert {alert_id} is {alert.state}", state=alert.state)
    now = node.now()
    alert.state, alert.withdrawn_at, alert.withdrawn_reason = (
        AlertState.WITHDRAWN.value, now, reason)
    payload = WithdrawalPayload(alert_id=alert_id, issuer=alert.issuer, at=now,
                                reason=reason).model_dump(mode="json")
    sent: dict[str, str] = {}
    propagation = dict(alert.propagation)
    for agency, state in alert.propagation.items():
        if state.get("state") != "queued":
            continue
        try:
            entry = queue_envelope(node, s, payload=payload, content_type=CONTENT_WITHDRAWAL,
                                   sender=alert.issuer, recipient=agency)
        except UnknownRecipient:
            continue
        sent[agency] = entry.envelope_id
        propagation[agency] = {**state, "withdrawal_envelope_id": entry.envelope_id}
    alert.propagation = propagation
    unindex_subject(node, s, alert.alert_id)
    node.record_at_commit(
        s, actor=principal.actor, action=Action.ALERT_WITHDRAWN, object=f"alert:{alert_id}",
        purpose=alert.purpose, detail={"reason": reason[:500], "sent_to": sorted(sent)},
        credential=principal.audit_credential)
    if sent:
        wake_after_commit(node, s)
    s.flush()
    return alert


def list_alerts(node: Node, s: Session, principal: Principal, *, state: str | None = None,
                origin: str | None = None, limit: int = 50, offset: int = 0) -> list[Alert]:
    """The alerts the officer's agency holds (issued and received), within the clearance,
    newest first."""
    principal.require(Permission.ALERTS_READ)
    stmt = select(Alert).where(Alert.holder == principal.agency_id,
                               Alert.handling.in_(_visible(principal)))
    if state is not None:
        stmt = stmt.where(Alert.state == AlertState(state).value)
    if origin is not None:
        if origin not in ("own", "foreign"):
            raise AlertInvalid("origin is own or foreign", field="origin")
        stmt = stmt.where(Alert.origin == origin)
    stmt = stmt.order_by(Alert.created_at.desc(), Alert.id.desc())
    rows = list(s.scalars(stmt.limit(max(1, min(limit, 1000))).offset(max(0, offset))))
    node.record_at_commit(
        s, actor=principal.actor, action=Action.ALERT_LISTED, object=f"alerts:{principal.agency_id}",
        detail={"state": state, "origin": origin, "count": len(rows),
                "alert_ids": [a.alert_id for a in rows][:100]},
        credential=principal.audit_credential)
    return rows


def get_alert(node: Node, s: Session, principal: Principal, alert_id: str) -> Alert:
    """One alert of the officer's agency (audited)."""
    principal.require(Permission.ALERTS_READ)
    alert = _own_copy(s, principal.agency_id, alert_id)
    _check_clearance(principal, alert.handling)
    node.record_at_commit(s, actor=principal.actor, action=Action.ALERT_READ,
                          object=f"alert:{alert_id}", purpose=alert.purpose,
                          detail={"origin": alert.origin, "issuer": alert.issuer},
                          credential=principal.audit_credential)
    return alert


def list_hits(node: Node, s: Session, principal: Principal, *, alert_id: str | None = None,
              limit: int = 50, offset: int = 0) -> list[AlertHit]:
    """Hit follow-ups the officer's agency is party to: as the issuer of the alert or as the
    agency that met its subject; within the clearance, newest first."""
    principal.require(Permission.ALERTS_READ)
    me = principal.agency_id
    stmt = select(AlertHit).where(or_(AlertHit.issuer == me, AlertHit.reporter == me),
                                  AlertHit.handling.in_(_visible(principal)))
    if alert_id is not None:
        stmt = stmt.where(AlertHit.alert_id == alert_id)
    stmt = stmt.order_by(AlertHit.at.desc(), AlertHit.id.desc())
    rows = list(s.scalars(stmt.limit(max(1, min(limit, 1000))).offset(max(0, offset))))
    node.record_at_commit(
        s, actor=principal.actor, action=Action.ALERT_HITS_LISTED, object=f"alert-hits:{me}",
        detail={"alert_id": alert_id, "count": len(rows),
                "hit_ids": [h.hit_id for h in rows][:100]},
        credential=principal.audit_credential)
    return rows
