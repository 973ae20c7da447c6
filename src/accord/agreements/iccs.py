"""The UNODC ICCS code list shipped as ``accord/data/iccs.json``.

Codes are hierarchical by prefix: section ``06`` ⊃ division ``0601`` ⊃ group
``06011`` ⊃ class ``060111``. The list is read once (package data, not user
input) and kept in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = ["IccsCode", "iccs_codes", "iccs_metadata", "iccs_name", "is_iccs_code"]


@dataclass(frozen=True, slots=True)
class IccsCode:
    code: str
    level: int
    name: str
    parent: str | None
    source: str


@cache
def _load() -> tuple[MappingProxyType[str, IccsCode], dict[str, Any]]:
    raw = json.loads(resources.files("accord").joinpath("data/iccs.json").read_text("utf-8"))
    codes = {c["code"]: IccsCode(**c) for c in raw.pop("codes")}
    return MappingProxyType(codes), raw


def iccs_codes() -> MappingProxyType[str, IccsCode]:
    """Every known code, by code."""
    return _load()[0]


def iccs_metadata() -> dict[str, Any]:
    """Title, publisher, sources and completeness note of the shipped list."""
    return dict(_load()[1])


def is_iccs_code(code: str) -> bool:
    return code in _load()[0]


def iccs_name(code: str) -> str | None:
    entry = _load()[0].get(code)
    return None if entry is None else entry.name
