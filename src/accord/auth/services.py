"""Login, enrolment, sessions and API tokens.

Failures are written (counter, lock, audit entry) and committed *before* the
error is raised, so a refused login leaves its trace. Every refused login
gets the same answer (:class:`LoginFailed`), whatever its cause; the cause is
in the audit entry (``auth:login:<cause>``). Every audit entry written for an
officer names the credential that acted (``session:<hash prefix>`` or
``token:<id>``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from accord.audit.tags import Action
from accord.auth import secrets as sec
from accord.auth.domain import By, Operator, Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.errors import (
    AccordError,
    EnrolmentFailed,
    LoginFailed,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    SessionExpired,
    TokenExpired,
    ValidationFailed,
)
from accord.parties.domain import Handling, Role, parse_roles
from accord.parties.models import Agency, ApiToken, AuthSession, Officer

SESSION_PREFIX = "acs"
TOKEN_PREFIX = "act"
LOGIN_FAILED = ("wrong user name, password or one-time code, or this account cannot log in "
                "now; ask your agency's admin if it persists")
ENROLMENT_FAILED = ("unknown user name, or a wrong, used or expired enrolment code; "
                    "ask your agency's admin for a new code")
MIN_PASSWORD = 12


@dataclass(frozen=True)
class LoginResult:
    token: str
    username: str
    agency_id: str
    roles: list[str]
    idle_timeout_seconds: int
    expires_at: datetime


def login(node: Node, *, username: str, password: str, totp: str) -> LoginResult:
    """A session for the right password and a fresh TOTP code; :class:`LoginFailed` otherwise.

    The officer's row is locked for the check (``FOR UPDATE`` on PostgreSQL, the
    write transaction on SQLite), so two logins with one code cannot both pass.
    """
    result: LoginResult | None = None
    with node.uow() as s:
        now = node.now()
        officer = s.scalars(select(Officer).where(Officer.username == username)
                            .with_for_update()).first()
        if officer is None:
            sec.check_password(sec.DUMMY_HASH, password)  # same time as a real check
            node.record(s, actor=f"?/{username}", action=Action.LOGIN_UNKNOWN_USER,
                        object=f"officer:{username}", outcome="denied")
        else:
            result = _check_login(node, s, officer, password, totp, now)
    if result is None:
        raise LoginFailed(LOGIN_FAILED)
    return result


def _check_login(node: Node, s: Session, officer: Officer, password: str, totp: str,
                 now: datetime) -> LoginResult | None:
    settings = node.settings
    actor, obj = _actor(officer), f"officer:{officer.username}"
    if not officer.active or not officer.enrolled:
        sec.check_password(sec.DUMMY_HASH, password)
        node.record(s, actor=actor, action=(Action.LOGIN_INACTIVE if not officer.active
                                            else Action.LOGIN_NOT_ENROLLED),
                    object=obj, outcome="denied")
        return None
    password_ok = sec.check_password(officer.password_hash, password)  # also when locked: same time
    if officer.locked_until is not None and officer.locked_until > now:
        node.record(s, actor=actor, action=Action.LOGIN_LOCKED, object=obj, outcome="denied",
                    detail={"locked_until": officer.locked_until.isoformat()})
        return None
    if not password_ok:
        _fail(node, s, officer, now, Action.LOGIN_WRONG_PASSWORD)
        return None
    step = sec.totp_step(node.totp_box.open(officer.totp_secret).decode(), totp, now.timestamp())
    if step is None:
        _fail(node, s, officer, now, Action.LOGIN_WRONG_TOTP)
        return None
    if officer.last_totp_step is not None and step <= officer.last_totp_step:
        _fail(node, s, officer, now, Action.LOGIN_REPLAYED_TOTP,
              {"step": step, "last_step": officer.last_totp_step})
        return None
    officer.failed_attempts = 0
    officer.locked_until = None
    officer.last_totp_step = step
    token = sec.new_token(SESSION_PREFIX)
    key = sec.token_hash(token)
    s.add(AuthSession(token_hash=key, officer_id=officer.id, created_at=now, last_seen=now))
    node.record(s, actor=actor, action=Action.LOGIN_OK, object=obj,
                credential=_session_credential(key))
    return LoginResult(token, officer.username, officer.agency_id, list(officer.roles),
                       settings.session_idle_minutes * 60,
                       now + timedelta(hours=settings.session_max_hours))


def _fail(node: Node, s: Session, officer: Officer, now: datetime, action: Action,
          extra: dict[str, object] | None = None) -> None:
    settings = node.settings
    officer.failed_attempts += 1
    detail: dict[str, object] = {"failed_attempts": officer.failed_attempts, **(extra or {})}
    if officer.failed_attempts >= settings.lockout_threshold:
        officer.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        officer.failed_attempts = 0
        detail["locked_until"] = officer.locked_until.isoformat()
    node.record(s, actor=_actor(officer), action=action, object=f"officer:{officer.username}",
                outcome="denied", detail=detail)


def _actor(officer: Officer) -> str:
    return f"{officer.agency_id}/{officer.username}"


def _session_credential(key: str) -> str:
    return f"session:{key[:12]}"


# -- enrolment -------------------------------------------------------------------
@dataclass(frozen=True)
class Enrolment:
    """What the officer gets once, at enrolment: the TOTP secret and its ``otpauth://`` URI."""

    username: str
    totp_secret: str
    provisioning_uri: str


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"passwords have at least {MIN_PASSWORD} characters",
                               field="password")
    if len(password) > 1024:
        raise ValidationFailed("passwords have at most 1024 characters", field="password")


