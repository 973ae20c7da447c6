"""``parties.json``: countries, agencies with points of contact, officers.

No passwords or second factors: the node's loader sets them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from accord.training.scenario import names as nm
from accord.training.scenario.countries import profile
from accord.training.scenario.network import (
    ICCS_DRUGS,
    ICCS_MONEY_LAUNDERING,
    ICCS_ORGANISED_GROUP,
    ICCS_PUBLIC_ORDER,
)

#: (roles, clearance) of the officers of each agency; the police agency also
#: gets a DPO and an administrator.
_STAFF: tuple[tuple[tuple[str, ...], str], ...] = (
    (("officer",), "H1"),
    (("officer", "analyst"), "H2"),
    (("spoc",), "H2"),
    (("legal",), "H2"),
)
_POLICE_EXTRA: tuple[tuple[tuple[str, ...], str], ...] = (
    (("analyst",), "H3"),
    (("dpo",), "H1"),
    (("admin",), "H0"),
)
_AREAS = {
    "police": (ICCS_DRUGS, ICCS_ORGANISED_GROUP),
    "customs": (ICCS_PUBLIC_ORDER, ICCS_DRUGS, ICCS_MONEY_LAUNDERING),
}


def _slug(text: str) -> str:
    return "".join(ch for ch in nm.ascii_fold(text).lower() if ch.isalnum())


def build_parties(seed: int, codes: Sequence[str], pools: nm.NamePools) -> dict[str, Any]:
    rng = random.Random(f"{seed}:parties")  # noqa: S311 - reproducible by seed
    countries, agencies, officers = [], [], []
    used: set[str] = set()
    for code in codes:
        prof = profile(code)
        countries.append({"code": code, "name": prof.name, "eu": prof.eu,
                          "language": prof.language})
        for agency in prof.agencies:
            domain = f"{_slug(agency.id.split('-', 1)[1])}.{code.lower()}.accord.example"
            agencies.append({
                "id": agency.id,
                "country": code,
                "name": agency.name,
                "kind": agency.kind,
                "language": agency.language,
                "points_of_contact": [
                    {"crime_area": area, "unit": f"{agency.id} SPOC",
                     "email": f"spoc@{domain}", "channel": "Accord secure messaging"}
                    for area in _AREAS.get(agency.kind, ("all",))
                ],
            })
            staff = _STAFF + (_POLICE_EXTRA if agency.kind == "police" else ())
            for roles, clearance in staff:
                first, last = _officer_name(prof.naming, prof.locale, pools, rng)
                base = f"{agency.id.lower()}.{_slug(first)[:1]}{_slug(last)}"
                username, n = base, 2
                while username in used:
                    username, n = f"{base}{n}", n + 1
                used.add(username)
                officers.append({
                    "username": username,
                    "display_name": f"{first} {last}",
                    "agency": agency.id,
                    "roles": list(roles),
                    "clearance": clearance,
                })
    return {"countries": countries, "agencies": agencies, "officers": officers}


def _officer_name(style: str, locale: str, pools: nm.NamePools,
                  rng: random.Random) -> tuple[str, str]:
    if style == "arabic":
        table = nm.GIVEN_MALE if rng.random() < 0.6 else nm.GIVEN_FEMALE
        return rng.choice(table).french, nm.family_canonical_fr(rng.choice(nm.FAMILY))
    pool = pools.get(locale)
    first = rng.choice(pool.male if rng.random() < 0.5 else pool.female)
    last = rng.choice(pool.last)
    if style == "spanish":
        last = f"{last} {rng.choice(pool.last)}"
    return first, last
