"""Validation of agreement files: every problem, each with file, line and field.

Three layers, all run so that one pass reports everything:

1. YAML structure (:mod:`accord.agreements.source`): syntax, duplicate keys;
2. shape (:mod:`accord.agreements.schema`): unknown keys, required keys, types, enums;
3. meaning (here): countries and agencies (pycountry), languages (ISO 639-1),
   ICCS codes, durations, dates (``valid_until`` not before ``valid_from``),
   directional parties, deadlines for granted requests only, a search mode only
   on a clause that grants hit-no-hit-search, and across
   documents: no two versions of one agreement with the same number or with
   overlapping validity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pycountry

from accord.agreements.codec import build_agreement
from accord.agreements.domain import ALL_CRIME_AREAS, Agreement, party_matches
from accord.agreements.duration import DurationError, parse_duration
from accord.agreements.iccs import is_iccs_code
from accord.agreements.schema import schema_issues
from accord.agreements.source import Document, Issue, Path_, parse_documents

__all__ = [
    "Issue",
    "ValidationReport",
    "check_document",
    "check_versions",
    "is_known_country",
    "validate_paths",
    "validate_text",
]

AGREEMENT_SUFFIXES = (".yaml", ".yml")


@cache
def is_known_country(code: str) -> bool:
    """ISO 3166-1 alpha-2, as pycountry knows it (``EU``/``XX`` are not countries)."""
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


@cache
def _is_language(code: str) -> bool:
    return len(code) == 2 and pycountry.languages.get(alpha_2=code) is not None


def _party_issue(doc: Document, path: Path_, ref: Any) -> Issue | None:
    if not isinstance(ref, str) or len(ref) < 2:
        return None  # shape already reported by the schema
    country = ref[:2]
    if is_known_country(country):
        return None
    what = "agency" if len(ref) > 2 else "country"
    return doc.issue(
        path,
        "unknown-country",
        f"{what} {ref!r}: {country!r} is not an ISO 3166-1 alpha-2 country code",
    )


def _date(doc: Document, key: str, issues: list[Issue]) -> date | None:
    raw = doc.data.get(key)
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
            issues.append(doc.issue((key,), "impossible-date", f"{raw!r} is not a calendar date"))
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _meaning_issues(doc: Document) -> list[Issue]:
    data = doc.data
    issues: list[Issue] = []
    parties = [p for p in _list(data.get("parties")) if isinstance(p, str)]
    for i, ref in enumerate(_list(data.get("parties"))):
        issue = _party_issue(doc, ("parties", i), ref)
        if issue:
            issues.append(issue)

    for i, lang in enumerate(_list(data.get("languages"))):
        if isinstance(lang, str) and len(lang) == 2 and not _is_language(lang):
            issues.append(doc.issue(("languages", i), "unknown-language", f"{lang!r} is not ISO 639-1"))

    start = _date(doc, "valid_from", issues)
    end = _date(doc, "valid_until", issues)
    if start and end and end < start:
        issues.append(
            doc.issue(
                ("valid_until",),
                "impossible-dates",
                f"valid_until {end} is before valid_from {start}",
            )
        )

    version, amends = data.get("version"), data.get("amends")
    if isinstance(version, int) and isinstance(amends, int) and amends >= version:
        issues.append(
            doc.issue(
                ("amends",),
                "bad-amends",
                f"version {version} cannot amend version {amends}: amends must be lower",
            )
        )

    for i, contact in enumerate(_list(data.get("points_of_contact"))):
        contact = _dict(contact)
        agency = contact.get("agency")
        if isinstance(agency, str):
            issue = _party_issue(doc, ("points_of_contact", i, "agency"), agency)
            if issue:
                issues.append(issue)
            elif parties and not any(party_matches(p, agency) for p in parties):
                issues.append(
                    doc.issue(
                        ("points_of_contact", i, "agency"),
                        "unknown-party",
                        f"agency {agency!r} does not belong to any party",
                    )
                )
        issues += _iccs_issues(doc, ("points_of_contact", i, "crime_areas"), contact)

    seen: dict[str, int] = {}
    for i, clause in enumerate(_list(data.get("clauses"))):
        clause = _dict(clause)
        cid = clause.get("id")
        if isinstance(cid, str):
            if cid in seen:
                issues.append(
                    doc.issue(
                        ("clauses", i, "id"),
                        "duplicate-clause",
                        f"clause id {cid!r} already used by clauses[{seen[cid]}]",
                    )
                )
            else:
                seen[cid] = i
        for side in ("from", "to"):
            for j, ref in enumerate(_list(clause.get(side))):
                if isinstance(ref, str) and parties and ref not in parties:
                    issues.append(
                        doc.issue(
                            ("clauses", i, side, j),
                            "unknown-party",
                            f"{ref!r} is not one of the parties ({', '.join(parties)})",
                        )
                    )
        grants = _dict(clause.get("grants"))
        issues += _iccs_issues(doc, ("clauses", i, "grants", "crime_areas"), grants)
        retention = grants.get("retention")
        if isinstance(retention, str):
            try:
                if parse_duration(retention).is_zero:
                    issues.append(
                        doc.issue(
                            ("clauses", i, "grants", "retention"),
                            "bad-duration",
                            "retention must be longer than zero",
                        )
                    )
            except DurationError:
                pass  # reported by the schema
        issues += _deadline_issues(doc, i, grants)
        actions = _list(grants.get("actions"))
        if grants.get("search_mode") == "bloom" and "hit-no-hit-search" not in actions:
            issues.append(
                doc.issue(
                    ("clauses", i, "grants", "search_mode"),
                    "search-mode-not-granted",
                    "search_mode applies to hit-no-hit-search, which the clause does not grant",
                    key=True,
                )
            )
    return issues


def _iccs_issues(doc: Document, path: Path_, holder: dict[str, Any]) -> list[Issue]:
    out = []
    for j, code in enumerate(_list(holder.get(str(path[-1])))):
        if isinstance(code, int):
            code = str(code)
        if isinstance(code, str) and code != ALL_CRIME_AREAS and code.isdigit():
            if not is_iccs_code(code):
                out.append(
                    doc.issue(
                        (*path, j),
                        "unknown-iccs",
                        f"{code!r} is not a code of the shipped ICCS list (accord/data/iccs.json)",
                    )
                )
    return out


def _deadline_issues(doc: Document, i: int, grants: dict[str, Any]) -> list[Issue]:
    out: list[Issue] = []
    actions = {a for a in _list(grants.get("actions")) if isinstance(a, str)}
    for request, by_urgency in _dict(grants.get("deadlines")).items():
        base: Path_ = ("clauses", i, "grants", "deadlines", request)
        granted = f"request:{request}" in actions or (request == "joint-operation" and "joint-operation" in actions)
        if not granted:
            out.append(
                doc.issue(
                    base,
                    "deadline-not-granted",
                    f"deadline for {request!r} but the clause does not grant 'request:{request}'",
                    key=True,
                )
            )
        for urgency, value in _dict(by_urgency).items():
            stages = value.items() if isinstance(value, dict) else [(None, value)]
            for stage, text in stages:
                path: Path_ = (*base, urgency) if stage is None else (*base, urgency, stage)
                if not isinstance(text, str):
                    continue
                try:
                    duration = parse_duration(text)
                except DurationError:
                    continue  # reported by the schema
                if not duration.is_exact:
                    out.append(
                        doc.issue(
                            path,
                            "bad-duration",
                            f"deadline {text!r} uses years or months; "
                            "write an exact length in days or hours (P30D, PT8H)",
                        )
                    )
    return out


def check_document(doc: Document) -> tuple[list[Issue], Agreement | None]:
    """Every issue of one document, and the agreement if there is none."""
    if not isinstance(doc.data, dict):
        return [doc.issue((), "not-a-mapping", "an agreement must be a YAML mapping")], None
    issues = schema_issues(doc) + _meaning_issues(doc)
    if issues:
        issues.sort(key=lambda i: (i.line, i.column, i.field))
        return issues, None
    try:
        return [], build_agreement(doc.data)
    except (ValueError, KeyError, TypeError) as exc:  # pragma: no cover - schema gaps
        return [doc.issue((), "invalid", str(exc))], None


def check_versions(found: Sequence[tuple[Agreement, Document]], *, check_amends: bool = True) -> list[Issue]:
    """Across documents: duplicate version numbers, overlapping validity and (for a
    whole folder) ``amends`` naming a version that is not there."""
    issues: list[Issue] = []
    by_id: dict[str, list[tuple[Agreement, Document]]] = {}
    for agreement, doc in found:
        by_id.setdefault(agreement.id, []).append((agreement, doc))
    for versions in by_id.values():
        versions.sort(key=lambda pair: pair[0].version)
        numbers = {a.version for a, _ in versions}
        for k, (later, later_doc) in enumerate(versions):
            if check_amends and later.amends is not None and later.amends not in numbers:
                issues.append(
                    later_doc.issue(
                        ("amends",),
                        "unknown-version",
                        f"amends version {later.amends} of {later.id!r}, which is not loaded",
                    )
                )
            for earlier, earlier_doc in versions[:k]:
                if earlier.version == later.version:
                    issues.append(
                        later_doc.issue(
                            ("version",),
                            "duplicate-version",
                            f"{later.id!r} version {later.version} is also defined in "
                            f"{earlier_doc.file}:{earlier_doc.line}",
                        )
                    )
                elif earlier.overlaps(later):
                    until = earlier.valid_until.isoformat() if earlier.valid_until else "open"
                    issues.append(
                        later_doc.issue(
                            ("valid_from",),
                            "overlapping-versions",
                            f"{later.id!r} version {later.version} (from {later.valid_from}) "
                            f"overlaps version {earlier.version} ({earlier.valid_from} to "
                            f"{until}); end the old version the day before",
                        )
                    )
    return issues


@dataclass(slots=True)
class ValidationReport:
    files: list[str] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "agreements": [{"id": a.id, "version": a.version, "title": a.title} for a in self.agreements],
            "issues": [i.to_dict() for i in self.issues],
        }


def validate_text(text: str, file: str = "<string>") -> tuple[list[Issue], list[tuple[Agreement, Document]]]:
    """Issues and valid agreements of one file's text (no cross-file checks)."""
    docs, issues = parse_documents(text, file)
    found: list[tuple[Agreement, Document]] = []
    for doc in docs:
        doc_issues, agreement = check_document(doc)
        issues += doc_issues
        if agreement is not None:
            found.append((agreement, doc))
    return issues, found


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders become their ``*.yaml``/``*.yml`` files, sorted."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in AGREEMENT_SUFFIXES)
        else:
            out.append(path)
    return out


def validate_paths(paths: Iterable[str | Path]) -> ValidationReport:
    """Validate files and folders together, including the checks across versions."""
    report = ValidationReport()
    found: list[tuple[Agreement, Document]] = []
    for path in expand_paths(paths):
        report.files.append(str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report.issues.append(Issue(str(path), 0, "", "unreadable", f"cannot read: {exc}"))
            continue
        issues, file_found = validate_text(text, str(path))
        report.issues += issues
        found += file_found
    report.issues += check_versions(found)
    report.agreements = [a for a, _ in found]
    return report
