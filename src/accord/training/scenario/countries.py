"""Country profiles: agencies, naming style, faker locale, identifiers.

ES, FR and MA are described in detail; any other ISO 3166-1 country gets a
generic profile (see :func:`profile`): a police and a customs agency, the faker
locale for the country where one exists (else ``en_US``), the ``arabic`` naming
style for Arab League members of the Maghreb and Middle East, EU membership
from :data:`EU_MEMBERS`.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import pycountry
from faker.config import AVAILABLE_LOCALES
from rigour.ids import IBAN

from accord.errors import ValidationFailed
from accord.training.scenario.names import Romanisation, Style


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split(" "))


EU_MEMBERS = _codes("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE HU")

#: Countries whose nationals get Maghrebi/Arabic names (Arabic script at home).
ARABIC_NAMING = _codes("MA DZ TN LY EG MR SA AE JO LB SY IQ KW QA BH OM YE PS SD")
SPANISH_NAMING = _codes("ES MX AR CO CL PE VE EC BO UY PY CR PA DO GT HN SV NI CU")
#: Countries whose records of foreign names lean to French-style romanisation.
FRANCOPHONE = _codes("FR BE LU CH MC MA DZ TN SN CI")


@dataclass(frozen=True, slots=True)
class AgencySpec:
    id: str
    name: str
    kind: str  # police | customs | border-guard | prosecutor (accord.parties AgencyKind)
    language: str


@dataclass(frozen=True, slots=True)
class CountryProfile:
    code: str
    name: str
    eu: bool
    locale: str
    naming: Style
    language: str
    agencies: tuple[AgencySpec, AgencySpec]
    #: romanisation conventions for Arabic names recorded here, with weights
    romanisation: tuple[tuple[Romanisation, float], ...]
    currency: str
    cities: tuple[str, ...]
    email_domains: tuple[str, ...]

    @property
    def police(self) -> AgencySpec:
        return self.agencies[0]

    @property
    def customs(self) -> AgencySpec:
        return self.agencies[1]


_KNOWN_AGENCIES: dict[str, tuple[AgencySpec, AgencySpec]] = {
    "ES": (
        AgencySpec("ES-PN", "Policía Nacional", "police", "es"),
        AgencySpec("ES-AEAT", "Agencia Tributaria — Vigilancia Aduanera", "customs", "es"),
    ),
    "FR": (
        AgencySpec("FR-PN", "Police nationale", "police", "fr"),
        AgencySpec(
            "FR-DGDDI", "Direction générale des douanes et droits indirects", "customs", "fr"
        ),
    ),
    "MA": (
        AgencySpec("MA-DGSN", "Direction Générale de la Sûreté Nationale", "police", "fr"),
        AgencySpec(
            "MA-ADII", "Administration des Douanes et Impôts Indirects", "customs", "fr"
        ),
    ),
    "DE": (
        AgencySpec("DE-BKA", "Bundeskriminalamt", "police", "de"),
        AgencySpec("DE-ZOLL", "Generalzolldirektion", "customs", "de"),
    ),
    "IT": (
        AgencySpec("IT-PS", "Polizia di Stato", "police", "it"),
        AgencySpec("IT-ADM", "Agenzia delle Dogane e dei Monopoli", "customs", "it"),
    ),
    "PT": (
        AgencySpec("PT-PJ", "Polícia Judiciária", "police", "pt"),
        AgencySpec("PT-AT", "Autoridade Tributária e Aduaneira", "customs", "pt"),
    ),
    "BE": (
        AgencySpec("BE-FGP", "Police fédérale", "police", "fr"),
        AgencySpec("BE-AAD", "Administration générale des Douanes et Accises", "customs", "fr"),
    ),
    "NL": (
        AgencySpec("NL-POL", "Politie", "police", "nl"),
        AgencySpec("NL-DOUANE", "Douane", "customs", "nl"),
    ),
    "TN": (
        AgencySpec("TN-DGSN", "Direction Générale de la Sûreté Nationale", "police", "fr"),
        AgencySpec("TN-DGD", "Direction Générale des Douanes", "customs", "fr"),
    ),
    "DZ": (
        AgencySpec("DZ-DGSN", "Direction Générale de la Sûreté Nationale", "police", "fr"),
        AgencySpec("DZ-DGD", "Direction Générale des Douanes", "customs", "fr"),
    ),
}

_CITIES: dict[str, tuple[str, ...]] = {
    "ES": ("Madrid", "Barcelona", "Valencia", "Sevilla", "Málaga", "Algeciras", "Cádiz",
           "Almería", "Murcia", "Zaragoza", "Bilbao", "Girona", "Ceuta", "Melilla", "Marbella"),
    "FR": ("Paris", "Marseille", "Lyon", "Toulouse", "Perpignan", "Montpellier", "Bordeaux",
           "Nice", "Lille", "Bayonne", "Nîmes", "Saint-Étienne", "Grenoble", "Strasbourg"),
    "MA": ("Casablanca", "Rabat", "Tanger", "Tétouan", "Nador", "Al Hoceïma", "Fès",
           "Marrakech", "Agadir", "Oujda", "Larache", "Kénitra", "Meknès", "Fnideq"),
}

_EMAIL_DOMAINS: dict[str, tuple[str, ...]] = {
    "ES": ("gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"),
    "FR": ("gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr"),
    "MA": ("gmail.com", "menara.ma", "hotmail.com", "yahoo.fr", "outlook.com"),
}

_CURRENCY = {"MA": "MAD", "TN": "TND", "DZ": "DZD", "GB": "GBP", "CH": "CHF", "US": "USD"}

# IBAN BBAN layouts (SWIFT IBAN registry): n = digits, c = alphanumeric, a = letters.
_BBAN: dict[str, str] = {
    "ES": "20n", "FR": "10n11c2n", "DE": "18n", "IT": "1a10n12c", "PT": "21n", "BE": "12n",
    "NL": "4a10n", "TN": "20n", "AT": "16n", "LU": "3n13c", "GB": "4a14n", "CH": "5n12c",
    "PL": "24n", "SE": "20n", "GR": "7n16c", "IE": "4a14n",
}
_CHECK_BANK_CODE = frozenset({"BE"})
_ES_WEIGHTS = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)


def _es_dc(digits: str) -> str:
    value = 11 - sum(int(d) * w for d, w in zip(digits.zfill(10), _ES_WEIGHTS, strict=True)) % 11
    return "1" if value == 10 else "0" if value == 11 else str(value)


def _national_check(code: str, bban: str) -> str:
    """National check digits inside the BBAN (Spain's DC, Belgium's mod 97)."""
    if code == "ES":
        bank_branch, account = bban[:8], bban[10:]
        return bank_branch + _es_dc("00" + bank_branch) + _es_dc(account) + account
    if code == "BE":
        check = int(bban[:10]) % 97 or 97
        return bban[:10] + f"{check:02d}"
    return bban


def _romanisation_weights(code: str) -> tuple[tuple[Romanisation, float], ...]:
    if code in ARABIC_NAMING:
        return (("fr", 0.85), ("en", 0.1), ("icu", 0.05))
    if code == "ES" or code in SPANISH_NAMING:
        return (("es", 0.5), ("fr", 0.35), ("en", 0.1), ("icu", 0.05))
    if code in FRANCOPHONE:
        return (("fr", 0.75), ("en", 0.15), ("icu", 0.1))
    return (("en", 0.5), ("fr", 0.35), ("icu", 0.15))


def _locale_for(code: str) -> str:
    preferred = {"MA": "fr_FR", "TN": "fr_FR", "DZ": "fr_DZ", "BE": "fr_BE", "CH": "de_CH",
                 "US": "en_US", "GB": "en_GB"}
    if code in preferred:
        return preferred[code]
    matches = sorted(loc for loc in AVAILABLE_LOCALES if loc.endswith("_" + code))
    return matches[0] if matches else "en_US"


@lru_cache(maxsize=64)
def profile(code: str) -> CountryProfile:
    code = code.strip().upper()
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        raise ValidationFailed(f"unknown country code {code!r} (ISO 3166-1 alpha-2)",
                               field="countries")
    locale = _locale_for(code)
    language = locale.split("_")[0]
    if code in ARABIC_NAMING:
        naming: Style = "arabic"
    elif code in SPANISH_NAMING:
        naming = "spanish"
    else:
        naming = "western"
    agencies = _KNOWN_AGENCIES.get(code) or (
        AgencySpec(f"{code}-POL", f"National police ({country.name})", "police", language),
        AgencySpec(f"{code}-CUS", f"Customs ({country.name})", "customs", language),
    )
    return CountryProfile(
        code=code,
        name=country.name,
        eu=code in EU_MEMBERS,
        locale=locale,
        naming=naming,
        language=agencies[0].language,
        agencies=agencies,
        romanisation=_romanisation_weights(code),
        currency=_CURRENCY.get(code, "EUR" if code in EU_MEMBERS else "USD"),
        cities=_CITIES.get(code, ()),
        email_domains=_EMAIL_DOMAINS.get(code, ("gmail.com", "outlook.com", "yahoo.com")),
    )


# --- identifiers ------------------------------------------------------------------

_UPPER = string.ascii_uppercase
_DIGITS = string.digits
_ALNUM = _UPPER + _DIGITS
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_DIGITS, k=n))


def _letters(rng: random.Random, n: int, alphabet: str = _UPPER) -> str:
    return "".join(rng.choices(alphabet, k=n))


def passport_number(code: str, rng: random.Random) -> str:
    if code == "ES":
        return _letters(rng, 3) + _digits(rng, 6)  # PAA123456
    if code == "FR":
        return _digits(rng, 2) + _letters(rng, 2) + _digits(rng, 5)  # 12AB34567
    if code == "MA":
        return _letters(rng, 2) + _digits(rng, 7)  # AB1234567
    return _letters(rng, 2) + _digits(rng, 7)


def national_id(code: str, rng: random.Random) -> tuple[str, str]:
    """(type, number) of the national identity document."""
    if code == "ES":
        num = _digits(rng, 8)
        return "DNI", num + _DNI_LETTERS[int(num) % 23]
    if code == "FR":
        return "CNI", _letters(rng, 12, _ALNUM)
    if code == "MA":
        return "CNIE", _letters(rng, rng.choice((1, 2))) + _digits(rng, 6)
    return "national-id", _letters(rng, 9, _ALNUM)


_ES_PLATE_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"
#: Moroccan plates: number | Arabic letter | prefecture code.
_MA_PLATE_LETTERS = (("أ", "A"), ("ب", "B"), ("د", "D"), ("هـ", "H"), ("و", "W"), ("ط", "T"))


def plate(code: str, rng: random.Random) -> tuple[str, str]:
    """(plate as issued, plate as a foreign system keys it in)."""
    if code == "ES":
        p = _digits(rng, 4) + " " + _letters(rng, 3, _ES_PLATE_LETTERS)
        return p, p.replace(" ", "")
    if code == "FR":
        p = _letters(rng, 2) + "-" + _digits(rng, 3) + "-" + _letters(rng, 2)
        return p, p.replace("-", "")
    if code == "MA":
        ar, lat = rng.choice(_MA_PLATE_LETTERS)
        num, region = str(rng.randint(1, 99999)), str(rng.randint(1, 89))
        return f"{num}-{ar}-{region}", f"{num}-{lat}-{region}"
    p = _letters(rng, 2) + _digits(rng, 4) + _letters(rng, 2)
    return p, p


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUES = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
                                                   2, 3, 4, 5, 6, 7, 8, 9], strict=True))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(rng: random.Random) -> str:
    """A 17-character VIN with the ISO 3779 / FMVSS check digit in position 9."""
    chars = rng.choices(_VIN_CHARS, k=17)
    total = sum(
        (int(c) if c.isdigit() else _VIN_VALUES[c]) * w
        for c, w in zip(chars, _VIN_WEIGHTS, strict=True)
    )
    check = total % 11
    chars[8] = "X" if check == 10 else str(check)
    return "".join(chars)


def _bban(layout: str, rng: random.Random) -> str:
    out = []
    num = ""
    for ch in layout:
        if ch.isdigit():
            num += ch
            continue
        n = int(num)
        num = ""
        alphabet = {"n": _DIGITS, "a": _UPPER, "c": _ALNUM}[ch]
        out.append("".join(rng.choices(alphabet, k=n)))
    return "".join(out)


def _iban_check(code: str, bban: str) -> str:
    moved = bban + code + "00"
    numeric = "".join(str(int(c, 36)) for c in moved)
    return f"{98 - int(numeric) % 97:02d}"


def bank_account(code: str, rng: random.Random) -> tuple[str | None, str]:
    """(IBAN or None, national account number). Morocco uses the 24-digit RIB."""
    layout = _BBAN.get(code)
    if layout is None:
        return None, _digits(rng, 24 if code == "MA" else 16)
    for _ in range(10):
        bban = _national_check(code, _bban(layout, rng))
        iban = code + _iban_check(code, bban) + bban
        # BE bank codes must exist: check those with FtM's validator (slow, ~50 µs)
        if code not in _CHECK_BANK_CODE or IBAN.is_valid(iban):
            return iban, bban
    return None, bban


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def wallet(rng: random.Random) -> tuple[str, str, str]:
    """(address, currency, blockchain) — synthetic, not real chain addresses."""
    if rng.random() < 0.6:
        return "bc1q" + "".join(rng.choices(_BECH32, k=38)), "BTC", "bitcoin"
    if rng.random() < 0.5:
        return "T" + "".join(rng.choices(string.ascii_letters + _DIGITS, k=33)), "USDT", "tron"
    return "0x" + "".join(rng.choices("0123456789abcdef", k=40)), "ETH", "ethereum"


@lru_cache(maxsize=64)
def _mobile_template(code: str) -> tuple[int, str] | None:
    example = phonenumbers.example_number_for_type(code, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    return int(example.country_code or 0), str(example.national_number)


def mobile_phone(code: str, rng: random.Random) -> str | None:
    """A valid mobile number in E.164, keeping the example number's prefix."""
    template = _mobile_template(code)
    if template is None:
        return None
    cc, nsn = template
    keep = min(3, len(nsn) - 4)
    for _ in range(20):
        candidate = nsn[:keep] + _digits(rng, len(nsn) - keep)
        number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(candidate))
        if phonenumbers.is_valid_number(number):
            return f"+{cc}{candidate}"
    return f"+{cc}{nsn}"
