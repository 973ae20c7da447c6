"""Person comparison: levels, trained weights, bands, explanation, blocking keys."""

from __future__ import annotations

import time

import pytest

from accord.errors import ValidationFailed
from accord.search.matcher import (
    POSSIBLE,
    STRONG,
    BirthDate,
    PersonRecord,
    band_of,
    blocking_keys,
    compare,
    explain,
    load_parameters,
    parse_birth_date,
)


def P(name: str | list[str], dob: str | None = None, **kw: object) -> PersonRecord:
    names = [name] if isinstance(name, str) else name
    return PersonRecord(names=names, birth_dates=[dob] if dob else [], **kw)  # type: ignore[arg-type]


def name_level(a: str, b: str) -> str:
    m = compare(P(a), P(b))
    return next(f.level for f in m.explanation if f.field == "name")


# The same person written in another script or by another transliteration habit.
SAME = [
    ("محمد بن سلمان", "Mohammed bin Salman"),
    ("Владимир Владимирович Путин", "Vladimir Putin"),
    ("Αλέξης Τσίπρας", "Alexis Tsipras"),
    ("José María García López", "Jose Garcia"),
    ("Abu Bakr al-Baghdadi", "Abou Bakr el Baghdadi"),
    ("أبو بكر البغدادي", "Abu Bakr al-Baghdadi"),
    ("习近平", "Xi Jinping"),
    ("בנימין נתניהו", "Benjamin Netanyahu"),
    ("Усама бен Ладен", "Osama bin Laden"),
    ("أسامة بن لادن", "Usama bin Ladin"),
    ("Сергей Викторович Лавров", "Sergey Lavrov"),
    ("Александр Лукашенко", "Alexander Lukashenko"),
    ("عبد الرحمن", "Abdul Rahman"),
    ("Abdelrahman Mohamed", "Abd al-Rahman Muhammad"),
    ("Khaled Ahmed", "Khalid Ahmad"),
    ("Djamel Yousef", "Jamal Youssef"),
    ("Юрий Иванов", "Yuri Ivanov"),
    ("Putin Vladimir", "Vladimir Putin"),
    ("J. Garcia Lopez", "Jose Garcia Lopez"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_cross_script_same_person_agrees_on_name_and_shares_a_blocking_key(a: str, b: str) -> None:
    assert name_level(a, b) in ("exact", "equivalent", "contained")
    assert blocking_keys(P(a)) & blocking_keys(P(b))
    # With the same date of birth, the match is strong.
    m = compare(P(a, "1970-05-01"), P(b, "1970-05-01"))
    assert m.band == "strong", explain(m)
    # A name alone, however equal, is possible, not strong (see the module docstring).
    assert compare(P(a), P(b)).band == "possible"


@pytest.mark.parametrize(("a", "b", "da", "db"), [
    ("Mohammed bin Salman", "Mohammed bin Salman", "1985-08-31", "1962-01-01"),  # another birth year
    ("Vladimir Putin", "Vladimir Potanin", "1952-10-07", "1952-10-07"),
    ("John Smith", "Jane Smith", "1980-01-01", "1980-01-01"),                   # twins
    ("Mohammed Ali", "Mohammed Hassan", "1970", "1970"),
    ("Salman Khan", "Suleiman Khan", "1965-12-27", "1965-12-27"),
    ("Jean Dupont", "Marie Dupont", None, None),
])
def test_different_people_with_similar_names_are_not_strong(a: str, b: str, da: str | None,
                                                            db: str | None) -> None:
    m = compare(P(a, da), P(b, db))
    assert m.band != "strong", explain(m)


def test_clear_non_match_is_none() -> None:
    assert compare(P("Jean Dupont", "1970"), P("Mohammed Salman", "1990")).band == "none"


@pytest.mark.parametrize(("a", "b", "level"), [
    ("1970-05-01", "1970-05-01", "exact"),
    ("1970", "1970-05-01", "partial"),
    ("1970-05", "1970-05-01", "partial"),
    ("1970-05-01", "1970-01-05", "swapped"),
    ("1970-05-01", "1970-05-07", "typo"),
    ("1970-05-01", "1907-05-01", "typo"),     # transposed digits
    ("1970-05-01", "1970-08-20", "year"),
    ("1970-05-01", "1985-05-01", "none"),
    ("1970-03", "1970-05", "year"),
])
def test_date_of_birth_levels(a: str, b: str, level: str) -> None:
    m = compare(P("Ali Hassan", a), P("Ali Hassan", b))
    assert next(f.level for f in m.explanation if f.field == "birth_date") == level


def test_date_weights_are_ordered() -> None:
    p = load_parameters()
    w = {lvl: p.weight("birth_date", lvl) for lvl in ("exact", "partial", "typo", "year", "none")}
    assert w["exact"] > w["partial"] > w["typo"] > 0 > w["year"] > w["none"]


def test_parse_birth_date() -> None:
    assert parse_birth_date("1970") == BirthDate(1970)
    assert parse_birth_date("1970-05") == BirthDate(1970, 5)
    assert parse_birth_date("19700501") == BirthDate(1970, 5, 1)
    assert str(parse_birth_date("1970-05-01")) == "1970-05-01"
    for bad in ("1970-13-01", "70-05-01", "1 May 1970", "1970-05-32"):
        with pytest.raises(ValidationFailed):
            parse_birth_date(bad)
    # Records keep an impossible date as written: a typo there is still evidence.
    assert parse_birth_date("1970-13-01", strict=False) == BirthDate(1970, 13, 1)


def test_missing_fields_weigh_nothing() -> None:
    m = compare(P("Ali Hassan"), P("Ali Hassan", "1970-05-01"))
    assert [f.field for f in m.explanation] == ["name"]


def test_aliases_best_pair_counts() -> None:
    a = P(["Abu Muhammad al-Julani", "Ahmed Hussein al-Sharaa"], "1982")
    b = P("أحمد حسين الشرع", "1982-10-29")
    m = compare(a, b)
    assert m.band == "strong"


def test_nationality_gender_and_ids() -> None:
    base = {"names": ["Ali Hassan"], "birth_dates": ["1970-05-01"]}
    same = compare(PersonRecord(**base, nationality="MA", gender="m", id_numbers=["AB 123456"]),  # type: ignore[arg-type]
                   PersonRecord(**base, nationality="Morocco", gender="male", id_numbers=["ab-123456"]))  # type: ignore[arg-type]
    levels = {f.field: f.level for f in same.explanation}
    assert levels == {"name": "exact", "birth_date": "exact", "nationality": "same", "gender": "same",
                      "id_number": "exact"}
    other = compare(PersonRecord(**base, gender="f"), PersonRecord(**base, gender="m"))  # type: ignore[arg-type]
    assert other.score < compare(PersonRecord(**base), PersonRecord(**base)).score  # type: ignore[arg-type]


def test_explanation_names_the_forms_compared() -> None:
    m = compare(P("محمد بن سلمان", "1985"), P("Mohammed bin Salman", "1985-08-31"))
    name = m.explanation[0]
    assert name.field == "name" and name.level == "equivalent"
    assert "mhmd salman" not in name.left and "→ mhmd slman" in name.left
    assert "mhmd~mohammed" in name.detail
    text = explain(m)
    assert "band strong" in text and "birth_date" in text and "partial" in text
    assert m.as_dict()["band"] == "strong"


def test_score_is_a_probability_and_bands_follow_thresholds() -> None:
    for a, b in SAME[:5]:
        s = compare(P(a), P(b)).score
        assert 0.0 <= s <= 1.0
    assert band_of(STRONG) == "strong" and band_of(POSSIBLE) == "possible"
    assert band_of(POSSIBLE - 1e-9) == "none"


def test_blocking_keys_survive_typos_and_missing_dates() -> None:
    a = P("Sarah Dixon", "1991-11-01")
    assert blocking_keys(a) & blocking_keys(P("Sarah Dixln"))            # typo, no date
    assert blocking_keys(a) & blocking_keys(P("Sarha Dixon", "1919-11-01"))  # typo in name and year
    assert blocking_keys(a) & blocking_keys(P("Dixon Sarah", "1991"))
    assert not blocking_keys(a) & blocking_keys(P("Mohammed Salman", "1985-08-31"))


def test_compare_is_fast() -> None:
    pairs = [(P(a, "1970-05-01"), P(b, "1970")) for a, b in SAME]
    for a, b in pairs:
        compare(a, b)  # prepare and cache
    t0 = time.perf_counter()
    n = 0
    for _ in range(20):
        for a, b in pairs:
            compare(a, b)
            n += 1
    per = (time.perf_counter() - t0) / n
    assert per < 0.001, f"{per * 1e6:.0f} µs per comparison"
