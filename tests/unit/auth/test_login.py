"""Login, sessions and tokens: one answer for every refused login, each cause audited.

Issue 7, finding 4: a TOTP code is good once (RFC 6238 §5.2), every failure
looks the same from outside (unknown user, wrong password, wrong or replayed
code, locked, not enrolled), and a session has an absolute lifetime besides
the idle timeout.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.audit.tags import Action
from accord.auth import secrets as sec
from accord.bootstrap import Node
from accord.clock import ManualClock
from accord.web.app import create_app
from tests.factories.officers import OfficerHandle, make_officer


@pytest.fixture
def client(node: Node) -> TestClient:
    return TestClient(create_app(node, background=False))


def audit_actions(node: Node) -> list[str]:
    with node.uow() as s:
        return [e.action for e in node.audit.query(s, limit=1000)]


def audit_entries(node: Node, action: str) -> list[Any]:
    with node.uow() as s:
        return node.audit.query(s, action=action, limit=1000)


def login(client: TestClient, node: Node, o: OfficerHandle, *, password: str | None = None,
          totp: str | None = None) -> dict[str, Any]:
    r = client.post("/auth/login", json={"username": o.username, "password": password or o.password,
                                         "totp": totp or o.code(node)})
    return {"status": r.status_code, "body": r.json(), "ctype": r.headers["content-type"],
            "headers": r.headers}


def assert_problem(result: dict[str, Any], status: int, slug: str) -> None:
    assert result["status"] == status, result
    assert result["ctype"].startswith("application/problem+json")
    assert result["body"]["type"].endswith("/" + slug)
    assert result["body"]["status"] == status
    assert result["body"]["detail"]


def wrong_code(o: OfficerHandle, node: Node) -> str:
    """A code valid in no step of the window (a neighbour step's code would be accepted)."""
    now = node.now().timestamp()
    near = {sec.totp_now(o.totp_secret, now + d) for d in (-30, 0, 30)}
    return next(c for c in (f"{i:06d}" for i in range(1_000_000)) if c not in near)


def test_login_ok_and_me(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    r = login(client, node, o)
    assert r["status"] == 200
    assert r["headers"]["cache-control"] == "no-store"
    token = r["body"]["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "garcia"
    assert Action.LOGIN_OK in audit_actions(node)


def test_wrong_password(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    assert_problem(login(client, node, o, password="wrong password!!"), 401, "login-failed")
    assert Action.LOGIN_WRONG_PASSWORD in audit_actions(node)


def test_unknown_user_is_a_failed_login(client: TestClient, node: Node) -> None:
    r = client.post("/auth/login", json={"username": "nobody", "password": "x" * 12, "totp": "123456"})
    assert r.status_code == 401 and r.json()["type"].endswith("/login-failed")
    [entry] = audit_entries(node, Action.LOGIN_UNKNOWN_USER)
    assert entry.actor == "?/nobody" and entry.outcome == "denied"


def test_wrong_totp(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    assert_problem(login(client, node, o, totp=wrong_code(o, node)), 401, "login-failed")
    assert Action.LOGIN_WRONG_TOTP in audit_actions(node)


def test_every_refused_login_gets_the_same_answer(client: TestClient, node: Node,
                                                  clock: ManualClock) -> None:
    """Wrong password, wrong code, replayed code, unknown user, locked, not enrolled:
    one status, one problem document, one set of headers; each cause in the audit trail."""
    o = make_officer(node)
    locked = make_officer(node, "locked")
    answers: dict[str, dict[str, Any]] = {}
    assert login(client, node, o)["status"] == 200
    answers["replayed"] = login(client, node, o)  # the same code again, same step
    answers["wrong-password"] = login(client, node, o, password="wrong password!!")
    answers["wrong-totp"] = login(client, node, o, totp=wrong_code(o, node))
    answers["unknown"] = login(client, node, OfficerHandle("nobody", "x" * 14, o.totp_secret))
    for _ in range(node.settings.lockout_threshold):
        login(client, node, locked, password="wrong password!!")
    answers["locked"] = login(client, node, locked)  # right password and code, but locked
    from accord.auth.domain import Operator
    from accord.parties import services as parties

    with node.uow() as s:
        parties.create_officer(node, s, username="newbie", display_name="Newbie",
                               agency_id="ES-PN", roles=["officer"], clearance="H1",
                               by=Operator("test"))
    answers["not-enrolled"] = login(client, node, OfficerHandle("newbie", o.password, o.totp_secret))

    def shape(a: dict[str, Any]) -> tuple[int, dict[str, Any], str, str | None]:
        return (a["status"], a["body"], a["ctype"], a["headers"].get("www-authenticate"))

    first = shape(answers["replayed"])
    assert first[0] == 401 and first[1]["type"].endswith("/login-failed")
    assert set(first[1]) == {"type", "title", "status", "detail", "instance"}
    for cause, answer in answers.items():
        assert shape(answer) == first, cause
    actions = audit_actions(node)
    for action in (Action.LOGIN_REPLAYED_TOTP, Action.LOGIN_WRONG_PASSWORD, Action.LOGIN_WRONG_TOTP,
                   Action.LOGIN_UNKNOWN_USER, Action.LOGIN_LOCKED, Action.LOGIN_NOT_ENROLLED):
        assert action in actions, action


def test_a_totp_code_is_good_once(client: TestClient, node: Node, clock: ManualClock) -> None:
    """RFC 6238 §5.2: after a code was accepted, neither it nor an earlier step's is."""
    o = make_officer(node)
    first_code = o.code(node)
    assert login(client, node, o, totp=first_code)["status"] == 200
    assert_problem(login(client, node, o, totp=first_code), 401, "login-failed")
    [replay] = audit_entries(node, Action.LOGIN_REPLAYED_TOTP)
    assert replay.detail["step"] == replay.detail["last_step"]
    clock.advance(timedelta(seconds=30))  # next step: the old code is still in the drift window
    assert_problem(login(client, node, o, totp=first_code), 401, "login-failed")
    assert len(audit_entries(node, Action.LOGIN_REPLAYED_TOTP)) == 2
    assert login(client, node, o)["status"] == 200  # the new step's code is fresh
    # A code of a later step (clock drift) moves the mark forward: the current one is then old.
    ahead = sec.totp_now(o.totp_secret, node.now().timestamp() + 30)
    clock.advance(timedelta(seconds=1))
    assert login(client, node, o, totp=ahead)["status"] == 200
    assert_problem(login(client, node, o), 401, "login-failed")


def test_one_code_in_two_concurrent_logins_passes_once(node: Node) -> None:
    """Two logins racing with one code: the officer's row is locked for the check."""
    o = make_officer(node)
    code = o.code(node)
    app = create_app(node, background=False)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def attempt() -> None:
        c = TestClient(app)
        barrier.wait()
        statuses.append(c.post("/auth/login", json={
            "username": o.username, "password": o.password, "totp": code}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 401, 401, 401]


def test_five_failures_lock_for_ten_minutes(client: TestClient, node: Node, clock: ManualClock) -> None:
    o = make_officer(node)
    admin = make_officer(node, "admin", roles=["admin"])
    admin_headers = {"Authorization": f"Bearer {login(client, node, admin)['body']['token']}"}
    for _ in range(5):
        assert_problem(login(client, node, o, password="wrong password!!"), 401, "login-failed")
    # Locked now, even with the right password and code; the answer does not say so.
    locked = login(client, node, o)
    assert_problem(locked, 401, "login-failed")
    assert "locked_until" not in locked["body"]
    [entry] = audit_entries(node, Action.LOGIN_LOCKED)
    # The admin sees the lock in the officer's record.
    record = client.get("/api/v1/officers/garcia", headers=admin_headers).json()
    assert datetime.fromisoformat(record["locked_until"]) == \
        datetime.fromisoformat(entry.detail["locked_until"])
    clock.advance(timedelta(minutes=9, seconds=50))
    assert_problem(login(client, node, o), 401, "login-failed")
    clock.advance(timedelta(seconds=11))
    assert login(client, node, o)["status"] == 200


def test_session_expires_after_30_minutes_idle(client: TestClient, node: Node, clock: ManualClock) -> None:
    o = make_officer(node)
    token = login(client, node, o)["body"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(timedelta(minutes=29))
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # activity renews
    clock.advance(timedelta(minutes=29))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=30, seconds=1))
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["type"].endswith("/session-expired")
    assert r.headers["content-type"].startswith("application/problem+json")
    [entry] = audit_entries(node, Action.SESSION_EXPIRED)
    assert entry.detail["reason"] == "idle"
    # An expired session stays dead.
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["type"].endswith("/not-authenticated")


def test_session_ends_after_its_lifetime_however_active(client: TestClient, node: Node,
                                                        clock: ManualClock) -> None:
    o = make_officer(node)
    body = login(client, node, o)["body"]
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert body["expires_at"].startswith((node.now() + timedelta(hours=12)).isoformat()[:19])
    for _ in range(24):  # busy all day: never idle 30 minutes
        clock.advance(timedelta(minutes=29))
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(hours=12) - timedelta(minutes=29 * 24))  # exactly 12 h after login
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and r.json()["type"].endswith("/session-expired")
    [entry] = audit_entries(node, Action.SESSION_EXPIRED)
    assert entry.detail == {"reason": "lifetime", "max_hours": 12}
    assert entry.credential.startswith("session:")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_session_lifetime_is_a_setting(tmp_path: Any, db_url: str, clock: ManualClock) -> None:
    from accord.bootstrap import build_node
    from accord.lifecycle import initialise
    from tests.conftest import AGENCIES, make_settings

    n = build_node(make_settings(tmp_path, db_url, session_max_hours=1), clock=clock)
    try:
        initialise(n, AGENCIES, migrate=False)
        c = TestClient(create_app(n, background=False))
        o = make_officer(n)
        headers = {"Authorization": f"Bearer {login(c, n, o)['body']['token']}"}
        clock.advance(timedelta(minutes=25))
        assert c.get("/api/v1/me", headers=headers).status_code == 200
        clock.advance(timedelta(minutes=35))
        assert c.get("/api/v1/me", headers=headers).status_code == 401
    finally:
        n.dispose()


def _login_headers(client: TestClient, node: Node, o: OfficerHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, node, o)['body']['token']}"}


def test_expired_api_token(client: TestClient, node: Node, clock: ManualClock) -> None:
    robot = make_officer(node, "robot", roles=["officer", "dpo"])
    r = client.post("/api/v1/tokens", headers=_login_headers(client, node, robot),
                    json={"roles": ["dpo"], "days": 1})
    assert r.status_code == 201, r.text
    assert r.json()["username"] == "robot"
    token = r.json()["token"]
    with node.uow() as s:  # only the hash is stored
        from accord.parties.models import ApiToken

        stored = s.get(ApiToken, r.json()["id"])
        assert stored is not None and token not in stored.token_hash
    machine = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/audit/entries", headers=machine).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    r = client.get("/api/v1/audit/entries", headers=machine)
    assert r.status_code == 401 and r.json()["type"].endswith("/token-expired")
    assert Action.TOKEN_EXPIRED in audit_actions(node)


def test_out_of_scope_api_token(client: TestClient, node: Node) -> None:
    robot = make_officer(node, "robot", roles=["officer", "dpo"])
    r = client.post("/api/v1/tokens", headers=_login_headers(client, node, robot),
                    json={"roles": ["officer"], "days": 5})
    machine = {"Authorization": f"Bearer {r.json()['token']}"}
    # The officer holds dpo, but the token is scoped to officer only.
    r = client.get("/api/v1/audit/entries", headers=machine)
    assert r.status_code == 403 and r.json()["type"].endswith("/token-out-of-scope")
    assert Action.TOKEN_OUT_OF_SCOPE in audit_actions(node)


def test_token_cannot_exceed_officer_roles(client: TestClient, node: Node) -> None:
    robot = make_officer(node, "robot", roles=["officer"])
    r = client.post("/api/v1/tokens", headers=_login_headers(client, node, robot),
                    json={"roles": ["admin"], "days": 5})
    assert r.status_code == 422 and r.json()["type"].endswith("/validation")


def test_a_token_does_not_make_tokens(client: TestClient, node: Node) -> None:
    """Otherwise a narrow or short-lived token could mint a broader or longer one."""
    robot = make_officer(node, "robot", roles=["officer", "dpo"])
    r = client.post("/api/v1/tokens", headers=_login_headers(client, node, robot),
                    json={"roles": ["officer"], "days": 1})
    machine = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post("/api/v1/tokens", headers=machine, json={"roles": ["officer"], "days": 30})
    assert r.status_code == 403 and r.json()["reason"] == "token-from-token"
    [denied] = audit_entries(node, Action.TOKEN_DENIED)
    assert denied.credential.startswith("token:tok_")


def test_tokens_are_listed_and_revoked_by_their_officer(client: TestClient, node: Node) -> None:
    robot = make_officer(node, "robot", roles=["officer"])
    other = make_officer(node, "other", roles=["officer"])
    mine = _login_headers(client, node, robot)
    theirs = _login_headers(client, node, other)
    tid = client.post("/api/v1/tokens", headers=mine, json={"roles": ["officer"], "days": 5}).json()["id"]
    assert [t["id"] for t in client.get("/api/v1/tokens", headers=mine).json()] == [tid]
    assert client.get("/api/v1/tokens", headers=theirs).json() == []
    r = client.delete(f"/api/v1/tokens/{tid}", headers=theirs)
    assert r.status_code == 403
    assert client.delete(f"/api/v1/tokens/{tid}", headers=mine).status_code == 204
    assert client.get("/api/v1/tokens", headers=mine).json()[0]["revoked_at"] is not None


def test_role_denied_is_audited(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    token = login(client, node, o)["body"]["token"]
    r = client.get("/api/v1/audit/entries", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    assert Action.ROLE_DENIED in audit_actions(node)


def test_logout_ends_session(client: TestClient, node: Node) -> None:
    o = make_officer(node)
    headers = {"Authorization": f"Bearer {login(client, node, o)['body']['token']}"}
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_garbage_credentials(client: TestClient) -> None:
    for value in ("Bearer nonsense", "Bearer acs_nope", "Bearer act_nope", "Basic abc"):
        r = client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
