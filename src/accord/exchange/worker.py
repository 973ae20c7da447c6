"""The outbox delivery worker.

Each round, in three short steps (SQLite serialises writers, so no
transaction is held while waiting on the network):

1. **claim** (one transaction): take up to ``batch`` pending envelopes whose
   time has come (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that the worker of
   another server process of the node never takes the same ones), count the
   attempt and set a *lease* (:meth:`DeliveryWorker._lease`, longer than any send
   can take): no worker takes the envelope again meanwhile, and if this process
   dies while sending, it is simply tried again after the lease. A message
   recipient moves from ``queued`` to ``sent``.
2. **send** (no transaction): per destination node, the envelopes go in batches
   (``exchange_send_batch`` envelopes, ``exchange_batch_max_bytes``) in one
   request each (:meth:`Transport.send_batch`), the batches concurrently;
   envelopes for agencies hosted here go through the in-process transport, the
   same envelope path.
3. **settle** (one transaction for the round): an accepted envelope's signed
   receipt is verified with the recipient agency's key and stored as proof of
   delivery (a receipt signed by a key this node does not know yet, of an agency
   on a pinned peer, first makes it refresh that peer's keys — once, with no
   transaction open, rate limited: :func:`accord.exchange.refresh.learn_key`)
   (recipient ``delivered``); a rejected one is final (recipient ``refused``
   with the receiver's reason, and an alert in the sender's inbox); anything
   else is a failed attempt — logged with peer, envelope, attempt, error and
   next try — and waits for its next attempt (exponential backoff with jitter,
   capped at ``exchange_retry_max_seconds``:
   :func:`accord.exchange.domain.backoff_delay`), unless the envelope has been
   trying for longer than ``exchange_dead_letter_after_seconds``: then it is a
   dead letter, and the sender gets an alert.

Exactly-once as users see it comes from the two ends together: the outbox
retries until it holds a receipt (at-least-once), and the receiver keys its
store by envelope id, answering a repeated envelope with the original receipt
and storing nothing new.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.crypto.canonical import sha256_hex
from accord.errors import SignatureInvalid
from accord.exchange.domain import CONTENT_MESSAGE, RecipientState, advance, backoff_delay
from accord.exchange.events import broker_of
from accord.exchange.models import OUTBOX, RECIPIENTS, Message, OutboxEntry, Recipient
from accord.exchange.receipts import verify_receipt
from accord.exchange.refresh import learn_key
from accord.exchange.services import alert_sender, flush_rejections
from accord.exchange.transport import Delivery, InMemoryTransport, Outcome, Route, Transport
from accord.parties.keys import key_row, public_key
from accord.parties.models import KeyRecord, Peer
from accord.parties.services import Fetch

__all__ = ["WORKER_KEY", "DeliveryWorker", "wake_worker"]

log = logging.getLogger("accord.exchange")
WORKER_KEY = "exchange.worker"

# the states from which a recipient moves to sent / delivered (accord.exchange.domain.advance)
_MAY_BE_SENT = [st.value for st in RecipientState if advance(st, RecipientState.SENT)]
_MAY_BE_DELIVERED = [st.value for st in RecipientState if advance(st, RecipientState.DELIVERED)]

def wake_worker(node: Node) -> None:
    """Tell this process's worker (if it runs) that the outbox has something new."""
    worker = node.extras.get(WORKER_KEY)
    if isinstance(worker, DeliveryWorker):
        worker.wake()


def _log_failed(row: OutboxEntry, error: str) -> None:
    """A failed attempt in the sender's log: peer, envelope, attempt, error, next try (the
    first five attempts of an envelope, then every hundredth: a peer down for a day must
    not flood the log). Nothing of the content."""
    if row.attempts <= 5 or row.attempts % 100 == 0:
        log.warning("delivery failed: peer %s, recipient %s, envelope %s, attempt %d: %s; "
                    "next try at %s", row.node_id, row.recipient, row.envelope_id, row.attempts,
                    error[:200] or "no answer", row.next_attempt_at.isoformat())