def enrol(node: Node, *, username: str, code: str, password: str) -> Enrolment:
    """The officer's own step: the one-time enrolment code and a password of their choosing
    give the TOTP secret, once. Every refusal is one answer (:class:`EnrolmentFailed`); its
    reason is audited (``auth:enrolment:failed``) and committed before the error is raised."""
    check_new_password(password)
    result: Enrolment | None = None
    with node.uow() as s:
        now = node.now()
        officer = s.scalars(select(Officer).where(Officer.username == username)
                            .with_for_update()).first()
        reason = _enrolment_refusal(officer, code, now)
        if reason is not None or officer is None:
            node.record(s, actor=_actor(officer) if officer is not None else f"?/{username}",
                        action=Action.ENROLMENT_FAILED, object=f"officer:{username}",
                        outcome="denied", detail={"reason": reason})
        else:
            result = complete_enrolment(node, s, officer, password=password, actor=_actor(officer))
    if result is None:
        raise EnrolmentFailed(ENROLMENT_FAILED)
    return result


def _enrolment_refusal(officer: Officer | None, code: str, now: datetime) -> str | None:
    if officer is None:
        return "unknown user"
    if not officer.active:
        return "inactive"
    if officer.enrolment_hash is None or officer.enrolment_expires_at is None:
        return "no enrolment pending (used or never issued)"
    if not hmac.compare_digest(officer.enrolment_hash, sec.enrolment_code_hash(code)):
        return "wrong code"
    if officer.enrolment_expires_at <= now:
        return "code expired"
    return None


def complete_enrolment(node: Node, s: Session, officer: Officer, *, password: str,
                       actor: str) -> Enrolment:
    """Set the password and a new TOTP secret, and spend the enrolment code (the caller has
    checked the code, or is the node operator provisioning an officer)."""
    check_new_password(password)
    secret = sec.new_totp_secret()
    now = node.now()
    officer.password_hash = sec.hash_password(password)
    officer.totp_secret = node.totp_box.seal(secret.encode())
    officer.enrolled_at = now
    officer.enrolment_hash = None
    officer.enrolment_expires_at = None
    officer.last_totp_step = None
    officer.failed_attempts = 0
    officer.locked_until = None
    node.record(s, actor=actor, action=Action.ENROLMENT_OK, object=f"officer:{officer.username}")
    uri = sec.totp_uri(secret, account=officer.username, issuer=f"Accord {node.settings.node_id}")
    return Enrolment(officer.username, secret, uri)


# -- sessions and tokens as credentials -------------------------------------------
Write = Callable[[Session], None]


def authenticate(node: Node, bearer: str) -> Principal:
    """Turn a bearer credential into a principal, or raise a precise 401.

    The check reads in a read-only transaction; the rare write it needs (an
    expiry and its audit entry, or the session's last-seen time, at most every
    15 seconds) goes in a short write transaction of its own, committed before
    any error is raised.
    """
    now = node.now()
    write: Write | None = None
    principal: Principal | None = None
    error: AccordError | None = None
    with node.read() as s:
        if bearer.startswith(SESSION_PREFIX + "_"):
            principal, error, write = _from_session(node, s, bearer, now)
        elif bearer.startswith(TOKEN_PREFIX + "_"):
            principal, error, write = _from_token(node, s, bearer, now)
        else:
            error = NotAuthenticated("unrecognised credential")
    if write is not None:
        with node.uow() as s:
            write(s)
    if error is not None:
        raise error
    assert principal is not None
    return principal


Checked = tuple[Principal | None, AccordError | None, Write | None]


