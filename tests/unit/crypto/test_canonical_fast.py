"""The fast path of canonical_json writes exactly what rfc8785 writes, or defers to it."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.crypto import canonical
from accord.crypto.canonical import MAX_SAFE_INTEGER, canonical_json

scalars = (st.none() | st.booleans() | st.text()
           | st.integers(min_value=-(2**60), max_value=2**60)
           | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=30,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(values)
def test_same_bytes_as_rfc8785_or_the_same_refusal(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(ValueError):
            canonical_json(value)


@pytest.mark.parametrize("value", [
    {"b": 1, "a": [True, None, "x"]},
    {"ключ": "значение", "é": "\u2028\u0007\"\\"},
    {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code-point order here
    [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER],
    {"f": 1.5},
])
def test_known_values(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_which_values_take_the_fast_path() -> None:
    assert canonical._plain({"a": [1, "b", None, True]}, 0)
    assert not canonical._plain({"a": 1.0}, 0)  # floats print differently: rfc8785
    assert not canonical._plain({"\U0001f600": 1}, 0)  # key past U+FFFF: UTF-16 order
    assert not canonical._plain(MAX_SAFE_INTEGER + 1, 0)


@pytest.mark.parametrize("value", [2**53, {"a": float("nan")}, "\ud800", {1: "x"}, {"a": object()}])
def test_values_without_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)
