"""/api/v1: the signed-in officer, agencies, officers, API tokens, peers and keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy.orm import Session

from accord.audit.tags import Action
from accord.auth import services as auth
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.auth.schemas import Me, TokenCreate, TokenCreated, TokenPublic
from accord.exchange.refresh import peer_fetch_of
from accord.parties import services as parties
from accord.parties.keys import KeyStore
from accord.parties.remote import fetch_descriptor
from accord.parties.schemas import (
    AgencyPublic,
    KeyPublic,
    OfficerCreate,
    OfficerEnrolment,
    OfficerPublic,
    PeerCreate,
    PeerPublic,
    RotateRequest,
)
from accord.web.deps import NodeDep, SessionDep, require
from accord.web.openapi import problem_responses

router = APIRouter(prefix="/api/v1", tags=["parties"])


SelfRead = Annotated[Principal, Depends(require(Permission.SELF_READ))]
AgenciesRead = Annotated[Principal, Depends(require(Permission.AGENCIES_READ))]
OfficersRead = Annotated[Principal, Depends(require(Permission.OFFICERS_READ))]
OfficersWrite = Annotated[Principal, Depends(require(Permission.OFFICERS_WRITE))]
TokensOwn = Annotated[Principal, Depends(require(Permission.TOKENS_OWN))]
PeersRead = Annotated[Principal, Depends(require(Permission.PEERS_READ))]
PeersWrite = Annotated[Principal, Depends(require(Permission.PEERS_WRITE))]
KeysRead = Annotated[Principal, Depends(require(Permission.KEYS_READ))]
KeysWrite = Annotated[Principal, Depends(require(Permission.KEYS_WRITE))]


@router.get("/me", response_model=Me)
def me(principal: SelfRead) -> Me:
    return Me(username=principal.username, agency_id=principal.agency_id,
              country=principal.country, roles=sorted(r.value for r in principal.roles),
              clearance=principal.clearance.value, via=principal.via)


@router.get("/agencies", response_model=list[AgencyPublic])
def agencies(s: SessionDep, _: AgenciesRead) -> list[AgencyPublic]:
    return [AgencyPublic.model_validate(a) for a in parties.list_agencies(s)]


@router.get("/officers", response_model=list[OfficerPublic])
def officers(node: NodeDep, principal: OfficersRead,
             agency: str | None = None) -> list[OfficerPublic]:
    """The officers of your agency (a node-admin: of any agency, default all)."""
    def _list(s: Session) -> list[OfficerPublic]:
        rows = parties.list_officers(s, agency, by=principal)
        node.record(s, actor=principal.actor, action=Action.OFFICER_READ,
                    object=f"officers:{agency or ('*' if principal.node_wide else principal.agency_id)}",
                    detail={"count": len(rows)}, credential=principal.audit_credential)
        return [OfficerPublic.model_validate(o) for o in rows]

    return parties.audited(node, by=principal, obj=f"officers:{agency or '*'}",
                           attempt=Action.OFFICER_READ, fn=_list)


@router.post("/officers", response_model=OfficerEnrolment, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(404, 409))
def create_officer(body: OfficerCreate, node: NodeDep, principal: OfficersWrite) -> OfficerEnrolment:
    """Create an officer of your agency (a node-admin: of any agency of the node) with a
    clearance no higher than yours. The answer has a one-time enrolment code for the officer,
    who enrols at ``POST /auth/enrolment``; it has no password and no second-factor secret."""
    def _create(s: Session) -> OfficerEnrolment:
        new = parties.create_officer(
            node, s, username=body.username, display_name=body.display_name,
            agency_id=body.agency_id, roles=list(body.roles), clearance=body.clearance,
            by=principal)
        return OfficerEnrolment(**OfficerPublic.model_validate(new.officer).model_dump(),
                                enrolment_code=new.enrolment_code)

    return parties.audited(node, by=principal, obj=f"officer:{body.username}",
                           attempt=Action.OFFICER_CREATED, fn=_create)


@router.get("/officers/{username}", response_model=OfficerPublic)
def officer(username: str, node: NodeDep, principal: OfficersRead) -> OfficerPublic:
    def _read(s: Session) -> OfficerPublic:
        row = parties.read_officer(s, username, by=principal)
        node.record(s, actor=principal.actor, action=Action.OFFICER_READ,
                    object=f"officer:{username}", credential=principal.audit_credential)
        return OfficerPublic.model_validate(row)

    return parties.audited(node, by=principal, obj=f"officer:{username}",
                           attempt=Action.OFFICER_READ, fn=_read)


@router.post("/officers/{username}/unlock", response_model=OfficerPublic)
def unlock(username: str, node: NodeDep, principal: OfficersWrite) -> OfficerPublic:
    return parties.audited(
        node, by=principal, obj=f"officer:{username}", attempt=Action.OFFICER_UNLOCKED,
        fn=lambda s: OfficerPublic.model_validate(
            parties.unlock_officer(node, s, username=username, by=principal)))


@router.post("/officers/{username}/enrolment", response_model=OfficerEnrolment)
def reset_enrolment(username: str, node: NodeDep, principal: OfficersWrite) -> OfficerEnrolment:
    """A lost authenticator or password: ends the officer's password, second factor and
    sessions, and returns a new one-time enrolment code (for an officer of your agency whose
    clearance is no higher than yours)."""
    def _reset(s: Session) -> OfficerEnrolment:
        new = parties.reset_enrolment(node, s, username=username, by=principal)
        return OfficerEnrolment(**OfficerPublic.model_validate(new.officer).model_dump(),
                                enrolment_code=new.enrolment_code)

    return parties.audited(node, by=principal, obj=f"officer:{username}",
                           attempt=Action.OFFICER_ENROLMENT_RESET, fn=_reset)


@router.get("/tokens", response_model=list[TokenPublic])
def tokens(s: SessionDep, principal: TokensOwn) -> list[TokenPublic]:
    """Your API tokens; an admin also sees those of its agency's officers."""
    return [TokenPublic(id=t.id, username=u, roles=t.roles, description=t.description,
                        created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at)
            for t, u in auth.list_api_tokens(s, by=principal)]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, node: NodeDep, principal: TokensOwn) -> TokenCreated:
    """An API token for yourself, from a login session, scoped to roles you hold."""
    def _create(s: Session) -> TokenCreated:
        new = auth.create_api_token(node, s, by=principal, roles=list(body.roles),
                                    days=body.days, description=body.description)
        return TokenCreated(id=new.id, token=new.token, username=new.officer, roles=new.roles,
                            expires_at=new.expires_at)

    return parties.audited(node, by=principal, obj="token:new",
                           attempt=Action.TOKEN_CREATED, fn=_create)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, node: NodeDep, principal: TokensOwn) -> None:
    """Revoke one of your tokens (an admin: also one of its agency's officers)."""
    parties.audited(node, by=principal, obj=f"token:{token_id}", attempt=Action.TOKEN_REVOKED,
                    fn=lambda s: auth.revoke_api_token(node, s, by=principal, token_id=token_id))


