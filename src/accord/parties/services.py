"""Use cases for agencies, officers, keys, the node descriptor and peers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accord.audit.tags import Action
from accord.auth import secrets as sec
from accord.auth.domain import By, Operator, Principal
from accord.auth.services import Enrolment, complete_enrolment
from accord.bootstrap import Node
from accord.crypto.canonical import canonical_json
from accord.crypto.keys import Alg, b64url, b64url_decode, fingerprint, load_public, make_kid
from accord.errors import (
    AccordError,
    Conflict,
    CryptoError,
    FingerprintMismatch,
    NotFound,
    PeerError,
    PermissionDenied,
    ValidationFailed,
)
from accord.parties.domain import (
    AgencyKind,
    Handling,
    check_agency_id,
    check_country,
    parse_roles,
)
from accord.parties.keys import KeyStore
from accord.parties.models import Agency, ApiToken, AuthSession, KeyRecord, Officer, Peer

T = TypeVar("T")


# -- agencies -------------------------------------------------------------------
def create_agency(
    node: Node, s: Session, *, agency_id: str, name: str, kind: str,
    points_of_contact: list[dict[str, Any]] | None = None, actor: str = "system",
) -> Agency:
    check_agency_id(agency_id)
    if agency_id[:2] != node.settings.country:
        raise ValidationFailed(
            f"agency {agency_id} is not of this node's country {node.settings.country}",
            field="agency")
    try:
        AgencyKind(kind)
    except ValueError as exc:
        raise ValidationFailed(f"unknown agency kind {kind!r}", field="kind") from exc
    if s.get(Agency, agency_id) is not None:
        raise Conflict(f"agency {agency_id} exists already")
    now = node.now()
    agency = Agency(id=agency_id, country=agency_id[:2], name=name, kind=kind,
                    points_of_contact=points_of_contact or [], node_id=node.settings.node_id,
                    hosted=True, created_at=now)
    s.add(agency)
    s.flush()
    algs: tuple[Alg, ...] = ("ed25519", "x25519")
    for alg in algs:
        info = node.keys.create(s, owner=agency_id, owner_kind="agency", alg=alg, now=now)
        node.record(s, actor=actor, action=Action.KEY_CREATED, object=f"key:{info.kid}",
                    detail={"owner": agency_id, "alg": alg, "fingerprint": info.fingerprint})
    node.record(s, actor=actor, action=Action.AGENCY_CREATED, object=f"agency:{agency_id}")
    return agency


def list_agencies(s: Session, *, hosted_only: bool = False) -> list[Agency]:
    stmt = select(Agency).order_by(Agency.id)
    if hosted_only:
        stmt = stmt.where(Agency.hosted.is_(True))
    return list(s.scalars(stmt))


def rotate_keys(node: Node, s: Session, *, owner: str, actor: str, by: Principal | None = None
                ) -> list[str]:
    """Rotate the keys of the node or of a hosted agency. An officer acting (``by``) rotates
    its own agency's keys only; the node's and other agencies' take a node-admin."""
    credential = ""
    if by is not None:
        by.require_agency(owner)
        actor, credential = by.actor, by.audit_credential
    kinds = ["ed25519"] if owner == node.settings.node_id else ["ed25519", "x25519"]
    if owner != node.settings.node_id:
        agency = s.get(Agency, owner)
        if agency is None or not agency.hosted:
            raise NotFound(f"no agency {owner} on this node")
    kids = []
    for alg in kinds:
        info = node.keys.rotate(s, owner=owner, alg=alg, now=node.now())  # type: ignore[arg-type]
        node.record(s, actor=actor, action=Action.KEY_ROTATED, object=f"key:{info.kid}",
                    detail={"owner": owner, "alg": alg}, credential=credential)
        kids.append(info.kid)
    return kids


# -- officers -------------------------------------------------------------------
# An officer is created without a password or second factor: the response carries a
# one-time enrolment code (only its hash is stored), handed to the officer, who
# chooses a password and receives the TOTP secret (auth.services.enrol). So whoever
# creates an officer never learns its second factor.
@dataclass(frozen=True)
class NewOfficer:
    officer: Officer
    enrolment_code: str  # shown once; hand it to the officer
    enrolment_expires_at: datetime


