"""The criminal network: roles, routes, legs and border-crossing points.

A scenario holds one network per 2,500 persons (at least one). Each network
trafficks along a route of two or three of the scenario's countries, starting
in a non-EU country when there is one (MA→ES→FR for the default scenario).
Members are drawn from the persons living in the route's countries; brokers
are recorded in at least two countries, couriers in every country they cross.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from accord.training.scenario.countries import EU_MEMBERS, profile

ROLES = ("organiser", "financier", "supplier", "broker", "courier", "logistics")

#: ICCS v1.0 codes (checked against accord/data/iccs.json by the tests).
ICCS_DRUGS = "0601"  # Unlawful acts involving controlled drugs or precursors
ICCS_MONEY_LAUNDERING = "07041"
ICCS_ORGANISED_GROUP = "09051"  # Participation in an organized criminal group
ICCS_PUBLIC_ORDER = "08"  # section: smuggling of goods falls under it

#: Known crossing points between pairs (first country's side, second's side, mode).
_CROSSINGS: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    ("ES", "MA"): (
        ("Algeciras (port)", "Tanger Med (port)", "ferry"),
        ("Tarifa (port)", "Tanger Ville (port)", "ferry"),
        ("Melilla (Beni Ansar crossing)", "Beni Ansar", "road"),
        ("Ceuta (El Tarajal crossing)", "Fnideq", "road"),
        ("Almería (port)", "Nador (port)", "ferry"),
    ),
    ("ES", "FR"): (
        ("La Jonquera (AP-7)", "Le Perthus (A9)", "road"),
        ("Irun", "Hendaye (Biriatou, A63)", "road"),
        ("Portbou", "Cerbère", "rail"),
    ),
    ("FR", "MA"): (
        ("Paris-Orly airport", "Casablanca Mohammed V airport", "air"),
        ("Marseille (port)", "Tanger Med (port)", "ferry"),
        ("Paris-Charles de Gaulle airport", "Marrakech-Menara airport", "air"),
    ),
}

_PRODUCTS = (
    ("cannabis resin", "kg", 200, 3000),
    ("cocaine", "kg", 20, 600),
    ("cannabis resin", "kg", 500, 5000),
    ("undeclared tobacco", "cartons", 500, 20000),
)


def crossings(a: str, b: str) -> tuple[tuple[str, str, str], ...]:
    """Crossing points between two countries as ``(a side, b side, mode)``."""
    key = (a, b) if a < b else (b, a)
    known = _CROSSINGS.get(key)
    if known is not None:
        return known if key == (a, b) else tuple((y, x, m) for x, y, m in known)
    pa, pb = profile(a), profile(b)
    return (
        (f"{pa.name} international airport", f"{pb.name} international airport", "air"),
        (f"{pa.name} border post ({pb.name})", f"{pb.name} border post ({pa.name})", "road"),
    )


@dataclass(slots=True)
class Member:
    person: int  # index of the real person
    role: str
    countries: tuple[str, ...]  # where they operate (and are recorded)


@dataclass(slots=True)
class Leg:
    index: int
    origin: str
    destination: str
    exit_point: str
    entry_point: str
    mode: str
    date: str
    courier: int  # person index
    vehicle_of: int | None  # person index whose vehicle is used


@dataclass(slots=True)
class Network:
    id: str
    name: str
    route: tuple[str, ...]
    crime_areas: tuple[str, ...]
    product: str
    quantity: str
    members: list[Member] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)

    def role_of(self, person: int) -> str | None:
        for m in self.members:
            if m.person == person:
                return m.role
        return None


def plan_route(countries: Sequence[str], rng: random.Random, *, longest: bool = False
               ) -> tuple[str, ...]:
    non_eu = [c for c in countries if c not in EU_MEMBERS]
    eu = [c for c in countries if c in EU_MEMBERS]
    if len(countries) < 2:
        return tuple(countries)
    if non_eu and eu:
        start = rng.choice(non_eu)
        rest = list(eu)
        rng.shuffle(rest)
        # Spain first after Morocco when both are there: the Strait of Gibraltar route.
        if start == "MA" and "ES" in rest:
            rest.remove("ES")
            rest.insert(0, "ES")
        length = min(len(rest), 2 if longest else rng.choice((1, 2, 2)))
        return (start, *rest[:length])
    pool = list(countries)
    rng.shuffle(pool)
    return tuple(pool[: min(len(pool), 3 if longest else rng.choice((2, 3)))])


def plan_networks(
    *,
    persons: int,
    countries: Sequence[str],
    residents: Mapping[str, Sequence[int]],
    rng: random.Random,
    date_range: tuple[int, int],
) -> list[Network]:
    """Networks with members picked among residents; members are not reused."""
    count = max(1, persons // 2500)
    used: set[int] = set()
    networks: list[Network] = []
    for n in range(count):
        route = plan_route(countries, rng, longest=n == 0)
        if len(route) < 2:
            break
        product, unit, low, high = _PRODUCTS[n % len(_PRODUCTS)]
        areas = [ICCS_DRUGS, ICCS_ORGANISED_GROUP, ICCS_MONEY_LAUNDERING]
        if product == "undeclared tobacco":
            areas = [ICCS_PUBLIC_ORDER, ICCS_ORGANISED_GROUP, ICCS_MONEY_LAUNDERING]
        net = Network(
            id=f"N{n + 1:03d}",
            name=f"Network {n + 1} ({'→'.join(route)})",
            route=route,
            crime_areas=tuple(areas),
            product=product,
            quantity=f"{rng.randint(low, high)} {unit}",
        )

        def pick(country: str) -> int | None:
            pool = residents.get(country, ())
            for _ in range(50):
                if not pool:
                    return None
                cand = pool[rng.randrange(len(pool))]
                if cand not in used:
                    used.add(cand)
                    return cand
            return None

        origin, dest = route[0], route[-1]
        middle = route[1:-1] or (route[0],)
        plan: list[tuple[str, str, tuple[str, ...]]] = [
            ("organiser", dest if rng.random() < 0.6 else origin, (dest, origin)),
            ("financier", dest, (dest,)),
        ]
        plan += [("supplier", origin, (origin,)) for _ in range(rng.randint(1, 2))]
        for i in range(rng.randint(2, 3)):
            a = route[i % (len(route) - 1)]
            b = route[i % (len(route) - 1) + 1]
            plan.append(("broker", a if rng.random() < 0.5 else b, (a, b)))
        for _ in range(rng.randint(4, 8)):
            plan.append(("courier", rng.choice(route), route))
        for _ in range(rng.randint(2, 3)):
            plan.append(("logistics", rng.choice(middle), (rng.choice(middle), dest)))
        for role, home, where in plan:
            person = pick(home)
            if person is None:
                continue
            ops = tuple(dict.fromkeys((home, *where)))
            net.members.append(Member(person, role, ops))

        couriers = [m for m in net.members if m.role == "courier"]
        logistics = [m for m in net.members if m.role == "logistics"]
        if couriers:
            start, end = date_range
            day = rng.randint(start, end - 60)
            for trip in range(rng.randint(2, 4)):
                courier = couriers[trip % len(couriers)]
                vehicle_of = (
                    logistics[trip % len(logistics)].person
                    if logistics and rng.random() < 0.5
                    else courier.person
                )
                for hop in range(len(route) - 1):
                    a, b = route[hop], route[hop + 1]
                    exit_point, entry_point, mode = rng.choice(crossings(a, b))
                    net.legs.append(
                        Leg(
                            index=len(net.legs),
                            origin=a,
                            destination=b,
                            exit_point=exit_point,
                            entry_point=entry_point,
                            mode=mode,
                            date=_iso(day + hop),
                            courier=courier.person,
                            vehicle_of=None if mode in ("air", "rail") else vehicle_of,
                        )
                    )
                day += rng.randint(10, 40)
                day = min(day, end - 5)
        networks.append(net)
    return networks


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()
