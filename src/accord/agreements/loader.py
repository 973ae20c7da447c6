"""Load agreements from YAML: every problem raised at once, with its line.

``load_agreements(text)`` and ``load_agreement_file(path)`` return the
versions in the text or file (a file may hold several, separated by
``---``), or raise :class:`AgreementInvalid` listing every issue. A single
file may hold an amendment without the version it amends; a whole folder
(:func:`accord.agreements.load_registry`) may not.
"""

from __future__ import annotations

from pathlib import Path

from accord.agreements.codec import dump_agreement, dump_agreements
from accord.agreements.domain import Agreement
from accord.agreements.errors import AgreementInvalid
from accord.agreements.validate import check_versions, validate_text

__all__ = ["dump_agreement", "dump_agreements", "load_agreement_file", "load_agreements"]


def load_agreements(text: str, file: str = "<string>") -> list[Agreement]:
    issues, found = validate_text(text, file)
    issues += check_versions(found, check_amends=False)
    if issues:
        raise AgreementInvalid(issues)
    return [agreement for agreement, _ in found]


def load_agreement_file(path: str | Path) -> list[Agreement]:
    path = Path(path)
    return load_agreements(path.read_text(encoding="utf-8"), str(path))
