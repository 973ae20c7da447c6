"""The hit/no-hit protocol: an officer's query fans out to peers, each answers only hit or no hit.

Sender (:func:`search_peers`): the officer's identifiers (one, or a batch of up to
10,000) are grouped by agreement category (person, document, vehicle, …). For every
agency on a pinned peer the policy decision point is asked, per category, whether
``hit-no-hit-search`` is granted for the purpose (audited, ``side: sender``); a peer
refused for every category is *not asked* — nothing is sent to it — and keeps the code,
clause and reason. The allowed identifiers go to each peer as ``accord/search-query``
envelopes (signed by the officer's agency, encrypted to the peer agency; one envelope
per peer per chunk of ``search_chunk_items``), concurrently, POSTed synchronously to
``/federation/v1/search`` through a :class:`~accord.search.transport.SearchPort`. Nothing
is stored and forwarded: a peer that has not answered within the deadline
(``search_deadline_seconds`` plus ``search_deadline_per_item_ms`` per identifier of the
chunk) is *no answer*, never *no hit*. Each answer envelope is opened and checked
(signature of the peer agency, addressed to us, the query id and envelope id it answers,
indices of our own queries) — an answer that fails any check is *no answer* too.

Receiver (:func:`answer_query`): the envelope is checked exactly as a received message
(size, structure, time, recipient, key, signature, decryption; an unknown key of an agency
on a pinned peer makes it refresh that peer once), then replay: envelope ids are held in
an in-process table until their envelope expires, and a query envelope may be valid for at
most ``search_query_max_validity_seconds``, so the table stays small and an envelope
is never accepted twice by one process (docs/search.md says what this means for a node
run as several processes). The receiver decides its own policy (``side: receiver``) per
category, runs :func:`accord.search.index.search_local` over its own agency's records for
the allowed ones, and answers with an ``accord/search-answer`` envelope holding, per query,
only its index, ``hit`` / ``no-hit`` / ``refused``, the band and an opaque reference:
AES-256-GCM of the record reference under a key derived from the node secret, bound to the
asking agency (:func:`make_reference` / :func:`resolve_reference`) — a fresh nonce each
time, so two answers about one record cannot be linked by their references.

Privacy-preserving mode (docs/search-privacy.md): where the clause a category's decision
rests on says ``search_mode: bloom``, the sender puts that category's identifiers in an
envelope of their own (:class:`~accord.search.schemas.PrivateQueryPayload`): persons as
keyed Bloom-filter encodings, other identifiers as keyed hashes, under the newest linkage
key it holds for the agreement (:mod:`accord.search.private`) — or, holding none, does not
ask that peer for them (``linkage-key-missing``), never in clear. The receiver searches its
index encoded under the key the query names, or refuses (:class:`~accord.search.errors.
LinkageRefused`: key missing, key ids that differ, index not encoded yet, a clear query
under a clause that demands the mode); the sender shows such a refusal as ``refused`` with
its code.

Both sides audit: the sender ``search:query:sent`` (officer, purpose, categories, counts,
a keyed digest of the identifiers — never the values — peers asked and not asked) and
``search:query:completed`` (per peer: answered, no answer, refused; hits); the receiver
``search:query:answered`` (sender agency, categories, count, hits) or the rejection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.agreements import Action as PolicyAction
from accord.agreements import Actor, Resource, SearchMode
from accord.audit.tags import Action
from accord.auth.domain import Principal
from accord.auth.permissions import Permission
from accord.bootstrap import Node
from accord.crypto.canonical import canonical_json, parse_json
from accord.crypto.envelope import (
    EnvelopeRejected,
    EnvelopeTooLarge,
    SenderKey,
    UnknownKey,
    WrongRecipient,
    envelope_id,
    open_envelope,
    seal,
)
from accord.errors import ValidationFailed
from accord.exchange.errors import EnvelopeReplayed, PayloadInvalid, ReceiverPolicyDenied
from accord.exchange.refresh import learn_key
from accord.exchange.services import SessionKeys, Verdict, current_recipient_key
from accord.parties.models import Agency, Peer
from accord.search import private
from accord.search.bloom import LinkageKey
from accord.search.errors import REFUSAL_REASONS, LinkageRefused, ReferenceInvalid
from accord.search.index import (
    IndexHit,
    Query,
    SearchContext,
    parse_query,
    query_key,
    search_local,
)
from accord.search.matcher import PersonRecord
from accord.search.schemas import (
    CATEGORY_OF,
    AnswerItem,
    AnswerPayload,
    FollowUp,
    ItemResult,
    LinkageRef,
    Outcome,
    PeerAnswer,
    PeerResult,
    PeerStatus,
    PrivateQueryItem,
    PrivateQueryPayload,
    QueryItem,
    QueryPayload,
    SearchCreate,
    SearchItem,
    SearchResult,
)
from accord.search.transport import HttpSearchPort, Reply, SearchPort

__all__ = [
    "CONTENT_ANSWER",
    "CONTENT_QUERY",
    "ReplayTable",
    "ResolvedReference",
    "answer_query",
    "items_digest",
    "make_reference",
    "query_of",
    "resolve_reference",
    "search_peers",
    "search_port_of",
    "set_search_port",
    "warm_up",
]

log = logging.getLogger("accord.search")

CONTENT_QUERY = "accord/search-query"
CONTENT_ANSWER = "accord/search-answer"
_PORT_KEY = "search.port"
_REPLAY_KEY = "search.replay"
_extras_lock = threading.Lock()
# an answer envelope is read at once by the waiting sender: short validity
_ANSWER_VALIDITY = timedelta(minutes=5)
# a query envelope: the deadline plus a margin for clocks
_QUERY_MARGIN = timedelta(seconds=60)
_REF_PREFIX = "r1."
# persons in the privacy-preserving mode travel as ~0.5-3 KB encodings: fewer per envelope
_PRIVATE_CHUNK = 1000


# --------------------------------------------------------------------------- ports


def set_search_port(node: Node, port: SearchPort) -> None:
    """Use ``port`` for this node's outgoing queries (unit tests: an in-memory port)."""
    node.extras[_PORT_KEY] = port


