"""Privacy-preserving encodings as the protocol uses them (no database): persons across
scripts and with typos, the two-views rule, keyed identifier hashes, keys that differ."""

from __future__ import annotations

import pytest

from accord.errors import CryptoError, ValidationFailed
from accord.search import private
from accord.search.bloom import Encoding, LinkageKey
from accord.search.index import Query as IndexQuery
from accord.search.index import query_key
from accord.search.matcher import PersonRecord
from tests.unit.search.test_matcher import SAME

KEY = LinkageKey(bytes(range(32)), agreement="test-agreement")
DOB = "1970-05-04"


def enc(name: str, dob: str | None = None, key: LinkageKey = KEY) -> Encoding:
    return private.encode_person(key, PersonRecord(names=(name,), birth_dates=(dob,) if dob else ()))[0][0]


def query(name: str, dob: str | None = None, key: LinkageKey = KEY) -> Encoding:
    text = private.encode_query_person(key, PersonRecord(names=(name,),
                                                         birth_dates=(dob,) if dob else ()))
    return private.decode_query_person(key, text)


@pytest.mark.parametrize(("a", "b"), SAME)
def test_the_same_person_across_scripts_is_a_hit_and_shares_a_keyed_blocking_key(a: str, b: str) -> None:
    q = query(a, DOB)
    stored, blocks = private.encode_person(KEY, PersonRecord(names=(b,), birth_dates=(DOB,)))
    assert q.blocks & blocks, "no shared keyed blocking key: never a candidate"
    assert private.score(q, stored[0]).band in ("strong", "possible")


@pytest.mark.parametrize(("a", "b"), [
    ("يوسف العمراني", "Youssef El Amrani"),
    ("Youssef El Amrani", "Youssef El Amrany"),   # a typo
    ("Amrani Youssef", "Youssef El Amrani"),      # other order
    ("Khaled Ahmed", "Khalid Ahmad"),
])
def test_typos_order_and_script_with_an_equal_date_are_strong(a: str, b: str) -> None:
    assert private.score(query(a, DOB), enc(b, DOB)).band == "strong"


@pytest.mark.parametrize(("a", "b", "da", "db"), [
    ("Mohammed bin Salman", "Mohammed bin Salman", "1985-08-31", "1962-01-01"),
    ("Vladimir Putin", "Vladimir Potanin", "1952-10-07", "1952-10-07"),
    ("John Smith", "Jane Smith", "1980-01-01", "1980-01-01"),
    ("Mohammed Ali", "Mohammed Hassan", "1970", "1970"),
    ("Jean Dupont", "Marie Dupont", None, None),
])
def test_different_people_with_similar_names_are_not_strong(a: str, b: str, da: str | None,
                                                            db: str | None) -> None:
    assert private.score(query(a, da), enc(b, db)).band != "strong"


def test_a_clear_non_match_is_none_and_an_equal_name_alone_is_possible() -> None:
    assert private.score(query("Jean Dupont", "1970"), enc("Mohammed Salman", "1990")).band == "none"
    assert private.score(query("Youssef El Amrani"), enc("Youssef El Amrani", DOB)).band == "possible"


def test_the_explanation_holds_no_clear_value() -> None:
    explained = private.score(query("Youssef El Amrani", DOB), enc("Youssef Amrany", DOB)).explain()
    assert {e["field"] for e in explained} == {"name", "skeleton", "date_of_birth", "sex", "nationality"}
    assert "amran" not in repr(explained).lower() and "1970" not in repr(explained)


def test_encodings_under_another_key_never_compare() -> None:
    other = LinkageKey(bytes(range(32)), agreement="test-agreement", epoch=2)
    q = query("Youssef El Amrani", DOB, other)
    with pytest.raises(CryptoError):
        private.score(q, enc("Youssef El Amrani", DOB))
    with pytest.raises(ValidationFailed):
        private.decode_query_person(KEY, private.encode_query_person(
            other, PersonRecord(names=("Youssef El Amrani",))))
    assert not q.blocks & query("Youssef El Amrani", DOB).blocks


def test_identifiers_travel_as_keyed_hashes_of_their_match_key() -> None:
    a = query_key(IndexQuery("document", "xda 123-456"))
    b = query_key(IndexQuery("document", "XDA123456"))
    token = private.encode_identifier(KEY, "document", a)
    assert token == private.encode_identifier(KEY, "document", b)
    assert len(token) == 32 and "123456" not in token
    assert token != private.encode_identifier(KEY, "phone", a)  # the kind is hashed in
    other = LinkageKey(bytes(range(1, 33)), agreement="test-agreement")
    assert token != private.encode_identifier(other, "document", a)


def test_a_query_encoding_is_small_and_bounded() -> None:
    text = private.encode_query_person(KEY, PersonRecord(names=("Abu Bakr al-Baghdadi",),
                                                         birth_dates=("1971-07-28",)))
    assert len(text) < 1500
    assert len(query("Juan Carlos Alfonso Víctor María de Borbón y Borbón-Dos Sicilias",
                     "1938-01-05").blocks) <= 255
