"""/api/v1/audit: the DPO's view of the audit trail, with proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from accord.audit import witness
from accord.audit.models import WitnessAlarm, WitnessState
from accord.audit.schemas import AlarmPublic, AuditEntryPublic, CheckpointPublic, WitnessStatePublic
from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.errors import NotFound
from accord.web.bounds import Instant, Offset, TreeIndex, TreeSize, TreeSizeOrHead
from accord.web.deps import NodeDep, SessionDep, require
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Dpo = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("/entries", response_model=list[AuditEntryPublic])
def entries(
    s: SessionDep, node: NodeDep, principal: Dpo,
    actor: str | None = None, object: str | None = None, action: str | None = None,
    since: Annotated[Instant | None, Query(description="entries at or after (naive means UTC)")] = None,
    until: Annotated[Instant | None, Query(description="entries before (naive means UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Offset = 0,
) -> list[AuditEntryPublic]:
    rows = node.audit.read_entries(s, actor=actor, obj=object, action=action, since=since,
                                   until=until, limit=limit, offset=offset)
    result = [AuditEntryPublic.model_validate(r) for r in rows]
    node.record(s, actor=principal.actor, action=Action.AUDIT_READ, object="audit:entries",
                detail={"actor": actor, "object": object, "count": len(result)},
                credential=principal.audit_credential)
    return result


@router.get("/checkpoint", response_model=CheckpointPublic, responses=problem_responses(404))
def checkpoint(s: SessionDep, node: NodeDep, _: Dpo) -> CheckpointPublic:
    cp = node.audit.latest_checkpoint(s)
    if cp is None:
        raise NotFound("no checkpoint has been signed yet")
    return CheckpointPublic(size=cp.size, root_hash=cp.root_hash.hex(), note=cp.note,
                            key_id=cp.key_id, created_at=cp.created_at)


@router.get("/proof/inclusion/{index}")
def inclusion(index: TreeIndex, s: SessionDep, node: NodeDep, _: Dpo,
              size: TreeSizeOrHead = None) -> dict[str, Any]:
    return node.audit.inclusion_proof(s, index, size)


@router.get("/proof/consistency")
def consistency(s: SessionDep, node: NodeDep, _: Dpo, old: TreeSize,
                new: TreeSizeOrHead = None) -> dict[str, Any]:
    return node.audit.consistency_proof(s, old, new)


@router.get("/alarms", response_model=list[AlarmPublic])
def alarms(s: SessionDep, node: NodeDep, principal: Dpo,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0) -> list[AlarmPublic]:
    """Witness alarms, newest first: a peer's audit log presented a checkpoint that contradicts
    one this node had witnessed (docs/audit.md). Each carries the two checkpoints signed by
    that log and a statement signed by this node."""
    rows = s.scalars(select(WitnessAlarm).order_by(WitnessAlarm.id.desc()).offset(offset).limit(limit))
    result = [AlarmPublic.model_validate(witness.describe_alarm(r)) for r in rows]
    node.record(s, actor=principal.actor, action=Action.AUDIT_READ, object="audit:alarms",
                detail={"count": len(result)}, credential=principal.audit_credential)
    return result


@router.get("/witnesses", response_model=list[WitnessStatePublic])
def witnesses(s: SessionDep, _: Dpo) -> list[WitnessStatePublic]:
    """What each pinned peer holds of this node's audit log, as witness, and the last error."""
    rows = s.scalars(select(WitnessState).order_by(WitnessState.peer_id))
    return [WitnessStatePublic.model_validate(witness.describe_state(r)) for r in rows]
