"""An in-memory set of agreements, every version kept, indexed for decisions.

A :class:`Registry` is immutable once built. It refuses two versions of one
agreement with the same number or with overlapping validity, so at any
instant at most one version of an agreement is in force. Lookups by pair of
parties are memoised, which is what keeps :func:`accord.agreements.pdp.decide`
well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from accord.agreements.domain import Agreement
from accord.agreements.errors import (
    AgreementConflict,
    AgreementInvalid,
    AgreementNotFound,
    AgreementsDirMissing,
)
from accord.agreements.validate import validate_paths

__all__ = [
    "AGREEMENTS_DIR_ENV",
    "Registry",
    "default_agreements_dir",
    "load_registry",
    "resolve_agreements_dir",
]

AGREEMENTS_DIR_ENV = "ACCORD_AGREEMENTS_DIR"
"""The one environment variable that names the agreements folder."""


def default_agreements_dir() -> Path | None:
    """The agreements folder the node's settings name (``ACCORD_AGREEMENTS_DIR``, the
    TOML file, or ``<data_dir>/agreements``), if it exists; read through the one
    settings object."""
    from accord.settings import agreements_dir_setting

    return agreements_dir_setting()


def resolve_agreements_dir(option: str | Path | None) -> Path:
    """``option`` if given, else the default; raise if neither names a folder."""
    folder = Path(option) if option else default_agreements_dir()
    if folder is None:
        raise AgreementsDirMissing(f"no agreements folder: pass --agreements DIR or set {AGREEMENTS_DIR_ENV}")
    if not folder.is_dir():
        raise AgreementsDirMissing(f"agreements folder {folder} does not exist")
    return folder


class Registry:
    """Every version of every agreement, with the lookups the decision point needs."""

    __slots__ = ("_by_id", "_by_party", "_pairs")

    def __init__(self, agreements: Iterable[Agreement] = ()) -> None:
        by_id: dict[str, list[Agreement]] = {}
        for agreement in agreements:
            versions = by_id.setdefault(agreement.id, [])
            for other in versions:
                if other.version == agreement.version:
                    raise AgreementConflict(f"{agreement.id} version {agreement.version} given twice")
                if other.overlaps(agreement):
                    raise AgreementConflict(
                        f"{agreement.id} versions {other.version} and {agreement.version} have overlapping validity"
                    )
            versions.append(agreement)
        self._by_id: dict[str, tuple[Agreement, ...]] = {
            key: tuple(sorted(group, key=lambda a: a.version)) for key, group in sorted(by_id.items())
        }
        by_party: dict[str, set[str]] = {}
        for key, stored in self._by_id.items():
            for agreement in stored:
                for party in agreement.parties:
                    by_party.setdefault(party, set()).add(key)
        self._by_party = {party: frozenset(ids) for party, ids in by_party.items()}
        self._pairs: dict[tuple[str, str], tuple[tuple[Agreement, ...], ...]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_id.values())

    def __iter__(self) -> Iterator[Agreement]:
        for versions in self._by_id.values():
            yield from versions

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def ids(self) -> list[str]:
        return list(self._by_id)

    def versions(self, agreement_id: str) -> tuple[Agreement, ...]:
        try:
            return self._by_id[agreement_id]
        except KeyError:
            raise AgreementNotFound(f"no agreement {agreement_id!r}") from None

    def get(self, agreement_id: str, version: int | None = None) -> Agreement:
        """One version (the latest if ``version`` is None)."""
        versions = self.versions(agreement_id)
        if version is None:
            return versions[-1]
        for agreement in versions:
            if agreement.version == version:
                return agreement
        raise AgreementNotFound(f"agreement {agreement_id!r} has no version {version}")

    def in_force(self, agreement_id: str, at: datetime) -> Agreement | None:
        for agreement in self.versions(agreement_id):
            if agreement.in_force(at):
                return agreement
        return None

    def _ids_for(self, ref: str) -> frozenset[str]:
        ids = self._by_party.get(ref, frozenset())
        if len(ref) > 2:
            ids = ids | self._by_party.get(ref[:2], frozenset())
        return ids

    def between(self, a: str, b: str) -> tuple[tuple[Agreement, ...], ...]:
        """For each agreement whose parties cover both ``a`` and ``b`` as different
        parties: all its versions (sorted by agreement id). Memoised."""
        key = (a, b)
        cached = self._pairs.get(key)
        if cached is not None:
            return cached
        out = []
        for agreement_id in sorted(self._ids_for(a) & self._ids_for(b)):
            versions = tuple(
                v
                for v in self._by_id[agreement_id]
                if (pa := v.party_for(a)) is not None and (pb := v.party_for(b)) is not None and pa != pb
            )
            if versions:
                out.append(versions)
        result = tuple(out)
        self._pairs[key] = result
        return result


def load_registry(folder: str | Path) -> Registry:
    """Load and validate every ``*.yaml``/``*.yml`` under ``folder``; raise on any issue."""
    path = Path(folder)
    if not path.is_dir():
        raise AgreementsDirMissing(f"agreements folder {path} does not exist")
    report = validate_paths([path])
    if report.issues:
        raise AgreementInvalid(report.issues)
    return Registry(report.agreements)
