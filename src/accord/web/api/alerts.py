"""/api/v1/alerts: issue, list, show and withdraw alerts; the hit follow-ups of both sides."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from accord.alerts import services
from accord.alerts.models import Alert
from accord.alerts.schemas import AlertCreate, AlertPublic, AlertSummary, AlertWithdraw, HitPublic
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.web.bounds import Offset
from accord.web.deps import NodeDep, require
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

AlertsRead = Annotated[Principal, Depends(require(Permission.ALERTS_READ))]
AlertsWrite = Annotated[Principal, Depends(require(Permission.ALERTS_WRITE))]


def _public(s: Session, alert: Alert) -> AlertPublic:
    s.flush()
    return AlertPublic.model_validate(alert)


@router.post("", response_model=AlertPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(403, 422))
def create(body: AlertCreate, node: NodeDep, principal: AlertsWrite) -> AlertPublic:
    """Issue an alert for the officer's agency. It is propagated to every peer agency whose
    agreement grants ``alert-propagation``; ``propagation`` says, per agency, queued or
    refused (with the clause and reason)."""
    return services.audited(
        node, actor=principal.actor, obj="alert:new",
        fn=lambda s: _public(s, services.create_alert(node, s, principal, body)),
        credential=principal.audit_credential)


@router.get("", response_model=list[AlertSummary])
def list_alerts(
    node: NodeDep, principal: AlertsRead,
    state: Literal["active", "withdrawn", "expired"] | None = None,
    origin: Literal["own", "foreign"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> list[AlertSummary]:
    """The alerts the officer's agency issued or received, within the officer's clearance."""
    return services.audited(
        node, actor=principal.actor, obj=f"alerts:{principal.agency_id}",
        fn=lambda s: [AlertSummary.model_validate(a) for a in services.list_alerts(
            node, s, principal, state=state, origin=origin, limit=limit, offset=offset)],
        credential=principal.audit_credential)


@router.get("/hits", response_model=list[HitPublic])
def list_hits(
    node: NodeDep, principal: AlertsRead,
    alert: Annotated[str | None, Query(pattern="^[a-f0-9]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Offset = 0,
) -> list[HitPublic]:
    """Hit follow-ups the officer's agency is party to (as the issuer or as the agency that
    met the subject), with the answer deadline."""
    return services.audited(
        node, actor=principal.actor, obj=f"alert-hits:{principal.agency_id}",
        fn=lambda s: [HitPublic.model_validate(h) for h in services.list_hits(
            node, s, principal, alert_id=alert, limit=limit, offset=offset)],
        credential=principal.audit_credential)


@router.get("/{alert_id}", response_model=AlertPublic, responses=problem_responses(403, 404))
def show(alert_id: str, node: NodeDep, principal: AlertsRead) -> AlertPublic:
    """One alert of the officer's agency (issued or received)."""
    return services.audited(
        node, actor=principal.actor, obj=f"alert:{alert_id}",
        fn=lambda s: _public(s, services.get_alert(node, s, principal, alert_id)),
        credential=principal.audit_credential)


@router.post("/{alert_id}/withdraw", response_model=AlertPublic,
             responses=problem_responses(403, 404, 409))
def withdraw(alert_id: str, body: AlertWithdraw, node: NodeDep,
             principal: AlertsWrite) -> AlertPublic:
    """Withdraw an active alert of the officer's agency, here and on every peer it reached."""
    return services.audited(
        node, actor=principal.actor, obj=f"alert:{alert_id}",
        fn=lambda s: _public(s, services.withdraw_alert(node, s, principal, alert_id,
                                                        body.reason)),
        credential=principal.audit_credential)
