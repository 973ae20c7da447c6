"""RFC 6962 reference roots and the transparency-dev proof vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from accord.crypto.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from accord.errors import ProofInvalid, ValidationFailed

DATA = Path(__file__).resolve().parents[2] / "data" / "merkle"
VECTORS = DATA / "testdata"

# RFC 6962 reference leaves and the roots of their first n leaves (README table).
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
REFERENCE_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _files(kind: str) -> list[Path]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no vectors under {VECTORS / kind}"
    return files


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in case["proof"] or []]


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


INCLUSION = _files("inclusion")
CONSISTENCY = _files("consistency")


@pytest.fixture(scope="module")
def reference_tree() -> MerkleTree:
    return MerkleTree(leaf_hash(data) for data in REFERENCE_LEAVES)


def test_vector_sets_are_complete() -> None:
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case))
    root = _b64(case["root"])
    if case["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_inclusion(*args, root)
    else:
        verify_inclusion(*args, root)
        assert root_from_inclusion_proof(*args) == root


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("n", range(9))
def test_reference_roots(reference_tree: MerkleTree, n: int) -> None:
    assert reference_tree.root(n).hex() == REFERENCE_ROOTS[n]
    assert MerkleTree(leaf_hash(d) for d in REFERENCE_LEAVES[:n]).root().hex() == REFERENCE_ROOTS[n]


def test_empty_root_and_hash_functions() -> None:
    assert EMPTY_ROOT.hex() == REFERENCE_ROOTS[0]
    assert MerkleTree().root() == EMPTY_ROOT
    assert leaf_hash(b"").hex() == REFERENCE_ROOTS[1]
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")).hex() == REFERENCE_ROOTS[2]
    assert HASH_SIZE == len(EMPTY_ROOT) == 32


@pytest.mark.parametrize("path", [p for p in INCLUSION if p.name == "happy-path.json"], ids=_id)
def test_tree_inclusion_proofs_equal_vectors(reference_tree: MerkleTree, path: Path) -> None:
    case = _load(path)
    size = case["treeSize"]
    assert reference_tree.root(size) == _b64(case["root"])
    assert reference_tree.leaf(case["leafIdx"]) == _b64(case["leafHash"])
    assert reference_tree.inclusion_proof(case["leafIdx"], size) == _proof(case)


@pytest.mark.parametrize("path", [p for p in CONSISTENCY if p.name == "happy-path.json"], ids=_id)
def test_tree_consistency_proofs_equal_vectors(reference_tree: MerkleTree, path: Path) -> None:
    case = _load(path)
    size1, size2 = case["size1"], case["size2"]
    assert reference_tree.root(size1) == _b64(case["root1"])
    assert reference_tree.root(size2) == _b64(case["root2"])
    assert reference_tree.consistency_proof(size1, size2) == _proof(case)


def test_every_proof_of_the_reference_tree_verifies(reference_tree: MerkleTree) -> None:
    for size in range(1, 9):
        root = reference_tree.root(size)
        for index in range(size):
            proof = reference_tree.inclusion_proof(index, size)
            verify_inclusion(reference_tree.leaf(index), index, size, proof, root)
        for old in range(1, size + 1):
            proof = reference_tree.consistency_proof(old, size)
            verify_consistency(old, size, proof, reference_tree.root(old), root)


# -- the tree's own API ------------------------------------------------------------


def test_append_returns_indexes_and_matches_extend() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    appended = MerkleTree()
    assert [appended.append(h) for h in hashes] == list(range(1000))
    extended = MerkleTree(hashes[:3])
    extended.extend(hashes[3:500])
    extended.extend([])
    extended.extend(iter(hashes[500:]))
    assert appended.size == extended.size == len(extended) == 1000
    for size in (0, 1, 2, 3, 255, 256, 257, 999, 1000):
        assert appended.root(size) == extended.root(size)
    assert appended.root() == extended.root(1000)
    assert extended.leaf(999) == hashes[999]
    assert repr(extended) == "MerkleTree(size=1000)"


def test_consistency_proof_of_equal_sizes_is_empty(reference_tree: MerkleTree) -> None:
    assert reference_tree.consistency_proof(8) == []
    assert reference_tree.consistency_proof(3, 3) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.leaf(8),
        lambda t: t.leaf(-1),
        lambda t: t.root(9),
        lambda t: t.root(-1),
        lambda t: t.inclusion_proof(8),
        lambda t: t.inclusion_proof(3, 3),
        lambda t: t.inclusion_proof(0, 0),
        lambda t: t.inclusion_proof(0, 9),
        lambda t: t.consistency_proof(0, 4),
        lambda t: t.consistency_proof(5, 4),
        lambda t: t.consistency_proof(1, 9),
        lambda t: t.append(b"short"),
        lambda t: t.append("x" * 32),
        lambda t: t.extend([leaf_hash(b"ok"), b"\x00" * 33]),
    ],
)
def test_invalid_arguments_raise_validation_failed(reference_tree: MerkleTree, call: Any) -> None:
    with pytest.raises(ValidationFailed):
        call(reference_tree)
    assert reference_tree.size == 8  # a refused extend adds nothing


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root", "detail"),
    [
        (b"\x00" * 31, 0, 1, [], b"\x00" * 32, "leaf hash must be 32 bytes"),
        (b"\x00" * 32, 0, 1, [], b"\x00" * 33, "root hash must be 32 bytes"),
        (b"\x00" * 32, 1, 1, [], b"\x00" * 32, "out of range"),
        (b"\x00" * 32, -1, 1, [], b"\x00" * 32, "out of range"),
        (b"\x00" * 32, 0, 0, [], b"\x00" * 32, "at least 1"),
        (b"\x00" * 32, 0, 2, [], b"\x00" * 32, "got 0 hashes, want 1"),
        (b"\x00" * 32, 0, 2, [b"\x00" * 31], b"\x00" * 32, "proof item 0"),
        (b"\x00" * 32, 0, 1, [], b"\x01" * 32, "does not lead to the root"),
    ],
)
def test_inclusion_details(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, detail: str
) -> None:
    with pytest.raises(ProofInvalid, match=detail):
        verify_inclusion(leaf, index, size, proof, root)


def test_consistency_details(reference_tree: MerkleTree) -> None:
    r3, r8 = reference_tree.root(3), reference_tree.root(8)
    good = reference_tree.consistency_proof(3, 8)
    with pytest.raises(ProofInvalid, match="size 0"):
        verify_consistency(0, 8, [], EMPTY_ROOT, r8)
    with pytest.raises(ProofInvalid, match="smaller"):
        verify_consistency(8, 3, good, r8, r3)
    with pytest.raises(ProofInvalid, match="empty consistency proof"):
        verify_consistency(3, 8, [], r3, r8)
    with pytest.raises(ProofInvalid, match="wrong consistency proof length"):
        verify_consistency(3, 8, [*good, r8], r3, r8)
    with pytest.raises(ProofInvalid, match="root1"):
        verify_consistency(3, 8, good, r8, r8)
    with pytest.raises(ProofInvalid, match="root2"):
        verify_consistency(3, 8, good, r3, r3)
    with pytest.raises(ProofInvalid, match="must be 32 bytes"):
        verify_consistency(3, 8, good, r3[:-1], r8)