def _from_session(node: Node, s: Session, bearer: str, now: datetime) -> Checked:
    """A live session: not ended, not idle longer than ``session_idle_minutes``, and not
    older than ``session_max_hours`` however active (both expiries are audited)."""
    key = sec.token_hash(bearer)
    # the session, its officer and the officer's country in one statement (every request)
    found = s.execute(
        select(AuthSession, Officer, Agency.country)
        .outerjoin(Officer, Officer.id == AuthSession.officer_id)
        .outerjoin(Agency, Agency.id == Officer.agency_id)
        .where(AuthSession.token_hash == key)
    ).first()
    row, officer, country = found if found is not None else (None, None, None)
    if row is None or row.ended_at is not None:
        return None, NotAuthenticated("unknown or ended session; log in again"), None
    if officer is None or not officer.active:
        return None, NotAuthenticated("the officer of this session is no longer active"), None
    settings = node.settings
    actor, username = _actor(officer), officer.username
    expiry: tuple[str, dict[str, object]] | None = None
    if now - row.created_at >= timedelta(hours=settings.session_max_hours):
        expiry = (f"session ended {settings.session_max_hours} hours after login; log in again",
                  {"reason": "lifetime", "max_hours": settings.session_max_hours})
    elif now - row.last_seen > timedelta(minutes=settings.session_idle_minutes):
        expiry = (f"session expired after {settings.session_idle_minutes} minutes idle; "
                  "log in again",
                  {"reason": "idle", "idle_minutes": settings.session_idle_minutes})
    if expiry is not None:
        message, detail = expiry

        def expire(w: Session) -> None:
            w.execute(update(AuthSession).where(AuthSession.token_hash == key,
                                                AuthSession.ended_at.is_(None))
                      .values(ended_at=now))
            node.record(w, actor=actor, action=Action.SESSION_EXPIRED,
                        object=f"officer:{username}", outcome="denied", detail=detail,
                        credential=_session_credential(key))

        return None, SessionExpired(message), expire
    touch: Write | None = None
    if now - row.last_seen > timedelta(seconds=15):
        def touch(w: Session) -> None:
            w.execute(update(AuthSession).where(AuthSession.token_hash == key,
                                                AuthSession.last_seen < now)
                      .values(last_seen=now))
    roles = frozenset(parse_roles(officer.roles))
    return _principal(s, officer, roles, roles, "session", key[:12], country=country), None, touch


def _from_token(node: Node, s: Session, bearer: str, now: datetime) -> Checked:
    row = s.scalars(select(ApiToken).where(ApiToken.token_hash == sec.token_hash(bearer))).first()
    if row is None or row.revoked_at is not None:
        return None, NotAuthenticated("unknown or revoked API token"), None
    officer = s.get(Officer, row.officer_id)
    if officer is None or not officer.active:
        return None, NotAuthenticated("the officer of this token is no longer active"), None
    if row.expires_at <= now:
        actor, token_id, expired_at = _actor(officer), row.id, row.expires_at.isoformat()

        def audit_expired(w: Session) -> None:
            node.record(w, actor=actor, action=Action.TOKEN_EXPIRED, object=f"token:{token_id}",
                        outcome="denied", detail={"expired_at": expired_at},
                        credential=f"token:{token_id}")

        return None, TokenExpired(f"API token {token_id} expired at {expired_at}"), audit_expired
    officer_roles = frozenset(parse_roles(officer.roles))
    scope = frozenset(parse_roles(row.roles)) & officer_roles
    return _principal(s, officer, scope, officer_roles, "token", row.id), None, None


def _principal(s: Session, officer: Officer, roles: frozenset[Role], officer_roles: frozenset[Role],
               via: str, cred: str, *, country: str | None = None) -> Principal:
    if country is None:
        agency = s.get(Agency, officer.agency_id)
        country = agency.country if agency else None
    return Principal(
        officer_id=officer.id, username=officer.username, agency_id=officer.agency_id,
        country=country or officer.agency_id[:2], roles=roles,
        officer_roles=officer_roles, clearance=Handling(officer.clearance), via=via,
        credential_id=cred,
    )


def logout(node: Node, principal: Principal, bearer: str) -> None:
    with node.uow() as s:
        row = s.get(AuthSession, sec.token_hash(bearer))
        if row is not None and row.ended_at is None:
            row.ended_at = node.now()
        node.record(s, actor=principal.actor, action=Action.LOGOUT,
                    object=f"officer:{principal.username}", credential=principal.audit_credential)


