"""Parties: countries, agencies, officers — pure rules, no I/O.

``Handling`` (H0–H3, mapped to TLP 2.0) is the one defined with the agreements.
"""

from __future__ import annotations

from enum import StrEnum

import pycountry

from accord.agreements.domain import AGENCY_RE, Handling
from accord.errors import ValidationFailed

__all__ = ["AGENCY_ID", "AgencyKind", "Handling", "Role", "check_agency_id", "check_country",
           "country_name", "parse_roles"]

AGENCY_ID = AGENCY_RE


class Role(StrEnum):
    OFFICER = "officer"
    ANALYST = "analyst"
    SPOC = "spoc"
    LEGAL = "legal"
    DPO = "dpo"
    ADMIN = "admin"  # manages the officers of its own agency
    NODE_ADMIN = "node-admin"  # manages the officers of every agency the node hosts


class AgencyKind(StrEnum):
    POLICE = "police"
    CUSTOMS = "customs"
    BORDER_GUARD = "border-guard"
    PROSECUTOR = "prosecutor"
    COURT = "court"
    CENTRAL_AUTHORITY = "central-authority"


def check_country(code: str) -> str:
    code = code.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValidationFailed(f"unknown country code {code!r} (ISO 3166-1 alpha-2)", field="country")
    return code


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country is not None else code


def check_agency_id(agency_id: str) -> str:
    """``CC-SHORT``: an ISO country code, a dash, a short upper-case name."""
    if not AGENCY_ID.match(agency_id):
        raise ValidationFailed(
            f"agency id {agency_id!r} is not of the form CC-SHORT (e.g. ES-PN)", field="agency"
        )
    check_country(agency_id[:2])
    return agency_id


def parse_roles(values: list[str] | tuple[str, ...]) -> tuple[Role, ...]:
    roles: list[Role] = []
    for value in values:
        try:
            role = Role(value.strip().lower())
        except ValueError as exc:
            allowed = ", ".join(r.value for r in Role)
            raise ValidationFailed(
                f"unknown role {value!r}; roles are {allowed}", field="roles"
            ) from exc
        if role not in roles:
            roles.append(role)
    if not roles:
        raise ValidationFailed("at least one role is needed", field="roles")
    return tuple(roles)
