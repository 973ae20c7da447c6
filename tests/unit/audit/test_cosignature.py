"""Timestamped Ed25519 cosignatures (C2SP tlog-cosignature v1) and the frontier root."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.audit.services import extended_root
from accord.crypto.cosignature import (
    cosign,
    cosignature_key_id,
    cosignature_message,
    cosigner_vkey,
    open_cosignature,
)
from accord.crypto.merkle import MerkleTree, leaf_hash
from accord.crypto.note import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint, sign_note
from accord.errors import SignatureInvalid, ValidationFailed

LOG = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
ORIGIN = "es-node.accord/audit"
NAME = "fr-node.accord/witness"


def checkpoint_note(size: int = 5) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, hashlib.sha256(b"root").digest()),
                           NoteSigner(ORIGIN, LOG))


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_cosignature_line_is_the_spec_format() -> None:
    note = checkpoint_note()
    text = note[: note.index("\n\n") + 1]
    line = cosign(text, name=NAME, key=WITNESS, timestamp=1679315147)
    assert line.startswith(f"— {NAME} ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    # key id: SHA-256(name || 0x0A || 0x04 || key)[:4]; then a big-endian u64 timestamp
    assert blob[:4] == hashlib.sha256(NAME.encode() + b"\n\x04" + raw(WITNESS)).digest()[:4]
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)
    # the signed message: header, time line, the whole checkpoint body
    assert cosignature_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + text.encode())
    WITNESS.public_key().verify(blob[12:], cosignature_message(text, 1679315147))
    assert cosigner_vkey(NAME, WITNESS.public_key()).startswith(
        f"{NAME}+{cosignature_key_id(NAME, WITNESS.public_key()).hex()}+")


def test_cosigned_note_opens_for_the_log_and_for_the_witness() -> None:
    note = checkpoint_note()
    text = note[: note.index("\n\n") + 1]
    cosigned = note + cosign(text, name=NAME, key=WITNESS, timestamp=1700000000)
    # the log's own signature still verifies (the cosignature line is ignored as unknown) ...
    assert open_checkpoint(cosigned, NoteSigner(ORIGIN, LOG).verifier()).size == 5
    # ... and the witness's cosignature verifies, with its time
    assert open_cosignature(cosigned, name=NAME, key=WITNESS.public_key()).timestamp == 1700000000


def test_cosignature_refused_when_anything_differs() -> None:
    note = checkpoint_note()
    text = note[: note.index("\n\n") + 1]
    cosigned = note + cosign(text, name=NAME, key=WITNESS, timestamp=1700000000)
    with pytest.raises(SignatureInvalid):  # another key
        open_cosignature(cosigned, name=NAME, key=OTHER.public_key())
    with pytest.raises(SignatureInvalid):  # another name
        open_cosignature(cosigned, name="x.accord/witness", key=WITNESS.public_key())
    with pytest.raises(SignatureInvalid):  # another tree size under the same cosignature
        open_cosignature(cosigned.replace(f"{ORIGIN}\n5\n", f"{ORIGIN}\n6\n"), name=NAME,
                         key=WITNESS.public_key())
    with pytest.raises(SignatureInvalid):  # no cosignature at all
        open_cosignature(note, name=NAME, key=WITNESS.public_key())
    plain = sign_note(text, [NoteSigner(NAME, WITNESS)])  # key id of type 0x01, not 0x04
    with pytest.raises(SignatureInvalid):  # a plain note signature of the witness is not one
        open_cosignature(plain, name=NAME, key=WITNESS.public_key())


def test_cosign_refuses_bad_input() -> None:
    with pytest.raises(ValidationFailed):
        cosign("no newline", name=NAME, key=WITNESS, timestamp=1)
    with pytest.raises(ValidationFailed):
        cosign("a\n", name="bad name", key=WITNESS, timestamp=1)
    with pytest.raises(ValidationFailed):
        cosign("a\n", name=NAME, key=WITNESS, timestamp=1 << 63)


@pytest.mark.parametrize("size", [*range(0, 70), 127, 128, 129, 1000, 1023, 1024, 1025])
def test_extended_root_equals_the_tree_root(size: int) -> None:
    leaves = [leaf_hash(str(i).encode()) for i in range(size + 40)]
    tree = MerkleTree(leaves[:size])
    for extra in (0, 1, 2, 3, 7, 8, 33, 40):
        want = MerkleTree(leaves[: size + extra]).root()
        assert extended_root(tree, size, leaves[size: size + extra]) == want, (size, extra)
    assert tree.size == size  # not changed