@router.get("/peers", response_model=list[PeerPublic])
def peers(s: SessionDep, _: PeersRead) -> list[PeerPublic]:
    return [PeerPublic.model_validate(p) for p in parties.list_peers(s)]


@router.post("/peers", response_model=PeerPublic, status_code=status.HTTP_201_CREATED,
             responses=problem_responses(400, 409, 502))
def add_peer(body: PeerCreate, s: SessionDep, node: NodeDep,
             principal: PeersWrite) -> PeerPublic:
    peer = parties.add_peer(node, s, url=body.url, expected_fingerprint=body.fingerprint,
                            fetch=fetch_descriptor, actor=principal.actor,
                            credential=principal.audit_credential)
    return PeerPublic.model_validate(peer)


@router.post("/peers/{node_id}/refresh", response_model=PeerPublic,
             responses=problem_responses(400, 409, 502))
def refresh_peer(node_id: str, node: NodeDep, principal: PeersWrite) -> PeerPublic:
    """Fetch the peer's signed descriptor again and learn its current keys; the descriptor must
    be signed by the node key pinned for it (otherwise 400 ``fingerprint-mismatch``, audited)."""
    result = parties.refresh_peer_now(node, node_id=node_id, fetch=peer_fetch_of(node),
                                      actor=principal.actor,
                                      credential=principal.audit_credential)
    return PeerPublic.model_validate(result.peer)


@router.get("/keys", response_model=list[KeyPublic])
def keys(s: SessionDep, _: KeysRead, owner: str) -> list[KeyPublic]:
    return [KeyPublic(kid=k.kid, owner=k.owner, alg=k.alg, fingerprint=k.fingerprint,
                      created_at=k.created_at, retired_at=k.retired_at, revoked_at=k.revoked_at)
            for k in KeyStore.keys_of(s, owner)]


@router.post("/keys/rotate", response_model=list[str], responses=problem_responses(404))
def rotate(body: RotateRequest, node: NodeDep, principal: KeysWrite) -> list[str]:
    """Rotate your agency's keys (a node-admin: any hosted agency's, or the node's)."""
    return parties.audited(
        node, by=principal, obj=f"keys:{body.owner}", attempt=Action.KEY_ROTATED,
        fn=lambda s: parties.rotate_keys(node, s, owner=body.owner, actor=principal.actor,
                                         by=principal))
