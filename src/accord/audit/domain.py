"""The audit entry and its Merkle hashing: pure rules, no I/O.

An entry's leaf is ``leaf_hash(entry_bytes(idx, at, entry))``: RFC 8785 JSON of the
entry *including its own index*, so an entry moved to another place no longer
hashes to what it claims. :func:`extended_root` is the root of a tree extended by
leaves not yet committed (a transaction's own appends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from accord.crypto.canonical import canonical_json
from accord.crypto.merkle import EMPTY_ROOT, MerkleTree, node_hash

if TYPE_CHECKING:
    from accord.audit.models import AuditEntry

LOG_NAME = "audit"
DEFAULT_CHECKPOINT_ENTRIES = 1000


@dataclass(frozen=True)
class EntryIn:
    actor: str
    action: str
    object: str = ""
    purpose: str = ""
    basis: str = ""
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    credential: str = ""  # the session or API token that acted ("session:…", "token:…")


def entry_bytes(idx: int, at: datetime, e: EntryIn | AuditEntry) -> bytes:
    """The canonical bytes of an entry (RFC 8785 JSON); its leaf hashes these.

    ``credential`` is a member only when set, so entries written before it
    existed (and entries of no session or token) hash as they always did.
    """
    extra = {"credential": e.credential} if e.credential else {}
    return canonical_json({
        **extra,
        "v": 1,
        "idx": idx,
        "at": at.isoformat(timespec="microseconds"),
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "purpose": e.purpose,
        "basis": e.basis,
        "outcome": e.outcome,
        "detail": e.detail,
    })


SignerSource = Callable[[Session], tuple[str, Ed25519PrivateKey]]
VerifierSource = Callable[[Session, str], Ed25519PublicKey]


def extended_root(tree: MerkleTree, size: int, leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 root of the first ``size`` leaves of ``tree`` followed by ``leaves``.

    ``tree`` is not changed. The first ``size`` leaves are folded into their
    *frontier* (one complete subtree per set bit of ``size``, read off the
    inclusion proof of the last leaf), the new leaves are added to it like a
    binary counter, in the largest aligned complete subtrees that fit (each hashed
    level by level), and the frontier folds from the right into the root: O(log n
    + len(leaves)) hashes.
    """
    stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing
    if size:
        proof = tree.inclusion_proof(size - 1, size)
        low = (size & -size).bit_length() - 1
        last = tree.leaf(size - 1)
        for sibling in proof[:low]:  # the complete subtree that ends with the last leaf
            last = node_hash(sibling, last)
        higher = [bit for bit in range(size.bit_length()) if size >> bit & 1][1:]
        stack = [*zip(reversed(higher), reversed(proof[low:]), strict=True), (low, last)]
    position, count = size, len(leaves)
    done = 0
    while done < count:  # the new leaves in the largest aligned complete subtrees that fit
        level = (count - done).bit_length() - 1
        if position:
            level = min(level, (position & -position).bit_length() - 1)
        width = 1 << level
        block = leaves[done:done + width]
        stack.append((level, block[0] if width == 1 else MerkleTree(block).root()))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (top, right), (_, left) = stack.pop(), stack.pop()
            stack.append((top + 1, node_hash(left, right)))
        done += width
        position += width
    if not stack:
        return EMPTY_ROOT
    root = stack[-1][1]
    for _, subtree in reversed(stack[:-1]):
        root = node_hash(subtree, root)
    return root


__all__ = [
    "DEFAULT_CHECKPOINT_ENTRIES", "LOG_NAME", "EntryIn", "SignerSource", "VerifierSource",
    "entry_bytes", "extended_root",
]
