"""Witnesses: pinned peers cosign this node's audit checkpoints, and it cosigns theirs.

Modelled on C2SP tlog-witness (https://c2sp.org/tlog-witness) and
tlog-cosignature (https://c2sp.org/tlog-cosignature, :mod:`accord.crypto.cosignature`).
Every node is a *log* (its audit trail, origin ``<node id>.accord/audit``) and a
*witness* for its pinned peers (cosigner name ``<node id>.accord/witness``, key:
its node key, with the cosignature key id type 0x04).

**As a witness** (:func:`add_checkpoint`, ``POST /federation/v1/witness/add-checkpoint``)
it takes ``old <size>``, a consistency proof and a peer's signed checkpoint, and:

* 404 when the origin is not the log of a pinned peer; 403 when no non-revoked
  node key of that peer signed it; 400 when the request is malformed or the old
  size exceeds the checkpoint's; 409 (body: the size held, ``text/x.tlog.size``)
  when the old size is not the size of the checkpoint it holds for that log, or
  that size equals the checkpoint's and the roots differ; 422 when the proof does
  not lead from the held root to the new one;
* otherwise it stores the checkpoint (in one transaction that read the held one
  under a row lock, so two submissions cannot roll it back) and answers with its
  cosignature line.

A checkpoint that contradicts the one held raises a **signed alarm** for the
witness's DPO (an ``audit_alarms`` row, an audit entry ``audit:witness:alarm``,
a log line at CRITICAL; ``GET /api/v1/audit/alarms``): ``fork`` — same size,
another root (two signed checkpoints prove it, whoever sent them); and, only
when the request is authenticated as coming from the log's own node (a replayed
old checkpoint or a garbage proof from anyone else proves nothing):
``inconsistent`` — the proof does not connect the held root to the new one;
``rollback`` — the log presents a smaller checkpoint as its latest. The held
checkpoint is kept. A repeated alarm (same two checkpoints) is not raised twice.

**As a log** (:func:`witness_once`, run by the server every
``audit_witness_seconds``) it sends its latest checkpoint to every pinned peer
with a proof from the size that peer holds (after a 409, once more from the size
the peer names), checks the cosignature and keeps what each peer holds
(``audit_witness_states``; ``GET /api/v1/audit/witnesses``). No transaction is
open while waiting on a peer, and each call has a bounded timeout.

**Checking** (:func:`check_witnesses`, ``accord audit verify --witnesses``) asks
each peer for the checkpoint of this log it holds
(``GET /federation/v1/witness/{origin}``) and proves the local log extends it:
its signature is by this node's key and the root recomputed from the local
entries at that size equals it. A log rewritten and re-signed with the node's
own key no longer does, so any one honest peer catches it.

**Requests are signed.** The read route answers only the log's own node:
headers ``Accord-Node``, ``Accord-Time`` (POSIX seconds, within
``READ_SKEW_SECONDS`` of the witness's clock) and ``Accord-Signature``
(base64 Ed25519 by a non-revoked node key of that node) over
``accord-witness/v1\\n<purpose>\\n<witness node id>\\n<origin>\\n<time>\\n<SHA-256 hex of
the body>\\n``. Held checkpoints are not secret (roots reveal no entry) but their
sizes trace a node's activity over time, so they are not public. add-checkpoint
accepts unsigned requests, as the spec does, but only a signed one can raise an
``inconsistent`` or ``rollback`` alarm.

The network is a port (:class:`WitnessClient`): :class:`HttpWitnessClient` and
its in-memory twin :class:`InMemoryWitnessClient` (unit tests) side by side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.errors import (
    WitnessBadRequest,
    WitnessInconsistent,
    WitnessStaleSize,
    WitnessUnknownLog,
    WitnessUntrusted,
)
from accord.audit.models import WitnessAlarm, WitnessedCheckpoint, WitnessState
from accord.audit.tags import Action
from accord.audit.verify import WARNING, Finding, VerifyReport
from accord.bootstrap import Node
from accord.crypto.cosignature import cosign, open_cosignature, split_note
from accord.crypto.keys import load_public
from accord.crypto.merkle import verify_consistency
from accord.crypto.note import Checkpoint, NoteSigner, NoteVerifier, open_note, sign_note
from accord.errors import (
    AccordError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ProofInvalid,
    SignatureInvalid,
    ValidationFailed,
)
from accord.parties.models import KeyRecord, Peer

__all__ = [
    "ADD_CHECKPOINT_PATH", "HELD_PATH", "SIZE_MEDIA_TYPE", "Answer", "HttpWitnessClient",
    "InMemoryWitnessClient", "SubmitResult", "WitnessClient", "add_checkpoint", "check_witnesses",
    "held_checkpoint", "log_origin", "witness_name", "witness_once",
]

log = logging.getLogger("accord.audit.witness")

LOG_SUFFIX = ".accord/audit"
WITNESS_SUFFIX = ".accord/witness"
ADD_CHECKPOINT_PATH = "/federation/v1/witness/add-checkpoint"
HELD_PATH = "/federation/v1/witness/"  # + origin
SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_BODY = 64 * 1024
MAX_PROOF_LINES = 63
READ_SKEW_SECONDS = 300
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")
# Sizes are stored in signed 64-bit columns; a checkpoint note allows up to 2**64 - 1.
MAX_STORED_SIZE = 2**63 - 1
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,19})\n")


def log_origin(node_id: str) -> str:
    """The origin line of a node's audit log checkpoints."""
    return node_id + LOG_SUFFIX