@dataclass(frozen=True)
class _Job:
    outbox_id: int
    envelope: bytes
    route: Route
    recipient: str


class DeliveryWorker:
    """Delivers the outbox; ``run_once`` for tests, ``start``/``stop`` for the server."""

    def __init__(
        self, node: Node, *, transport: Transport, local: Transport | None = None,
        rng: random.Random | None = None, concurrency: int | None = None,
        batch: int | None = None, fetch: Fetch | None = None, rounds: int | None = None,
    ) -> None:
        st = node.settings
        self.node = node
        self.transport = transport
        self.fetch = fetch  # peer descriptors for key refreshes; None: the node's (refresh.py)
        self.local = local or InMemoryTransport({st.node_id: node})
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.concurrency = concurrency or st.exchange_worker_concurrency
        self.batch = batch or st.exchange_worker_batch
        self.rounds = rounds or st.exchange_worker_rounds
        self._rng_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = (ThreadPoolExecutor(self.concurrency, thread_name_prefix="accord-deliver")
                      if self.concurrency > 1 else None)

    # -- running ------------------------------------------------------------
    def wake(self) -> None:
        """Look at the outbox now (after a message was queued)."""
        self._wake.set()

    def start(self) -> None:
        """Run ``exchange_worker_rounds`` delivery loops: while one round waits on a peer, the
        next claims other envelopes (claims never overlap: each takes its envelopes with a
        lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
        if self._threads:
            return
        self._stop.clear()
        for n in range(self.rounds):
            thread = threading.Thread(target=self._loop, name=f"accord-outbox-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.transport.close()
        try:
            flush_rejections(self.node, force=True)
        except Exception as exc:  # the database may be gone already; the counts are only lost
            log.error("could not audit folded rejections: %s", type(exc).__name__)

    def _loop(self) -> None:
        poll = self.node.settings.exchange_worker_poll_seconds
        while not self._stop.is_set():
            try:
                done = self.run_once()
                flush_rejections(self.node)
            except Exception as exc:  # keep delivering after a database hiccup
                log.error("outbox round failed: %s", type(exc).__name__)
                done = 0
            if done == 0:
                self._wake.wait(poll)
                self._wake.clear()

    def drain(self, rounds: int = 1000) -> int:
        """Run rounds until nothing is due (tests, the CLI); returns envelopes handled."""
        total = 0
        for _ in range(rounds):
            done = self.run_once()
            if done == 0:
                break
            total += done
        return total

    # -- one round ----------------------------------------------------------
    def run_once(self) -> int:
        jobs = self._claim()
        if not jobs:
            return 0
        if len(self._threads) > 1:  # while this round is out, another loop may claim the next
            self._wake.set()
        groups = self._batches(jobs)
        if self._pool is not None and len(groups) > 1:
            answers = list(self._pool.map(self._send_group, groups))
        else:
            answers = [self._send_group(group) for group in groups]
        sent: dict[int, Delivery] = {}
        for group, delivered in zip(groups, answers, strict=True):
            for job, delivery in zip(group, delivered, strict=True):
                sent[job.outbox_id] = delivery
        deliveries = [sent[job.outbox_id] for job in jobs]
        self._learn_receipt_keys(jobs, deliveries)
        self._settle(jobs, deliveries)
        return len(jobs)

    def _lease(self) -> float:
        """How long a claimed envelope is left alone: longer than any send can take (the
        HTTP timeout, twice, and a margin), so that no other worker process sends it too;
        if this process dies while sending, the envelope is tried again after it."""
        return 2 * self.node.settings.exchange_http_timeout_seconds + 5.0

    def _delay(self, attempt: int) -> float:
        st = self.node.settings
        with self._rng_lock:
            return backoff_delay(attempt, base=st.exchange_retry_base_seconds,
                                 cap=st.exchange_retry_max_seconds, rng=self.rng)

    def _claim(self) -> list[_Job]:
        own = self.node.settings.node_id
        with self.node.uow() as s:
            now = self.node.now()
            rows = s.execute(
                select(OUTBOX.c.id, OUTBOX.c.node_id, OUTBOX.c.envelope, OUTBOX.c.recipient,
                       OUTBOX.c.recipient_pk)
                .where(OUTBOX.c.state == "pending", OUTBOX.c.next_attempt_at <= now)
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            # count the attempt; a lease that outlasts the send: no other process takes it meanwhile
            s.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(
                attempts=OUTBOX.c.attempts + 1, last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=self._lease())))
            pks = [r.recipient_pk for r in rows if r.recipient_pk is not None]
            if pks:
                s.execute(update(RECIPIENTS).where(
                    RECIPIENTS.c.id.in_(pks), RECIPIENTS.c.state.in_(_MAY_BE_SENT)
                ).values(state=RecipientState.SENT.value, sent_at=now))
            peers = {p.node_id: p.base_url for p in s.scalars(select(Peer))}
            return [_Job(row.id, row.envelope.encode("utf-8"),
                         Route(own, None) if row.node_id == own
                         else Route(row.node_id, peers.get(row.node_id)), row.recipient)
                    for row in rows]

    def _transport(self, route: Route) -> Transport:
        return self.local if route.node_id == self.node.settings.node_id else self.transport

    def _batches(self, jobs: list[_Job]) -> list[list[_Job]]:
        """The jobs per destination node, cut into batches of at most ``exchange_send_batch``
        envelopes and ``exchange_batch_max_bytes`` bytes (one job per batch for a transport
        that sends one envelope at a time)."""
        st = self.node.settings
        by_route: dict[Route, list[_Job]] = {}
        for job in jobs:
            by_route.setdefault(job.route, []).append(job)
        batches: list[list[_Job]] = []
        for route, routed in by_route.items():
            if not hasattr(self._transport(route), "send_batch"):
                batches.extend([job] for job in routed)
                continue
            current: list[_Job] = []
            size = 0
            for job in routed:
                if current and (len(current) >= st.exchange_send_batch
                                or size + len(job.envelope) > st.exchange_batch_max_bytes - 64):
                    batches.append(current)
                    current, size = [], 0
                current.append(job)
                size += len(job.envelope) + 1
            if current:
                batches.append(current)
        return batches

    def _send_group(self, group: list[_Job]) -> list[Delivery]:
        route = group[0].route
        transport = self._transport(route)
        try:
            if len(group) == 1:
                return [transport.send(route, group[0].envelope)]
            return list(transport.send_batch(route, [job.envelope for job in group]))  # type: ignore[attr-defined]
        except Exception as exc:  # a transport must not raise; if it does, try again later
            return [Delivery(Outcome.RETRY, error=type(exc).__name__)] * len(group)

    def _learn_receipt_keys(self, jobs: list[_Job], deliveries: list[Delivery]) -> None:
        """Refresh the peers whose receipts are signed by keys not known here (before settling,
        so no transaction is open while fetching); settling then verifies them once more."""
        wanted: set[tuple[str, str]] = set()
        for job, delivery in zip(jobs, deliveries, strict=True):
            body = (delivery.receipt or {}).get("body") if delivery.outcome is Outcome.ACCEPTED else None
            kid = body.get("kid") if isinstance(body, dict) else None
            if isinstance(kid, str) and len(kid) <= 80:
                wanted.add((job.recipient, kid))
        if not wanted:
            return
        with self.node.read() as s:
            known = set(s.scalars(select(KeyRecord.kid).where(
                KeyRecord.kid.in_(sorted({kid for _, kid in wanted})))))
        for agency, kid in sorted(wanted):
            if kid not in known:
                learn_key(self.node, agency=agency, kid=kid, fetch=self.fetch)

    def _settle(self, jobs: list[_Job], deliveries: list[Delivery]) -> None:
        """Apply a round's answers in one transaction. Verified receipts (nearly all of them)
        are applied with one multi-row update per table; rejections, failed attempts and
        dead letters row by row."""
        alerts: list[tuple[str, dict[str, Any]]] = []
        with self.node.uow() as s:
            now = self.node.now()
            rows = {r.id: r for r in s.execute(select(
                OUTBOX.c.id, OUTBOX.c.envelope_id, OUTBOX.c.envelope, OUTBOX.c.sender,
                OUTBOX.c.recipient, OUTBOX.c.content_type, OUTBOX.c.attempts,
                OUTBOX.c.recipient_pk, OUTBOX.c.state,
            ).where(OUTBOX.c.id.in_([job.outbox_id for job in jobs])))}
            delivered: list[tuple[Any, dict[str, Any]]] = []
            others: list[tuple[int, Delivery]] = []
            for job, delivery in zip(jobs, deliveries, strict=True):
                row = rows.get(job.outbox_id)
                if row is None or row.state != "pending":
                    continue
                if delivery.outcome is Outcome.ACCEPTED:
                    try:
                        self._verify(s, row.envelope_id, row.recipient, row.envelope,
                                     delivery.receipt or {})
                    except SignatureInvalid as exc:
                        delivery = Delivery(Outcome.RETRY, error=f"bad receipt: {exc.detail}")
                    else:
                        delivered.append((row, delivery.receipt or {}))
                        continue
                others.append((row.id, delivery))
            self._delivered(s, delivered, now)
            if others:
                alerts = self._settle_others(s, others, now)
        broker = broker_of(self.node)
        for agency, event in alerts:
            broker.publish(agency, event)

    def _settle_others(self, s: Session, others: list[tuple[int, Delivery]], now: datetime
                       ) -> list[tuple[str, dict[str, Any]]]:
        """Rejections (final), failed attempts (tried again later) and dead letters."""
        alerts: list[tuple[str, dict[str, Any]]] = []
        dead_after = self.node.settings.exchange_dead_letter_after_seconds
        rows = {r.id: r for r in s.scalars(select(OutboxEntry).where(
            OutboxEntry.id.in_([pk for pk, _ in others])))}
        pks = [r.recipient_pk for r in rows.values() if r.recipient_pk is not None]
        recipients = {r.id: r for r in s.scalars(
            select(Recipient).where(Recipient.id.in_(pks)).options(selectinload(Recipient.message)))}
        for pk, delivery in others:
            row = rows[pk]
            rec = recipients.get(row.recipient_pk) if row.recipient_pk is not None else None
            if delivery.outcome is Outcome.REJECTED:
                alert = self._rejected(s, row, rec, delivery.problem or {})
                if alert:
                    alerts.append(alert)
                continue
            row.last_error = delivery.error[:500]
            row.next_attempt_at = now + timedelta(seconds=self._delay(row.attempts))
            _log_failed(row, delivery.error)
            if (now - row.created_at).total_seconds() >= dead_after:
                alert = self._dead(s, row, rec)
                if alert:
                    alerts.append(alert)
        return alerts

    def _verify(self, s: Session, envelope_id: str, recipient: str, envelope: str,
                receipt: dict[str, Any]) -> None:
        body = receipt.get("body")
        kid = body.get("kid") if isinstance(body, dict) else None
        key = key_row(s, kid) if isinstance(kid, str) else None
        if key is None or key.owner != recipient or key.alg != "ed25519" or key.revoked_at:
            raise SignatureInvalid(f"the receipt is not signed by a valid key of {recipient}")
        pub = public_key(s, key)
        assert isinstance(pub, Ed25519PublicKey)
        verify_receipt(receipt, envelope_id=envelope_id, recipient=recipient,
                       envelope_sha256=sha256_hex(envelope.encode("utf-8")), public_key=pub)

    def _delivered(self, s: Session, delivered: list[tuple[Any, dict[str, Any]]],
                   now: datetime) -> None:
        """Envelopes whose receipts verified: done, with the receipt as proof; their recipients
        delivered (where that is a move forward); one audit entry each."""
        if not delivered:
            return
        s.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_pk")).values(
            state="done", finished_at=now, receipt=bindparam("b_receipt"), last_error=None),
            [{"b_pk": row.id, "b_receipt": receipt} for row, receipt in delivered])
        pks = [row.recipient_pk for row, _ in delivered if row.recipient_pk is not None]
        message_ids: dict[int, str] = {}
        if pks:
            s.execute(update(RECIPIENTS).where(RECIPIENTS.c.id == bindparam("b_pk")).values(
                state=case((or_(*(RECIPIENTS.c.state == st for st in _MAY_BE_DELIVERED)),
                            RecipientState.DELIVERED.value),
                           else_=RECIPIENTS.c.state),
                delivered_at=func.coalesce(RECIPIENTS.c.delivered_at, now),
                receipt=bindparam("b_receipt")),
                [{"b_pk": row.recipient_pk, "b_receipt": receipt} for row, receipt in delivered
                 if row.recipient_pk is not None])
            message_ids = dict(s.execute(
                select(Recipient.id, Message.message_id).join(Message, Recipient.message_pk == Message.id)
                .where(Recipient.id.in_(pks))).all())
        actor = f"node:{self.node.settings.node_id}"
        for row, receipt in delivered:
            self.node.record_at_commit(
                s, actor=actor, action=Action.ENVELOPE_DELIVERED, object=f"envelope:{row.envelope_id}",
                detail={"sender": row.sender, "recipient": row.recipient,
                        "content_type": row.content_type, "attempts": row.attempts,
                        "message_id": message_ids.get(row.recipient_pk),
                        "receipt_kid": receipt.get("body", {}).get("kid")})

    def _rejected(self, s: Session, row: OutboxEntry, rec: Recipient | None,
                  problem: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        now = self.node.now()
        row.state, row.finished_at, row.problem = "rejected", now, problem
        reason = str(problem.get("reason", "rejected"))
        detail = str(problem.get("detail", ""))[:1000]
        self.node.record_at_commit(
            s, actor=f"node:{self.node.settings.node_id}", action=Action.MESSAGE_REFUSED,
            object=f"envelope:{row.envelope_id}", outcome="rejected",
            detail={"recipient": row.recipient, "content_type": row.content_type,
                    "reason": reason, "detail": detail, "clause": problem.get("clause")})
        if rec is None or not advance(RecipientState(rec.state), RecipientState.REFUSED):
            return None
        rec.state, rec.refused_at = RecipientState.REFUSED.value, now
        rec.refusal = {"side": "receiver", "code": problem.get("code") or reason, "reason": detail,
                       "basis": problem.get("basis"), "clause": problem.get("clause"),
                       "problem": reason}
        alert = alert_sender(self.node, s, rec, what="Refused",
                             reason=f"was refused by the receiving node ({reason}): {detail}")
        return rec.message.owner, {"event": "alert", "kind": "refused", "message_id": alert.message_id,
                                   "about": rec.message.message_id, "recipient": rec.agency,
                                   "handling": rec.message.handling}

    def _dead(self, s: Session, row: OutboxEntry, rec: Recipient | None
              ) -> tuple[str, dict[str, Any]] | None:
        now = self.node.now()
        row.state, row.finished_at = "dead", now
        self.node.record_at_commit(
            s, actor=f"node:{self.node.settings.node_id}", action=Action.MESSAGE_DEAD_LETTER,
            object=f"envelope:{row.envelope_id}", outcome="failed",
            detail={"recipient": row.recipient, "content_type": row.content_type,
                    "attempts": row.attempts, "last_error": row.last_error,
                    "message_id": rec.message.message_id if rec is not None else None})
        if rec is None or row.content_type != CONTENT_MESSAGE:
            return None
        if not advance(RecipientState(rec.state), RecipientState.DEAD_LETTER):
            return None
        rec.state, rec.dead_at = RecipientState.DEAD_LETTER.value, now
        hours = self.node.settings.exchange_dead_letter_after_seconds / 3600
        alert = alert_sender(
            self.node, s, rec, what="Undeliverable",
            reason=(f"could not be delivered after {row.attempts} attempts over {hours:g} h "
                    f"(last error: {row.last_error}); it is kept as a dead letter."))
        return rec.message.owner, {"event": "alert", "kind": "dead-letter",
                                   "message_id": alert.message_id,
                                   "about": rec.message.message_id, "recipient": rec.agency,
                                   "handling": rec.message.handling}
