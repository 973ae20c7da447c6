"""Merkle hash trees of RFC 6962 / RFC 9162 (Certificate Transparency).

The audit log commits to its entries with the tree of RFC 9162 section 2.1:

    leaf hash   = SHA-256(0x00 || entry)
    node hash   = SHA-256(0x01 || left || right)
    empty root  = SHA-256("")

:class:`MerkleTree` is an in-memory, append-only tree that caches the hash of
every *complete* subtree, level by level: ``level k`` entry ``j`` is the hash of
leaves ``[j * 2**k, (j + 1) * 2**k)``. Any range the RFC's recursion needs is a
handful of those cached hashes, so the root of any prefix, an inclusion proof
and a consistency proof each cost O(log n) hash operations, and appending a
leaf costs amortised O(1) hashes. Memory is about two hashes per leaf.

The verifiers (:func:`verify_inclusion`, :func:`verify_consistency`) follow
RFC 9162 sections 2.1.3.2 and 2.1.4.2 and check everything a proof from an
untrusted peer can get wrong (hash lengths, sizes, proof length). Checks raise
:class:`~accord.errors.ProofInvalid`; they never return ``False``. Invalid
arguments to the tree itself (an index past the end, a size larger than the
tree) raise :class:`~accord.errors.ValidationFailed`.

The tree is not thread-safe: guard it with a lock if several threads append.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from accord.errors import ProofInvalid, ValidationFailed

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one log entry: SHA-256(0x00 || data)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 Merkle tree held in memory.

    ``MerkleTree(leaf_hashes)`` builds a tree from leaf hashes (already hashed
    with :func:`leaf_hash`); :meth:`append` and :meth:`extend` add more. Sizes
    and indexes are numbers of leaves, counted from zero.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # _levels[k][j] = hash of leaves [j * 2**k, (j + 1) * 2**k).
        # Invariant: len(_levels[k + 1]) == len(_levels[k]) // 2.
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaf_hashes)

    # -- growing -------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; return the new leaf's index."""
        _check_leaf_argument(leaf_hash)
        levels = self._levels
        index = len(levels[0])
        levels[0].append(leaf_hash)
        level, position = 0, index
        # While the node just completed is a right child, its parent completes.
        while position & 1:
            row = levels[level]
            parent = _sha256(_NODE_PREFIX + row[position - 1] + row[position]).digest()
            if len(levels) == level + 1:
                levels.append([])
            levels[level + 1].append(parent)
            level += 1
            position >>= 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add many leaf hashes at once (hashing each level in bulk)."""
        new = list(leaf_hashes)
        if not new:
            return
        for position, value in enumerate(new):
            if type(value) is not bytes or len(value) != HASH_SIZE:
                _check_leaf_argument(value, where=f" (item {position})")
        levels = self._levels
        levels[0].extend(new)
        level = 0
        sha256, prefix = _sha256, _NODE_PREFIX
        while True:
            row = levels[level]
            done = len(levels[level + 1]) if len(levels) > level + 1 else 0
            start = 2 * done
            pairs = (len(row) - start) // 2
            if pairs == 0:
                break
            if len(levels) == level + 1:
                levels.append([])
            end = start + 2 * pairs
            levels[level + 1].extend(
                [
                    sha256(prefix + left + right).digest()
                    for left, right in zip(row[start:end:2], row[start + 1 : end : 2], strict=True)
                ]
            )
            level += 1

    # -- reading -------------------------------------------------------------

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        self._check_index(index, self.size)
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all of them)."""
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

        RFC 9162 section 2.1.3.1 (``PATH(m, D[n])``), ordered from the leaf up.
        """
        size = self._check_size(size)
        self._check_index(index, size)
        # Walk down from the root; collect siblings top-down, return bottom-up.
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _largest_power_of_two_below(hi - lo)
            mid = lo + k
            if index < mid:
                path.append(self._range_hash(mid, hi))
                hi = mid
            else:
                path.append(self._range_hash(lo, mid))
                lo = mid
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old_size`` leaves is a prefix of ``new_size``.

        RFC 9162 section 2.1.4.1 (``PROOF(m, D[n])``). Equal sizes give an empty
        proof; ``old_size`` must be at least 1 (nothing is proven about size 0).
        """
        new_size = self._check_size(new_size)
        if not 1 <= old_size <= new_size:
            raise ValidationFailed(
                f"consistency proof needs 1 <= old_size <= new_size, "
                f"got old_size={old_size}, new_size={new_size}"
            )
        proof: list[bytes] = []
        m, lo, hi = old_size, 0, new_size
        complete = True  # the RFC's flag b: the old tree's root is this subtree
        while hi != m:  # the old tree is D[0:m]; stop where it ends this subtree
            k = _largest_power_of_two_below(hi - lo)
            if m - lo <= k:
                proof.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._range_hash(lo, lo + k))
                lo += k
                complete = False
        if not complete:
            proof.append(self._range_hash(lo, hi))
        proof.reverse()
        return proof

    # -- internals -----------------------------------------------------------

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range the RFC recursion produces.

        Such ranges start at a multiple of a power of two at least as large as
        the range, so the range splits into aligned complete subtrees of
        decreasing size (one per set bit of ``hi - lo``), each cached; the RFC
        tree over them folds from the right.
        """
        levels = self._levels
        parts: list[bytes] = []
        position = lo
        remaining = hi - lo
        while remaining:
            level = remaining.bit_length() - 1
            parts.append(levels[level][position >> level])
            position += 1 << level
            remaining -= 1 << level
        result = parts.pop()
        while parts:
            result = _sha256(_NODE_PREFIX + parts.pop() + result).digest()
        return result

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValidationFailed(f"tree size {size} out of range 0..{self.size}")
        return size

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise ValidationFailed(f"leaf index {index} out of range for tree size {size}")

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size})"


def _check_leaf_argument(value: object, where: str = "") -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else None
        raise ValidationFailed(
            f"a leaf hash must be {HASH_SIZE} bytes{where}, got "
            + (f"{length} bytes" if length is not None else type(value).__name__)
        )


# -- verification ----------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofInvalid(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof_items(proof: Sequence[bytes]) -> None:
    for position, item in enumerate(proof):
        if len(item) != HASH_SIZE:
            raise ProofInvalid(f"proof item {position} must be {HASH_SIZE} bytes, got {len(item)}")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border): how many proof hashes are below / above the split.

    ``inner`` hashes sit where the paths to ``index`` and to the last leaf
    ``size - 1`` differ; ``border`` hashes are the left siblings on the path to
    the last leaf above that point.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            seed = _sha256(_NODE_PREFIX + sibling + seed).digest()
        else:
            seed = _sha256(_NODE_PREFIX + seed + sibling).digest()
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            seed = _sha256(_NODE_PREFIX + sibling + seed).digest()
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = _sha256(_NODE_PREFIX + sibling + seed).digest()
    return seed


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof implies for ``leaf_hash`` at ``index`` in ``size``.

    Raises :class:`ProofInvalid` when the proof cannot be a proof for that
    position (bad sizes, wrong length, hashes that are not 32 bytes).
    """
    if size <= 0:
        raise ProofInvalid(f"an inclusion proof needs a tree size of at least 1, got {size}")
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is out of range for tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofInvalid(
            f"wrong inclusion proof length for index {index} in tree size {size}: "
            f"got {len(proof)} hashes, want {inner + border}"
        )
    _check_proof_items(proof)
    seed = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(seed, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 section 2.1.3.2. Returns nothing; raises :class:`ProofInvalid`.
    """
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise ProofInvalid(
            f"inclusion proof for index {index} in tree size {size} does not lead to the root"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of ``size2`` with ``root2``.

    RFC 9162 section 2.1.4.2. Equal sizes need an empty proof and equal roots
    (compared as given, as transparency-dev/merkle does).
    ``size1 == 0`` is rejected: such a "proof" proves nothing. Returns nothing;
    raises :class:`ProofInvalid`.
    """
    if size1 < 0 or size2 < 0:
        raise ProofInvalid(f"tree sizes must not be negative, got {size1} and {size2}")
    if size2 < size1:
        raise ProofInvalid(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        raise ProofInvalid("a consistency proof from tree size 0 proves nothing")
    if size1 == size2:
        if proof:
            raise ProofInvalid(
                f"sizes are equal ({size1}) but the proof has {len(proof)} hashes, want none"
            )
        if root1 != root2:
            raise ProofInvalid(f"sizes are equal ({size1}) but the roots differ")
        return
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    if not proof:
        raise ProofInvalid(f"empty consistency proof from size {size1} to {size2}")

    # Decompose as an inclusion proof of leaf size1 - 1 in the size2 tree; the
    # lowest `shift` levels are inside the complete subtree that ends the old
    # tree and whose hash the proof starts with (or is root1 itself, when the
    # old tree is a complete power-of-two tree).
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, rest = root1, proof
        want = inner + border
    else:
        seed, rest = proof[0], proof[1:]
        want = 1 + inner + border
    if len(proof) != want:
        raise ProofInvalid(
            f"wrong consistency proof length from size {size1} to {size2}: "
            f"got {len(proof)} hashes, want {want}"
        )
    _check_proof_items(proof)
    mask = (size1 - 1) >> shift
    hash1 = _chain_inner_right(seed, rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    if hash1 != root1:
        raise ProofInvalid(f"consistency proof does not lead to root1 (size {size1})")
    hash2 = _chain_inner(seed, rest[:inner], mask)
    hash2 = _chain_border_right(hash2, rest[inner:])
    if hash2 != root2:
        raise ProofInvalid(f"consistency proof does not lead to root2 (size {size2})")