def witness_name(node_id: str) -> str:
    """The cosigner name of a node acting as a witness."""
    return node_id + WITNESS_SUFFIX


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _node_keys(s: Session, node_id: str) -> list[Ed25519PublicKey]:
    """The non-revoked Ed25519 node keys of ``node_id`` (ours or a pinned peer's)."""
    rows = s.scalars(select(KeyRecord).where(
        KeyRecord.owner == node_id, KeyRecord.owner_kind == "node", KeyRecord.alg == "ed25519",
        KeyRecord.revoked_at.is_(None)))
    keys: list[Ed25519PublicKey] = []
    for row in rows:
        key = load_public("ed25519", row.public_key)
        if isinstance(key, Ed25519PublicKey):
            keys.append(key)
    return keys


# -- signed requests -------------------------------------------------------------------
def _request_message(purpose: str, witness: str, origin: str, time: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"accord-witness/v1\n{purpose}\n{witness}\n{origin}\n{time}\n{digest}\n".encode()


def sign_request(node: Node, s: Session, *, purpose: str, witness: str, body: bytes = b"") -> dict[str, str]:
    """Headers that authenticate a request of this node (the log) to ``witness``."""
    _, key = node.keys.signing_key(s, node.settings.node_id)
    now = int(node.now().timestamp())
    message = _request_message(purpose, witness, log_origin(node.settings.node_id), now, body)
    return {"Accord-Node": node.settings.node_id, "Accord-Time": str(now),
            "Accord-Signature": _b64(key.sign(message))}


def _authenticated_node(node: Node, s: Session, headers: Mapping[str, str], *, purpose: str,
                        origin: str, body: bytes = b"") -> str | None:
    """The log node that signed this request for ``origin``, or None when it is unsigned.

    A signed request that does not check out raises (401 / 403).
    """
    requester = headers.get("accord-node")
    if requester is None:
        return None
    if origin != log_origin(requester):
        raise PermissionDenied("a node may only speak for its own log")
    try:
        when = int(headers.get("accord-time", ""))
        signature = base64.b64decode(headers.get("accord-signature", ""), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NotAuthenticated("malformed Accord-Time or Accord-Signature header") from exc
    if abs(int(node.now().timestamp()) - when) > READ_SKEW_SECONDS:
        raise NotAuthenticated(f"Accord-Time is more than {READ_SKEW_SECONDS} s from this node's clock")
    if s.get(Peer, requester) is None:
        raise PermissionDenied(f"{requester[:100]} is not a pinned peer of this node")
    message = _request_message(purpose, node.settings.node_id, origin, when, body)
    for key in _node_keys(s, requester):
        try:
            key.verify(signature, message)
            return requester
        except InvalidSignature:
            continue
    raise PermissionDenied(f"the request is not signed by a node key of {requester[:100]}")


# -- as a witness -------------------------------------------------------------------------
@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request body."""

    old_size: int
    proof: list[bytes]
    note: str
    checkpoint: Checkpoint  # its body, not yet verified


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse ``old N``, proof lines, a blank line and a signed checkpoint; raise WitnessBadRequest."""
    if len(body) > MAX_BODY:
        raise WitnessBadRequest(f"the request is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessBadRequest("the request is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessBadRequest("no blank line before the checkpoint")
    lines = head.split("\n")
    match = _OLD_LINE.fullmatch(lines[0])
    if match is None:
        raise WitnessBadRequest("the first line is not 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessBadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            item = base64.b64decode(line.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error) as exc:
            raise WitnessBadRequest("a proof line is not base64") from exc
        if len(item) != 32:
            raise WitnessBadRequest("a proof line is not a 32-byte hash")
        proof.append(item)
    try:
        cp_text, _ = split_note(note)
        checkpoint = Checkpoint.parse(cp_text)
    except (SignatureInvalid, ValidationFailed) as exc:
        raise WitnessBadRequest(f"malformed checkpoint: {exc.detail}") from exc
    old_size = int(match.group(1))
    if max(old_size, checkpoint.size) > MAX_STORED_SIZE:
        raise WitnessBadRequest(f"a tree size above {MAX_STORED_SIZE} cannot be held here")
    return AddCheckpoint(old_size, proof, note, checkpoint)


def _peer_of_origin(s: Session, origin: str) -> Peer:
    if not origin.endswith(LOG_SUFFIX):
        raise WitnessUnknownLog(f"unknown log {origin[:200]!r}")
    peer = s.get(Peer, origin[: -len(LOG_SUFFIX)])
    if peer is None:
        raise WitnessUnknownLog(f"unknown log {origin[:200]!r}: not a pinned peer's")
    return peer


def add_checkpoint(node: Node, body: bytes, headers: Mapping[str, str] | None = None) -> str:
    """The tlog-witness add-checkpoint call: check, store and cosign; returns the cosignature line.

    Raises the witness errors of :mod:`accord.audit.errors` (an alarm, when one
    is raised, is committed before the error).
    """
    request = parse_add_checkpoint(body)
    cp = request.checkpoint
    with node.read() as s:
        peer_id = _peer_of_origin(s, cp.origin).node_id
        keys = _node_keys(s, peer_id)
        signed_by_log = _authenticated_node(
            node, s, {k.lower(): v for k, v in (headers or {}).items()},
            purpose="add-checkpoint", origin=cp.origin, body=body) is not None
    if not keys:
        raise WitnessUntrusted(f"no node key of {peer_id} is known here")
    try:
        open_note(request.note, [NoteVerifier.from_public_key(cp.origin, key) for key in keys])
    except SignatureInvalid as exc:
        raise WitnessUntrusted(f"checkpoint of {cp.origin}: {exc.detail}") from exc

    refused: AccordError | None = None
    line = ""
    with node.uow() as s:
        held = s.get(WitnessedCheckpoint, cp.origin, with_for_update=True)
        held_size = held.size if held is not None else 0
        if held is not None and cp.size == held.size and cp.root_hash != held.root_hash:
            _alarm(node, s, "fork", peer_id, held, request)
            refused = WitnessStaleSize(
                f"{cp.origin} signed two checkpoints of size {cp.size} with different roots",
                size=held_size)
        elif held is not None and cp.size < held.size and request.old_size == held.size:
            if signed_by_log:
                _alarm(node, s, "rollback", peer_id, held, request)
            refused = WitnessBadRequest(
                f"old size {request.old_size} exceeds the checkpoint size {cp.size}: "
                f"{cp.origin} presents a smaller tree than the one witnessed")
        elif request.old_size > cp.size:
            refused = WitnessBadRequest(
                f"old size {request.old_size} exceeds the checkpoint size {cp.size}")
        elif request.old_size != held_size:
            refused = WitnessStaleSize(f"the checkpoint held for {cp.origin} has size {held_size}",
                                       size=held_size)
        elif held is None or held_size == 0:
            if request.proof:
                refused = WitnessBadRequest("the proof from size 0 must be empty")
        else:
            try:
                verify_consistency(held.size, cp.size, request.proof, held.root_hash, cp.root_hash)
            except ProofInvalid as exc:
                if signed_by_log:
                    _alarm(node, s, "inconsistent", peer_id, held, request)
                refused = WitnessInconsistent(
                    f"the checkpoint of size {cp.size} is not proven consistent with the one "
                    f"held of size {held.size}: {exc.detail}")
        if refused is None:
            now = node.now()
            _, key = node.keys.signing_key(s, node.settings.node_id)
            line = cosign(cp.to_text(), name=witness_name(node.settings.node_id), key=key,
                          timestamp=int(now.timestamp()))
            if held is None:
                held = WitnessedCheckpoint(origin=cp.origin, peer_id=peer_id, size=cp.size,
                                           root_hash=cp.root_hash, note=request.note,
                                           cosignature=line, cosigned_at=now)
                s.add(held)
            else:
                held.size, held.root_hash, held.note = cp.size, cp.root_hash, request.note
                held.cosignature, held.cosigned_at = line, now
    if refused is not None:
        raise refused
    return line


def _alarm(node: Node, s: Session, kind: str, peer_id: str, held: WitnessedCheckpoint,
           request: AddCheckpoint) -> None:
    cp = request.checkpoint
    repeated = s.scalars(select(WitnessAlarm.id).where(
        WitnessAlarm.origin == cp.origin, WitnessAlarm.kind == kind,
        WitnessAlarm.held_size == held.size, WitnessAlarm.held_root == held.root_hash,
        WitnessAlarm.presented_size == cp.size, WitnessAlarm.presented_root == cp.root_hash,
    ).limit(1)).first()
    if repeated is not None:
        log.critical("witness alarm %d repeated: %s presented again a %s checkpoint of size %d",
                     repeated, cp.origin, kind, cp.size)
        return
    now = node.now()
    me = node.settings.node_id
    kid, key = node.keys.signing_key(s, me)
    statement = sign_note(
        "accord-witness-alarm/v1\n"
        f"witness {witness_name(me)}\n"
        f"log {cp.origin}\n"
        f"kind {kind}\n"
        f"time {int(now.timestamp())}\n"
        f"held {held.size} {_b64(held.root_hash)}\n"
        f"presented {cp.size} {_b64(cp.root_hash)}\n",
        [NoteSigner(witness_name(me), key)])
    row = WitnessAlarm(raised_at=now, origin=cp.origin, peer_id=peer_id, kind=kind,
                       held_size=held.size, held_root=held.root_hash, held_note=held.note,
                       presented_size=cp.size, presented_root=cp.root_hash,
                       presented_note=request.note, proof=[_b64(p) for p in request.proof],
                       statement=statement, key_id=kid)
    s.add(row)
    s.flush()
    node.record(s, actor=f"node:{me}", action=Action.WITNESS_ALARM, object=f"audit-log:{cp.origin}",
                outcome="alarm", detail={"alarm": row.id, "kind": kind, "peer": peer_id,
                                         "held_size": held.size, "presented_size": cp.size})
    log.critical("WITNESS ALARM %d (%s): the audit log of %s presented a checkpoint of size %d that "
                 "contradicts the one witnessed at size %d; see GET /api/v1/audit/alarms",
                 row.id, kind, peer_id, cp.size, held.size)


def held_checkpoint(node: Node, origin: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """What this witness holds of ``origin``, for that log's own node (a signed request)."""
    with node.read() as s:
        requester = _authenticated_node(node, s, {k.lower(): v for k, v in headers.items()},
                                        purpose="read", origin=origin)
        if requester is None:
            raise NotAuthenticated("sign the request with the log's node key (Accord-Node, "
                                   "Accord-Time, Accord-Signature)")
        held = s.get(WitnessedCheckpoint, origin)
        if held is None:
            raise NotFound(f"this witness holds no checkpoint of {origin[:200]}")
        return {"origin": held.origin, "witness": witness_name(node.settings.node_id),
                "size": held.size, "root_hash": _b64(held.root_hash),
                "checkpoint": held.note + held.cosignature,
                "cosigned_at": held.cosigned_at.isoformat()}


# -- the network port ----------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """A peer's answer: ``status`` 0 when there was none (``error`` says why)."""

    status: int
    content_type: str = ""
    text: str = ""
    error: str = ""


class WitnessClient(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST; never raises for network or peer trouble."""
        ...

    def get(self, url: str, headers: Mapping[str, str]) -> Answer:
        """GET; never raises for network or peer trouble."""
        ...

    def close(self) -> None: ...


class HttpWitnessClient:
    """Talk to peers over HTTP, with a bounded timeout for every call."""

    def __init__(self, *, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def _answer(self, response: httpx.Response) -> Answer:
        return Answer(response.status_code, response.headers.get("content-type", ""),
                      response.text[:MAX_BODY])

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        try:
            return self._answer(self._client.post(url, content=body, headers=dict(headers)))
        except httpx.HTTPError as exc:
            return Answer(0, error=type(exc).__name__)

    def get(self, url: str, headers: Mapping[str, str]) -> Answer:
        try:
            return self._answer(self._client.get(url, headers=dict(headers)))
        except httpx.HTTPError as exc:
            return Answer(0, error=type(exc).__name__)

    def close(self) -> None:
        self._client.close()


def _problem(exc: AccordError) -> Answer:
    if isinstance(exc, WitnessStaleSize):
        return Answer(409, SIZE_MEDIA_TYPE, f"{exc.size}\n")
    return Answer(exc.status, "application/problem+json", json.dumps(exc.to_problem()))


class InMemoryWitnessClient:
    """Calls the witness functions of nodes in this process (by base URL), as HTTP would."""

    def __init__(self, nodes: Sequence[Node] = ()) -> None:
        self.nodes: dict[str, Node] = {n.settings.base_url.rstrip("/"): n for n in nodes}
        self.down: set[str] = set()
        self.posted: list[tuple[str, bytes]] = []

    def _node(self, url: str) -> tuple[Node | None, str]:
        for base, node in self.nodes.items():
            if url.startswith(base + "/"):
                return (None if base in self.down else node), url[len(base):]
        return None, url

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        self.posted.append((url, body))
        node, path = self._node(url)
        if node is None or path != ADD_CHECKPOINT_PATH:
            return Answer(0, error="ConnectError")
        try:
            return Answer(200, "text/plain", add_checkpoint(node, body, headers))
        except AccordError as exc:
            return _problem(exc)

    def get(self, url: str, headers: Mapping[str, str]) -> Answer:
        node, path = self._node(url)
        if node is None or not path.startswith(HELD_PATH):
            return Answer(0, error="ConnectError")
        try:
            data = held_checkpoint(node, path[len(HELD_PATH):], headers)
        except AccordError as exc:
            return _problem(exc)
        return Answer(200, "application/json", json.dumps(data))

    def close(self) -> None:
        return None


# -- as a log: sending checkpoints to the witnesses -------------------------------------------
@dataclass
class SubmitResult:
    peer: str
    ok: bool = False
    size: int = 0  # what the peer holds afterwards, as far as known
    skipped: bool = False  # nothing new to send
    error: str = ""


@dataclass
class _Latest:
    size: int
    root: bytes
    note: str


def witness_once(node: Node, client: WitnessClient, *, stop: threading.Event | None = None,
                 peers: Sequence[str] | None = None, force: bool = False) -> list[SubmitResult]:
    """Send the latest checkpoint to each pinned peer that does not hold it yet."""
    with node.read() as s:
        row = node.audit.latest_checkpoint(s)
        latest = _Latest(row.size, row.root_hash, row.note) if row is not None else None
        targets = [(p.node_id, p.base_url) for p in s.scalars(select(Peer).order_by(Peer.node_id))]
        states = {st.peer_id: (st.size, st.root_hash, st.error) for st in s.scalars(select(WitnessState))}
    if latest is None:
        return []
    results = []
    for peer_id, base_url in targets:
        if stop is not None and stop.is_set():
            break
        if peers is not None and peer_id not in peers:
            continue
        size, root, error = states.get(peer_id, (0, None, ""))
        if not force and not error and size == latest.size and root == latest.root:
            results.append(SubmitResult(peer_id, ok=True, size=size, skipped=True))
            continue
        results.append(_submit(node, client, peer_id, base_url, latest, size))
    return results


def _submit(node: Node, client: WitnessClient, peer_id: str, base_url: str, latest: _Latest,
            held: int) -> SubmitResult:
    result = SubmitResult(peer_id, size=held)
    for _attempt in range(2):
        try:
            body, headers = _request(node, peer_id, latest, held)
        except AccordError as exc:
            result.error = f"cannot prove consistency from size {held}: {exc.detail}"
            break
        answer = client.post(base_url.rstrip("/") + ADD_CHECKPOINT_PATH, body, headers)
        if answer.status == 200:
            try:
                cosigned = _check_cosignature(node, peer_id, latest.note, answer.text)
            except AccordError as exc:
                result.error = f"its answer carries no valid cosignature: {exc.detail}"
                break
            _store(node, peer_id, size=latest.size, root=latest.root, note=cosigned, error="")
            result.ok, result.size = True, latest.size
            return result
        size_match = _SIZE_BODY.fullmatch(answer.text)
        if answer.status == 409 and answer.content_type.startswith(SIZE_MEDIA_TYPE) and size_match:
            named = int(size_match.group(1))
            if named > MAX_STORED_SIZE:
                result.error = f"the witness names an impossible tree size ({named})"
                break
            result.size = named
            if named == held:  # same size, another root: the witness refuses our history
                result.error = (f"the witness holds another checkpoint of size {named}: this log "
                                "differs from what it witnessed")
                break
            if named > latest.size:
                log.error("witness %s holds a checkpoint of size %d, beyond this log's latest (%d): "
                          "this audit log lost entries", peer_id, named, latest.size)
            held = named
            continue
        result.error = _describe(answer)
        break
    # a peer down or not (yet) pinning this node is ordinary; a refusal of our history is not
    level = (logging.WARNING if result.error.startswith(("unreachable", "HTTP 404"))
             else logging.ERROR)
    log.log(level, "witness %s did not cosign checkpoint %d: %s", peer_id, latest.size, result.error)
    _store(node, peer_id, size=result.size, root=None, note=None, error=result.error)
    return result


def _request(node: Node, peer_id: str, latest: _Latest, held: int) -> tuple[bytes, dict[str, str]]:
    with node.read() as s:
        proof: list[str] = []
        if 0 < held < latest.size:
            proof = [_b64(bytes.fromhex(h)) for h in
                     node.audit.consistency_proof(s, held, latest.size)["proof"]]
        body = "".join([f"old {held}\n", *(p + "\n" for p in proof), "\n", latest.note]).encode()
        return body, sign_request(node, s, purpose="add-checkpoint", witness=peer_id, body=body)


def _describe(answer: Answer) -> str:
    if answer.status == 0:
        return f"unreachable ({answer.error})"
    detail = answer.text[:300]
    try:
        data = json.loads(answer.text)
        if isinstance(data, dict) and isinstance(data.get("detail"), str):
            detail = data["detail"][:300]
    except ValueError:
        pass
    return f"HTTP {answer.status}: {detail}"


def _check_cosignature(node: Node, peer_id: str, note: str, lines: str) -> str:
    cosigned = note + lines
    if not lines.endswith("\n") or len(lines) > 4096:
        raise SignatureInvalid("malformed cosignature lines")
    with node.read() as s:
        keys = _node_keys(s, peer_id)
    for key in keys:
        try:
            open_cosignature(cosigned, name=witness_name(peer_id), key=key)
            return cosigned
        except SignatureInvalid:
            continue
    raise SignatureInvalid(f"no cosignature by {witness_name(peer_id)} with a known key of it")


def _store(node: Node, peer_id: str, *, size: int, root: bytes | None, note: str | None,
           error: str) -> None:
    with node.uow() as s:
        state = s.get(WitnessState, peer_id)
        now = node.now()
        if state is None:
            state = WitnessState(peer_id=peer_id, size=size, error="")
            s.add(state)
        state.size, state.attempted_at, state.error = size, now, error[:500]
        if note is not None:  # otherwise the last cosigned checkpoint stays on record
            state.root_hash, state.cosigned_note, state.cosigned_at = root, note, now


# -- checking the log against what the witnesses hold -----------------------------------------
@dataclass
class _PeerView:
    node_id: str
    base_url: str
    keys: list[Ed25519PublicKey] = field(default_factory=list)


def check_witnesses(node: Node, report: VerifyReport, client: WitnessClient) -> None:
    """Ask each pinned peer what it holds of this log; prove the log extends it (findings)."""
    me = node.settings.node_id
    origin = log_origin(me)
    with node.read() as s:
        ours = [NoteVerifier.from_public_key(origin, k) for k in _node_keys(s, me)]
        peers = [_PeerView(p.node_id, p.base_url, _node_keys(s, p.node_id))
                 for p in s.scalars(select(Peer).order_by(Peer.node_id))]
        headers = {p.node_id: sign_request(node, s, purpose="read", witness=p.node_id)
                   for p in peers}
    if not peers:
        report.add(Finding("witness-none", None, "no pinned peer: nothing witnesses this log",
                           severity=WARNING))
    for peer in peers:
        answer = client.get(peer.base_url.rstrip("/") + HELD_PATH + origin, headers[peer.node_id])
        _check_one(report, peer, ours, answer, origin)


def _check_one(report: VerifyReport, peer: _PeerView, ours: list[NoteVerifier], answer: Answer,
               origin: str) -> None:
    name = peer.node_id
    if answer.status == 0:
        report.add(Finding("witness-unreachable", None, f"witness {name} is unreachable "
                           f"({answer.error}): what it holds of this log was not checked",
                           severity=WARNING, peer=name))
        return
    if answer.status == 404:
        report.add(Finding("witness-none", None, f"witness {name} holds no checkpoint of this log",
                           severity=WARNING, peer=name))
        return
    if answer.status != 200:
        report.add(Finding("witness-refused", None, f"witness {name} did not say what it holds: "
                           f"{_describe(answer)}", severity=WARNING, peer=name))
        return
    try:
        data = json.loads(answer.text)
        note = str(data["checkpoint"])
    except (ValueError, KeyError, TypeError):
        report.add(Finding("witness-refused", None, f"witness {name} answered with something "
                           "that is not a held checkpoint", severity=WARNING, peer=name))
        return
    try:
        opened = open_note(note, ours) if ours else None
        if opened is None:
            raise SignatureInvalid("this node has no node key")
        cp = Checkpoint.parse(opened.text)
        if cp.origin != origin:
            raise SignatureInvalid(f"it is a checkpoint of {cp.origin[:200]}")
    except (SignatureInvalid, ValidationFailed) as exc:
        report.add(Finding("witness", None, f"witness {name} holds a checkpoint of this log that "
                           f"no node key of this node verifies ({exc.detail}): the node's keys "
                           "were replaced, or the witness is wrong", peer=name))
        return
    cosigned = ""
    for key in peer.keys:
        try:
            when = open_cosignature(note, name=witness_name(name), key=key).timestamp
            cosigned = f", cosigned {datetime.fromtimestamp(when, UTC).isoformat()}"
            break
        except SignatureInvalid:
            continue
    else:
        report.add(Finding("witness-refused", cp.size, f"witness {name}: the checkpoint it holds "
                           "carries no valid cosignature of it", severity=WARNING, peer=name))
    held = f"witness {name} holds this log's checkpoint of size {cp.size}{cosigned}"
    tree = report.tree
    if cp.size > report.size:
        report.add(Finding("witness", report.size, f"{held}, but the log has only {report.size} "
                           "entries: entries were removed after it was witnessed", peer=name))
    elif cp.size == 0:
        report.witnesses += 1
    elif tree is None or cp.size > tree.size:
        report.add(Finding("witness", cp.size, f"{held}; the log cannot be recomputed that far "
                           "(see the other findings)", peer=name))
    elif tree.root(cp.size) != cp.root_hash:
        report.add(Finding("witness", cp.size, f"{held} and root {_b64(cp.root_hash)}; the local "
                           f"entries give {_b64(tree.root(cp.size))}: the log was rewritten after "
                           "it was witnessed", peer=name))
    else:
        report.witnesses += 1


def describe_alarm(row: WitnessAlarm) -> dict[str, Any]:
    """An alarm for the DPO: what, when, the signed statement and the evidence."""
    return {
        "id": row.id, "raised_at": row.raised_at.isoformat(), "origin": row.origin,
        "peer": row.peer_id, "kind": row.kind,
        "held": {"size": row.held_size, "root_hash": _b64(row.held_root), "checkpoint": row.held_note},
        "presented": {"size": row.presented_size, "root_hash": _b64(row.presented_root),
                      "checkpoint": row.presented_note, "proof": row.proof},
        "statement": row.statement, "key_id": row.key_id,
    }


def describe_state(row: WitnessState) -> dict[str, Any]:
    return {
        "peer": row.peer_id, "size": row.size,
        "root_hash": _b64(row.root_hash) if row.root_hash is not None else None,
        "cosigned_at": row.cosigned_at.isoformat() if row.cosigned_at else None,
        "attempted_at": row.attempted_at.isoformat() if row.attempted_at else None,
        "error": row.error, "checkpoint": row.cosigned_note,
    }
