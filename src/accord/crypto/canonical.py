"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and digests.

Everything Accord signs or hashes is first turned into canonical JSON, so two
nodes that hold the same JSON value produce the same bytes: keys sorted by
UTF-16 code units, no insignificant whitespace, numbers in the ECMAScript
shortest round-trip form, strings escaped minimally. The serialisation itself is
the ``rfc8785`` package; nothing here re-implements it.

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
    return rfc8785.dumps(obj)


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
