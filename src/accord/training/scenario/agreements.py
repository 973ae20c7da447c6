"""The scenario's agreements, built with :mod:`accord.agreements` domain objects.

* EU members among the scenario's countries: one EU instrument between all of
  them, modelled on Directive (EU) 2023/977 (information exchange, deadlines
  8 hours / 3 days / 7 days) with a Prüm-style hit/no-hit clause.
* Each EU member with each non-EU country: a bilateral police cooperation
  treaty (model) that grants **no** ``account`` and ``wallet`` categories and
  keeps alerts one-way (EU member → third country), so refusals show.
* Two non-EU countries: a memorandum of understanding for messages only.

Every file says it is a model, not legal advice. Ids start with ``scenario-``
so they never collide with ``examples/agreements``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import combinations
from pathlib import Path

from accord.agreements import (
    Agreement,
    Clause,
    Deadline,
    Grant,
    PointOfContact,
    dump_agreement,
)
from accord.training.scenario.countries import profile
from accord.training.scenario.network import (
    ICCS_DRUGS,
    ICCS_MONEY_LAUNDERING,
    ICCS_ORGANISED_GROUP,
    ICCS_PUBLIC_ORDER,
)

VALID_FROM = date(2020, 1, 1)
_HEADER = (
    "# Synthetic scenario agreement written by `accord scenario generate`.\n"
    "# {follows}\n"
    "# A MODEL FOR TRAINING, NOT LEGAL ADVICE: not the text of any instrument in force.\n"
)
_BILATERAL_AREAS = (ICCS_DRUGS[:2], ICCS_ORGANISED_GROUP, ICCS_PUBLIC_ORDER, ICCS_MONEY_LAUNDERING)


def _languages(codes: Sequence[str]) -> tuple[str, ...]:
    langs: dict[str, None] = {}
    for code in codes:
        langs.setdefault(profile(code).language, None)
        if code in ("MA", "DZ", "TN"):
            langs.setdefault("ar", None)
    return tuple(langs)


def _contacts(codes: Sequence[str], areas: Sequence[str]) -> tuple[PointOfContact, ...]:
    out = []
    for code in codes:
        prof = profile(code)
        out.append(PointOfContact(prof.police.id, "single point of contact (SPOC)",
                                  "Accord secure messaging", frozenset(areas)))
        out.append(PointOfContact(prof.customs.id, "customs liaison desk",
                                  "Accord secure messaging", frozenset(areas)))
    return tuple(out)


def eu_instrument(members: Sequence[str]) -> Agreement:
    info = Grant(
        actions={"message", "request:information", "request:spontaneous-information",
                 "record-access-after-hit", "alert-propagation"},
        categories={"person", "vehicle", "document", "phone", "email", "account", "wallet",
                    "organisation", "cyber-indicator"},
        crime_areas={"all"},
        max_handling="H3",
        purposes={"prevention", "detection", "investigation", "prosecution"},
        retention="P5Y",
        onward_transfer="with-owner-consent",
        notify_owner=False,
        deadlines=[
            Deadline("information", "urgent-direct", respond="PT8H"),
            Deadline("information", "urgent", respond="P3D"),
            Deadline("information", "normal", respond="P7D"),
        ],
    )
    prum = Grant(
        actions={"hit-no-hit-search"},
        categories={"person", "vehicle", "document", "phone", "email", "account", "wallet"},
        crime_areas={"all"},
        max_handling="H2",
        purposes={"prevention", "detection", "investigation"},
        retention="P1Y",
    )
    ids = "-".join(c.lower() for c in members)
    return Agreement(
        id=f"scenario-eu-{ids}",
        version=1,
        title=f"EU information exchange between {', '.join(members)} (model of Directive "
        "(EU) 2023/977 and the Prüm framework)",
        instrument="eu-instrument",
        parties=tuple(members),
        valid_from=VALID_FROM,
        clauses=(
            Clause(id="art-4", text=(
                "Member States' single points of contact exchange information on request "
                "and spontaneously for the prevention, detection or investigation of "
                "criminal offences. Urgent requests on directly accessible information are "
                "answered within 8 hours, other urgent requests within 3 days, all other "
                "requests within 7 days.\n"), grants=info),
            Clause(id="art-prum", text=(
                "Automated searches return only a hit or no hit; data behind a hit is "
                "exchanged through a follow-up request under article 4.\n"), grants=prum),
        ),
        languages=_languages(members),
        points_of_contact=_contacts(members, ("all",)),
        reference="Directive (EU) 2023/977; Council Decision 2008/615/JHA (Prüm)",
    )


def bilateral(eu_member: str, third: str) -> Agreement:
    areas = frozenset(_BILATERAL_AREAS)
    categories = {"person", "vehicle", "document", "phone", "email", "organisation"}
    exchange = Grant(
        actions={"message", "request:information", "request:spontaneous-information",
                 "hit-no-hit-search", "record-access-after-hit"},
        categories=categories,
        crime_areas=areas,
        max_handling="H2",
        purposes={"prevention", "detection", "investigation"},
        retention="P3Y",
        onward_transfer="forbidden",
        notify_owner=True,
        deadlines=[
            Deadline("information", "urgent", respond="P3D"),
            Deadline("information", "normal", respond="P30D"),
        ],
    )
    alerts = Grant(
        actions={"alert-propagation"},
        categories={"person", "vehicle", "document"},
        crime_areas=areas,
        max_handling="H1",
        purposes={"prevention", "detection"},
        retention="P1Y",
        notify_owner=True,
    )
    a, b = profile(eu_member), profile(third)
    return Agreement(
        id=f"scenario-{eu_member.lower()}-{third.lower()}-police",
        version=1,
        title=f"{a.name}–{b.name} police cooperation treaty (model)",
        instrument="bilateral-treaty",
        parties=(eu_member, third),
        valid_from=VALID_FROM,
        clauses=(
            Clause(id="art-3", text=(
                "The Parties exchange information to prevent, detect and investigate drug "
                "trafficking, smuggling, money laundering and organised crime. Bank accounts "
                "and crypto-asset wallets are not exchanged under this treaty: such requests "
                "go through mutual legal assistance. Information received is not passed on "
                "to a third State.\n"), grants=exchange),
            Clause(id="art-6", text=(
                f"{a.name} may signal persons and objects sought to {b.name}; alerts in the "
                "other direction go through INTERPOL channels.\n"), grants=alerts,
                from_parties=frozenset({eu_member}), to_parties=frozenset({third})),
        ),
        languages=_languages((eu_member, third)),
        points_of_contact=_contacts((eu_member, third), sorted(areas)),
        reference="Model of a bilateral police cooperation treaty with a third country",
    )


def mou(first: str, second: str) -> Agreement:
    grant = Grant(
        actions={"message"},
        categories={"person", "organisation"},
        crime_areas={ICCS_DRUGS[:2], ICCS_ORGANISED_GROUP},
        max_handling="H1",
        purposes={"prevention", "detection"},
        retention="P1Y",
    )
    a, b = profile(first), profile(second)
    return Agreement(
        id=f"scenario-{first.lower()}-{second.lower()}-mou",
        version=1,
        title=f"{a.name}–{b.name} memorandum of understanding on police contacts (model)",
        instrument="mou",
        parties=(first, second),
        valid_from=VALID_FROM,
        clauses=(Clause(id="sec-2", text=(
            "The Participants exchange messages on drug trafficking and organised crime "
            "through their points of contact. No other data is exchanged.\n"), grants=grant),),
        languages=_languages((first, second)),
        points_of_contact=_contacts((first, second), (ICCS_DRUGS[:2], ICCS_ORGANISED_GROUP)),
    )


def build_agreements(codes: Sequence[str]) -> list[tuple[Agreement, str]]:
    """Agreements with the line saying which instrument each follows."""
    eu = [c for c in codes if profile(c).eu]
    others = [c for c in codes if not profile(c).eu]
    out: list[tuple[Agreement, str]] = []
    if len(eu) >= 2:
        out.append((eu_instrument(eu), "Follows Directive (EU) 2023/977 and the Prüm "
                    "hit/no-hit framework."))
    for member in eu:
        for third in others:
            out.append((bilateral(member, third), "Follows a bilateral police cooperation "
                        "treaty between an EU Member State and a third country."))
    for first, second in combinations(others, 2):
        out.append((mou(first, second), "Follows a police memorandum of understanding."))
    return out


def write_agreements(codes: Sequence[str], folder: Path) -> list[str]:
    """One YAML file per agreement (``<id>.yaml``); returns the file names."""
    names = []
    for agreement, follows in build_agreements(codes):
        name = f"{agreement.id}.yaml"
        text = _HEADER.format(follows=follows) + dump_agreement(agreement)
        (folder / name).write_text(text, encoding="utf-8", newline="\n")
        names.append(name)
    return names
