"""Match keys: one canonical form per identifier, so that equal identifiers meet in the index.

The first building block of hit/no-hit search (issue 8). Each function takes an
identifier as an officer or a record wrote it and returns its canonical key, or
raises :class:`~accord.errors.ValidationFailed` when it cannot be one (a wrong
check digit, an impossible phone number). Pure functions, no I/O.

- **Document numbers**: upper case, no spaces, dashes, dots or slashes, look-alike
  Cyrillic and Greek capitals read as the Latin letters they show (a number copied
  from a Russian or Greek form). A number read from a machine-readable zone with its
  ICAO 9303 check digit is checked by :func:`mrz_check_digit`.
- **Plates**: the same folding, per country; the country is part of the key
  (``ES:1234ABC``), since the same characters name different vehicles abroad.
- **VINs** (ISO 3779): 17 characters without I, O, Q. The check digit at position 9
  is mandatory in North America only; :func:`vin_key` reports it, never guesses.
- **Phones**: E.164 with ``phonenumbers`` (the records module's normaliser).
- **E-mail addresses**: trimmed, lower case (the domain is case-insensitive; nearly
  every provider treats the local part so too).
- **IBANs**: validated (country format and ISO 7064 mod 97-10) with ``python-stdnum``.
- **Crypto wallets**: Bitcoin base58 addresses kept as written (case matters),
  bech32 (``bc1…``) and Ethereum ``0x…`` addresses folded to lower case.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stdnum import iban as std_iban
from stdnum.exceptions import ValidationError as StdnumError

from accord.errors import ValidationFailed
from accord.records.domain import normalise_phone

__all__ = [
    "VinKey", "document_key", "email_key", "iban_key", "mrz_check_digit", "phone_key",
    "plate_key", "vin_key", "wallet_key",
]

# Capitals of other scripts that look like Latin ones, as they appear on documents and plates.
_LOOKALIKES = str.maketrans({
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})
_SEPARATORS = re.compile(r"[\s\-./_·]+")
_ALNUM = re.compile(r"^[0-9A-Z]+$")


def _fold(value: str, what: str) -> str:
    text = unicodedata.normalize("NFKC", value).upper().translate(_LOOKALIKES)
    text = _SEPARATORS.sub("", text)
    if not text or not _ALNUM.match(text):
        raise ValidationFailed(f"{what} {value!r} has characters other than letters and digits",
                               field=what)
    return text


def document_key(value: str) -> str:
    """A passport, ID card or other document number as a match key."""
    return _fold(value, "document number")


def mrz_check_digit(field: str) -> int:
    """The ICAO 9303 check digit of a machine-readable-zone field (weights 7, 3, 1; ``<`` = 0)."""
    total = 0
    for i, ch in enumerate(field.upper()):
        if ch.isdigit():
            v = int(ch)
        elif "A" <= ch <= "Z":
            v = ord(ch) - ord("A") + 10
        elif ch == "<":
            v = 0
        else:
            raise ValidationFailed(f"{ch!r} cannot stand in a machine-readable zone", field="mrz")
        total += v * (7, 3, 1)[i % 3]
    return total % 10


def plate_key(value: str, country: str) -> str:
    """A registration plate, with its country: ``ES:1234ABC``."""
    cc = country.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", cc):
        raise ValidationFailed(f"{country!r} is not an ISO 3166 country code", field="country")
    return f"{cc}:{_fold(value, 'plate')}"


_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True)
class VinKey:
    key: str
    check_digit_ok: bool  # position 9 as ISO 3779's North American check digit


def vin_key(value: str) -> VinKey:
    """A vehicle identification number; its check digit verified where it has one."""
    vin = _fold(value, "VIN")
    if len(vin) != 17 or any(c in "IOQ" for c in vin):
        raise ValidationFailed(f"a VIN has 17 characters, none of I, O, Q: {value!r}", field="vin")
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    expected = "X" if total % 11 == 10 else str(total % 11)
    return VinKey(vin, vin[8] == expected)


def phone_key(value: str, region: str | None = None) -> str:
    """A phone number in E.164 (``region`` for numbers written without their country code)."""
    try:
        return normalise_phone(value, region)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="phone") from None


def email_key(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise ValidationFailed(f"{value!r} is not an e-mail address", field="email")
    try:
        domain = domain.encode("idna").decode("ascii")  # internationalised domains as A-labels
    except UnicodeError:
        raise ValidationFailed(f"{value!r} has an invalid domain", field="email") from None
    return f"{local}@{domain}"


def iban_key(value: str) -> str:
    try:
        return str(std_iban.validate(value))
    except StdnumError as exc:
        raise ValidationFailed(f"{value!r} is not a valid IBAN: {exc}", field="iban") from None


_BASE58 = re.compile(r"^[13][1-9A-HJ-NP-Za-km-z]{25,34}$")
_BECH32 = re.compile(r"^(bc|tb)1[02-9ac-hj-np-z]{11,71}$")
_ETH = re.compile(r"^0x[0-9a-f]{40}$")


def wallet_key(value: str) -> str:
    """A Bitcoin or Ethereum address as a match key."""
    text = value.strip()
    if _BASE58.match(text):
        return text
    low = text.lower()
    if _BECH32.match(low) or _ETH.match(low):
        return low
    raise ValidationFailed(f"{value!r} is not a Bitcoin or Ethereum address", field="wallet")
