"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and digests.

Everything Accord signs or hashes is first turned into canonical JSON, so two
nodes that hold the same JSON value produce the same bytes: keys sorted by
UTF-16 code units, no insignificant whitespace, numbers in the ECMAScript
shortest round-trip form, strings escaped minimally. The serialisation is the
``rfc8785`` package's, with one fast path: a value made only of objects whose keys
lie below U+D800, arrays, strings, booleans, null and integers within
±(2**53 - 1) — every envelope, receipt and audit entry — is written by the
standard library's C encoder with sorted keys, which produces the very same bytes
for that subset (code-point order equals UTF-16 order below the surrogates, the
escaping rules are the same, integers print the same). Anything else — a float, a
key with a character past U+FFFF, an unsupported type — goes to ``rfc8785``
(``tests/unit/crypto/test_canonical_fast.py`` checks the two agree).

Values outside the JSON data model that RFC 8785 cannot represent exactly raise
:class:`ValueError` (``rfc8785.CanonicalizationError``): integers beyond
±(2**53 - 1), NaN and infinities, non-string object keys, lone surrogates,
and any non-JSON type. Tuples are serialised as arrays.

:func:`parse_json` is the matching strict reader for bytes that came from
outside: UTF-8 only, duplicate object keys and NaN/Infinity refused, and — as in
RFC 8785, where every number is an IEEE 754 double — an integer literal beyond
±(2**53 - 1) is read as a float, so ``canonical_json(parse_json(canonical_json(x)))``
is stable (``9007199254740992.0`` serialises as ``9007199254740992``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NoReturn

import rfc8785

__all__ = ["MAX_SAFE_INTEGER", "canonical_json", "parse_json", "sha256_hex"]

MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 serialisation of ``obj``.

    Raises :class:`ValueError` when ``obj`` has no exact canonical form.
    """
    if _plain(obj, 0):
        try:
            return _FAST.encode(obj).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 raises its own error
            pass
    return rfc8785.dumps(obj)


_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                         allow_nan=False, check_circular=True)
_MAX_DEPTH = 200  # deeper values take the slow path (and its own recursion limits)


def _plain(value: Any, depth: int) -> bool:
    """Is ``value`` in the subset where the C encoder's output is RFC 8785's?"""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if depth > _MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < "\ud800"):
                return False
            if not _plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in value)
    return False


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate object key {key[:64]!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_int(text: str) -> int | float:
    value = int(text)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(text)


def parse_json(data: bytes | str) -> Any:
    """Strictly parse JSON text (UTF-8 if bytes).

    Raises :class:`ValueError` (``UnicodeDecodeError``, ``json.JSONDecodeError``
    or a plain ``ValueError``) on invalid UTF-8, invalid JSON, duplicate keys,
    or NaN/Infinity; :class:`RecursionError` on absurd nesting.
    """
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_constant=_reject_constant,
        parse_int=_parse_int,
    )
