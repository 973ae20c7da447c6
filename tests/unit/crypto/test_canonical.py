"""Canonical JSON (RFC 8785), digests, key ids and fingerprints."""

from __future__ import annotations

import hashlib
import json
import math
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from accord.crypto.canonical import canonical_json, parse_json, sha256_hex
from accord.crypto.keyid import (
    fingerprint,
    grouped_fingerprint,
    key_id,
    key_id_of,
    public_raw,
)

# --- RFC 8785 section 3.2.2: the worked example -------------------------------------

RFC_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_OUTPUT = (
    r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)


def test_rfc8785_worked_example() -> None:
    assert canonical_json(json.loads(RFC_INPUT)) == RFC_OUTPUT.encode("utf-8")


def test_rfc8785_key_order_is_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3
    obj = json.loads(
        r"""{
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"
        }"""
    )
    keys = list(json.loads(canonical_json(obj)).keys())
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


# RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS)
def test_rfc8785_numbers(bits: str, text: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == text.encode("ascii")


def test_no_whitespace_and_minimal_escapes() -> None:
    obj = {"b": [1, 2, {"z": None}], "a": 'é\u2028\x1f"\\/'}
    assert canonical_json(obj) == '{"a":"é\u2028\\u001f\\"\\\\/","b":[1,2,{"z":null}]}'.encode()


def test_same_value_same_bytes_regardless_of_insertion_order() -> None:
    a = {"x": 1, "y": {"p": [1.0, "q"], "o": True}}
    b = {"y": {"o": True, "p": [1, "q"]}, "x": 1.0}
    assert canonical_json(a) == canonical_json(b)


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, 2**53, -(2**53), {1: "x"}, {"a": object()}, b"bytes", "\ud800"],
)
def test_values_without_canonical_form_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        canonical_json(bad)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@given(json_values)
def test_canonical_is_idempotent_and_round_trips(value: object) -> None:
    once = canonical_json(value)
    parsed = parse_json(once)
    assert parsed == value
    assert canonical_json(parsed) == once


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --- key ids and fingerprints ---------------------------------------------------------


def test_fingerprint_is_full_sha256_hex_of_raw_key() -> None:
    raw = public_raw(Ed25519PrivateKey.generate().public_key())
    fp = fingerprint(raw)
    assert fp == hashlib.sha256(raw).hexdigest()
    assert len(fp) == 64


def test_grouped_fingerprint() -> None:
    fp = "ab" * 32
    grouped = grouped_fingerprint(fp)
    assert grouped.split(" ") == ["ABAB"] * 16
    assert grouped_fingerprint(grouped) == grouped


def test_key_id_format_and_relation_to_fingerprint() -> None:
    raw = bytes(range(32))
    kid = key_id(raw, "x25519")
    prefix, _, tail = kid.partition(":")
    assert prefix == "x25519"
    assert len(tail) == 16
    assert "=" not in tail
    import base64

    assert base64.urlsafe_b64decode(tail).hex() == fingerprint(raw)[:24]
    assert key_id(raw, "ed25519") == "ed25519:" + tail


def test_key_id_of_infers_algorithm() -> None:
    ed = Ed25519PrivateKey.generate().public_key()
    x = X25519PrivateKey.generate().public_key()
    assert key_id_of(ed) == key_id(public_raw(ed), "ed25519")
    assert key_id_of(x) == key_id(public_raw(x), "x25519")
    assert key_id_of(ed) != key_id_of(Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)])
def test_key_helpers_reject_wrong_length(raw: bytes) -> None:
    with pytest.raises(ValueError):
        key_id(raw, "ed25519")
    with pytest.raises(ValueError):
        fingerprint(raw)


def test_key_id_rejects_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        key_id(bytes(32), "rsa")  # type: ignore[arg-type]


def test_parse_json_is_strict() -> None:
    assert parse_json(b'{"a":[1,2.5,"x"]}') == {"a": [1, 2.5, "x"]}
    for bad in [b'{"a":1,"a":2}', b"[NaN]", b"[Infinity]", b"\xff", b"{", b"\xef\xbb\xbf{}"]:
        with pytest.raises(ValueError):
            parse_json(bad)


def test_parse_json_reads_unsafe_integers_as_doubles() -> None:
    value = parse_json(b"[9007199254740993, -9007199254740992, 9007199254740991]")
    assert value == [9007199254740992.0, -9007199254740992.0, 9007199254740991]
    assert isinstance(value[0], float)
    assert isinstance(value[2], int)
    assert canonical_json(parse_json(canonical_json(2.0**60))) == canonical_json(2.0**60)
