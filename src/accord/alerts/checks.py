"""Every search and every new or changed record is checked against the active alerts.

Two ways in, both inside the caller's transaction:

* **Searches.** :func:`on_search` is the search index's hit listener for the
  source ``alert`` (:func:`accord.search.index.register_hit_listener`): whenever a
  search meets an alert subject, it gets the hits and the
  :class:`~accord.search.index.SearchContext` (agency, officer, purpose, time,
  place).
* **Records.** :func:`on_record_change` is a record change hook
  (:func:`accord.records.services.register_change_hook`): a record created or
  updated (imports included) is turned into index queries
  (:func:`accord.alerts.subjects.queries_for`) run with ``sources=("alert",)``.

A hit with band ``strong`` or ``possible`` on an active, unexpired alert opens
the **hit procedure** (:func:`report_hit`): a follow-up row (``alert_hits``) with
the answer deadline of the agreement the alert came under (else the default
``alerts_hit_answer_hours``), an urgent system message to the reporting agency
with the action to take, and an urgent notification to the issuer — in its
inbox directly when it is hosted on this node, else as an ``accord/alert-hit``
envelope that lands in its inbox as urgent (:mod:`accord.alerts.receiving`).
The notification says who, where and when; never what was searched or what the
record holds. One hit per alert, occasion and record (or agency, for searches)
per transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.alerts.domain import CONTENT_HIT, AlertState, HitKind, HitPayload
from accord.alerts.models import Alert, AlertHit
from accord.alerts.notify import answer_deadline, system_message, wake_after_commit
from accord.alerts.subjects import queries_for
from accord.audit.tags import Action
from accord.bootstrap import Node
from accord.db import tx_cache
from accord.exchange.domain import Priority
from accord.exchange.errors import UnknownRecipient
from accord.exchange.services import queue_envelope
from accord.parties.models import Agency
from accord.records.models import Record

__all__ = ["HIT_BANDS", "on_record_change", "on_search", "report_hit"]

log = logging.getLogger("accord.alerts")
HIT_BANDS = ("strong", "possible")
_RECORD_CHECK = "alerts.record-check"


def _hosted(s: Session) -> set[str]:
    cache = tx_cache(s, "alerts.hosted")
    if "ids" not in cache:
        cache["ids"] = set(s.scalars(select(Agency.id).where(Agency.hosted.is_(True))))
    hosted: set[str] = cache["ids"]
    return hosted


def _active_copy(s: Session, alert_id: str, now: datetime) -> Alert | None:
    """This node's copy of an active, unexpired alert (the issuer's own copy first)."""
    rows = list(s.scalars(select(Alert).where(Alert.alert_id == alert_id,
                                              Alert.state == AlertState.ACTIVE.value)))
    rows = [r for r in rows if r.valid_until > now]
    rows.sort(key=lambda r: (r.origin != "own", r.holder))
    return rows[0] if rows else None


def report_hit(node: Node, s: Session, alert: Alert, *, kind: HitKind, agency: str, officer: str,
               place: str | None, at: datetime, band: str, score: float | None,
               ref: str | None) -> AlertHit | None:
    """Open the hit procedure for one hit on ``alert`` (None if this one was reported already
    in the transaction)."""
    seen = tx_cache(s, "alerts.hits")
    key = (alert.alert_id, kind.value, ref if kind is HitKind.RECORD else agency)
    if key in seen:
        return None
    seen[key] = True
    hosted = _hosted(s)
    # who reports: the searching / writing agency when it is hosted here, else the holder
    reporter = agency if agency in hosted else alert.holder
    basis = (alert.decision or {}).get("basis")
    due, source = answer_deadline(node, basis, at)
    basis_text = (f"{basis['agreement_id']}@{basis['version']}#{basis['clause_id']}"
                  if basis else ("domestic" if alert.origin == "foreign" else "own alert"))
    hit = AlertHit(
        hit_id=uuid.uuid4().hex, alert_id=alert.alert_id, issuer=alert.issuer,
        reporter=reporter, officer=officer[:200], node_id=node.settings.node_id,
        place=place[:200] if place else None, kind=kind.value, ref=ref, band=band, score=score,
        at=at, answer_due=due, deadline_source=source[:300], handling=alert.handling,
        state="open", basis=basis_text[:300])
    s.add(hit)
    s.flush()
    occasion = "a search" if kind is HitKind.SEARCH else f"record {ref}"
    # the reporting agency: what to do now
    system_message(
        node, s, owner=reporter, priority=Priority.URGENT, handling=alert.handling,
        purpose=alert.purpose, crime_area=alert.crime_area, now=at,
        subject=f"Alert hit: {alert.type} — {alert.subject_caption}",
        body=(f"{occasion.capitalize()} by {officer} matched alert {alert.alert_id} of "
              f"{alert.issuer} ({alert.type}, band {band}).\n\nAction to take: {alert.action}\n\n"
              f"{alert.issuer} has been notified; answer its follow-up by {due.isoformat()} "
              f"(hit {hit.hit_id})."))
    if alert.issuer in hosted:
        msg = system_message(
            node, s, owner=alert.issuer, priority=Priority.URGENT, handling=alert.handling,
            purpose=alert.purpose, crime_area=alert.crime_area, now=at,
            subject=f"HIT on your alert {alert.type} — {alert.subject_caption}",
            body=_issuer_body(alert, hit))
        hit.message_id = msg.message_id
    else:
        payload = HitPayload(
            hit_id=hit.hit_id, alert_id=alert.alert_id, issuer=alert.issuer, reporter=reporter,
            officer=hit.officer, node=hit.node_id, place=hit.place, at=at, kind=kind, band=band,
            answer_due=due, basis=basis_text[:300]).model_dump(mode="json")
        try:
            entry = queue_envelope(node, s, payload=payload, content_type=CONTENT_HIT,
                                   sender=reporter, recipient=alert.issuer)
            hit.envelope_id = entry.envelope_id
            wake_after_commit(node, s)
        except UnknownRecipient as exc:  # the issuer is no longer known: the hit stays here
            log.warning("alert hit %s not sent to %s: %s", hit.hit_id, alert.issuer, exc.detail)
    node.record_at_commit(
        s, actor=officer, action=Action.ALERT_HIT, object=f"alert:{alert.alert_id}",
        purpose=alert.purpose, basis=basis_text,
        detail={"hit_id": hit.hit_id, "kind": kind.value, "band": band, "issuer": alert.issuer,
                "reporter": reporter, "ref": ref, "answer_due": due.isoformat(),
                "deadline": source, "envelope_id": hit.envelope_id})
    return hit


def _issuer_body(alert: Alert, hit: AlertHit) -> str:
    what = "a search" if hit.kind == HitKind.SEARCH.value else "a new or changed record"
    place = f", place: {hit.place}" if hit.place else ""
    return (f"Your alert {alert.alert_id} ({alert.type}, {alert.subject_caption}) was hit.\n\n"
            f"Who: {hit.officer} of {hit.reporter}\n"
            f"Where: node {hit.node_id}, agency {hit.reporter}{place}\n"
            f"When: {hit.at.isoformat()}\n"
            f"Occasion: {what}; match band {hit.band}\n\n"
            f"Action asked on a hit: {alert.action}\n"
            f"Follow-up answer due by {hit.answer_due.isoformat()} ({hit.deadline_source}); "
            f"hit {hit.hit_id}.")


def _check_hits(node: Node, s: Session, hits: Sequence[Any], *, kind: HitKind, agency: str,
                officer: str, place: str | None, at: datetime, ref: str | None) -> list[AlertHit]:
    opened: list[AlertHit] = []
    best: dict[str, Any] = {}
    for hit in hits:
        if getattr(hit, "source", "alert") != "alert" or getattr(hit, "band", "") not in HIT_BANDS:
            continue
        current = best.get(str(hit.ref))
        if current is None or float(hit.score) > float(current.score):
            best[str(hit.ref)] = hit
    for alert_id, hit in sorted(best.items()):
        alert = _active_copy(s, alert_id, at)
        if alert is None:
            continue
        made = report_hit(node, s, alert, kind=kind, agency=agency, officer=officer, place=place,
                          at=at, band=str(hit.band), score=float(hit.score), ref=ref)
        if made is not None:
            opened.append(made)
    return opened


def on_search(node: Node, s: Session, hits: Sequence[Any], context: Any) -> None:
    """The search index's hit listener for ``alert``: a search met alert subjects."""
    running = tx_cache(s, _RECORD_CHECK).get("row")
    if running is not None:  # our own record check: reported as a record hit by it
        return
    if context is None:  # a search that says not who asked cannot be reported
        log.warning("a search hit %d alert subject(s) without a search context", len(hits))
        return
    at = getattr(context, "at", None) or node.now()
    _check_hits(node, s, hits, kind=HitKind.SEARCH, agency=str(context.agency),
                officer=str(context.officer), place=getattr(context, "where", None), at=at,
                ref=None)


