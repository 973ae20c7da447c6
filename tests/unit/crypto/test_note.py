"""C2SP signed notes and tlog checkpoints."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.crypto.merkle import MerkleTree, leaf_hash
from accord.crypto.note import (
    Checkpoint,
    Note,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)
from accord.errors import SignatureInvalid, ValidationFailed

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "merkle" / "c2sp-signed-note"
DASH = "\u2014"


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


@pytest.fixture
def alice() -> NoteSigner:
    return NoteSigner("accord.example/es-pn", _key(1))


@pytest.fixture
def bob() -> NoteSigner:
    return NoteSigner("accord.example/fr-pn", _key(2))


@pytest.fixture
def example_vkey() -> str:
    return (EXAMPLE / "example.vkey").read_text(encoding="utf-8").strip()


@pytest.fixture
def example_note() -> str:
    return (EXAMPLE / "example.note").read_text(encoding="utf-8")


# -- the shipped C2SP example --------------------------------------------------------


def test_example_note_verifies(example_vkey: str, example_note: str) -> None:
    verifier = NoteVerifier.from_vkey(example_vkey)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    note = open_note(example_note, [verifier])
    assert note == Note(text="This is an example message.\n", signers=("example.com/foo",))
    assert open_note(example_note.encode("utf-8"), [verifier]) == note


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n: n.replace("example message", "example massage"),
        lambda n: n.replace("This", "this"),
        lambda n: "x" + n,
        lambda n: n.replace(".\n\n", ".\n\n\n"),
        lambda n: n.replace("Uw2Q", "Uw2R"),
    ],
)
def test_modified_example_note_is_refused(
    example_vkey: str, example_note: str, tamper: Callable[[str], str]
) -> None:
    verifier = NoteVerifier.from_vkey(example_vkey)
    with pytest.raises(SignatureInvalid):
        open_note(tamper(example_note), [verifier])


def test_example_note_with_other_key_is_refused(example_note: str, alice: NoteSigner) -> None:
    with pytest.raises(SignatureInvalid, match="not signed by any known key"):
        open_note(example_note, [alice.verifier()])


# -- signing and opening -------------------------------------------------------------


def test_round_trip_with_two_signers(alice: NoteSigner, bob: NoteSigner) -> None:
    text = "Hit follow-up 42\n\nwith an empty line inside\n"
    signed = sign_note(text, [alice, bob])
    body, block = signed[: len(text)], signed[len(text) :]
    assert body == text
    assert block.startswith(f"\n{DASH} accord.example/es-pn ")
    assert len(block.strip("\n").split("\n")) == 2
    both = open_note(signed, [alice.verifier(), bob.verifier()])
    assert both == Note(text=text, signers=("accord.example/es-pn", "accord.example/fr-pn"))
    assert open_note(signed, [bob.verifier()]).signers == ("accord.example/fr-pn",)


def test_signature_line_layout(alice: NoteSigner) -> None:
    signed = sign_note("hello\n", [alice])
    line = signed.split("\n")[2]
    dash, name, encoded = line.split(" ")
    assert (dash, name) == (DASH, alice.name)
    blob = base64.b64decode(encoded)
    assert blob[:4] == alice.key_id and len(blob) == 4 + 64


def test_verifier_key_round_trip(alice: NoteSigner) -> None:
    vkey = alice.verifier_key()
    name, hex_id, encoded = vkey.split("+")
    assert name == alice.name and hex_id == alice.key_id.hex()
    assert base64.b64decode(encoded)[0] == 0x01
    verifier = NoteVerifier.from_vkey(vkey)
    assert verifier.key_id == alice.key_id
    open_note(sign_note("x\n", [alice]), [verifier])
    public = NoteVerifier.from_public_key(alice.name, _key(1).public_key())
    assert public.key_id == alice.key_id
    assert "accord.example/es-pn" in repr(alice) and alice.key_id.hex() in repr(verifier)


def test_wrong_key_is_refused(alice: NoteSigner) -> None:
    impostor = NoteVerifier.from_public_key(alice.name, _key(9).public_key())
    with pytest.raises(SignatureInvalid, match="not signed by any known key"):
        open_note(sign_note("x\n", [alice]), [impostor])


def test_unknown_key_is_ignored_but_not_enough(alice: NoteSigner, bob: NoteSigner) -> None:
    signed = sign_note("x\n", [bob, alice])
    assert open_note(signed, [alice.verifier()]).signers == (alice.name,)
    with pytest.raises(SignatureInvalid):
        open_note(sign_note("x\n", [bob]), [alice.verifier()])


def test_bad_signature_by_a_known_key_rejects_the_whole_note(
    alice: NoteSigner, bob: NoteSigner
) -> None:
    good = sign_note("x\n", [alice])
    # a second line claiming bob's name and key id, with alice's signature bytes
    alice_blob = base64.b64decode(good.split(" ")[-1])
    forged = base64.b64encode(bob.key_id + alice_blob[4:]).decode()
    note = good + f"{DASH} {bob.name} {forged}\n"
    assert open_note(note, [alice.verifier()]).signers == (alice.name,)  # bob unknown: ignored
    with pytest.raises(SignatureInvalid, match=f"signature by {bob.name} does not verify"):
        open_note(note, [alice.verifier(), bob.verifier()])


def test_same_name_other_key_id_is_unknown(alice: NoteSigner) -> None:
    other = NoteSigner(alice.name, _key(3))
    signed = sign_note("x\n", [other, alice])
    assert open_note(signed, [alice.verifier()]).signers == (alice.name,)


def test_repeated_signature_counts_once(alice: NoteSigner) -> None:
    signed = sign_note("x\n", [alice, alice])
    assert open_note(signed, [alice.verifier()]).signers == (alice.name,)


@pytest.mark.parametrize(
    "note",
    [
        "no signatures\n",
        "text\n\n",
        "text\n\n— name c2ln\n",  # signature too short
        "text\n\n- name AAAAAAAAAAAAAAAA\n",  # hyphen, not em dash
        "text\n\n— name AAAAAAAAAAAAAAAA",  # no final newline
        "text\n\n— name not!base64\n",
        "text\n\n— a+b AAAAAAAAAAAAAAAA\n",
        "text\n\n—  AAAAAAAAAAAAAAAA\n",
        "te\txt\n\n— name AAAAAAAAAAAAAAAA\n",
        "text\r\n\n— name AAAAAAAAAAAAAAAA\n",
        "text\n\n" + "— name AAAAAAAAAAAAAAAA\n" * 101,
    ],
)
def test_malformed_notes_are_refused(alice: NoteSigner, note: str) -> None:
    with pytest.raises(SignatureInvalid, match="malformed note"):
        open_note(note, [alice.verifier()])


def test_invalid_utf8_is_refused(alice: NoteSigner) -> None:
    with pytest.raises(SignatureInvalid, match="UTF-8"):
        open_note(b"\xff\n\n" + sign_note("x\n", [alice]).encode()[3:], [alice.verifier()])


@pytest.mark.parametrize("text", ["no newline", "bell\a\n", "\ud800\n"])
def test_sign_refuses_bad_text(alice: NoteSigner, text: str) -> None:
    with pytest.raises(ValidationFailed):
        sign_note(text, [alice])


def test_sign_needs_a_signer() -> None:
    with pytest.raises(ValidationFailed):
        sign_note("x\n", [])


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\nb"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(ValidationFailed):
        NoteSigner(name, _key(1))
    with pytest.raises(ValidationFailed):
        NoteVerifier.from_public_key(name, _key(1).public_key())


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/foo",
        "example.com/foo+530d903a",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+!!!",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(ValidationFailed):
        NoteVerifier.from_vkey(vkey)


def test_ambiguous_verifiers_are_refused(alice: NoteSigner) -> None:
    with pytest.raises(ValidationFailed):
        open_note(sign_note("x\n", [alice]), [alice.verifier(), alice.verifier()])


# -- checkpoints -------------------------------------------------------------------


def test_checkpoint_round_trip(alice: NoteSigner) -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(10))
    cp = Checkpoint(origin=alice.name, size=tree.size, root_hash=tree.root())
    text = cp.to_text()
    assert text == f"{alice.name}\n10\n{base64.b64encode(tree.root()).decode()}\n"
    assert Checkpoint.parse(text) == cp
    signed = sign_checkpoint(cp, alice)
    assert open_checkpoint(signed, alice.verifier()) == cp


def test_checkpoint_with_extensions(alice: NoteSigner) -> None:
    cp = Checkpoint(alice.name, 0, b"\x00" * 32, extensions=("ext one", "two"))
    assert cp.to_text().endswith("\next one\ntwo\n")
    assert open_checkpoint(sign_checkpoint(cp, alice), alice.verifier()) == cp


def test_checkpoint_spec_example_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size, len(cp.root_hash)) == ("example.com/behind-the-sofa", 20852163, 32)
    assert cp.to_text() == text


def test_checkpoint_tampered_or_wrong_key(alice: NoteSigner, bob: NoteSigner) -> None:
    cp = Checkpoint(alice.name, 5, b"\x01" * 32)
    signed = sign_checkpoint(cp, alice)
    with pytest.raises(SignatureInvalid):
        open_checkpoint(signed.replace("\n5\n", "\n6\n"), alice.verifier())
    with pytest.raises(SignatureInvalid):
        open_checkpoint(signed, NoteVerifier.from_public_key(alice.name, _key(7).public_key()))
    with pytest.raises(SignatureInvalid):
        open_checkpoint(signed, bob.verifier())


def test_checkpoint_origin_must_match(alice: NoteSigner) -> None:
    cp = Checkpoint("accord.example/other-log", 5, b"\x01" * 32)
    signed = sign_checkpoint(cp, alice)
    with pytest.raises(SignatureInvalid, match="origin"):
        open_checkpoint(signed, alice.verifier())
    assert open_checkpoint(signed, alice.verifier(), origin="accord.example/other-log") == cp


def test_checkpoint_body_is_checked_after_the_signature(alice: NoteSigner) -> None:
    signed = sign_note(f"{alice.name}\n007\n{base64.b64encode(bytes(32)).decode()}\n", [alice])
    with pytest.raises(ValidationFailed, match="decimal"):
        open_checkpoint(signed, alice.verifier())


ROOT = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"origin\n1\n{ROOT}",  # no final newline
        "origin\n1\n",
        f"\n1\n{ROOT}\n",
        f"origin\n01\n{ROOT}\n",
        f"origin\n+1\n{ROOT}\n",
        f"origin\n-1\n{ROOT}\n",
        f"origin\n 1\n{ROOT}\n",
        f"origin\n\uff11\n{ROOT}\n",  # fullwidth digit one
        f"origin\n{1 << 64}\n{ROOT}\n",
        "origin\n1\nAAAA\n",
        f"origin\n1\n{ROOT[:-1]}\n",
        f"origin\n1\n{ROOT} \n",
        "origin\n1\n" + ROOT.replace("A=", "B=") + "\n",  # non-canonical base64
        f"origin\n1\n{ROOT}\n\n",  # empty extension line
        f"origin\n1\n{ROOT}\next\n\n",
        f"ori\tgin\n1\n{ROOT}\n",
    ],
)
def test_checkpoint_parse_is_strict(text: str) -> None:
    with pytest.raises(ValidationFailed):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root_hash": bytes(32)},
        {"origin": "a\nb", "size": 1, "root_hash": bytes(32)},
        {"origin": "o", "size": -1, "root_hash": bytes(32)},
        {"origin": "o", "size": True, "root_hash": bytes(32)},
        {"origin": "o", "size": 1, "root_hash": bytes(31)},
        {"origin": "o", "size": 1, "root_hash": bytes(32), "extensions": ("",)},
        {"origin": "o", "size": 1, "root_hash": bytes(32), "extensions": ("a\nb",)},
    ],
)
def test_checkpoint_constructor_validates(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        Checkpoint(**kwargs)  # type: ignore[arg-type]
