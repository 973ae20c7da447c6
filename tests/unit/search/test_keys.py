"""Match keys: equal identifiers written differently meet; wrong ones are refused."""

from __future__ import annotations

import pytest

from accord.errors import ValidationFailed
from accord.search.keys import (
    document_key,
    email_key,
    iban_key,
    mrz_check_digit,
    phone_key,
    plate_key,
    vin_key,
    wallet_key,
)


def test_document_numbers_fold_case_separators_and_lookalike_letters() -> None:
    assert document_key(" ab-123 456.7 ") == "AB1234567"
    assert document_key("АВ1234567") == "AB1234567"  # Cyrillic А and В, as copied from a form
    assert document_key("ＡＢ１２３") == "AB123"  # full-width, NFKC
    with pytest.raises(ValidationFailed):
        document_key("AB#123")
    with pytest.raises(ValidationFailed):
        document_key(" - ")


def test_mrz_check_digits_of_the_icao_9303_specimen() -> None:
    # ICAO Doc 9303 part 4 specimen passport: L898902C3 <6>, birth 740812 <2>, expiry 120415 <9>
    assert mrz_check_digit("L898902C3") == 6
    assert mrz_check_digit("740812") == 2
    assert mrz_check_digit("120415") == 9
    assert mrz_check_digit("L898902C<") == mrz_check_digit("L898902C0")
    with pytest.raises(ValidationFailed):
        mrz_check_digit("L8989-02")


def test_plates_carry_their_country() -> None:
    assert plate_key("1234 abc", "es") == "ES:1234ABC"
    assert plate_key("B-AB 1234", "DE") == "DE:BAB1234"
    assert plate_key("А 123 ВС", "RU") == "RU:A123BC"
    assert plate_key("1234ABC", "ES") != plate_key("1234ABC", "FR")
    with pytest.raises(ValidationFailed):
        plate_key("1234ABC", "ESP")


def test_vins_are_checked_where_they_carry_a_check_digit() -> None:
    assert vin_key("1M8GDM9AXKP042788") == vin_key("1m8g-dm9a-xkp0-42788")
    assert vin_key("1M8GDM9AXKP042788").check_digit_ok  # the ISO 3779 worked example
    assert not vin_key("1M8GDM9A1KP042788").check_digit_ok
    assert vin_key("WVWZZZ1JZXW000001").key == "WVWZZZ1JZXW000001"
    for bad in ("1M8GDM9AXKP04278", "1M8GDM9AXKP0427O8"):  # 16 characters; an O
        with pytest.raises(ValidationFailed):
            vin_key(bad)


def test_phones_in_e164() -> None:
    assert phone_key("612 34 56 78", "ES") == phone_key("+34 612-345-678") == "+34612345678"
    with pytest.raises(ValidationFailed):
        phone_key("12", "ES")


def test_emails() -> None:
    assert email_key("  Ana.Ruiz@Example.ORG ") == "ana.ruiz@example.org"
    assert email_key("ana@bücher.de") == "ana@xn--bcher-kva.de"
    for bad in ("ana", "ana@localhost", "a na@example.org", "@example.org"):
        with pytest.raises(ValidationFailed):
            email_key(bad)


def test_ibans_are_validated() -> None:
    assert iban_key("es91 2100 0418 4502 0005 1332") == "ES9121000418450200051332"
    with pytest.raises(ValidationFailed):
        iban_key("ES9121000418450200051333")  # one digit off: mod 97 fails


def test_wallets() -> None:
    assert wallet_key("1BoatSLRHtKNngkdXEeobR76b53LETtpyT") == "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
    assert wallet_key("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ") == \
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    assert wallet_key("0x52908400098527886E0F7030069857D2E4169EE7") == \
        "0x52908400098527886e0f7030069857d2e4169ee7"
    with pytest.raises(ValidationFailed):
        wallet_key("not-a-wallet")
