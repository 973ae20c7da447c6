"""The one composition root: builds the node's stores and services from settings."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from accord.audit.services import AuditLog, EntryIn
from accord.auth.secrets import SecretBox
from accord.clock import Clock, OffsetClock, SystemClock
from accord.commit import GroupCommit
from accord.db import make_engine, make_session_factory, read_only, unit_of_work
from accord.errors import AccordError
from accord.parties.keys import KeyStore
from accord.policy.services import PolicyService
from accord.settings import Settings

if TYPE_CHECKING:
    from accord.search.linkage import LinkageKeyStore

T = TypeVar("T")
_GROUP_KEY = "db.group_commit"
_group_lock = threading.Lock()


@dataclass
class Node:
    """Everything a request or a command needs, built once."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    keys: KeyStore
    audit: AuditLog
    totp_box: SecretBox
    policy: PolicyService
    linkage: LinkageKeyStore  # linkage secrets of privacy-preserving search, per agreement
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def uow(self) -> Iterator[Session]:
        with unit_of_work(self.sessions) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it does not wait for writers)."""
        with read_only(self.read_sessions) as session:
            yield session

    def grouped(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a transaction shared with concurrent callers (:mod:`accord.commit`):
        like ``with node.uow() as s: return fn(s)``, one commit for many."""
        with _group_lock:
            group = self.extras.get(_GROUP_KEY)
            if not isinstance(group, GroupCommit):
                group = self.extras[_GROUP_KEY] = GroupCommit(
                    self.sessions, mark=self.audit.mark, rewind=self.audit.rewind,
                    max_batch=self.settings.database_group_commit_max)
        return group.run(fn)

    def now(self) -> datetime:
        return self.clock.now()

    def record(
        self, session: Session, *, actor: str, action: str, object: str = "",
        purpose: str = "", basis: str = "", outcome: str = "ok",
        detail: dict[str, Any] | None = None, credential: str = "",
    ) -> int:
        """Append one audit entry in the caller's transaction.

        ``credential`` names the session or API token that acted
        (``Principal.audit_credential``); empty for the node itself and the command line.
        """
        return self.audit.append(
            session,
            EntryIn(actor=actor, action=str(action), object=object, purpose=purpose,
                    basis=basis, outcome=outcome, detail=detail or {}, credential=credential),
            at=self.clock.now(),
        )

    def record_at_commit(
        self, session: Session, *, actor: str, action: str, object: str = "",
        purpose: str = "", basis: str = "", outcome: str = "ok",
        detail: dict[str, Any] | None = None, credential: str = "",
    ) -> None:
        """:meth:`record`, written when the transaction commits, with the transaction's other
        such entries in one append (:meth:`AuditLog.defer`): for hot paths."""
        self.audit.defer(
            session,
            EntryIn(actor=actor, action=str(action), object=object, purpose=purpose,
                    basis=basis, outcome=outcome, detail=detail or {}, credential=credential),
            at=self.clock.now(),
        )

    def record_failure(self, session: Session, *, actor: str, action: str, object: str,
                       error: AccordError, purpose: str = "", outcome: str = "rejected",
                       credential: str = "") -> int:
        """The audit entry of a refused or failed use case: the error, the fields it names,
        and its short machine-readable members — never the values (personal data)."""
        fields = sorted({str(e.get("field")) for e in error.extra.get("errors", [])
                         if isinstance(e, dict)})
        extra = {k: v for k, v in error.extra.items()
                 if k != "errors" and isinstance(v, str | int) and len(str(v)) <= 200}
        return self.record(session, actor=actor, action=action, object=object, purpose=purpose,
                           outcome=outcome, detail={"error": error.slug, "fields": fields, **extra},
                           credential=credential)

    def dispose(self) -> None:
        self.engine.dispose()


#: Modules that register hooks when imported (record change hooks, hit listeners, content
#: types): every node loads them, so the web app, the command line and tests behave alike.
CAPABILITIES = ("accord.search.index", "accord.alerts.services")


def load_capabilities() -> None:
    for name in CAPABILITIES:
        importlib.import_module(name)


def build_node(settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None) -> Node:
    load_capabilities()
    from accord.search.linkage import LinkageKeyStore  # the search package is a capability
    if clock is None:
        clock = OffsetClock() if settings.clock == "offset" else SystemClock()
    engine = engine or make_engine(
        settings.resolved_database_url, write_wait_seconds=settings.database_write_wait_seconds,
        pool_size=settings.database_pool_size, max_overflow=settings.database_pool_overflow)
    keys = KeyStore(settings.keys_dir, settings.passphrase(), seal_cost=settings.key_seal_cost)

    def signer(session: Session) -> tuple[str, Any]:
        return keys.signing_key(session, settings.node_id)

    audit = AuditLog(
        origin=f"{settings.node_id}.accord/audit",
        signer=signer,
        verifier=KeyStore.verification_key,
        checkpoint_entries=settings.audit_checkpoint_entries,
    )
    return Node(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_session_factory(engine, read_only=True),
        keys=keys,
        audit=audit,
        totp_box=SecretBox(settings.secret_key.get_secret_value().encode(), b"totp"),
        policy=PolicyService(settings.resolved_agreements_dir, clock,
                             recheck_seconds=settings.agreements_recheck_seconds),
        linkage=LinkageKeyStore(settings.keys_dir, settings.passphrase(),
                                seal_cost=settings.key_seal_cost),
    )