def _check_username(username: str) -> None:
    if not username or len(username) > 80 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise ValidationFailed("user names are 1–80 letters, digits, '.', '-' or '_'",
                               field="username")


def _check_clearance(clearance: str) -> Handling:
    try:
        return Handling(clearance)
    except ValueError as exc:
        raise ValidationFailed(f"clearance must be one of H0–H3, not {clearance!r}",
                               field="clearance") from exc


def _new_enrolment(node: Node, officer: Officer) -> tuple[str, datetime]:
    code = sec.new_enrolment_code()
    officer.enrolment_hash = sec.enrolment_code_hash(code)
    officer.enrolment_expires_at = node.now() + timedelta(hours=node.settings.enrolment_hours)
    return code, officer.enrolment_expires_at


def create_officer(
    node: Node, s: Session, *, username: str, display_name: str, agency_id: str,
    roles: list[str], clearance: str, by: By,
) -> NewOfficer:
    """Create an officer, not yet enrolled; returns its one-time enrolment code.

    An officer acting (``by`` a :class:`Principal`) creates officers in its own
    agency only (a node-admin: in any agency of the node), with a clearance no
    higher than its own, and the node-admin role only if it holds it.
    """
    _check_username(username)
    level = _check_clearance(clearance)
    granted = parse_roles(roles)
    if isinstance(by, Principal):
        by.require_agency(agency_id)
        by.require_grant(granted, level)
    agency = s.get(Agency, agency_id)
    if agency is None or not agency.hosted:
        raise NotFound(f"no agency {agency_id} on this node")
    if s.scalars(select(Officer).where(Officer.username == username)).first() is not None:
        raise Conflict(f"officer {username} exists already")
    officer = Officer(
        username=username, display_name=display_name, agency_id=agency_id,
        roles=[r.value for r in granted], clearance=level.value,
        password_hash="", totp_secret=b"", failed_attempts=0,
        active=True, created_at=node.now(),
    )
    code, expires = _new_enrolment(node, officer)
    s.add(officer)
    s.flush()
    node.record(s, actor=by.actor, action=Action.OFFICER_CREATED, object=f"officer:{username}",
                detail={"agency": agency_id, "roles": officer.roles, "clearance": level.value,
                        "enrolment_expires_at": expires.isoformat()},
                credential=by.audit_credential)
    return NewOfficer(officer, code, expires)


def provision_officer(
    node: Node, s: Session, *, username: str, display_name: str, agency_id: str,
    roles: list[str], clearance: str, password: str, by: Operator,
) -> Enrolment:
    """The node operator only (demo, tests): create and enrol an officer at once, so the
    operator learns its password and TOTP secret. Officers never get this path."""
    new = create_officer(node, s, username=username, display_name=display_name,
                         agency_id=agency_id, roles=roles, clearance=clearance, by=by)
    return complete_enrolment(node, s, new.officer, password=password, actor=by.actor)


def get_officer(s: Session, username: str) -> Officer:
    """The officer named ``username``, unchecked (command line, internal use)."""
    officer = s.scalars(select(Officer).where(Officer.username == username)).first()
    if officer is None:
        raise NotFound(f"no officer {username!r}")
    return officer


def read_officer(s: Session, username: str, *, by: By) -> Officer:
    """The officer named ``username``, if ``by`` may manage its agency."""
    officer = get_officer(s, username)
    if isinstance(by, Principal):
        by.require_agency(officer.agency_id)
    return officer


def list_officers(s: Session, agency_id: str | None = None, *, by: By) -> list[Officer]:
    """The officers of ``agency_id`` (default: all); an officer sees its own agency's only,
    a node-admin every agency's."""
    if isinstance(by, Principal) and not by.node_wide:
        if agency_id is not None:
            by.require_agency(agency_id)
        agency_id = by.agency_id
    stmt = select(Officer).order_by(Officer.username)
    if agency_id:
        stmt = stmt.where(Officer.agency_id == agency_id)
    return list(s.scalars(stmt))


