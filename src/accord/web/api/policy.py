"""/api/v1/policy: ask the node's policy decision point, and see why.

``GET /api/v1/policy/explain`` answers like ``accord policy explain --json``,
from the agreements in force on this node; every question is recorded in the
audit trail (``policy:decision:made``, side ``local``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from accord.agreements import Action, Actor, Category, Handling, Purpose, Resource
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.clock import parse_instant
from accord.errors import ValidationFailed
from accord.web.bounds import utc_instant
from accord.web.deps import NodeDep, SessionDep, require

router = APIRouter(prefix="/api/v1/policy", tags=["policy"])

Explainer = Annotated[Principal, Depends(require(Permission.POLICY_EXPLAIN))]


class Explanation(BaseModel):
    decision: dict[str, Any]
    request: dict[str, Any]


def _enum(kind: Any, value: str, field: str) -> Any:
    try:
        return kind(value.strip())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ValidationFailed(f"{field} {value!r} is not one of {allowed}", field=field) from None


def _at(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        when = parse_instant(text)
    except ValueError:
        raise ValidationFailed(f"at {text!r} is not YYYY-MM-DD or an ISO 8601 datetime",
                               field="at") from None
    try:
        return utc_instant(when)
    except ValueError as exc:
        raise ValidationFailed(f"at {text!r}: {exc}", field="at") from None


@router.get("/explain", response_model=Explanation)
def explain(
    s: SessionDep, node: NodeDep, principal: Explainer,
    from_: Annotated[str, Query(alias="from", description="acting agency (ES-PN) or country")],
    to: Annotated[str, Query(description="counterpart agency (MA-DGSN) or country")],
    action: Annotated[Action, Query(description="message, hit-no-hit-search, request:eio, …")],
    purpose: Annotated[Purpose, Query(description="why the data would flow")],
    categories: Annotated[str, Query(description="comma-separated: person,account")] = "",
    crime_area: Annotated[str | None, Query(description="ICCS code, e.g. 0601")] = None,
    handling: Annotated[Handling, Query(description="handling code of the data")] = Handling.H0,
    clearance: Annotated[Handling | None, Query(description="officer clearance")] = None,
    at: Annotated[str | None, Query(description="YYYY-MM-DD or ISO datetime; default now")] = None,
) -> Explanation:
    """Allow with the basis (agreement, version, clause) and obligations, or deny with code and reason."""
    resource = Resource(
        frozenset(_enum(Category, c, "categories") for c in categories.split(",") if c.strip()),
        crime_area or None,
        handling,
    )
    actor = Actor(from_.strip(), to.strip(), officer=principal.actor, clearance=clearance)
    act, why = action, purpose
    when = _at(at, node.now())
    decision = node.policy.decide_and_record(
        node, s, actor=actor, action=act, resource=resource, purpose=why, by=principal.actor,
        side="local", at=when, credential=principal.audit_credential)
    return Explanation(
        decision=decision.to_dict(),
        request={"actor": actor.to_dict(), "action": act.value, "resource": resource.to_dict(),
                 "purpose": why.value, "at": when.isoformat()},
    )