def search_port_of(node: Node) -> SearchPort:
    """The port injected for this node, or one over HTTP (made once per node)."""
    with _extras_lock:
        port = node.extras.get(_PORT_KEY)
        if port is None:
            port = node.extras[_PORT_KEY] = HttpSearchPort(
                max_connections=node.settings.search_concurrency)
        return port


# --------------------------------------------------------------------------- secrets


def _derive(node: Node, label: bytes) -> bytes:
    """A key for one use, from the node secret and the node id (HKDF-SHA256)."""
    secret = node.settings.secret_key.get_secret_value().encode()
    info = label + b"\x00" + node.settings.node_id.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def items_digest(node: Node, items: Sequence[SearchItem]) -> str:
    """A keyed digest of the identifiers searched (for the audit trail, instead of the values).

    HMAC-SHA256 under a key derived from the node secret: whoever reads the audit trail
    cannot test guesses; the node can confirm later that a given identifier was searched.
    """
    data = canonical_json([i.model_dump(mode="json", exclude_none=True, exclude={"i"})
                           for i in items])
    return hmac.new(_derive(node, b"accord/search-audit/v1"), data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ResolvedReference:
    owner: str
    source: str
    ref: str
    asker: str
    issued_at: datetime


def make_reference(node: Node, *, owner: str, source: str, ref: str, asker: str,
                   at: datetime) -> str:
    """An opaque reference to ``ref`` that only this node can resolve, bound to ``asker``."""
    key = _derive(node, b"accord/search-reference/v1")
    nonce = os.urandom(12)
    plain = canonical_json({"o": owner, "s": source, "r": ref, "t": int(at.timestamp())})
    sealed = AESGCM(key).encrypt(nonce, plain, asker.encode())
    return _REF_PREFIX + _b64u(nonce + sealed)


def resolve_reference(node: Node, reference: str, *, asker: str) -> ResolvedReference:
    """What a reference this node handed to ``asker`` points to; raises :class:`ReferenceInvalid`."""
    try:
        if not reference.startswith(_REF_PREFIX):
            raise ValueError("prefix")
        text = reference[len(_REF_PREFIX):]
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = _derive(node, b"accord/search-reference/v1")
        plain = AESGCM(key).decrypt(raw[:12], raw[12:], asker.encode())
        data = json.loads(plain)
        return ResolvedReference(owner=str(data["o"]), source=str(data["s"]), ref=str(data["r"]),
                                 asker=asker, issued_at=datetime.fromtimestamp(int(data["t"]), UTC))
    except (ValueError, KeyError, TypeError, InvalidTag):
        raise ReferenceInvalid("this reference was not issued by this node to "
                               f"{asker}") from None


# --------------------------------------------------------------------------- keys


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class _Flow:
    """One search flow as the policy decision point sees it."""

    agency: str
    counterpart: str
    category: str
    crime_area: str | None
    handling: str
    purpose: str
    at: datetime
    officer: str | None = None
    clearance: str | None = None


def _decide(node: Node, s: Session | None, flow: _Flow, *, action: str, by: str = "",
            side: str = "", credential: str = "") -> Verdict:
    """One PDP decision (agreements only: a search has no domestic fallback); audited when
    ``s`` is given, in the format of :meth:`PolicyService.decide_and_record`."""
    actor = Actor(flow.agency, flow.counterpart, officer=flow.officer, clearance=flow.clearance)
    resource = Resource({flow.category}, flow.crime_area, flow.handling)
    verdict = Verdict.of(node.policy.decide(actor, action, resource, flow.purpose, flow.at))
    if s is not None:
        _record_decision(node, s, flow, verdict, action=action, by=by, side=side,
                         credential=credential)
    return verdict


def _record_decision(node: Node, s: Session, flow: _Flow, verdict: Verdict, *, action: str,
                     by: str, side: str, credential: str = "") -> None:
    resource = Resource({flow.category}, flow.crime_area, flow.handling)
    node.record_at_commit(s, actor=by, action=Action.POLICY_DECISION,
                          object=f"flow:{flow.agency}->{flow.counterpart}:{action}",
                          purpose=flow.purpose, basis=verdict.basis_text,
                          outcome="allow" if verdict.allowed else "deny",
                          detail={"side": side, "decision": verdict.to_dict(),
                                  "resource": resource.to_dict()},
                          credential=credential)


# --------------------------------------------------------------------------- sender


@dataclass
class _Job:
    agency: str
    node_id: str
    base_url: str | None
    items: list[QueryItem]
    envelope_id: str
    envelope: bytes
    timeout: float
    key_id: str | None = None  # the linkage key of a privacy-preserving query
    reply: Reply | None = None
    seconds: float | None = None


@dataclass
class _Target:
    agency: str
    node_id: str
    base_url: str | None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    follow_ups: dict[str, tuple[Verdict, Verdict]] = field(default_factory=dict)
    jobs: list[_Job] = field(default_factory=list)

    @property
    def allowed(self) -> set[str]:
        return {c for c, v in self.verdicts.items() if v.allowed}


def _deadline(node: Node, n: int) -> float:
    st = node.settings
    return st.search_deadline_seconds + st.search_deadline_per_item_ms * n / 1000.0


def _groups(node: Node, s: Session, target: _Target) -> dict[LinkageKey | None, set[str]]:
    """The allowed categories of one peer by how they are asked: clear (``None``) or under
    the linkage key of the agreement whose clause demands the privacy-preserving mode.

    A category whose clause demands the mode while this node holds no key for that
    agreement is *not asked* (code ``linkage-key-missing``) — never asked in clear."""
    out: dict[LinkageKey | None, set[str]] = {}
    for category, verdict in list(target.verdicts.items()):
        if not verdict.allowed:
            continue
        if _mode_of(verdict) != SearchMode.BLOOM:
            out.setdefault(None, set()).add(category)
            continue
        assert verdict.basis is not None
        agreement = str(verdict.basis["agreement_id"])
        key = node.linkage.current(s, agreement)
        if key is None:
            target.verdicts[category] = Verdict(
                False, "linkage-key-missing",
                f"{verdict.basis_text} demands the privacy-preserving search mode and this node "
                f"holds no linkage key for {agreement} (accord search linkage-key set)",
                verdict.basis, None)
            continue
        out.setdefault(key, set()).add(category)
    return out


def _mode_of(verdict: Verdict) -> str:
    return str((verdict.obligations or {}).get("search_mode", SearchMode.CLEAR))


def _private_item(key: LinkageKey, item: QueryItem,
                  cache: dict[tuple[int, bytes], PrivateQueryItem]) -> PrivateQueryItem:
    """One query as it travels in the privacy-preserving mode: no clear value."""
    found = cache.get((item.i, key.key_id))
    if found is not None:
        return found
    query = query_of(item)
    try:
        if isinstance(query.value, PersonRecord):
            found = PrivateQueryItem(i=item.i, kind=item.kind,
                                     encoding=private.encode_query_person(key, query.value))
        else:
            found = PrivateQueryItem(i=item.i, kind=item.kind, token=private.encode_identifier(
                key, item.kind.value, query_key(query)))
    except ValidationFailed as exc:
        raise ValidationFailed(f"identifier {item.i}: {exc.detail}", field=f"items.{item.i}.value",
                               index=item.i) from None
    cache[item.i, key.key_id] = found
    return found


def search_peers(node: Node, principal: Principal, cmd: SearchCreate, *,
                 port: SearchPort | None = None) -> SearchResult:
    """Ask every peer the agreements allow; answer per identifier and per peer.

    Raises :class:`~accord.errors.PermissionDenied` without ``search:query``. Peers that
    cannot be asked, do not answer or refuse are part of the result, not errors.
    """
    principal.require(Permission.SEARCH_QUERY)
    port = port or search_port_of(node)
    st = node.settings
    items = [QueryItem(i=n, **item.model_dump()) for n, item in enumerate(cmd.queries)]
    for item in items:  # refuse what no peer could match, before anything is sent
        try:
            query_of(item)
        except ValidationFailed as exc:
            raise ValidationFailed(f"identifier {item.i}: {exc.detail}",
                                   field=f"items.{item.i}.{exc.extra.get('field', 'value')}",
                                   index=item.i) from None
    categories = sorted({CATEGORY_OF[i.kind] for i in items})
    sender = principal.agency_id
    query_id = uuid.uuid4().hex
    now = node.now()
    purpose, handling = cmd.purpose.value, cmd.handling.value
    targets: list[_Target] = []
    with node.uow() as s:
        peers = {p.node_id: p.base_url for p in s.scalars(select(Peer))}
        for agency in s.scalars(select(Agency).where(Agency.hosted.is_(False))
                                .order_by(Agency.id)):
            if agency.node_id not in peers:
                continue
            target = _Target(agency.id, agency.node_id, peers[agency.node_id])
            for category in categories:
                flow = _Flow(sender, agency.id, category, cmd.crime_area, handling, purpose,
                             now, officer=principal.username,
                             clearance=principal.clearance.value)
                verdict = _decide(node, s, flow, action=PolicyAction.HIT_NO_HIT_SEARCH,
                                  by=principal.actor, side="sender",
                                  credential=principal.audit_credential)
                target.verdicts[category] = verdict
                if verdict.allowed:  # what a follow-up after a hit would rest on (not audited)
                    target.follow_ups[category] = (
                        _decide(node, None, flow, action=PolicyAction.RECORD_ACCESS_AFTER_HIT),
                        _decide(node, None, flow, action=PolicyAction.REQUEST_HIT_FOLLOW_UP))
            targets.append(target)
        kid, key = node.keys.signing_key(s, sender)
        signer = SenderKey(sender, kid, key)
        encoded: dict[tuple[int, bytes], PrivateQueryItem] = {}  # (item, key id): made once
        for target in targets:
            groups = _groups(node, s, target)
            mine = [i for i in items if CATEGORY_OF[i.kind] in target.allowed]
            if not mine:
                continue
            recipient = current_recipient_key(s, target.agency)
            if recipient is None:  # no key known: cannot be asked
                target.verdicts = {c: Verdict(False, "no-key", f"no encryption key is known "
                                              f"for {target.agency}", None, None)
                                   for c in target.verdicts}
                continue
            for linkage, group_categories in groups.items():
                part_items = [i for i in mine if CATEGORY_OF[i.kind] in group_categories]
                chunk = st.search_chunk_items if linkage is None else \
                    min(st.search_chunk_items, _PRIVATE_CHUNK)
                for start in range(0, len(part_items), chunk):
                    part = part_items[start:start + chunk]
                    timeout = _deadline(node, len(part))
                    common = {"query_id": query_id, "sender": sender, "officer": principal.actor,
                              "purpose": cmd.purpose, "crime_area": cmd.crime_area,
                              "handling": cmd.handling}
                    payload: QueryPayload | PrivateQueryPayload
                    if linkage is None:
                        payload = QueryPayload(**common, items=part)
                    else:
                        payload = PrivateQueryPayload(
                            **common, linkage=LinkageRef(agreement=linkage.agreement,
                                                         epoch=linkage.epoch,
                                                         key_id=linkage.key_id.hex()),
                            items=[_private_item(linkage, i, encoded) for i in part])
                    env_id = uuid.uuid4().hex
                    envelope = seal(payload.model_dump(mode="json", exclude_none=True),
                                    sender=signer, recipients=[recipient], envelope_id=env_id,
                                    created=now, content_type=CONTENT_QUERY,
                                    expires=now + timedelta(seconds=timeout) + _QUERY_MARGIN)
                    target.jobs.append(_Job(target.agency, target.node_id, target.base_url,
                                            part, env_id, canonical_json(envelope), timeout,
                                            key_id=None if linkage is None
                                            else linkage.key_id.hex()))
        node.record_at_commit(
            s, actor=principal.actor, action=Action.SEARCH_SENT, object=f"search:{query_id}",
            purpose=purpose,
            detail={"count": len(items), "categories": categories,
                    "kinds": _counts(str(i.kind) for i in items),
                    "items_digest": items_digest(node, items), "crime_area": cmd.crime_area,
                    "handling": handling,
                    "asked": {t.agency: sum(len(j.items) for j in t.jobs)
                              for t in targets if t.jobs},
                    "private": {t.agency: sorted({j.key_id for j in t.jobs if j.key_id})
                                for t in targets if any(j.key_id for j in t.jobs)},
                    "not_asked": {t.agency: _refusal(t) for t in targets if not t.jobs}},
            credential=principal.audit_credential)

    jobs = [job for t in targets for job in t.jobs]
    _fan_out(node, port, jobs)
    answers = _open_answers(node, sender, query_id, jobs)
    result = _result(query_id, now, purpose, items, targets, answers)
    with node.uow() as s:
        # every search is checked against the alerts active here (this node's own and those
        # peers propagated to it): a hit notifies the issuer through the alerts' listener
        context = SearchContext(sender, principal.actor, purpose, now, cmd.where)
        for item in items:
            search_local(node, s, query_of(item), limit=10, sources=("alert",), context=context)
        node.record_at_commit(
            s, actor=principal.actor, action=Action.SEARCH_COMPLETED,
            object=f"search:{query_id}", purpose=purpose,
            detail={"count": len(items), "hits": result.hits,
                    "peers": {p.agency: {"status": p.status.value, "asked": p.asked,
                                         "hits": p.hits, **({"code": p.code} if p.code else {})}
                              for p in result.peers}},
            credential=principal.audit_credential)
    return result


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _refusal(target: _Target) -> dict[str, Any]:
    verdict = next(iter(target.verdicts.values()), None)
    if verdict is None:
        return {"code": "no-category"}
    return {"code": verdict.code, "clause": verdict.basis_text or None}


def _fan_out(node: Node, port: SearchPort, jobs: list[_Job]) -> None:
    """Send every job concurrently; a job not answered in its time keeps ``reply`` None."""
    if not jobs:
        return
    workers = min(node.settings.search_concurrency, len(jobs))
    rounds = math.ceil(len(jobs) / workers)
    overall = max(j.timeout for j in jobs) * rounds

    def run(job: _Job) -> None:
        started = time.perf_counter()
        try:
            reply = port.search(job.node_id, job.base_url, job.envelope, timeout=job.timeout)
        except Exception as exc:  # a port must not raise; if it does, the peer did not answer
            reply = Reply(error=type(exc).__name__)
        job.seconds = time.perf_counter() - started
        if job.seconds <= job.timeout:
            job.reply = reply

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search")
    try:
        futures = [pool.submit(run, job) for job in jobs]
        wait(futures, timeout=overall)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class _Answered:
    status: PeerStatus
    items: dict[int, AnswerItem]
    code: str | None = None
    reason: str | None = None
    clause: str | None = None


def _open_answers(node: Node, sender: str, query_id: str, jobs: list[_Job]) -> dict[str, _Answered]:
    """Open and check each answer envelope; per job, what it says (or why it says nothing)."""
    out: dict[str, _Answered] = {}
    with node.read() as s:
        keys = SessionKeys(node, s)
        for job in jobs:
            reply = job.reply
            if reply is None:
                out[job.envelope_id] = _Answered(PeerStatus.NO_ANSWER, {}, "timeout",
                                                 "no answer within the deadline")
                continue
            if reply.problem is not None:
                p = reply.problem
                status = PeerStatus.REFUSED if p.get("reason") in REFUSAL_REASONS \
                    else PeerStatus.NO_ANSWER
                out[job.envelope_id] = _Answered(status, {}, str(p.get("reason")),
                                                 str(p.get("detail", ""))[:500],
                                                 _clause_of(p))
                continue
            if reply.answer is None:
                out[job.envelope_id] = _Answered(PeerStatus.NO_ANSWER, {}, "unreachable",
                                                 reply.error[:200])
                continue
            try:
                out[job.envelope_id] = _Answered(PeerStatus.ANSWERED, _check_answer(
                    node, keys, reply.answer, job=job, sender=sender, query_id=query_id))
            except (EnvelopeRejected, PayloadInvalid) as exc:
                log.warning("answer of %s to search %s refused: %s", job.agency, query_id,
                            exc.reason)
                out[job.envelope_id] = _Answered(PeerStatus.NO_ANSWER, {}, "bad-answer",
                                                 f"the answer failed a check: {exc.reason}")
    return out


def _clause_of(problem: dict[str, Any]) -> str | None:
    basis = problem.get("basis")
    if isinstance(basis, dict) and {"agreement_id", "version", "clause_id"} <= basis.keys():
        return f"{basis['agreement_id']}@{basis['version']}#{basis['clause_id']}"
    clause = problem.get("clause")
    return str(clause) if clause else None


def _check_answer(node: Node, keys: SessionKeys, raw: bytes, *, job: _Job, sender: str,
                  query_id: str) -> dict[int, AnswerItem]:
    opened = open_envelope(raw, recipient=sender, keys=keys, now=node.now(),
                           max_bytes=node.settings.exchange_envelope_max_bytes)
    if opened.sender != job.agency or opened.content_type != CONTENT_ANSWER:
        raise PayloadInvalid(f"an answer from {job.agency} is signed by {opened.sender} "
                             f"as {opened.content_type}")
    try:
        payload = AnswerPayload.model_validate(opened.payload)
    except ValidationError:
        raise PayloadInvalid("the answer payload fails validation") from None
    if payload.query_id != query_id or payload.query_envelope_id != job.envelope_id:
        raise PayloadInvalid("the answer is for another query")
    asked = {i.i for i in job.items}
    answered = {r.i: r for r in payload.results}
    if answered.keys() != asked or len(payload.results) != len(asked):
        raise PayloadInvalid("the answer does not answer exactly the queries asked")
    return answered


def _result(query_id: str, at: datetime, purpose: str, items: list[QueryItem],
            targets: list[_Target], answers: dict[str, _Answered]) -> SearchResult:
    peers: list[PeerResult] = []
    per_item: dict[int, list[PeerAnswer]] = {i.i: [] for i in items}
    total_hits = 0
    for t in targets:
        asked = sum(len(j.items) for j in t.jobs)
        if not t.jobs:
            first = next(iter(t.verdicts.values()), None)
            peers.append(PeerResult(agency=t.agency, node_id=t.node_id,
                                    status=PeerStatus.NOT_ASKED, asked=0,
                                    categories=sorted(t.verdicts),
                                    clause=first.basis_text or None if first else None,
                                    code=first.code if first else None,
                                    reason=first.reason if first else None))
            for item in items:
                per_item[item.i].append(PeerAnswer(agency=t.agency, outcome=Outcome.NOT_ASKED))
            continue
        statuses = {answers[j.envelope_id].status for j in t.jobs}
        status = statuses.pop() if len(statuses) == 1 else PeerStatus.PARTIAL
        hits = 0
        got: dict[int, AnswerItem] = {}
        outcome_of: dict[int, Outcome] = {}
        problem: _Answered | None = None
        for job in t.jobs:
            a = answers[job.envelope_id]
            if a.status is not PeerStatus.ANSWERED:
                problem = problem or a
                fallback = Outcome.REFUSED if a.status is PeerStatus.REFUSED else Outcome.NO_ANSWER
                outcome_of.update({i.i: fallback for i in job.items})
            got.update(a.items)
        seconds = [j.seconds for j in t.jobs if j.seconds is not None and j.reply is not None]
        allowed = t.allowed
        for item in items:
            category = CATEGORY_OF[item.kind]
            if category not in allowed:
                per_item[item.i].append(PeerAnswer(agency=t.agency, outcome=Outcome.NOT_ASKED))
                continue
            answer = got.get(item.i)
            if answer is None:
                per_item[item.i].append(PeerAnswer(
                    agency=t.agency, outcome=outcome_of.get(item.i, Outcome.NO_ANSWER)))
                continue
            if answer.outcome == "hit":
                hits += 1
                assert answer.ref is not None
                access, request = t.follow_ups[category]
                follow = FollowUp(agency=t.agency, reference=answer.ref,
                                  clause=access.basis_text if access.allowed else None,
                                  request_clause=request.basis_text if request.allowed else None,
                                  reason="" if access.allowed else access.reason)
                per_item[item.i].append(PeerAnswer(agency=t.agency, outcome=Outcome.HIT,
                                                   band=answer.band, reference=answer.ref,
                                                   follow_up=follow))
            else:
                per_item[item.i].append(PeerAnswer(agency=t.agency,
                                                   outcome=Outcome(answer.outcome)))
        total_hits += hits
        granted = next((v for v in t.verdicts.values() if v.allowed), None)
        peers.append(PeerResult(
            agency=t.agency, node_id=t.node_id, status=status, asked=asked, hits=hits,
            categories=sorted(allowed),
            clause=(problem.clause if problem and problem.clause else
                    granted.basis_text if granted else None),
            code=problem.code if problem else None, reason=problem.reason if problem else None,
            latency_ms=round(max(seconds) * 1000, 1) if seconds else None))
    results = [ItemResult(index=i.i, kind=i.kind,
                          hits=sum(1 for a in per_item[i.i] if a.outcome is Outcome.HIT),
                          answers=per_item[i.i]) for i in items]
    return SearchResult(query_id=query_id, at=at, purpose=purpose, count=len(items),
                        hits=total_hits, peers=peers, results=results)


# --------------------------------------------------------------------------- receiver


class ReplayTable:
    """Envelope ids seen by this process, each held until its envelope expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, datetime] = {}
        self._next_prune: datetime | None = None

    def add(self, env_id: str, expires: datetime, now: datetime) -> bool:
        """Note ``env_id``; False if it was seen already (a replay)."""
        with self._lock:
            if self._next_prune is None or now >= self._next_prune:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
                self._next_prune = now + timedelta(seconds=10)
            if env_id in self._seen:
                return False
            self._seen[env_id] = expires
            return True

    def __len__(self) -> int:
        return len(self._seen)


def _replay_table(node: Node) -> ReplayTable:
    with _extras_lock:
        table = node.extras.get(_REPLAY_KEY)
        if not isinstance(table, ReplayTable):
            table = node.extras[_REPLAY_KEY] = ReplayTable()
        return table


def answer_query(node: Node, raw: bytes, *, remote: str | None = None) -> bytes:
    """Check a query envelope, decide, search and return the signed, encrypted answer envelope.

    Raises an :class:`EnvelopeRejected` whose ``reason`` says why (audited: folded per
    source when nothing about it is authenticated, as for messages).
    """
    from accord.exchange.services import record_rejection

    max_bytes = node.settings.exchange_envelope_max_bytes
    try:
        if len(raw) > max_bytes:
            raise EnvelopeTooLarge(f"envelope is {len(raw)} bytes, the limit is {max_bytes}",
                                   size=len(raw), limit=max_bytes)
        env_id = envelope_id(raw, max_bytes=max_bytes)
        try:
            return _answer(node, raw, env_id)
        except UnknownKey:
            header = parse_json(raw)["header"]
            if not learn_key(node, agency=str(header["sender"]), kid=str(header["sender_kid"])):
                raise
            return _answer(node, raw, env_id)
    except EnvelopeRejected as exc:
        if not getattr(exc, "audited", False):
            record_rejection(node, raw, exc, remote=remote)
        raise


def _answer(node: Node, raw: bytes, env_id: str) -> bytes:
    now = node.now()
    denied: ReceiverPolicyDenied | LinkageRefused | None = None
    # everything is read in a read-only transaction (a search never waits for the write
    # lock); the audit entries are written after, in one short transaction
    writes: list[Callable[[Session], None]] = []
    with node.read() as s:
        hosted = list(s.scalars(select(Agency.id).where(Agency.hosted.is_(True))
                                .order_by(Agency.id)))
        claimed = [str(r["agency"]) for r in parse_json(raw)["header"]["recipients"]]
        target = next((a for a in claimed if a in hosted), hosted[0] if hosted else None)
        if target is None:
            raise WrongRecipient(f"envelope {env_id} is not addressed to this node")
        opened = open_envelope(raw, recipient=target, keys=SessionKeys(node, s), now=now,
                               max_bytes=node.settings.exchange_envelope_max_bytes)
        if opened.content_type != CONTENT_QUERY:
            raise PayloadInvalid(f"{opened.content_type} is not a search query")
        longest = timedelta(seconds=node.settings.search_query_max_validity_seconds)
        if opened.expires - opened.created > longest:
            raise PayloadInvalid(f"a search query may be valid for at most {longest}")
        if not _replay_table(node).add(env_id, opened.expires, now):
            raise EnvelopeReplayed(f"search query {env_id} was received already")
        payload: QueryPayload | PrivateQueryPayload
        try:
            if isinstance(opened.payload, dict) and opened.payload.get("mode") == "bloom":
                payload = PrivateQueryPayload.model_validate(opened.payload)
            else:
                payload = QueryPayload.model_validate(opened.payload)
        except ValidationError:
            raise PayloadInvalid("the search query fails validation") from None
        if payload.sender != opened.sender:
            raise PayloadInvalid(f"the query claims sender {payload.sender}, the envelope is "
                                 f"signed by {opened.sender}")
        if len({i.i for i in payload.items}) != len(payload.items):
            raise PayloadInvalid("the query numbers two identifiers alike")
        sender, me = opened.sender, opened.recipient
        by = f"node:{node.settings.node_id}"
        categories = sorted({CATEGORY_OF[i.kind] for i in payload.items})
        flows = {c: _Flow(sender, me, c, payload.crime_area, payload.handling.value,
                          payload.purpose.value, now) for c in categories}
        verdicts = {c: _decide(node, None, f, action=PolicyAction.HIT_NO_HIT_SEARCH)
                    for c, f in flows.items()}
        for c, f in flows.items():
            writes.append(lambda w, f=f, v=verdicts[c]: _record_decision(  # type: ignore[misc]
                node, w, f, v, action=PolicyAction.HIT_NO_HIT_SEARCH, by=by, side="receiver"))
        allowed = {c for c, v in verdicts.items() if v.allowed}
        mode = "bloom" if isinstance(payload, PrivateQueryPayload) else "clear"
        linkage_key: LinkageKey | None = None
        if not allowed:
            v = verdicts[categories[0]]
            denied = ReceiverPolicyDenied(f"{me}'s node refuses the search: {v.reason}",
                                          code=v.code, clause=v.clause, basis=v.basis)
        elif isinstance(payload, PrivateQueryPayload):
            linkage_key, denied = _linkage_key(node, s, payload.linkage, me)
        else:  # a clear query is not searched under a clause that demands the privacy mode
            strict = {c for c in allowed if _mode_of(verdicts[c]) == SearchMode.BLOOM}
            allowed -= strict
            if not allowed:
                v = verdicts[min(strict)]
                denied = LinkageRefused(
                    f"{v.basis_text} demands the privacy-preserving search mode: {me}'s node "
                    "does not search clear identifiers under it", reason="search-mode-mismatch",
                    code="search-mode-mismatch", clause=v.clause, basis=v.basis)
        if denied is not None:
            v = verdicts[categories[0]]
            writes.append(lambda w, v=v, why=denied: node.record_at_commit(  # type: ignore[misc]
                                  w, actor=f"agency:{sender}", action=Action.SEARCH_REJECTED,
                                  object=f"search:{payload.query_id}", outcome="rejected",
                                  purpose=payload.purpose.value,
                                  detail={"reason": why.reason, "recipient": me, "mode": mode,
                                          "envelope_id": env_id, "categories": categories,
                                          "count": len(payload.items),
                                          "code": why.extra.get("code", v.code),
                                          "clause": v.basis_text or None}))
        else:
            context = SearchContext(agency=sender, officer=payload.officer,
                                    purpose=payload.purpose.value, at=now, where=me)
            results: list[AnswerItem] = []
            # a record handled above what the agreement grants is not searchable under it
            handled: dict[tuple[str, str], bool] = {}

            def searchable(category: str, handling: str) -> bool:
                if (category, handling) not in handled:
                    handled[category, handling] = _decide(node, None, _Flow(
                        sender, me, category, payload.crime_area,
                        max(handling, payload.handling.value), payload.purpose.value, now),
                        action=PolicyAction.HIT_NO_HIT_SEARCH).allowed
                return handled[category, handling]

            for item in payload.items:
                category = CATEGORY_OF[item.kind]
                if category not in allowed:
                    results.append(AnswerItem(i=item.i, outcome="refused"))
                    continue
                found: Sequence[IndexHit | private.PrivateHit]
                try:
                    if isinstance(item, PrivateQueryItem):
                        assert linkage_key is not None
                        found = _private_hits(s, linkage_key, item)
                    else:
                        found = search_local(node, s, query_of(item), limit=10,
                                             sources=("record",), context=context)
                except ValidationFailed:
                    results.append(AnswerItem(i=item.i, outcome="refused"))
                    continue
                hits = [h for h in found
                        if h.owner == me and h.band in ("strong", "possible")
                        and searchable(category, h.handling)]
                if not hits:
                    results.append(AnswerItem(i=item.i, outcome="no-hit"))
                    continue
                best = max(hits, key=lambda h: h.score)
                results.append(AnswerItem(
                    i=item.i, outcome="hit", band=best.band,
                    ref=make_reference(node, owner=me, source=best.source, ref=str(best.ref),
                                       asker=sender, at=now)))
            answer = AnswerPayload(query_id=payload.query_id, query_envelope_id=env_id,
                                   results=results)
            recipient = current_recipient_key(s, sender)
            if recipient is None:
                raise PayloadInvalid(f"no encryption key is known for {sender}")
            kid, key = node.keys.signing_key(s, me)
            envelope = seal(answer.model_dump(mode="json", exclude_none=True),
                            sender=SenderKey(me, kid, key), recipients=[recipient],
                            envelope_id=uuid.uuid4().hex, created=now,
                            expires=now + _ANSWER_VALIDITY, content_type=CONTENT_ANSWER)
            hit_count = sum(1 for r in results if r.outcome == "hit")
            writes.append(lambda w: node.record_at_commit(
                w, actor=f"agency:{sender}", action=Action.SEARCH_ANSWERED,
                object=f"search:{payload.query_id}", purpose=payload.purpose.value,
                basis=next(v.basis_text for v in verdicts.values() if v.allowed),
                detail={"recipient": me, "envelope_id": env_id,
                        "answer_envelope_id": envelope["header"]["id"],
                        "officer": payload.officer, "categories": categories,
                        "refused_categories": sorted(set(categories) - allowed),
                        "count": len(payload.items), "hits": hit_count,
                        "bands": _counts(r.band for r in results if r.band), "mode": mode,
                        **({"key_id": linkage_key.key_id.hex()} if linkage_key else {})}))
    with node.uow() as w:
        for write in writes:
            write(w)
    if denied is not None:
        setattr(denied, "audited", True)  # answer_query does not audit it again  # noqa: B010
        raise denied
    return canonical_json(envelope)


def _linkage_key(node: Node, s: Session, ref: LinkageRef,
                 me: str) -> tuple[LinkageKey | None, LinkageRefused | None]:
    """The key a privacy-preserving query names, or why this node will not search under it."""
    found = node.linkage.find(s, ref.agreement, ref.key_id)
    if found is not None:
        key, ready = found
        if ready:
            return key, None
        return None, LinkageRefused(
            f"{me}'s node holds linkage key {ref.key_id} of {ref.agreement} but has not finished "
            "encoding its index under it", reason="linkage-index-not-ready",
            code="linkage-index-not-ready", agreement=ref.agreement)
    held = [i for i in node.linkage.infos(s, ref.agreement) if i.retired_at is None]
    if not held:
        return None, LinkageRefused(
            f"{me}'s node holds no linkage key for {ref.agreement}: the privacy-preserving "
            "search needs the same secret on both sides (accord search linkage-key set)",
            reason="linkage-key-missing", code="linkage-key-missing", agreement=ref.agreement)
    mine = ", ".join(f"{i.key_id} (epoch {i.epoch})" for i in held)
    return None, LinkageRefused(
        f"the query was encoded under linkage key {ref.key_id} (epoch {ref.epoch}) of "
        f"{ref.agreement}; {me}'s node holds {mine}: the parties' linkage secrets or epochs "
        "differ", reason="linkage-key-mismatch", code="linkage-key-mismatch",
        agreement=ref.agreement)


def _private_hits(s: Session, key: LinkageKey, item: PrivateQueryItem) -> list[private.PrivateHit]:
    """Search the records encoded under ``key``; ValidationFailed for a malformed query."""
    if item.encoding is not None:
        return private.search_person(s, key, private.decode_query_person(key, item.encoding))
    assert item.token is not None
    return private.search_identifier(s, key, item.kind.value, item.token)


def warm_up() -> float:
    """Load the matcher's tables (transliteration, name identities, weights) now; seconds taken.

    The first person comparison of a process builds them (about 15 s on a small machine),
    far beyond a search deadline: the app calls this in a thread at start-up, so peers are
    not answered "no answer" by a node that is still cold."""
    from accord.search.matcher import PersonRecord, compare

    started = time.perf_counter()
    compare(PersonRecord(names=("يوسف العمراني", "Иван Петров"), birth_dates=("1985-08-31",)),
            PersonRecord(names=("Youssef El Amrani", "习近平"), birth_dates=("1985",)))
    return time.perf_counter() - started


def query_of(item: SearchItem) -> Query:
    """The index's query for one identifier; raises :class:`ValidationFailed` when it is not
    a valid identifier of its kind (a wrong IBAN check digit, a plate without its country)."""
    data: dict[str, Any] = {"kind": item.kind.value, "country": item.country}
    if item.kind.value == "person":
        data.update(name=item.value, dob=item.dob, nationality=item.nationality,
                    gender=item.gender)
    else:
        data["value"] = item.value
    return parse_query({k: v for k, v in data.items() if v is not None})
