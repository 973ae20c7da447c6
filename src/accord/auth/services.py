"""Login, sessions and API tokens.

Failures are written (counter, lock, audit entry) and committed *before* the
error is raised, so a refused login leaves its trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accord.audit.tags import Action
from accord.auth import secrets as sec
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.errors import (
    AccordError,
    AccountLocked,
    InvalidCredentials,
    InvalidSecondFactor,
    NotAuthenticated,
    NotFound,
    SessionExpired,
    TokenExpired,
    ValidationFailed,
)
from accord.parties.domain import Handling, Role, parse_roles
from accord.parties.models import Agency, ApiToken, AuthSession, Officer

SESSION_PREFIX = "acs"
TOKEN_PREFIX = "act"


@dataclass(frozen=True)
class LoginResult:
    token: str
    username: str
    agency_id: str
    roles: list[str]
    idle_timeout_seconds: int


def login(node: Node, *, username: str, password: str, totp: str) -> LoginResult:
    settings = node.settings
    error: AccordError | None = None
    result: LoginResult | None = None
    with node.uow() as s:
        now = node.now()
        officer = s.scalars(select(Officer).where(Officer.username == username)).first()
        if officer is None or not officer.active:
            sec.check_password(sec.DUMMY_HASH, password)  # same time as a real check
            node.record(s, actor=f"?/{username}", action=Action.LOGIN_WRONG_PASSWORD,
                        object=f"officer:{username}", outcome="denied",
                        detail={"reason": "unknown or inactive user"})
            error = InvalidCredentials("wrong user name or password")
        elif officer.locked_until is not None and officer.locked_until > now:
            node.record(s, actor=_actor(officer), action=Action.LOGIN_LOCKED,
                        object=f"officer:{username}", outcome="denied",
                        detail={"locked_until": officer.locked_until.isoformat()})
            error = AccountLocked(
                f"account locked after {settings.lockout_threshold} failed attempts "
                f"until {officer.locked_until.isoformat()}",
                locked_until=officer.locked_until.isoformat(),
            )
        elif not sec.check_password(officer.password_hash, password):
            error = _fail(node, s, officer, now, Action.LOGIN_WRONG_PASSWORD,
                          InvalidCredentials("wrong user name or password"))
        elif not sec.check_totp(node.totp_box.open(officer.totp_secret).decode(), totp,
                                now.timestamp()):
            error = _fail(node, s, officer, now, Action.LOGIN_WRONG_TOTP,
                          InvalidSecondFactor("the one-time code is wrong or out of date"))
        else:
            officer.failed_attempts = 0
            officer.locked_until = None
            token = sec.new_token(SESSION_PREFIX)
            s.add(AuthSession(token_hash=sec.token_hash(token), officer_id=officer.id,
                              created_at=now, last_seen=now))
            node.record(s, actor=_actor(officer), action=Action.LOGIN_OK,
                        object=f"officer:{username}")
            result = LoginResult(token, officer.username, officer.agency_id, list(officer.roles),
                                 settings.session_idle_minutes * 60)
    if error is not None:
        raise error
    assert result is not None
    return result


def _fail(node: Node, s: Session, officer: Officer, now: datetime, action: Action,
          error: AccordError) -> AccordError:
    settings = node.settings
    officer.failed_attempts += 1
    detail: dict[str, object] = {"failed_attempts": officer.failed_attempts}
    if officer.failed_attempts >= settings.lockout_threshold:
        officer.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        officer.failed_attempts = 0
        detail["locked_until"] = officer.locked_until.isoformat()
        error.extra["locked_until"] = officer.locked_until.isoformat()
    node.record(s, actor=_actor(officer), action=action, object=f"officer:{officer.username}",
                outcome="denied", detail=detail)
    return error


def _actor(officer: Officer) -> str:
    return f"{officer.agency_id}/{officer.username}"


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
    key = sec.token_hash(bearer)
    row = s.get(AuthSession, key)
    if row is None or row.ended_at is not None:
        return None, NotAuthenticated("unknown or ended session; log in again"), None
    officer = s.get(Officer, row.officer_id)
    if officer is None or not officer.active:
        return None, NotAuthenticated("the officer of this session is no longer active"), None
    idle_minutes = node.settings.session_idle_minutes
    actor, username = _actor(officer), officer.username
    if now - row.last_seen > timedelta(minutes=idle_minutes):
        def expire(w: Session) -> None:
            w.execute(update(AuthSession).where(AuthSession.token_hash == key,
                                                AuthSession.ended_at.is_(None))
                      .values(ended_at=now))
            node.record(w, actor=actor, action=Action.SESSION_EXPIRED,
                        object=f"officer:{username}", outcome="denied",
                        detail={"idle_minutes": idle_minutes})

        return None, SessionExpired(
            f"session expired after {idle_minutes} minutes idle; log in again"), expire
    touch: Write | None = None
    if now - row.last_seen > timedelta(seconds=15):
        def touch(w: Session) -> None:
            w.execute(update(AuthSession).where(AuthSession.token_hash == key,
                                                AuthSession.last_seen < now)
                      .values(last_seen=now))
    roles = frozenset(parse_roles(officer.roles))
    return _principal(s, officer, roles, roles, "session", key[:12]), None, touch


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
                        outcome="denied", detail={"expired_at": expired_at})

        return None, TokenExpired(f"API token {token_id} expired at {expired_at}"), audit_expired
    officer_roles = frozenset(parse_roles(officer.roles))
    scope = frozenset(parse_roles(row.roles)) & officer_roles
    return _principal(s, officer, scope, officer_roles, "token", row.id), None, None


def _principal(s: Session, officer: Officer, roles: frozenset[Role], officer_roles: frozenset[Role],
               via: str, cred: str) -> Principal:
    agency = s.get(Agency, officer.agency_id)
    return Principal(
        officer_id=officer.id, username=officer.username, agency_id=officer.agency_id,
        country=agency.country if agency else officer.agency_id[:2], roles=roles,
        officer_roles=officer_roles, clearance=Handling(officer.clearance), via=via,
        credential_id=cred,
    )


def logout(node: Node, principal: Principal, bearer: str) -> None:
    with node.uow() as s:
        row = s.get(AuthSession, sec.token_hash(bearer))
        if row is not None and row.ended_at is None:
            row.ended_at = node.now()
        node.record(s, actor=principal.actor, action=Action.LOGOUT,
                    object=f"officer:{principal.username}")


def deny(node: Node, principal: Principal, permission: Permission, error: AccordError,
         path: str) -> None:
    """Write the audit entry of a refused route before the 403 goes out."""
    action = Action.TOKEN_OUT_OF_SCOPE if error.slug == "token-out-of-scope" else Action.ROLE_DENIED
    with node.uow() as s:
        node.record(s, actor=principal.actor, action=action, object=f"route:{path}",
                    outcome="denied", detail={"permission": permission.value,
                                              "roles": sorted(r.value for r in principal.roles)})


@dataclass(frozen=True)
class NewToken:
    id: str
    token: str
    officer: str
    roles: list[str]
    expires_at: datetime


def create_api_token(node: Node, s: Session, *, by: str, username: str, roles: list[str],
                     days: int, description: str = "") -> NewToken:
    if days < 1 or days > node.settings.token_max_days:
        raise ValidationFailed(f"a token lives 1 to {node.settings.token_max_days} days",
                               field="days")
    officer = s.scalars(select(Officer).where(Officer.username == username)).first()
    if officer is None:
        raise NotFound(f"no officer {username!r}")
    scope = parse_roles(roles)
    missing = set(scope) - set(parse_roles(officer.roles))
    if missing:
        raise ValidationFailed(
            f"{username} does not hold {sorted(r.value for r in missing)}; "
            "a token cannot have roles its officer lacks", field="roles")
    now = node.now()
    token = sec.new_token(TOKEN_PREFIX)
    token_id = "tok_" + sec.token_hash(token)[:16]
    expires = now + timedelta(days=days)
    s.add(ApiToken(id=token_id, token_hash=sec.token_hash(token), officer_id=officer.id,
                   roles=[r.value for r in scope], description=description, created_at=now,
                   expires_at=expires))
    node.record(s, actor=by, action=Action.TOKEN_CREATED, object=f"token:{token_id}",
                detail={"officer": username, "roles": [r.value for r in scope],
                        "expires_at": expires.isoformat()})
    return NewToken(token_id, token, username, [r.value for r in scope], expires)


def revoke_api_token(node: Node, s: Session, *, by: str, token_id: str) -> None:
    row = s.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    row.revoked_at = node.now()
    node.record(s, actor=by, action=Action.TOKEN_REVOKED, object=f"token:{token_id}")