def on_record_change(node: Node, s: Session, row: Record, change: str) -> None:
    """A record was created or updated: does it match an active alert?"""
    if change not in ("created", "updated"):
        return
    from accord.search.index import SearchContext, search_local

    has_alerts = tx_cache(s, "alerts.any-active")  # a batch import asks once
    if "any" not in has_alerts:
        has_alerts["any"] = s.scalars(select(Alert.id).where(
            Alert.state == AlertState.ACTIVE.value).limit(1)).first() is not None
    if not has_alerts["any"]:
        return
    queries = queries_for(row.entity(), owner=row.owner)
    if not queries:
        return
    at = node.now()
    officer = str(row.updated_by or row.created_by or "")
    context = SearchContext(agency=row.owner, officer=officer, purpose=row.purpose, at=at,
                            where=None)
    flag = tx_cache(s, _RECORD_CHECK)
    flag["row"] = row.id
    try:
        hits: list[Any] = []
        for query in queries:
            hits.extend(search_local(node, s, query, limit=10, sources=("alert",),
                                     context=context))
    finally:
        flag.pop("row", None)
    _check_hits(node, s, hits, kind=HitKind.RECORD, agency=row.owner, officer=officer,
                place=None, at=at, ref=row.id)


def register() -> None:
    """Hook the checks into the search index and the records (idempotent)."""
    from accord.records.services import register_change_hook
    from accord.search.index import register_hit_listener

    register_hit_listener("alert", on_search)
    register_change_hook(on_record_change)


register()
