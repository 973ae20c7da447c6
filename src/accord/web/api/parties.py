"""/api/v1: the signed-in officer, agencies, officers, API tokens, peers and keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy import select

from accord.audit.tags import Action
from accord.auth import services as auth
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.auth.schemas import Me, TokenCreate, TokenCreated, TokenPublic
from accord.exchange.refresh import peer_fetch_of
from accord.parties import services as parties
from accord.parties.keys import KeyStore
from accord.parties.models import ApiToken, Officer
from accord.parties.remote import fetch_descriptor
from accord.parties.schemas import (
    AgencyPublic,
    KeyPublic,
    OfficerCreate,
    OfficerCreated,
    OfficerPublic,
    PeerCreate,
    PeerPublic,
    RotateRequest,
)
from accord.web.deps import NodeDep, SessionDep, require

router = APIRouter(prefix="/api/v1", tags=["parties"])


SelfRead = Annotated[Principal, Depends(require(Permission.SELF_READ))]
AgenciesRead = Annotated[Principal, Depends(require(Permission.AGENCIES_READ))]
OfficersRead = Annotated[Principal, Depends(require(Permission.OFFICERS_READ))]
OfficersWrite = Annotated[Principal, Depends(require(Permission.OFFICERS_WRITE))]
TokensManage = Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))]
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
def officers(s: SessionDep, node: NodeDep, principal: OfficersRead,
             agency: str | None = None) -> list[OfficerPublic]:
    rows = parties.list_officers(s, agency)
    node.record(s, actor=principal.actor, action=Action.OFFICER_READ,
                object=f"officers:{agency or '*'}", detail={"count": len(rows)})
    return [OfficerPublic.model_validate(o) for o in rows]


@router.post("/officers", response_model=OfficerCreated, status_code=status.HTTP_201_CREATED)
def create_officer(body: OfficerCreate, s: SessionDep, node: NodeDep,
                   principal: OfficersWrite) -> OfficerCreated:
    new = parties.create_officer(
        node, s, username=body.username, display_name=body.display_name,
        agency_id=body.agency_id, roles=body.roles, clearance=body.clearance,
        password=body.password, actor=principal.actor)
    return OfficerCreated(**OfficerPublic.model_validate(new.officer).model_dump(),
                          totp_secret=new.totp_secret)


@router.get("/officers/{username}", response_model=OfficerPublic)
def officer(username: str, s: SessionDep, node: NodeDep,
            principal: OfficersRead) -> OfficerPublic:
    row = parties.get_officer(s, username)
    node.record(s, actor=principal.actor, action=Action.OFFICER_READ, object=f"officer:{username}")
    return OfficerPublic.model_validate(row)


@router.post("/officers/{username}/unlock", response_model=OfficerPublic)
def unlock(username: str, s: SessionDep, node: NodeDep,
           principal: OfficersWrite) -> OfficerPublic:
    return OfficerPublic.model_validate(
        parties.unlock_officer(node, s, username=username, actor=principal.actor))


@router.get("/tokens", response_model=list[TokenPublic])
def tokens(s: SessionDep, _: TokensManage) -> list[TokenPublic]:
    rows = s.execute(select(ApiToken, Officer.username).join(Officer)).all()
    return [TokenPublic(id=t.id, username=u, roles=t.roles, description=t.description,
                        created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at)
            for t, u in rows]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, s: SessionDep, node: NodeDep,
                 principal: TokensManage) -> TokenCreated:
    new = auth.create_api_token(node, s, by=principal.actor, username=body.username,
                                roles=body.roles, days=body.days, description=body.description)
    return TokenCreated(id=new.id, token=new.token, username=new.officer, roles=new.roles,
                        expires_at=new.expires_at)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: str, s: SessionDep, node: NodeDep,
                 principal: TokensManage) -> None:
    auth.revoke_api_token(node, s, by=principal.actor, token_id=token_id)


@router.get("/peers", response_model=list[PeerPublic])
def peers(s: SessionDep, _: PeersRead) -> list[PeerPublic]:
    return [PeerPublic.model_validate(p) for p in parties.list_peers(s)]


@router.post("/peers", response_model=PeerPublic, status_code=status.HTTP_201_CREATED)
def add_peer(body: PeerCreate, s: SessionDep, node: NodeDep,
             principal: PeersWrite) -> PeerPublic:
    peer = parties.add_peer(node, s, url=body.url, expected_fingerprint=body.fingerprint,
                            fetch=fetch_descriptor, actor=principal.actor)
    return PeerPublic.model_validate(peer)


@router.post("/peers/{node_id}/refresh", response_model=PeerPublic)
def refresh_peer(node_id: str, node: NodeDep, principal: PeersWrite) -> PeerPublic:
    """Fetch the peer's signed descriptor again and learn its current keys; the descriptor must
    be signed by the node key pinned for it (otherwise 400 ``fingerprint-mismatch``, audited)."""
    result = parties.refresh_peer_now(node, node_id=node_id, fetch=peer_fetch_of(node),
                                      actor=principal.actor)
    return PeerPublic.model_validate(result.peer)


@router.get("/keys", response_model=list[KeyPublic])
def keys(s: SessionDep, _: KeysRead, owner: str) -> list[KeyPublic]:
    return [KeyPublic(kid=k.kid, owner=k.owner, alg=k.alg, fingerprint=k.fingerprint,
                      created_at=k.created_at, retired_at=k.retired_at, revoked_at=k.revoked_at)
            for k in KeyStore.keys_of(s, owner)]


@router.post("/keys/rotate", response_model=list[str])
def rotate(body: RotateRequest, s: SessionDep, node: NodeDep,
           principal: KeysWrite) -> list[str]:
    return parties.rotate_keys(node, s, owner=body.owner, actor=principal.actor)
