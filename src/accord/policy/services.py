"""The node's policy service.

Wraps the pure :func:`accord.agreements.decide` with the node's agreements
(loaded from ``settings.resolved_agreements_dir`` and cached until a file in
the folder changes) and writes every decision into the audit trail, in the
caller's transaction. Both the sending and the receiving side call it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from accord.agreements import Actor, Decision, Registry, Resource, decide, load_registry
from accord.audit.tags import Action
from accord.clock import Clock

if TYPE_CHECKING:
    from accord.bootstrap import Node



class PolicyService:
    def __init__(self, agreements_dir: Path, clock: Clock, *, recheck_seconds: float = 2.0) -> None:
        self.agreements_dir = agreements_dir
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._registry: Registry | None = None
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._checked = float("-inf")

    def _files_stamp(self) -> tuple[tuple[str, int, int], ...]:
        if not self.agreements_dir.is_dir():
            return ()
        return tuple(sorted(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size)
            for p in self.agreements_dir.rglob("*") if p.suffix in (".yaml", ".yml")
        ))

    def registry(self) -> Registry:
        """The agreements in force on this node; an empty registry denies everything."""
        with self._lock:
            now = time.monotonic()
            if self._registry is not None and now - self._checked < self.recheck_seconds:
                return self._registry
            self._checked = now
            stamp = self._files_stamp()
            if self._registry is None or stamp != self._stamp:
                self._registry = load_registry(self.agreements_dir) if stamp else Registry()
                self._stamp = stamp
            return self._registry

    def decide(self, actor: Actor, action: str, resource: Resource, purpose: str,
               at: datetime | None = None) -> Decision:
        """Decide without recording (for explanations that are recorded by the caller)."""
        return decide(actor, action, resource, purpose, at or self.clock.now(),
                      registry=self.registry())

    def decide_and_record(
        self, node: Node, session: Session, *, actor: Actor, action: str, resource: Resource,
        purpose: str, by: str, side: str = "local", at: datetime | None = None,
        credential: str = "",
    ) -> Decision:
        """Decide and append the decision to the audit trail (``side``: sender, receiver, local)."""
        decision = self.decide(actor, action, resource, purpose, at)
        basis = decision.basis
        node.record(
            session, actor=by, action=Action.POLICY_DECISION,
            object=f"flow:{actor.agency}->{actor.counterpart}:{action}", purpose=purpose,
            basis=(f"{basis.agreement_id}@{basis.version}#{basis.clause_id}" if basis else ""),
            outcome="allow" if decision.allowed else "deny",
            detail={"side": side, "decision": decision.to_dict(), "resource": resource.to_dict()},
            credential=credential,
        )
        return decision
