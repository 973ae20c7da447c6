"""Scenario generation: real persons, their records per country, the network.

The generator works in three passes, each deterministic by seed:

1. *identities*: ``persons`` real persons, each from its own
   ``random.Random(f"{seed}:p:{index}")`` (order-independent), with a home
   country, a naming style, documents, phones, vehicle, accounts, and the
   countries and agencies that record them;
2. *network*: the criminal networks (:mod:`.network`) pick members, add the
   recordings their operations imply (couriers in every country they cross,
   both ends of a call or payment in the country that recorded it);
3. *records*: each recording becomes FtM entities — a Person under the
   spelling that country's registry produced (:mod:`.names`) plus its
   documents, vehicle, accounts and border crossings — written as
   ``{"entity": …, "meta": …}`` lines; then the network's relations.

Entities are built as plain dicts in the FtM ``to_dict()`` shape with values
already in FtM's cleaned form (lower-case country codes, ISO dates, E.164
phones); the tests check every entity against the model
(``model.get_proxy(data, cleaned=False)`` must clean to the same dict). Ids
are FtM ``make_entity_id`` digests of the seed and the record's coordinates.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from followthemoney.util import make_entity_id

from accord.errors import Conflict, ValidationFailed
from accord.training.scenario import names as nm
from accord.training.scenario.agreements import write_agreements
from accord.training.scenario.countries import (
    ARABIC_NAMING,
    FRANCOPHONE,
    CountryProfile,
    bank_account,
    mobile_phone,
    national_id,
    passport_number,
    plate,
    profile,
    vin,
    wallet,
)
from accord.training.scenario.network import Leg, Network, crossings, plan_networks
from accord.training.scenario.parties import build_parties
from accord.training.scenario.writer import JsonlWriter, write_json, write_json_lines_doc

GENERATOR_VERSION = "accord.training.scenario/1"
#: The scenario's "today": dates are drawn relative to it, never from the clock.
REFERENCE_DATE = date(2025, 6, 30)
MAX_PERSONS = 2_000_000

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called while records are written."""

_LEGAL_BASIS = {
    "ES": "Ley Orgánica 7/2021, de 26 de mayo (tratamiento de datos con fines de prevención, "
    "detección, investigación y enjuiciamiento de infracciones penales)",
    "FR": "Code de procédure pénale, art. 230-6 à 230-11 (traitement d'antécédents judiciaires)",
    "MA": "Code de procédure pénale (Maroc), loi n° 22-01; loi n° 09-08 art. 2",
}
_EU_LEGAL_BASIS = "Directive (EU) 2016/680 as transposed in {name}"
_VEHICLE_MODELS = (
    ("Dacia Logan", "car"), ("Renault Clio", "car"), ("Peugeot 208", "car"),
    ("SEAT León", "car"), ("Volkswagen Golf", "car"), ("Toyota Land Cruiser", "car"),
    ("Mercedes-Benz Sprinter", "van"), ("Citroën Berlingo", "van"), ("Renault Master", "van"),
    ("Iveco Daily", "van"), ("BMW X5", "car"), ("Audi A6", "car"),
)
_BANKS = {
    "ES": ("CaixaBank", "Banco Santander", "BBVA", "Banco Sabadell", "Unicaja"),
    "FR": ("BNP Paribas", "Société Générale", "Crédit Agricole", "La Banque Postale", "LCL"),
    "MA": ("Attijariwafa Bank", "Banque Populaire", "BMCE Bank of Africa", "CIH Bank"),
}
_CODENAMES = ("Halcón", "Estrecho", "Marea", "Brisa", "Sirocco", "Levante", "Atlas", "Rif",
              "Mistral", "Tramontane", "Argan", "Poniente", "Corsaire", "Dune")
_RELIABILITY = ("A", "B", "C", "X")
_CREDIBILITY = ("1", "2", "3", "4")


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    seed: int
    countries: tuple[str, ...]
    persons: int
    person_records: int
    entities: dict[str, int]
    cross_border_persons: int
    networks: int
    agreements: tuple[str, ...]
    out_dir: Path

    @property
    def total_entities(self) -> int:
        return sum(self.entities.values())


@dataclass(slots=True)
class Vehicle:
    plate: str
    plate_foreign: str
    vin: str
    model: str
    type: str
    build_year: int


@dataclass(slots=True)
class Recording:
    country: str
    agency: str
    case: str | None = None


@dataclass(slots=True)
class RealPerson:
    index: int
    pid: str
    home: str
    style: nm.Style
    gender: str
    given: tuple[str, ...]
    surnames: tuple[str, ...]
    given_ar: tuple[nm.ArabicName, ...]
    family_ar: nm.ArabicName | None
    father_ar: nm.ArabicName | None
    birth: date
    birth_place: str
    phones: tuple[str, ...]
    email: str | None
    street: str
    postcode: str
    city: str
    passport: str
    nid: tuple[str, str]
    vehicle: Vehicle | None
    bank: tuple[str | None, str, str] | None
    wallet: tuple[str, str, str] | None
    recordings: list[Recording]
    family_of: int | None = None
    network: str | None = None
    role: str | None = None
    bank_in: set[str] = field(default_factory=set)
    wallet_in: set[str] = field(default_factory=set)
    vehicle_in: set[str] = field(default_factory=set)

    def countries(self) -> list[str]:
        return list(dict.fromkeys(r.country for r in self.recordings))

    def record_index(self, country: str) -> int:
        for k, r in enumerate(self.recordings):
            if r.country == country:
                return k
        raise KeyError(country)

    def canonical_latin(self) -> str:
        if self.style == "arabic":
            assert self.family_ar is not None
            given = " ".join(n.french for n in self.given_ar)
            return f"{given} {nm.family_canonical_fr(self.family_ar)}"
        return " ".join((*self.given, *self.surnames))

    def canonical_arabic(self) -> str | None:
        if self.style != "arabic" or self.family_ar is None:
            return None
        return " ".join(n.arabic for n in (*self.given_ar, self.family_ar))