def deny(node: Node, principal: Principal, permission: Permission, error: AccordError,
         path: str) -> None:
    """Write the audit entry of a refused route before the 403 goes out."""
    action = Action.TOKEN_OUT_OF_SCOPE if error.slug == "token-out-of-scope" else Action.ROLE_DENIED
    with node.uow() as s:
        node.record(s, actor=principal.actor, action=action, object=f"route:{path}",
                    outcome="denied", detail={"permission": permission.value,
                                              "roles": sorted(r.value for r in principal.roles)},
                    credential=principal.audit_credential)


# -- API tokens --------------------------------------------------------------------
@dataclass(frozen=True)
class NewToken:
    id: str
    token: str
    officer: str
    roles: list[str]
    expires_at: datetime


def create_api_token(node: Node, s: Session, *, by: By, roles: list[str], days: int,
                     description: str = "", username: str | None = None) -> NewToken:
    """An API token for machines, shown once (only its hash is stored).

    An officer (``by`` a :class:`Principal`) gets a token for themselves only,
    from a login session (a token does not make tokens), scoped to roles the
    session holds. The node operator (``by`` an :class:`Operator`, the command
    line) names the officer.
    """
    if days < 1 or days > node.settings.token_max_days:
        raise ValidationFailed(f"a token lives 1 to {node.settings.token_max_days} days",
                               field="days")
    if isinstance(by, Principal):
        if username is not None and username != by.username:
            raise PermissionDenied("an API token is only for oneself", reason="not-yourself")
        if by.via != "session":
            raise PermissionDenied("API tokens are made from a login session, not with a token",
                                   reason="token-from-token")
        officer = s.get(Officer, by.officer_id)
        if officer is None:
            raise NotFound(f"no officer {by.username!r}")
        holds = set(by.roles)
    else:
        if username is None:
            raise ValidationFailed("name the officer the token is for", field="username")
        found = s.scalars(select(Officer).where(Officer.username == username)).first()
        if found is None:
            raise NotFound(f"no officer {username!r}")
        officer = found
        holds = set(parse_roles(officer.roles))
    scope = parse_roles(roles)
    missing = set(scope) - holds
    if missing:
        raise ValidationFailed(
            f"{officer.username} does not hold {sorted(r.value for r in missing)}; "
            "a token cannot have roles its officer lacks", field="roles")
    now = node.now()
    token = sec.new_token(TOKEN_PREFIX)
    token_id = "tok_" + sec.token_hash(token)[:16]
    expires = now + timedelta(days=days)
    s.add(ApiToken(id=token_id, token_hash=sec.token_hash(token), officer_id=officer.id,
                   roles=[r.value for r in scope], description=description, created_at=now,
                   expires_at=expires))
    node.record(s, actor=by.actor, action=Action.TOKEN_CREATED, object=f"token:{token_id}",
                detail={"officer": officer.username, "roles": [r.value for r in scope],
                        "expires_at": expires.isoformat()},
                credential=by.audit_credential)
    return NewToken(token_id, token, officer.username, [r.value for r in scope], expires)


def _may_manage_tokens_of(by: By, officer: Officer) -> bool:
    if isinstance(by, Operator) or officer.id == by.officer_id:
        return True
    return by.can(Permission.TOKENS_MANAGE) and (by.node_wide or officer.agency_id == by.agency_id)


def list_api_tokens(s: Session, *, by: By) -> list[tuple[ApiToken, str]]:
    """One's own tokens; an admin also sees those of its agency's officers (a node-admin, all)."""
    stmt = select(ApiToken, Officer.username).join(Officer).order_by(ApiToken.created_at)
    if isinstance(by, Principal) and not (by.can(Permission.TOKENS_MANAGE) and by.node_wide):
        if by.can(Permission.TOKENS_MANAGE):
            stmt = stmt.where(or_(ApiToken.officer_id == by.officer_id,
                                  Officer.agency_id == by.agency_id))
        else:
            stmt = stmt.where(ApiToken.officer_id == by.officer_id)
    return [(t, u) for t, u in s.execute(stmt).all()]


def revoke_api_token(node: Node, s: Session, *, by: By, token_id: str) -> None:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    officer = s.get(Officer, row.officer_id)
    if officer is None or not _may_manage_tokens_of(by, officer):
        raise PermissionDenied(f"token {token_id} is not yours, nor of an officer you manage",
                               reason="not-yours")
    if row.revoked_at is None:
        row.revoked_at = node.now()
    node.record(s, actor=by.actor, action=Action.TOKEN_REVOKED, object=f"token:{token_id}",
                credential=by.audit_credential)
