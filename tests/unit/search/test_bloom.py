"""Keyed Bloom-filter encodings: keys, tokens, Dice, comparison, serialisation, blocking."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from itertools import pairwise

import pytest

from accord.errors import CryptoError, ValidationFailed
from accord.search.bloom import (
    PERSON_SCHEME,
    BloomEncoder,
    BloomIndex,
    BloomScheme,
    Encoding,
    FieldSpec,
    LinkageKey,
    compare,
    dice,
    estimate_m,
    estimate_u,
    link,
    normalise_text,
)
from accord.search.bloom import _tokens as tokens

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))
PLAIN = replace(PERSON_SCHEME, balanced=False)


def key(secret: bytes = SECRET, agreement: str = "es-fr-2025", epoch: int = 1) -> LinkageKey:
    return LinkageKey(secret, agreement=agreement, epoch=epoch)


def person(given: str = "María José", surname: str = "García López", dob: str = "1980-07-25",
           sex: str = "f") -> dict[str, str]:
    return {"given_name": given, "surname": surname, "date_of_birth": dob, "sex": sex}


# --- key ---------------------------------------------------------------------------


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        LinkageKey(b"x" * 31, agreement="a")


def test_the_secret_is_not_in_repr() -> None:
    k = key()
    assert SECRET.hex() not in repr(k)
    assert str(list(SECRET)) not in repr(k)
    assert "es-fr-2025" in repr(k)


def test_derived_keys_differ_by_purpose_agreement_and_epoch() -> None:
    derived = {key().derive("field:surname"), key().derive("field:given_name"),
               key(agreement="es-ma").derive("field:surname"), key(epoch=2).derive("field:surname")}
    assert len(derived) == 4
    assert key().derive("blocking") == key().derive("blocking")
    assert key().key_id != key(epoch=2).key_id != key(OTHER).key_id


# --- tokens and normalisation ---------------------------------------------------------


def test_normalisation_folds_case_diacritics_and_punctuation() -> None:
    assert normalise_text("  O'Brien-Núñez,  JOSÉ ") == "o brien nunez jose"


def test_name_bigrams_are_padded() -> None:
    assert tokens("qgrams", "Anna") == ["_a", "an", "nn", "na", "a_"]
    assert tokens("qgrams", ["Anna", "Li"]) == ["_a", "an", "nn", "na", "a ", " l", "li", "i_"]
    assert tokens("qgrams", "  ") == []


def test_date_tokens_survive_a_typo_and_a_day_month_swap() -> None:
    same = set(tokens("date", "1980-07-25"))
    assert same == set(tokens("date", date(1980, 7, 25))) == set(tokens("date", "19800725"))
    typo = set(tokens("date", "1980-07-26"))
    assert len(same & typo) == len(same) - 3  # digit 7, the day, the {day, month} pair
    swapped = set(tokens("date", "1980-25-07"))
    assert {"y1980", "p0725"} <= same & swapped
    assert tokens("date", "1980") == ["01", "19", "28", "30", "y1980"]


# --- Dice --------------------------------------------------------------------------


def test_dice_on_known_bit_sets() -> None:
    assert dice(0b1111, 0b1111) == 1.0
    assert dice(0b1100, 0b0011) == 0.0
    assert dice(0b1110, 0b0111) == pytest.approx(2 * 2 / 6)
    assert dice(0, 0) == 0.0


def test_filter_dice_follows_bigram_dice_on_known_strings() -> None:
    enc = BloomEncoder(key(), PLAIN)
    smith, smyth = enc.field_filter("surname", "smith"), enc.field_filter("surname", "smyth")
    assert smith is not None and smyth is not None
    # bigrams _s sm mi it th h_ vs _s sm my yt th h_: 4 shared of 6 + 6 → 0.667
    assert dice(smith, smyth) == pytest.approx(4 / 6, abs=0.05)
    assert dice(smith, smith) == 1.0
    other = enc.field_filter("surname", "okonkwo")
    # no shared bigram: what remains is chance collisions (72 and 96 bits of 512)
    assert other is not None and dice(smith, other) < 0.25


def test_each_token_sets_at_most_k_bits_in_a_plain_filter() -> None:
    enc = BloomEncoder(key(), PLAIN)
    bits = enc.field_filter("sex", "f")
    assert bits is not None and 1 <= bits.bit_count() <= 4 and bits < 1 << 64


def test_balanced_filters_have_a_constant_bit_count() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    counts = {f.bit_count() for f in (enc.field_filter("surname", n) for n in ("li", "garcia lopez", "x"))
              if f is not None}
    assert counts == {512}


# --- keys make the bits --------------------------------------------------------------


def test_same_name_under_another_key_gives_different_bits() -> None:
    for scheme in (PLAIN, PERSON_SCHEME):
        a = BloomEncoder(key(), scheme).field_filter("surname", "garcia")
        b = BloomEncoder(key(OTHER), scheme).field_filter("surname", "garcia")
        c = BloomEncoder(key(epoch=2), scheme).field_filter("surname", "garcia")
        assert a is not None and b is not None and c is not None
        assert a != b and a != c
    a, b = (BloomEncoder(k, PLAIN).field_filter("surname", "garcia") for k in (key(), key(OTHER)))
    assert a is not None and b is not None and dice(a, b) < 0.3  # no better than unrelated names


def test_the_same_name_in_two_fields_gives_different_bits() -> None:
    enc = BloomEncoder(key(), PLAIN)
    assert enc.field_filter("given_name", "thomas") != enc.field_filter("surname", "thomas")


def test_different_key_is_no_match_and_is_said_so() -> None:
    a = BloomEncoder(key(), PERSON_SCHEME).encode(person())
    b = BloomEncoder(key(OTHER), PERSON_SCHEME).encode(person())
    with pytest.raises(CryptoError):
        compare(a, b, PERSON_SCHEME)
    forged = Encoding(a.key_id, b.scheme_id, b.filters, b.blocks)  # b's bits passed off under a's key id
    assert compare(a, forged, PERSON_SCHEME).band == "none"
    assert not a.blocks & b.blocks


# --- comparison -----------------------------------------------------------------------


def test_the_same_person_is_a_strong_match_and_a_stranger_none() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    a = enc.encode(person())
    same = compare(a, enc.encode(person(given="maria jose", surname="GARCIA-LOPEZ", dob="19800725")), PERSON_SCHEME)
    assert same.band == "strong" and same.score > 0.99
    assert compare(a, enc.encode(person(surname="Garcia Lopes")), PERSON_SCHEME).band == "strong"
    two = compare(a, enc.encode(person(surname="Garcia Lopes", dob="1980-07-26")), PERSON_SCHEME)
    assert two.band != "none" and two.score < same.score
    stranger = compare(a, enc.encode(person("Ivan", "Petrov", "1975-01-02", "m")), PERSON_SCHEME)
    assert stranger.band == "none" and stranger.score < 0.01


def test_the_explanation_names_fields_and_dice_never_values() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    result = compare(enc.encode(person()), enc.encode(person(sex="")), PERSON_SCHEME)
    explained = result.explain()
    assert [row["field"] for row in explained] == ["given_name", "surname", "date_of_birth", "sex"]
    assert explained[0]["dice"] == 1.0 and explained[0]["level"] == "exact"
    assert explained[3] == {"field": "sex", "dice": None, "level": "missing", "weight": 0.0}
    assert "garcia" not in repr(result).lower() and "1980" not in repr(result)


# --- serialisation ----------------------------------------------------------------------


def test_an_encoding_round_trips_through_text() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    a = enc.encode(person(sex=""))
    text = a.to_text(PERSON_SCHEME)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(text) < 600
    assert Encoding.from_text(text, PERSON_SCHEME) == a
    with pytest.raises(ValidationFailed):
        Encoding.from_text(text, PLAIN)  # another scheme
    with pytest.raises(ValidationFailed):
        Encoding.from_text(text[:-20], PERSON_SCHEME)


def test_unknown_fields_and_day_first_dates_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        BloomEncoder(key(), PERSON_SCHEME).encode({"surname": "x", "nationality": "es"})
    with pytest.raises(ValidationFailed):
        BloomEncoder(key(), PERSON_SCHEME).encode(person(dob="25.07.1980"))


# --- candidates, index, linkage, weights ---------------------------------------------------


def test_blocking_keys_meet_despite_a_typo_and_name_order() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    a = enc.encode(person())
    assert a.blocks & enc.encode(person(surname="Garsia Lopez", dob="1981-07-25")).blocks  # sx-given-year? no: names
    assert a.blocks & enc.encode(person(given="García López", surname="María José", dob="")).blocks
    assert not a.blocks & enc.encode(person("Ivan", "Petrov", "1975-01-02", "m")).blocks


def test_the_index_finds_the_person_without_scanning() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    index = BloomIndex(PERSON_SCHEME)
    index.add("es-1", enc.encode(person()))
    index.add("es-2", enc.encode(person("Ivan", "Petrov", "1975-01-02", "m")))
    index.add("es-3", enc.encode(person("Jean", "Dupont", "1990-03-04", "m")))
    query = enc.encode(person(given="Maria", surname="Garcia Lopez"))
    assert index.candidates(query) == {"es-1"}
    hits = index.search(query)
    assert [ref for ref, _ in hits] == ["es-1"]
    index.remove("es-1")
    assert index.search(query) == [] and len(index) == 2


def test_link_is_one_to_one() -> None:
    enc = BloomEncoder(key(), PERSON_SCHEME)
    left = {"a": enc.encode(person()), "b": enc.encode(person(dob="1980-07-26"))}
    right = {"x": enc.encode(person())}
    links = link(left, right, PERSON_SCHEME)
    assert [(x.left, x.right) for x in links] == [("a", "x")]
    assert len(link(left, right, PERSON_SCHEME, one_to_one=False)) == 2


def test_weights_estimated_from_data_separate_matches() -> None:
    scheme = BloomScheme((FieldSpec("given_name"), FieldSpec("surname"), FieldSpec("date_of_birth", "date", 256, 8)),
                         PERSON_SCHEME.blocking)
    enc = BloomEncoder(key(), scheme)
    names = ["anna", "boris", "carla", "dmitri", "elena", "farid", "greta", "hugo", "ines", "jonas"]
    surnames = ["smith", "novak", "rossi", "haddad", "kowalski", "moreau", "silva", "berg", "ivanov", "costa"]
    people = [{"given_name": g, "surname": s, "date_of_birth": f"19{50 + i}-0{1 + j % 9}-1{j % 10}"}
              for i, g in enumerate(names) for j, s in enumerate(surnames)]
    encoded = [enc.encode(p) for p in people]
    scheme = estimate_u(encoded, scheme, pairs=2000)
    assert scheme.fields[0].u[0] == pytest.approx(0.1, abs=0.03)  # one given name in ten
    typos = [enc.encode({**p, "surname": p["surname"] + "e"}) for p in people]
    pairs = list(zip(encoded, typos, strict=True)) + list(pairwise(encoded))
    scheme = estimate_m(pairs, scheme)
    assert 0.3 < scheme.prior < 0.7
    assert scheme.fields[2].m[0] > 0.9  # the date of birth agrees among matches
    assert compare(encoded[0], typos[0], scheme).band == "strong"
    assert compare(encoded[0], encoded[1], scheme).band == "none"