def unlock_officer(node: Node, s: Session, *, username: str, by: By) -> Officer:
    officer = read_officer(s, username, by=by)
    officer.locked_until = None
    officer.failed_attempts = 0
    node.record(s, actor=by.actor, action=Action.OFFICER_UNLOCKED, object=f"officer:{username}",
                credential=by.audit_credential)
    return officer


def reset_enrolment(node: Node, s: Session, *, username: str, by: By) -> NewOfficer:
    """A lost authenticator or password: the officer's password, second factor and sessions
    end, and a new enrolment code is issued. Like creating the officer, an officer acting
    may do this only for an officer it could have created (its agency, clearance ≤ its own)."""
    officer = read_officer(s, username, by=by)
    if isinstance(by, Principal):
        by.require_grant(parse_roles(officer.roles), Handling(officer.clearance))
    now = node.now()
    officer.password_hash, officer.totp_secret = "", b""
    officer.enrolled_at, officer.last_totp_step = None, None
    officer.failed_attempts, officer.locked_until = 0, None
    code, expires = _new_enrolment(node, officer)
    s.execute(update(AuthSession).where(AuthSession.officer_id == officer.id,
                                        AuthSession.ended_at.is_(None)).values(ended_at=now))
    # a reset answers a lost or stolen credential: the officer's API tokens go with it
    revoked = len(s.execute(update(ApiToken).where(ApiToken.officer_id == officer.id,
                                                   ApiToken.revoked_at.is_(None))
                            .values(revoked_at=now).returning(ApiToken.id)).all())
    node.record(s, actor=by.actor, action=Action.OFFICER_ENROLMENT_RESET,
                object=f"officer:{username}", detail={"enrolment_expires_at": expires.isoformat(),
                                                      "tokens_revoked": revoked},
                credential=by.audit_credential)
    return NewOfficer(officer, code, expires)


