"""Plain data (the YAML shape) ↔ domain objects, and YAML text out.

``build_agreement`` expects data that has passed validation; on anything else
it raises ``ValueError``/``KeyError``. ``agreement_to_data`` is its inverse:
``build_agreement(agreement_to_data(a)) == a`` for every valid agreement.
"""

from __future__ import annotations

from typing import Any

import yaml

from accord.agreements.domain import (
    ALL_CRIME_AREAS,
    Agreement,
    Clause,
    Deadline,
    Grant,
    PointOfContact,
    SearchMode,
    Urgency,
    deadline_map,
)

__all__ = ["agreement_to_data", "build_agreement", "dump_agreement", "dump_agreements"]


def _codes(values: Any) -> list[str]:
    return [str(v) for v in values]


def build_agreement(data: dict[str, Any]) -> Agreement:
    clauses = []
    for raw in data["clauses"]:
        g = raw["grants"]
        grant = Grant(
            actions=g["actions"],
            categories=g["categories"],
            crime_areas=_codes(g["crime_areas"]),
            max_handling=g["max_handling"],
            purposes=g["purposes"],
            retention=g["retention"],
            onward_transfer=g.get("onward_transfer", "forbidden"),
            notify_owner=g.get("notify_owner", False),
            deadlines=deadline_map(g.get("deadlines") or {}),
            search_mode=g.get("search_mode", "clear"),
        )
        clauses.append(
            Clause(
                id=str(raw["id"]),
                text=raw["text"],
                grants=grant,
                from_parties=raw.get("from"),
                to_parties=raw.get("to"),
            )
        )
    contacts = [
        PointOfContact(
            agency=p["agency"],
            role=p["role"],
            channel=p["channel"],
            crime_areas=_codes(p.get("crime_areas", [ALL_CRIME_AREAS])),
        )
        for p in data.get("points_of_contact") or []
    ]
    return Agreement(
        id=data["id"],
        version=data["version"],
        title=data["title"],
        instrument=data["instrument"],
        parties=tuple(data["parties"]),
        valid_from=data["valid_from"],
        valid_until=data.get("valid_until"),
        amends=data.get("amends"),
        languages=tuple(data.get("languages") or ()),
        points_of_contact=tuple(contacts),
        clauses=tuple(clauses),
        reference=data.get("reference"),
    )


def _sorted(values: Any) -> list[str]:
    return sorted(str(v) for v in values)


def _deadlines_to_data(deadlines: tuple[Deadline, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    order = list(Urgency)
    for d in sorted(deadlines, key=lambda d: (d.request.value, order.index(d.urgency))):
        value: Any
        if d.decide is None and d.decide_extension is None:
            value = str(d.respond)
        else:
            value = {}
            if d.decide is not None:
                value["decide"] = str(d.decide)
            if d.decide_extension is not None:
                value["decide_extension"] = str(d.decide_extension)
            value["respond"] = str(d.respond)
        out.setdefault(d.request.value, {})[d.urgency.value] = value
    return out


def _clause_to_data(clause: Clause) -> dict[str, Any]:
    g = clause.grants
    grants: dict[str, Any] = {
        "actions": _sorted(g.actions),
        "categories": _sorted(g.categories),
        "crime_areas": _sorted(g.crime_areas),
        "max_handling": g.max_handling.value,
        "purposes": _sorted(g.purposes),
        "retention": str(g.retention),
        "onward_transfer": g.onward_transfer.value,
        "notify_owner": g.notify_owner,
    }
    if g.deadlines:
        grants["deadlines"] = _deadlines_to_data(g.deadlines)
    if g.search_mode is not SearchMode.CLEAR:  # written only when it says something
        grants["search_mode"] = g.search_mode.value
    out: dict[str, Any] = {"id": clause.id}
    if clause.from_parties is not None:
        out["from"] = _sorted(clause.from_parties)
    if clause.to_parties is not None:
        out["to"] = _sorted(clause.to_parties)
    out["text"] = clause.text
    out["grants"] = grants
    return out


def agreement_to_data(agreement: Agreement) -> dict[str, Any]:
    """The agreement in the YAML shape (dates as ``date`` objects), keys in reading order."""
    a = agreement
    out: dict[str, Any] = {
        "id": a.id,
        "version": a.version,
    }
    if a.amends is not None:
        out["amends"] = a.amends
    out["title"] = a.title
    out["instrument"] = a.instrument.value
    if a.reference is not None:
        out["reference"] = a.reference
    out["parties"] = list(a.parties)
    out["valid_from"] = a.valid_from
    if a.valid_until is not None:
        out["valid_until"] = a.valid_until
    if a.languages:
        out["languages"] = list(a.languages)
    if a.points_of_contact:
        out["points_of_contact"] = [
            {
                "agency": p.agency,
                "role": p.role,
                "channel": p.channel,
                "crime_areas": _sorted(p.crime_areas),
            }
            for p in a.points_of_contact
        ]
    out["clauses"] = [_clause_to_data(c) for c in a.clauses]
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_agreement(agreement: Agreement) -> str:
    """YAML text for one agreement version; loads back equal (``load_agreements``)."""
    return yaml.dump(
        agreement_to_data(agreement),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=88,
        default_flow_style=False,
    )


def dump_agreements(agreements: list[Agreement]) -> str:
    """Several versions as one multi-document YAML text (``---`` between them)."""
    return "---\n".join(dump_agreement(a) for a in agreements)
