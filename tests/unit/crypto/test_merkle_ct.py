"""Proofs from a real Certificate Transparency log (Google Argon2020)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from accord.crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from accord.errors import ProofInvalid

DATA = Path(__file__).resolve().parents[2] / "data" / "merkle-ct"
OLD_SIZE = 3_654_490
OLD_ROOT = base64.b64decode("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=")


def _json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sth() -> tuple[int, bytes]:
    head = _json("sth.json")
    return head["tree_size"], base64.b64decode(head["sha256_root_hash"])


@pytest.fixture(scope="module")
def inclusion() -> tuple[bytes, int, list[bytes]]:
    entry = _json("entries.json")["entries"][0]
    proof = _json("proof.json")
    return (
        leaf_hash(base64.b64decode(entry["leaf_input"])),
        proof["leaf_index"],
        [base64.b64decode(h) for h in proof["audit_path"]],
    )


@pytest.fixture(scope="module")
def consistency() -> list[bytes]:
    return [base64.b64decode(h) for h in _json("consistency.json")["consistency"]]


def _flip(value: bytes, bit: int = 0) -> bytes:
    return value[: bit // 8] + bytes([value[bit // 8] ^ (1 << (bit % 8))]) + value[bit // 8 + 1 :]


def test_a_root_alone_does_not_bind_the_size(
    sth: tuple[int, bytes], inclusion: tuple[bytes, int, list[bytes]]
) -> None:
    # Known RFC 6962 property, kept here so nobody "fixes" it by accident: the
    # size is bound only through the proof's shape, and sizes 961,984,012 and
    # 961,984,013 give leaf 10000 the same shape. Checkpoints sign size and root.
    size, root = sth
    leaf, index, proof = inclusion
    verify_inclusion(leaf, index, size - 1, proof, root)


def test_sth_is_the_one_described(sth: tuple[int, bytes]) -> None:
    assert sth[0] == 961_984_013


def test_inclusion_of_entry_10000(
    sth: tuple[int, bytes], inclusion: tuple[bytes, int, list[bytes]]
) -> None:
    size, root = sth
    leaf, index, proof = inclusion
    assert index == 10_000 and len(proof) == 30
    verify_inclusion(leaf, index, size, proof, root)


@pytest.mark.parametrize("item", [0, 7, 29])
def test_inclusion_with_a_flipped_bit_fails(
    sth: tuple[int, bytes], inclusion: tuple[bytes, int, list[bytes]], item: int
) -> None:
    size, root = sth
    leaf, index, proof = inclusion
    broken = list(proof)
    broken[item] = _flip(broken[item], 3)
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf, index, size, broken, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(_flip(leaf, 255), index, size, proof, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf, index, size, proof, _flip(root, 100))
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf, index + 1, size, proof, root)
    with pytest.raises(ProofInvalid):  # a size with another proof shape
        verify_inclusion(leaf, index, size // 2, proof, root)


def test_consistency_from_3654490(sth: tuple[int, bytes], consistency: list[bytes]) -> None:
    size, root = sth
    assert len(consistency) == 30
    verify_consistency(OLD_SIZE, size, consistency, OLD_ROOT, root)


@pytest.mark.parametrize("item", [0, 15, 29])
def test_consistency_with_a_flipped_bit_fails(
    sth: tuple[int, bytes], consistency: list[bytes], item: int
) -> None:
    size, root = sth
    broken = list(consistency)
    broken[item] = _flip(broken[item], 17)
    with pytest.raises(ProofInvalid):
        verify_consistency(OLD_SIZE, size, broken, OLD_ROOT, root)
    with pytest.raises(ProofInvalid):
        verify_consistency(OLD_SIZE, size, consistency, _flip(OLD_ROOT, 1), root)
    with pytest.raises(ProofInvalid):
        verify_consistency(OLD_SIZE, size, consistency, OLD_ROOT, _flip(root, 200))
    with pytest.raises(ProofInvalid):
        verify_consistency(OLD_SIZE + 1, size, consistency, OLD_ROOT, root)