def audited(node: Node, *, by: By, obj: str, attempt: str, fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one transaction; a refusal (403) is audited after the rollback.

    Services write their audit entries in the caller's transaction, so a refusal
    would take its entry down with it; this writes one ``parties:officer:denied``
    (or ``auth:token:denied``) entry in a transaction of its own, naming the
    attempt and the reason.
    """
    try:
        with node.uow() as s:
            return fn(s)
    except PermissionDenied as exc:
        action = Action.TOKEN_DENIED if attempt.startswith("auth:token") else Action.OFFICER_DENIED
        reasons = {k: v for k, v in exc.extra.items() if isinstance(v, str) and len(v) <= 100}
        with node.uow() as s:
            node.record(s, actor=by.actor, action=action, object=obj, outcome="denied",
                        detail={"attempt": attempt, "error": exc.slug, **reasons},
                        credential=by.audit_credential)
        raise


# -- the node descriptor -------------------------------------------------------
def node_descriptor(node: Node, s: Session) -> dict[str, Any]:
    """What this node says of itself, signed by its node key."""
    st = node.settings
    kid, key = node.keys.signing_key(s, st.node_id)
    node_keys = KeyStore.keys_of(s, st.node_id)
    current = next(k for k in node_keys if k.kid == kid)
    body: dict[str, Any] = {
        "node_id": st.node_id,
        "country": st.country,
        "base_url": st.base_url,
        "fingerprint": current.fingerprint,
        "node_key": current.to_public(),
        "node_keys": [k.to_public() for k in node_keys],
        "agencies": [
            {
                "id": a.id, "name": a.name, "kind": a.kind, "country": a.country,
                "points_of_contact": a.points_of_contact,
                "keys": [k.to_public() for k in KeyStore.keys_of(s, a.id)],
            }
            for a in list_agencies(s, hosted_only=True)
        ],
        "peers": [
            {"node_id": p.node_id, "base_url": p.base_url, "fingerprint": p.fingerprint}
            for p in s.scalars(select(Peer).order_by(Peer.node_id))
        ],
        "issued_at": node.now().isoformat(),
    }
    body["signature"] = {"kid": kid, "value": b64url(key.sign(canonical_json(body)))}
    return body


def verify_descriptor(descriptor: dict[str, Any], expected_fingerprint: str) -> None:
    """Check the descriptor is signed by the node key whose fingerprint we pin."""
    try:
        node_key = descriptor["node_key"]
        raw = b64url_decode(node_key["public_key"])
        sig = descriptor["signature"]
    except (KeyError, TypeError, ValueError) as exc:
        raise PeerError(f"malformed node descriptor: {exc}") from exc
    wanted = expected_fingerprint.replace(":", "").replace(" ", "").lower()
    actual = fingerprint(raw)
    if actual != wanted:
        raise FingerprintMismatch(
            f"the node at {descriptor.get('base_url')} presents key fingerprint {actual}, "
            f"not the expected {wanted}", expected=wanted, actual=actual)
    body = {k: v for k, v in descriptor.items() if k != "signature"}
    pub = load_public("ed25519", raw)
    assert isinstance(pub, Ed25519PublicKey)
    try:
        pub.verify(b64url_decode(sig["value"]), canonical_json(body))
    except (InvalidSignature, KeyError, TypeError, ValueError) as exc:
        raise PeerError("the node descriptor's signature does not verify") from exc


Fetch = Callable[[str], dict[str, Any]]
DESCRIPTOR_PATH = "/federation/v1/node"


def add_peer(node: Node, s: Session, *, url: str, expected_fingerprint: str, fetch: Fetch,
             actor: str, credential: str = "") -> Peer:
    """Pin a peer: only when its node key has the fingerprint we were given out of band."""
    descriptor = fetch(url.rstrip("/") + DESCRIPTOR_PATH)
    try:
        verify_descriptor(descriptor, expected_fingerprint)
    except (FingerprintMismatch, PeerError) as exc:
        node.record(s, actor=actor, action=Action.PEER_REFUSED, object=f"peer:{url}",
                    outcome="denied", detail={"reason": exc.detail}, credential=credential)
        raise
    peer_id = str(descriptor["node_id"])
    if peer_id == node.settings.node_id:
        raise ValidationFailed("a node cannot be its own peer", field="url")
    country = check_country(str(descriptor["country"]))
    now = node.now()
    _check_peer_claims(s, descriptor, node_id=peer_id, country=country)
    _store_peer_keys(s, descriptor, now)
    peer = s.get(Peer, peer_id)
    if peer is None:
        peer = Peer(node_id=peer_id, base_url=url.rstrip("/"), country=country,
                    fingerprint=fingerprint(b64url_decode(descriptor["node_key"]["public_key"])),
                    descriptor=descriptor, added_at=now, refreshed_at=now)
        s.add(peer)
    else:
        peer.base_url, peer.descriptor, peer.refreshed_at = url.rstrip("/"), descriptor, now
        peer.fingerprint = fingerprint(b64url_decode(descriptor["node_key"]["public_key"]))
    s.flush()
    node.record(s, actor=actor, action=Action.PEER_PINNED, object=f"peer:{peer_id}",
                detail={"url": url, "fingerprint": peer.fingerprint}, credential=credential)
    return peer


@dataclass(frozen=True)
class PeerRefresh:
    """What a refresh changed: keys new to this node, and known keys whose state changed."""

    peer: Peer
    added: list[str]
    changed: list[str]


def refresh_peer(node: Node, s: Session, *, node_id: str, fetch: Fetch, actor: str,
                 credential: str = "", audit_unchanged: bool = True) -> PeerRefresh:
    """Learn a pinned peer's current keys from its signed descriptor.

    The descriptor is fetched from the peer's stored base URL and must be signed
    by the node key whose fingerprint was pinned: a peer is never re-pinned to
    another node key here (that takes ``add_peer`` with a fingerprint obtained
    out of band). Its agencies' public keys are upserted with their retired and
    revoked states (a revocation is never undone). Refused: another fingerprint,
    a bad signature, another node id or country, a descriptor older than the one
    held, an agency of another country, node or of this node, a key id that
    does not match its key. A refusal is audited (``node:peer:refused``) in
    ``s`` before the error is raised, with nothing else written, so a caller
    that commits after catching it keeps the entry (:func:`refresh_peer_now`).

    A refresh that learnt nothing (no key new, none changed) is audited only
    with ``audit_unchanged`` (a periodic refresh passes False, so the log holds
    what changed, not every poll). The peer's row is locked for the transaction
    (``FOR UPDATE`` on PostgreSQL; SQLite has one writer anyway), so refreshes of
    one peer by several processes of a node take turns and the later one finds
    nothing left to learn.

    ``fetch`` is called inside the caller's transaction; to keep the network
    out of it, use :func:`refresh_peer_now`.
    """
    peer = s.get(Peer, node_id, with_for_update=True)
    if peer is None:
        raise NotFound(f"no peer {node_id} is pinned")
    url = peer.base_url
    descriptor = fetch(url.rstrip("/") + DESCRIPTOR_PATH)
    try:
        verify_descriptor(descriptor, peer.fingerprint)
        if str(descriptor.get("node_id")) != node_id:
            raise PeerError(f"the node at {url} now says it is {str(descriptor.get('node_id'))[:100]!r}, "
                            f"not {node_id}")
        if str(descriptor.get("country", "")).upper() != peer.country:
            raise PeerError(f"the node at {url} now says it is in another country than {peer.country}")
        issued, held = _issued_at(descriptor), _issued_at(peer.descriptor)
        if issued is None or (held is not None and issued < held):
            raise PeerError(f"the descriptor of {node_id} is older than the one held (replayed?)")
        _check_peer_claims(s, descriptor, node_id=node_id, country=peer.country)
    except (PeerError, Conflict, CryptoError, ValidationFailed) as exc:
        node.record(s, actor=actor, action=Action.PEER_REFUSED, object=f"peer:{node_id}",
                    outcome="denied", detail={"reason": exc.detail[:500], "refresh": True,
                                              "url": url, "pinned_fingerprint": peer.fingerprint},
                    credential=credential)
        raise
    now = node.now()
    added, changed = _store_peer_keys(s, descriptor, now)
    peer.descriptor, peer.refreshed_at = descriptor, now
    s.flush()
    if added or changed or audit_unchanged:
        node.record(s, actor=actor, action=Action.PEER_REFRESHED, object=f"peer:{node_id}",
                    detail={"url": url, "fingerprint": peer.fingerprint, "added": added,
                            "changed": changed}, credential=credential)
    return PeerRefresh(peer, added, changed)


def refresh_peer_now(node: Node, *, node_id: str, fetch: Fetch, actor: str,
                     credential: str = "", audit_unchanged: bool = True) -> PeerRefresh:
    """:func:`refresh_peer` with the network outside any transaction.

    Reads the peer's address (read-only), fetches its descriptor with no
    transaction open (SQLite serialises writers: none waits on a peer), then
    checks and stores it in one short transaction of its own. A refusal's audit
    entry is committed before the error is raised.
    """
    with node.read() as s:
        peer = s.get(Peer, node_id)
        if peer is None:
            raise NotFound(f"no peer {node_id} is pinned")
        url = peer.base_url
    descriptor = fetch(url.rstrip("/") + DESCRIPTOR_PATH)
    refused: AccordError | None = None
    result: PeerRefresh | None = None
    with node.uow() as s:
        try:
            result = refresh_peer(node, s, node_id=node_id, fetch=lambda _url: descriptor,
                                  actor=actor, credential=credential,
                                  audit_unchanged=audit_unchanged)
        except AccordError as exc:  # audited in this transaction, which still commits
            refused = exc
    if refused is not None:
        raise refused
    assert result is not None
    return result


def _issued_at(descriptor: dict[str, Any] | None) -> datetime | None:
    try:
        value = (descriptor or {}).get("issued_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_peer_claims(s: Session, descriptor: dict[str, Any], *, node_id: str, country: str) -> None:
    """Refuse, before anything is written, what a peer may not claim.

    Its agencies are of its own country and not hosted here nor known as
    another node's; every key id matches its key and no key is known for
    another owner. (Otherwise a peer could speak for an agency of another node.)
    """
    def check_key(key: Any, owner: str) -> None:
        try:
            kid, alg = str(key["kid"]), str(key["alg"])
            raw = b64url_decode(str(key["public_key"]))
            if alg not in ("ed25519", "x25519") or make_kid(alg, raw) != kid:  # type: ignore[arg-type]
                raise CryptoError(f"key id {kid[:80]} does not match its key")
            if _parse_time(key.get("created_at")) is None:
                raise CryptoError(f"key {kid[:80]} has no creation time")
        except (KeyError, TypeError, ValueError) as exc:
            raise PeerError(f"malformed key in the descriptor of {node_id}: {type(exc).__name__}") from exc
        row = s.get(KeyRecord, kid)
        if row is not None and (row.owner != owner or row.public_key != raw):
            raise CryptoError(f"key {kid} is already known for another owner")

    try:
        for key in descriptor.get("node_keys", []):
            check_key(key, node_id)
        for agency in descriptor.get("agencies", []):
            agency_id = check_agency_id(str(agency["id"]))
            if agency_id[:2] != country:
                raise PeerError(f"peer {node_id} ({country}) claims agency {agency_id} of another country")
            row = s.get(Agency, agency_id)
            if row is not None and row.hosted:
                raise Conflict(f"peer {node_id} claims agency {agency_id}, which this node hosts")
            if row is not None and row.node_id != node_id:
                raise Conflict(f"peer {node_id} claims agency {agency_id}, known as one of {row.node_id}")
            for key in agency.get("keys", []):
                check_key(key, agency_id)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PeerError(f"malformed descriptor of {node_id}: {type(exc).__name__}") from exc


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _store_peer_keys(s: Session, descriptor: dict[str, Any], now: datetime
                     ) -> tuple[list[str], list[str]]:
    """Upsert the descriptor's agencies and keys; returns (new key ids, key ids whose state changed)."""
    node_id = str(descriptor["node_id"])
    added: list[str] = []
    changed: list[str] = []
    for key in descriptor.get("node_keys", []):
        _upsert_key(s, key, owner=node_id, owner_kind="node", added=added, changed=changed)
    for agency in descriptor.get("agencies", []):
        agency_id = check_agency_id(str(agency["id"]))
        row = s.get(Agency, agency_id)
        if row is not None and row.hosted:
            raise Conflict(f"peer {node_id} claims agency {agency_id}, which this node hosts")
        if row is None:
            row = Agency(id=agency_id, country=agency_id[:2], name=str(agency.get("name", "")),
                         kind=str(agency.get("kind", "police")), node_id=node_id, hosted=False,
                         points_of_contact=list(agency.get("points_of_contact", [])),
                         created_at=now)
            s.add(row)
        else:
            row.name, row.node_id = str(agency.get("name", row.name)), node_id
        for key in agency.get("keys", []):
            _upsert_key(s, key, owner=agency_id, owner_kind="agency", added=added, changed=changed)
    return added, changed


def _upsert_key(s: Session, key: dict[str, Any], *, owner: str, owner_kind: str,
                added: list[str], changed: list[str]) -> None:
    created = _parse_time(key.get("created_at"))
    assert created is not None
    kid = str(key["kid"])
    row = s.get(KeyRecord, kid)
    before = None if row is None else (row.retired_at, row.revoked_at)
    KeyStore.upsert_public(
        s, kid=kid, owner=owner, owner_kind=owner_kind, alg=str(key["alg"]),
        raw=b64url_decode(str(key["public_key"])), created_at=created,
        retired_at=_parse_time(key.get("retired_at")), revoked_at=_parse_time(key.get("revoked_at")),
    )
    if row is None:
        added.append(kid)
    elif before != (row.retired_at, row.revoked_at):
        changed.append(kid)


def list_peers(s: Session) -> list[Peer]:
    return list(s.scalars(select(Peer).order_by(Peer.node_id)))
