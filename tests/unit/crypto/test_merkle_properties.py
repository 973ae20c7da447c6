"""Property tests: the tree against a direct transcription of RFC 9162."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.crypto.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from accord.errors import ProofInvalid

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None)


# -- RFC 9162 section 2.1, transcribed literally (slow, obviously right) --------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# -- strategies ----------------------------------------------------------------------


@st.composite
def trees(draw: st.DrawFn) -> tuple[MerkleTree, list[bytes]]:
    """A tree of 1..300 distinct leaves, grown by a random mix of append and extend."""
    size = draw(st.integers(min_value=1, max_value=300))
    salt = draw(st.binary(min_size=1, max_size=8))
    hashes = [leaf_hash(salt + i.to_bytes(2, "big")) for i in range(size)]
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=6)))
    tree = MerkleTree()
    start = 0
    for cut in [*cuts, size]:
        chunk = hashes[start:cut]
        if draw(st.booleans()):
            tree.extend(chunk)
        else:
            for h in chunk:
                tree.append(h)
        start = max(start, cut)
    return tree, hashes


# A root hash does not commit to a tree size: (size, root) pairs are what a
# checkpoint signs, so "a different size" below always comes with that size's
# own root. (The root of n leaves can verify as the root of a larger tree whose
# extra "leaves" are interior nodes; no hash function can rule that out.)


def _rejects(call: object, *args: object) -> bool:
    try:
        call(*args)  # type: ignore[operator]
    except ProofInvalid:
        return True
    return False


@PROPERTY
@given(trees(), st.data())
def test_tree_matches_rfc(data_tree: tuple[MerkleTree, list[bytes]], data: st.DataObject) -> None:
    tree, hashes = data_tree
    assert tree.size == len(hashes)
    size = data.draw(st.integers(1, tree.size), label="size")
    assert tree.root(size) == mth(hashes[:size])
    assert tree.root() == mth(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    assert tree.inclusion_proof(index, size) == path(index, hashes[:size])
    old = data.draw(st.integers(1, size), label="old")
    assert tree.consistency_proof(old, size) == subproof(old, hashes[:size], True)


@PROPERTY
@given(trees(), st.data())
def test_every_inclusion_proof_verifies_and_binds(
    data_tree: tuple[MerkleTree, list[bytes]], data: st.DataObject
) -> None:
    tree, hashes = data_tree
    size = data.draw(st.sampled_from(sorted({tree.size, data.draw(st.integers(1, tree.size))})))
    root = tree.root(size)
    other_leaf = hashlib.sha256(b"not a leaf of this tree").digest()
    for index in range(size):
        proof = tree.inclusion_proof(index, size)
        verify_inclusion(hashes[index], index, size, proof, root)
        # a different leaf, a different index, a different size or root: refused
        assert _rejects(verify_inclusion, other_leaf, index, size, proof, root)
        if size > 1:
            other_index = (index + 1) % size
            assert _rejects(verify_inclusion, hashes[other_index], index, size, proof, root)
            assert _rejects(verify_inclusion, hashes[index], other_index, size, proof, root)
        for other_size in {size - 1, size + 1, 2 * size} - {0, size}:
            if other_size <= tree.size:
                other_root = tree.root(other_size)
                assert _rejects(
                    verify_inclusion, hashes[index], index, other_size, proof, other_root
                )
        assert _rejects(verify_inclusion, hashes[index], index, size, proof, tree.root(size - 1))
        if proof:
            tampered = [*proof[:-1], node_hash(proof[-1], proof[-1])]
            assert _rejects(verify_inclusion, hashes[index], index, size, tampered, root)


@PROPERTY
@given(trees())
def test_every_consistency_proof_verifies_and_binds(
    data_tree: tuple[MerkleTree, list[bytes]],
) -> None:
    tree, _ = data_tree
    size = tree.size
    root = tree.root()
    for old in range(1, size + 1):
        proof = tree.consistency_proof(old, size)
        old_root = tree.root(old)
        verify_consistency(old, size, proof, old_root, root)
        if old == size:
            continue
        # a different old root or size, or a different new root or size: refused
        assert _rejects(verify_consistency, old, size, proof, tree.root(old - 1), root)
        if old > 1:
            assert _rejects(verify_consistency, old - 1, size, proof, tree.root(old - 1), root)
        if old + 1 < size:
            assert _rejects(verify_consistency, old + 1, size, proof, tree.root(old + 1), root)
        assert _rejects(verify_consistency, old, size - 1, proof, old_root, tree.root(size - 1))
        assert _rejects(verify_consistency, old, size, proof, old_root, old_root)
        assert _rejects(verify_consistency, old, size, proof[:-1], old_root, root)