def normalise_countries(countries: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(countries, str):
        countries = countries.split(",")
    codes = [c.strip().upper() for c in countries if c.strip()]
    for code in codes:
        profile(code)  # raises ValidationFailed on an unknown code
    unique = tuple(sorted(dict.fromkeys(codes)))
    if len(unique) < 2:
        raise ValidationFailed("a scenario needs at least two countries", field="countries")
    return unique


class _Ids:
    def __init__(self, seed: int) -> None:
        self.seed = str(seed)

    def __call__(self, *parts: object) -> str:
        value = make_entity_id("accord-scenario", self.seed, *parts)
        assert value is not None
        return value


# ----------------------------------------------------------------------- pass 1: identities


class _World:
    def __init__(self, seed: int, countries: tuple[str, ...], persons: int) -> None:
        self.seed = seed
        self.countries = countries
        self.n = persons
        self.profiles = {c: profile(c) for c in countries}
        self.pools = nm.NamePools(seed)
        self.ids = _Ids(seed)
        self.people: list[RealPerson] = []
        self.residents: dict[str, list[int]] = {c: [] for c in countries}
        self.networks: list[Network] = []
        self.start_day = date(2019, 1, 1).toordinal()
        self.end_day = REFERENCE_DATE.toordinal()

    def rng(self, *parts: object) -> random.Random:
        # a simulation, not cryptography: reproducible by seed on purpose
        return random.Random(":".join((str(self.seed), *map(str, parts))))  # noqa: S311

    def build_people(self) -> None:
        master = self.rng("homes")
        homes = [self.countries[i % len(self.countries)] for i in range(self.n)]
        master.shuffle(homes)
        for index, home in enumerate(homes):
            person = self._person(index, home)
            self.people.append(person)
            self.residents[home].append(index)

    def _person(self, index: int, home: str) -> RealPerson:
        rng = self.rng("p", index)
        prof = self.profiles[home]
        gender = "male" if rng.random() < 0.62 else "female"
        style: nm.Style = prof.naming
        if style != "arabic" and prof.eu and rng.random() < (0.12 if home == "FR" else 0.06):
            style = "arabic"  # EU nationals of Maghrebi origin
        given: tuple[str, ...] = ()
        surnames: tuple[str, ...] = ()
        given_ar: tuple[nm.ArabicName, ...] = ()
        family_ar = father_ar = None
        family_of: int | None = None
        relatives = self.residents[home]
        if relatives and rng.random() < 0.06:
            family_of = relatives[max(0, len(relatives) - 1 - rng.randrange(40)) if
                                  len(relatives) > 1 else 0]
            if self.people[family_of].style != style:
                family_of = None
        if style == "arabic":
            table = nm.GIVEN_MALE if gender == "male" else nm.GIVEN_FEMALE
            first = rng.choice(table)
            given_ar = (first,)
            if gender == "male" and first is not nm.GIVEN_MALE[0] and rng.random() < 0.15:
                given_ar = (nm.GIVEN_MALE[0], first)  # Mohamed Amine
            family_ar = (
                self.people[family_of].family_ar if family_of is not None
                else rng.choice(nm.FAMILY)
            )
            father_ar = rng.choice(nm.GIVEN_MALE)
        else:
            locale = "es_ES" if style == "spanish" and prof.locale == "en_US" else prof.locale
            pool = self.pools.get(locale)
            names = pool.male if gender == "male" else pool.female
            first_name = rng.choice(names)
            if rng.random() < 0.2:
                second = rng.choice(names)
                if second != first_name:
                    first_name = f"{first_name} {second}"
            given = (first_name,)
            if family_of is not None:
                surnames = self.people[family_of].surnames
            elif style == "spanish":
                s1, s2 = rng.choice(pool.last), rng.choice(pool.last)
                surnames = (s1, s2) if s1 != s2 else (s1, rng.choice(pool.last))
            else:
                surnames = (rng.choice(pool.last),)
        birth = date.fromordinal(
            date(1955, 1, 1).toordinal() + rng.randrange(365 * 50)
        )
        birth_place = self._city(home, rng)
        if style == "arabic" and home not in ARABIC_NAMING and rng.random() < 0.4:
            birth_place = rng.choice(profile("MA").cities)
        phones = tuple(
            p for p in (mobile_phone(home, rng) for _ in range(1 if rng.random() < 0.8 else 2))
            if p
        )
        vehicle = None
        if rng.random() < 0.45:
            issued, foreign = plate(home, rng)
            model, vtype = rng.choice(_VEHICLE_MODELS)
            vehicle = Vehicle(issued, foreign, vin(rng), model, vtype, rng.randint(2005, 2024))
        bank = None
        if rng.random() < 0.5:
            iban, account = bank_account(home, rng)
            bank = (iban, account, rng.choice(_BANKS.get(home, (f"Bank of {prof.name}",))))
        person = RealPerson(
            index=index,
            pid=f"P{index + 1:07d}",
            home=home,
            style=style,
            gender=gender,
            given=given,
            surnames=surnames,
            given_ar=given_ar,
            family_ar=family_ar,
            father_ar=father_ar,
            birth=birth,
            birth_place=birth_place,
            phones=phones,
            email=None,
            street="",
            postcode="",
            city=self._city(home, rng),
            passport=passport_number(home, rng),
            nid=national_id(home, rng),
            vehicle=vehicle,
            bank=bank,
            wallet=wallet(rng) if rng.random() < 0.03 else None,
            recordings=[],
            family_of=family_of,
        )
        self._address(person, prof, rng)
        if rng.random() < 0.6:
            person.email = self._email(person, prof, rng)
        self._recordings(person, prof, rng)
        return person

    def _city(self, home: str, rng: random.Random) -> str:
        prof = self.profiles.get(home) or profile(home)
        if prof.cities:
            return rng.choice(prof.cities)
        return rng.choice(self.pools.get(prof.locale).cities)

    def _address(self, person: RealPerson, prof: CountryProfile, rng: random.Random) -> None:
        if prof.code == "MA":
            num = rng.randint(1, 250)
            street = rng.choice((
                "Avenue Mohammed V", "Boulevard Zerktouni", "Rue Ibn Batouta", "Avenue Hassan II",
                "Rue de Fès", "Boulevard Moulay Youssef", "Derb Sidi Bouloukat", "Rue Allal Ben Abdellah",
            ))
            person.street = f"{num}, {street}"
            person.postcode = f"{rng.randint(10, 93)}{rng.randint(0, 9)}{rng.randint(0, 9)}0"
            return
        pool = self.pools.get(prof.locale)
        person.street = rng.choice(pool.streets)
        person.postcode = rng.choice(pool.postcodes)

    def _email(self, person: RealPerson, prof: CountryProfile, rng: random.Random) -> str:
        if person.style == "arabic":
            assert person.family_ar is not None
            first = person.given_ar[-1].french
            last = person.family_ar.french
        else:
            first = person.given[0].split(" ")[0]
            last = person.surnames[0]
        def clean(s: str) -> str:
            return "".join(ch for ch in nm.ascii_fold(s).lower() if ch.isalnum())
        sep = rng.choice((".", "", "_"))
        suffix = str(rng.randint(1, 99)) if rng.random() < 0.5 else str(person.birth.year)[2:]
        return f"{clean(first)}{sep}{clean(last)}{suffix}@{rng.choice(prof.email_domains)}"

    def _recordings(self, person: RealPerson, prof: CountryProfile, rng: random.Random) -> None:
        police, customs = prof.agencies
        person.recordings.append(Recording(prof.code, (police if rng.random() < 0.85
                                                       else customs).id))
        if rng.random() < 0.03:
            other = customs if person.recordings[0].agency == police.id else police
            person.recordings.append(Recording(prof.code, other.id))
        abroad = [c for c in self.countries if c != prof.code]
        roll = rng.random()
        count = 2 if roll < 0.04 else 1 if roll < 0.18 else 0
        for country in rng.sample(abroad, min(count, len(abroad))):
            p = self.profiles[country]
            person.recordings.append(Recording(country, (p.police if rng.random() < 0.6
                                                         else p.customs).id))

    # ------------------------------------------------------------------ pass 2: network

    def build_networks(self) -> None:
        rng = self.rng("networks")
        self.networks = plan_networks(
            persons=self.n,
            countries=self.countries,
            residents=self.residents,
            rng=rng,
            date_range=(REFERENCE_DATE.toordinal() - 540, REFERENCE_DATE.toordinal() - 10),
        )
        for net in self.networks:
            for country in net.route:
                agency = self.profiles[country].police.id
                net_case = self.case_id(net, country)
                for member in net.members:
                    person = self.people[member.person]
                    person.network, person.role = net.id, member.role
                    if country in member.countries:
                        self.ensure_recorded(person, country, agency, net_case)
            for member in net.members:
                person = self.people[member.person]
                if member.role in ("financier", "supplier", "broker"):
                    if person.bank is None:
                        r = self.rng("bank", person.index)
                        iban, account = bank_account(person.home, r)
                        person.bank = (iban, account,
                                       r.choice(_BANKS.get(person.home, ("Bank",))))
                    person.bank_in.add(person.home)
                if member.role in ("financier", "supplier") and person.wallet is None:
                    person.wallet = wallet(self.rng("wallet", person.index))
                if person.wallet is not None:
                    person.wallet_in.update(member.countries)
            for leg in net.legs:
                courier = self.people[leg.courier]
                entry_agency = self.profiles[leg.destination].customs.id
                exit_agency = self.profiles[leg.origin].customs.id
                self.ensure_recorded(courier, leg.destination, entry_agency,
                                     self.case_id(net, leg.destination))
                self.ensure_recorded(courier, leg.origin, exit_agency,
                                     self.case_id(net, leg.origin))
                if leg.vehicle_of is not None:
                    owner = self.people[leg.vehicle_of]
                    if owner.vehicle is None:
                        r = self.rng("vehicle", owner.index)
                        issued, foreign = plate(owner.home, r)
                        model, vtype = r.choice(_VEHICLE_MODELS[6:])
                        owner.vehicle = Vehicle(issued, foreign, vin(r), model, vtype, 2018)
                    for country in (leg.origin, leg.destination):
                        self.ensure_recorded(owner, country, self.profiles[country].customs.id,
                                             self.case_id(net, country))
                        owner.vehicle_in.add(country)
            for caller, receiver, country in self.call_plan(net):
                case = self.case_id(net, country)
                agency = self.profiles[country].police.id
                self.ensure_recorded(self.people[caller], country, agency, case)
                self.ensure_recorded(self.people[receiver], country, agency, case)
            for payer, payee, country in self.payment_plan(net):
                case = self.case_id(net, country)
                agency = self.profiles[country].police.id
                for idx in (payer, payee):
                    person = self.people[idx]
                    self.ensure_recorded(person, country, agency, case)
                    if person.bank is None:
                        r = self.rng("bank", idx)
                        iban, account = bank_account(person.home, r)
                        person.bank = (iban, account, r.choice(_BANKS.get(person.home, ("Bank",))))
                    person.bank_in.add(country)

    def ensure_recorded(self, person: RealPerson, country: str, agency: str, case: str) -> None:
        for rec in person.recordings:
            if rec.country == country:
                if rec.case is None:
                    rec.case = case
                return
        person.recordings.append(Recording(country, agency, case))

    def case_id(self, net: Network, country: str) -> str:
        agency = self.profiles[country].police.id
        number = int(self.ids("case", net.id, country)[:6], 16) % 90000 + 10000
        return f"{agency}-{REFERENCE_DATE.year - 1}-{number}"

    def call_plan(self, net: Network) -> list[tuple[int, int, str]]:
        rng = self.rng("calls", net.id)
        by_role: dict[str, list[int]] = {}
        for m in net.members:
            by_role.setdefault(m.role, []).append(m.person)
        pairs: list[tuple[int, int]] = []
        for a_role, b_role in (("organiser", "broker"), ("broker", "supplier"),
                               ("broker", "courier"), ("organiser", "financier"),
                               ("logistics", "courier"), ("broker", "broker")):
            for a in by_role.get(a_role, ()):
                for b in by_role.get(b_role, ()):
                    if a != b and rng.random() < 0.7:
                        pairs.append((a, b))
        out: list[tuple[int, int, str]] = []
        for a, b in pairs:
            country = rng.choice(net.route)
            for _ in range(rng.randint(1, 4)):
                out.append((a, b, country) if rng.random() < 0.6 else (b, a, country))
        return out

    def payment_plan(self, net: Network) -> list[tuple[int, int, str]]:
        rng = self.rng("payments", net.id)
        payers = [m.person for m in net.members if m.role in ("financier", "organiser")]
        payees = [m.person for m in net.members if m.role in ("supplier", "broker", "logistics")]
        out: list[tuple[int, int, str]] = []
        for payer in payers:
            for payee in payees:
                if rng.random() < 0.5:
                    country = self.people[payer].home
                    for _ in range(rng.randint(1, 3)):
                        out.append((payer, payee, country))
        return out


# ----------------------------------------------------------------------- pass 3: records


@dataclass(slots=True)
class _NameParts:
    first: str
    last: str
    middle: str | None = None
    father: str | None = None
    alias: list[str] = field(default_factory=list)
    surname_first: bool = False
    upper_last: bool = False
    tags: list[str] = field(default_factory=list)

    def full(self) -> str:
        last = self.last.upper() if self.upper_last else self.last
        parts = (
            [last, self.first, self.middle] if self.surname_first
            else [self.first, self.middle, last]
        )
        return " ".join(p for p in parts if p)


def _weighted(rng: random.Random, options: tuple[tuple[nm.Romanisation, float], ...]
              ) -> nm.Romanisation:
    roll = rng.random() * sum(w for _, w in options)
    for value, weight in options:
        roll -= weight
        if roll <= 0:
            return value
    return options[-1][0]


def _name_arabic(p: RealPerson, prof: CountryProfile, at_home: bool,
                 rng: random.Random) -> _NameParts:
    assert p.family_ar is not None
    if prof.code in ARABIC_NAMING and p.home in ARABIC_NAMING and rng.random() < 0.85:
        given = " ".join(n.arabic for n in p.given_ar)
        parts = _NameParts(first=given, last=p.family_ar.arabic, tags=["script:arabic"])
        if p.father_ar is not None and rng.random() < 0.6:
            parts.father = p.father_ar.arabic
        if rng.random() < 0.7:  # the Latin line of the identity card
            latin = " ".join(n.french for n in p.given_ar)
            parts.alias.append(f"{latin} {nm.family_canonical_fr(p.family_ar)}".upper())
        return parts
    if at_home and p.home not in ARABIC_NAMING:
        conv: nm.Romanisation = "fr" if prof.code in FRANCOPHONE else prof.romanisation[0][0]
    elif prof.code in ARABIC_NAMING:
        conv = "fr"  # keyed from the passport's Latin line
    else:
        conv = _weighted(rng, prof.romanisation)
    tags = [f"romanisation:{conv}"]
    givens = [nm.romanise(n, conv) for n in p.given_ar]
    if len(givens) > 1 and not at_home:
        roll = rng.random()
        if roll < 0.3:
            givens = givens[:1]
            tags.append("given:second-dropped")
        elif roll < 0.45:
            givens = givens[1:]
            tags.append("given:first-dropped")
    family = nm.family_latin(p.family_ar, conv, rng)
    if not p.family_ar.article and not p.family_ar.ben and rng.random() < 0.04:
        family = ("El " if conv != "en" else "Al-") + family
        tags.append("particle:added")
    if p.family_ar.article and family == nm.romanise(p.family_ar, conv):
        tags.append("particle:dropped")
    parts = _NameParts(first=" ".join(givens), last=family, tags=tags)
    if p.father_ar is not None and rng.random() < 0.3:
        father = nm.romanise(p.father_ar, conv)
        if prof.naming == "spanish" and rng.random() < 0.5:
            parts.last = f"{family} {father}"
            tags.append("order:father-as-second-surname")
        else:
            parts.father = father
    if prof.code in FRANCOPHONE and rng.random() < 0.3:
        parts.surname_first = True
        parts.upper_last = True
        tags.append("order:surname-first")
    if not at_home and rng.random() < 0.04:
        parts.first, parts.last = parts.last, parts.first
        tags.append("order:given-family-swapped")
    if prof.code in ARABIC_NAMING:
        parts.alias.append(p.canonical_arabic() or "")
        parts.upper_last = True
    return parts


_LATIN_PARTICLES = (*nm.SPANISH_PARTICLES, *nm.FRENCH_PARTICLES, "von", "van", "van der",
                    "di", "da", "dos", "das", "del")


def _name_latin(p: RealPerson, prof: CountryProfile, at_home: bool,
                rng: random.Random) -> _NameParts:
    given = p.given[0]
    surnames = list(p.surnames)
    tags: list[str] = []
    middle: str | None = None
    if at_home:
        return _NameParts(first=given, last=" ".join(surnames))
    if len(surnames) == 2:
        roll = rng.random()
        if roll < 0.4:
            surnames = surnames[:1]
            tags.append("surname:second-dropped")
        elif roll < 0.5:
            middle = surnames.pop(0)
            tags.append("surname:first-as-middle")
    if "-" in given and rng.random() < 0.5:
        given = given.replace("-", " ")
        tags.append("given:hyphen-dropped")
    elif " " in given and rng.random() < 0.3:
        given = given.replace(" ", "-") if prof.code in FRANCOPHONE else given.split(" ")[0]
        tags.append("given:compound-changed")
    last = " ".join(surnames)
    if nm.has_particle(last, _LATIN_PARTICLES) and rng.random() < 0.5:
        if rng.random() < 0.7:
            last = nm.strip_particles(last, _LATIN_PARTICLES)
            tags.append("particle:dropped")
        else:
            last = last.replace(" ", "")
            tags.append("particle:glued")
    upper = False
    ascii_p = 0.9 if prof.code in ARABIC_NAMING else 0.5
    if rng.random() < ascii_p:
        folded = (nm.ascii_fold(given), nm.ascii_fold(last),
                  nm.ascii_fold(middle) if middle else None)
        if (folded[0], folded[1]) != (given, last):
            tags.append("script:ascii")
        given, last, middle = folded
    if prof.code in ARABIC_NAMING:
        given, last = given.upper(), last.upper()
        middle = middle.upper() if middle else None
        tags.append("case:upper")
    elif prof.code in FRANCOPHONE and rng.random() < 0.3:
        upper = True
        tags.append("order:surname-first")
    return _NameParts(first=given, last=last, middle=middle, surname_first=upper,
                      upper_last=upper, tags=tags)


def _dob(p: RealPerson, at_home: bool, in_arabic_registry: bool,
         rng: random.Random, tags: list[str]) -> str:
    birth = p.birth
    roll = rng.random()
    if in_arabic_registry and at_home and roll < 0.04:
        tags.append("dob:year-only")
        return str(birth.year)
    if roll < (0.02 if at_home else 0.07):
        if birth.day <= 12 and birth.day != birth.month:
            tags.append("dob:day-month-swap")
            return date(birth.year, birth.day, birth.month).isoformat()
        tags.append("dob:year-off-by-one")
        try:
            return birth.replace(year=birth.year + rng.choice((-1, 1))).isoformat()
        except ValueError:  # 29 February
            return (birth - timedelta(days=365)).isoformat()
    return birth.isoformat()


def _entity(eid: str, schema: str, props: dict[str, list[str]]) -> dict[str, Any]:
    return {"id": eid, "schema": schema, "properties": {k: v for k, v in props.items() if v}}


class _Emitter:
    """Turns recordings into entity lines, one writer per country."""

    def __init__(self, world: _World, writers: dict[str, JsonlWriter]) -> None:
        self.w = world
        self.writers = writers
        self.ids = world.ids
        self.truth: dict[int, list[dict[str, Any]]] = {}
        self.emitted_points: dict[str, dict[str, None]] = {c: {} for c in world.countries}

    def person_id(self, p: RealPerson, k: int) -> str:
        return self.ids("person", p.pid, k)

    def person_id_in(self, p: RealPerson, country: str) -> str:
        return self.person_id(p, p.record_index(country))

    def meta(self, agency: str, rng: random.Random, *, case: str | None, member: bool,
             provenance: str, recorded: date) -> dict[str, Any]:
        country = agency[:2]
        prof = self.w.profiles[country]
        if member:
            handling = "H3" if rng.random() < 0.25 else "H2"
            purpose = "investigation"
            years = 10
        else:
            roll = rng.random()
            handling = "H0" if roll < 0.1 else "H1" if roll < 0.8 else "H2"
            purpose = rng.choice(("prevention", "detection", "investigation"))
            years = 5
        basis = _LEGAL_BASIS.get(country) or (
            _EU_LEGAL_BASIS.format(name=prof.name) if prof.eu
            else f"National criminal procedure law of {prof.name}"
        )
        try:
            retention = recorded.replace(year=recorded.year + years)
        except ValueError:
            retention = recorded.replace(year=recorded.year + years, day=28)
        return {
            "owner": agency,
            "handling": handling,
            "source_reliability": rng.choice(_RELIABILITY[:3]) if rng.random() < 0.9 else "X",
            "info_credibility": rng.choice(_CREDIBILITY),
            "legal_basis": basis,
            "purpose": purpose,
            "retention_until": retention.isoformat(),
            "cases": [case] if case else [],
            "provenance": provenance,
        }

    def write(self, country: str, entity: dict[str, Any], meta: dict[str, Any]) -> None:
        self.writers[country].write({"entity": entity, "meta": meta})

    # ------------------------------------------------------------------ person records

    def person(self, p: RealPerson) -> None:
        truth: list[dict[str, Any]] = []
        for k, rec in enumerate(p.recordings):
            truth.append(self.record(p, k, rec))
        self.truth[p.index] = truth

    def record(self, p: RealPerson, k: int, rec: Recording) -> dict[str, Any]:
        w = self.w
        country = rec.country
        prof = w.profiles[country]
        rng = w.rng("r", p.index, k)
        at_home = country == p.home
        in_arabic_registry = country in ARABIC_NAMING
        render = _name_arabic if p.style == "arabic" else _name_latin
        parts = render(p, prof, at_home, rng)
        tags = parts.tags
        if rng.random() < (0.02 if at_home else 0.08) and not nm.is_arabic_script(parts.last):
            field_name = "last" if rng.random() < 0.6 else "first"
            changed, tag = nm.typo(getattr(parts, field_name), rng)
            if tag:
                setattr(parts, field_name, changed)
                tags.append(f"{tag}:{field_name}")
        birth = _dob(p, at_home, in_arabic_registry, rng, tags)
        pid = self.person_id(p, k)
        recorded = date.fromordinal(rng.randint(w.start_day, w.end_day - 30))
        member = p.network is not None and rec.case is not None
        provenance = (
            f"synthetic scenario seed={w.seed}; {rec.agency} records system; "
            f"generator {GENERATOR_VERSION}"
        )
        meta = self.meta(rec.agency, rng, case=rec.case, member=member,
                         provenance=provenance, recorded=recorded)
        name = parts.full()
        props: dict[str, list[str]] = {
            "name": [name],
            "firstName": [parts.first],
            "lastName": [parts.last],
            "middleName": [parts.middle] if parts.middle else [],
            "fatherName": [parts.father] if parts.father else [],
            "alias": [a for a in parts.alias if a and a != name],
            "birthDate": [birth],
            "birthPlace": [p.birth_place] if rng.random() < 0.5 else [],
            "nationality": [p.home.lower()],
            "gender": [p.gender],
        }
        phones = list(p.phones) if (at_home or rng.random() < 0.5) else []
        if phones:
            props["phone"] = phones
        if p.email and rng.random() < (0.5 if at_home else 0.3):
            props["email"] = [p.email]
        entities: list[dict[str, Any]] = []
        if at_home or rng.random() < 0.3:
            addr_text = f"{p.street}, {p.postcode} {p.city}, {w.profiles[p.home].name}"
            props["address"] = [addr_text]
            if rng.random() < 0.4:
                aid = self.ids("address", p.pid, country, k)
                props["addressEntity"] = [aid]
                entities.append(_entity(aid, "Address", {
                    "full": [addr_text], "street": [p.street], "postalCode": [p.postcode],
                    "city": [p.city], "country": [p.home.lower()],
                }))
        entities.insert(0, _entity(pid, "Person", props))
        home_prof = w.profiles[p.home]
        # documents
        if not at_home or rng.random() < 0.35:
            entities.append(_entity(self.ids("passport", p.pid, country, k), "Passport", {
                "number": [p.passport], "holder": [pid], "country": [p.home.lower()],
                "type": ["passport"], "authority": [home_prof.police.name],
            }))
        if at_home and rng.random() < 0.7:
            kind, number = p.nid
            entities.append(_entity(self.ids("nid", p.pid, country, k), "Identification", {
                "number": [number], "holder": [pid], "country": [p.home.lower()],
                "type": [kind], "authority": [home_prof.police.name],
            }))
        first_here = p.record_index(country) == k  # assets once per country file
        # vehicle
        if first_here and p.vehicle is not None and (
            country in p.vehicle_in or rng.random() < (0.35 if at_home else 0.1)
        ):
            vid = self.vehicle_id(p, country)
            v = p.vehicle
            entities.append(_entity(vid, "Vehicle", {
                # FtM has no VIN property: the VIN is the second registrationNumber
                "registrationNumber": [v.plate if at_home else v.plate_foreign, v.vin],
                "model": [v.model], "type": [v.type], "country": [p.home.lower()],
                "buildDate": [str(v.build_year)],
            }))
            entities.append(_entity(self.ids("own-vehicle", p.pid, country), "Ownership", {
                "owner": [pid], "asset": [vid], "ownershipType": ["registered keeper"],
            }))
        # bank account
        if first_here and p.bank is not None and (country in p.bank_in or (at_home and rng.random() < 0.2)):
            iban, account, bank_name = p.bank
            bid = self.account_id(p, country)
            entities.append(_entity(bid, "BankAccount", {
                "iban": [iban] if iban else [], "accountNumber": [account],
                "bankName": [bank_name], "country": [p.home.lower()],
            }))
            entities.append(_entity(self.ids("own-account", p.pid, country), "Ownership", {
                "owner": [pid], "asset": [bid], "role": ["account holder"],
            }))
        # crypto wallet
        if first_here and p.wallet is not None and (country in p.wallet_in or at_home):
            address, currency, chain = p.wallet
            entities.append(_entity(self.ids("wallet", p.pid, country), "CryptoWallet", {
                "cryptoAddress": [address], "currency": [currency], "blockchain": [chain],
                "holder": [pid],
            }))
        # a border crossing for people recorded abroad
        if not at_home and rng.random() < 0.5:
            exit_point, entry_point, mode = _crossing(p.home, country, rng)
            when = date.fromordinal(rng.randint(w.start_day, w.end_day - 1)).isoformat()
            entities.append(_entity(self.ids("entry", p.pid, country, k), "Event", {
                "name": [f"Entry at {entry_point}"],
                "date": [when],
                "location": [entry_point],
                "country": [country.lower(), p.home.lower()],
                "involved": [pid],
                "description": [f"Border crossing {p.home}→{country} ({mode}) from {exit_point}"],
            }))
        for entity in entities:
            self.write(country, entity, meta)
        if k == 0 and p.family_of is not None:
            rel = w.people[p.family_of]
            if rel.recordings and rel.recordings[0].country == country:
                fid = self.ids("family", p.pid, rel.pid)
                self.write(country, _entity(fid, "Family", {
                    "person": [pid], "relative": [self.person_id(rel, 0)],
                    "relationship": ["sibling" if rng.random() < 0.6 else "cousin"],
                }), meta)
        return {
            "country": country,
            "agency": rec.agency,
            "id": pid,
            "name": name,
            "birth_date": birth,
            "variants": tags,
        }

    def vehicle_id(self, p: RealPerson, country: str) -> str:
        return self.ids("vehicle", p.pid, country)

    def account_id(self, p: RealPerson, country: str) -> str:
        return self.ids("account", p.pid, country)

    # ------------------------------------------------------------------ network records

    def network(self, net: Network) -> dict[str, Any]:
        w = self.w
        rng = w.rng("netrec", net.id)
        codename = _CODENAMES[int(net.id[1:]) % len(_CODENAMES)]
        org_ids: dict[str, str] = {}
        recorded = REFERENCE_DATE - timedelta(days=30)
        for country in net.route:
            prof = w.profiles[country]
            case = w.case_id(net, country)
            meta = self.meta(prof.police.id, rng, case=case, member=True,
                             provenance=f"synthetic scenario seed={w.seed}; investigation {case}",
                             recorded=recorded)
            label = {"es": "Organización «{c}»", "fr": "Réseau « {c} »"}.get(
                prof.language, "Network '{c}'").format(c=codename)
            oid = self.ids("org", net.id, country)
            org_ids[country] = oid
            self.write(country, _entity(oid, "Organization", {
                "name": [label], "country": [c.lower() for c in net.route],
                "description": [f"Suspected {net.product} trafficking group, route "
                                f"{'→'.join(net.route)}"],
                "topics": ["crime"],
            }), meta)
            for m in net.members:
                person = w.people[m.person]
                if country not in person.countries():
                    continue
                self.write(country, _entity(self.ids("membership", net.id, person.pid, country),
                                            "Membership", {
                    "member": [self.person_id_in(person, country)], "organization": [oid],
                    "role": [m.role],
                }), meta)
            members_here = [m for m in net.members if country in w.people[m.person].countries()]
            brokers = [m for m in members_here if m.role == "broker"]
            leaders = [m for m in members_here if m.role in ("organiser", "supplier")]
            for b in brokers:
                for leader in leaders:
                    pb, pl = w.people[b.person], w.people[leader.person]
                    self.write(country, _entity(self.ids("assoc", pb.pid, pl.pid, country),
                                                "Associate", {
                        "person": [self.person_id_in(pb, country)],
                        "associate": [self.person_id_in(pl, country)],
                        "relationship": ["business associate"],
                    }), meta)
        calls = w.call_plan(net)
        for n, (caller, receiver, country) in enumerate(calls):
            pa, pb = w.people[caller], w.people[receiver]
            if not pa.phones or not pb.phones:
                continue
            case = w.case_id(net, country)
            meta = self.meta(w.profiles[country].police.id, rng, case=case, member=True,
                             provenance=f"synthetic scenario seed={w.seed}; lawful interception "
                             f"in {case}", recorded=recorded)
            when = date.fromordinal(rng.randint(w.end_day - 400, w.end_day - 5)).isoformat()
            self.write(country, _entity(self.ids("call", net.id, n), "Call", {
                "caller": [self.person_id_in(pa, country)],
                "receiver": [self.person_id_in(pb, country)],
                "callerNumber": [pa.phones[0]], "receiverNumber": [pb.phones[0]],
                "date": [when], "duration": [str(rng.randint(8, 900))],
            }), meta)
        for n, (payer, payee, country) in enumerate(w.payment_plan(net)):
            pa, pb = w.people[payer], w.people[payee]
            case = w.case_id(net, country)
            meta = self.meta(w.profiles[country].police.id, rng, case=case, member=True,
                             provenance=f"synthetic scenario seed={w.seed}; financial "
                             f"investigation {case}", recorded=recorded)
            when = date.fromordinal(rng.randint(w.end_day - 400, w.end_day - 5)).isoformat()
            amount = rng.randint(20, 400) * 50
            self.write(country, _entity(self.ids("payment", net.id, n), "Payment", {
                "payer": [self.person_id_in(pa, country)],
                "beneficiary": [self.person_id_in(pb, country)],
                "payerAccount": [self.account_id(pa, country)],
                "beneficiaryAccount": [self.account_id(pb, country)],
                "amount": [str(amount)], "currency": ["EUR"], "date": [when],
                "purpose": [rng.choice(("loan", "family support", "car purchase", "services"))],
            }), meta)
        legs = [self.leg(net, leg, rng) for leg in net.legs]
        return {
            "id": net.id,
            "name": net.name,
            "codename": codename,
            "route": list(net.route),
            "crime_areas": list(net.crime_areas),
            "product": net.product,
            "quantity": net.quantity,
            "organisations": org_ids,
            "cases": {c: w.case_id(net, c) for c in net.route},
            "members": [
                {"person": w.people[m.person].pid, "role": m.role, "countries": list(m.countries)}
                for m in net.members
            ],
            "legs": legs,
        }

    def leg(self, net: Network, leg: Leg, rng: random.Random) -> dict[str, Any]:
        w = self.w
        courier = w.people[leg.courier]
        out: dict[str, Any] = {
            "index": leg.index,
            "from": leg.origin,
            "to": leg.destination,
            "exit_point": leg.exit_point,
            "entry_point": leg.entry_point,
            "mode": leg.mode,
            "date": leg.date,
            "courier": courier.pid,
            "vehicle_owner": w.people[leg.vehicle_of].pid if leg.vehicle_of is not None else None,
            "records": {},
        }
        for side, country, point in (("exit", leg.origin, leg.exit_point),
                                     ("entry", leg.destination, leg.entry_point)):
            prof = w.profiles[country]
            case = w.case_id(net, country)
            meta = self.meta(prof.customs.id, rng, case=case, member=True,
                             provenance=f"synthetic scenario seed={w.seed}; "
                             f"{prof.customs.id} border control", recorded=date.fromisoformat(
                                 leg.date))
            # FtM's Trip requires both ends: each side records both crossing points.
            ends = []
            for point_country, end_point in ((leg.origin, leg.exit_point),
                                             (leg.destination, leg.entry_point)):
                point_id = self.ids("point", country, end_point)
                if point_id not in self.emitted_points[country]:
                    self.emitted_points[country][point_id] = None
                    self.write(country, _entity(point_id, "Address", {
                        "full": [end_point], "country": [point_country.lower()],
                    }), meta)
                ends.append(point_id)
            trip_id = self.ids("trip", net.id, leg.index, side)
            props: dict[str, list[str]] = {
                "name": [f"{'Exit' if side == 'exit' else 'Entry'} at {point}"],
                "date": [leg.date],
                "country": [leg.origin.lower(), leg.destination.lower()],
                "involved": [self.person_id_in(courier, country)],
                "description": [f"{leg.mode} crossing {leg.origin}→{leg.destination}"],
                "startLocation": [ends[0]],
                "endLocation": [ends[1]],
            }
            if leg.vehicle_of is not None:
                owner = w.people[leg.vehicle_of]
                props["vehicle"] = [self.vehicle_id(owner, country)]
            self.write(country, _entity(trip_id, "Trip", props), meta)
            out["records"][side] = {"country": country, "id": trip_id}
        return out


def _crossing(home: str, country: str, rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(crossings(home, country))


# ----------------------------------------------------------------------- API


def generate_scenario(
    seed: int,
    countries: Sequence[str] | str,
    persons: int,
    out_dir: Path | str,
    progress: Progress | None = None,
) -> ScenarioSummary:
    """Write a scenario to ``out_dir`` (see docs/scenarios.md); same seed, same bytes."""
    codes = normalise_countries(countries)
    if not 1 <= persons <= MAX_PERSONS:
        raise ValidationFailed(f"persons must be between 1 and {MAX_PERSONS}", field="persons")
    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or (
        any(final.iterdir()) and not (final / "ground_truth.json").is_file()
    )):
        raise Conflict(f"{final} exists and is not an earlier scenario; choose an empty folder",
                       field="out")
    # Written beside the target and swapped in at the end: nothing half-written.
    out = final.with_name(f".{final.name}.partial")
    if out.exists():
        shutil.rmtree(out)
    (out / "records").mkdir(parents=True)
    (out / "agreements").mkdir()

    world = _World(seed, codes, persons)
    world.build_people()
    world.build_networks()

    write_json(out / "parties.json", build_parties(world.seed, codes, world.pools))
    agreement_files = write_agreements(codes, out / "agreements")

    writers = {c: JsonlWriter(out / "records" / f"{c}.ftm.jsonl") for c in codes}
    emitter = _Emitter(world, writers)
    total = len(world.people)
    step = max(1, total // 200)
    try:
        for person in world.people:
            emitter.person(person)
            if progress is not None and (person.index + 1) % step == 0:
                progress(person.index + 1, total)
        network_truth = [emitter.network(net) for net in world.networks]
    finally:
        for writer in writers.values():
            writer.close()
    if progress is not None:
        progress(total, total)

    persons_truth = []
    same_person: list[list[dict[str, str]]] = []
    cross_border = 0
    for person in world.people:
        records = emitter.truth[person.index]
        if len({r["country"] for r in records}) > 1:
            cross_border += 1
        if len(records) > 1:
            same_person.append([{"country": r["country"], "id": r["id"]} for r in records])
        persons_truth.append({
            "id": person.pid,
            "home": person.home,
            "gender": person.gender,
            "birth_date": person.birth.isoformat(),
            "name": person.canonical_latin(),
            "name_arabic": person.canonical_arabic(),
            "network": person.network,
            "role": person.role,
            "records": records,
        })
    truth = {
        "scenario": {
            "seed": seed,
            "countries": list(codes),
            "persons": persons,
            "reference_date": REFERENCE_DATE.isoformat(),
            "generator": GENERATOR_VERSION,
        },
        "persons": persons_truth,
        "same_person": same_person,
        "networks": network_truth,
        "routes": [
            {"network": n["id"], "path": n["route"], "legs": [
                {k: leg[k] for k in ("index", "from", "to", "entry_point", "date", "mode")}
                for leg in n["legs"]
            ]}
            for n in network_truth
        ],
    }
    write_json_lines_doc(out / "ground_truth.json", truth)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
        out.rename(final)
        shutil.rmtree(old)
    else:
        out.rename(final)
    return ScenarioSummary(
        seed=seed,
        countries=codes,
        persons=persons,
        person_records=sum(len(p.recordings) for p in world.people),
        entities={c: writers[c].count for c in codes},
        cross_border_persons=cross_border,
        networks=len(world.networks),
        agreements=tuple(agreement_files),
        out_dir=final,
    )
