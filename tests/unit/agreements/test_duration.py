from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accord.agreements import Duration, DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P2Y", Duration(years=2)),
        ("P1Y6M", Duration(years=1, months=6)),
        ("P7D", Duration(days=7)),
        ("P2W", Duration(days=14)),
        ("PT8H", Duration(hours=8)),
        ("P1DT12H30M5S", Duration(days=1, hours=12, minutes=30, seconds=5)),
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "2 years", "P1.5Y", "-P1D", "P1H", "PT1D", "P1M1Y"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_str_round_trip() -> None:
    for text in ["P2Y", "P1Y6M", "P7D", "PT8H", "P1DT12H30M5S"]:
        assert str(parse_duration(text)) == text


def test_calendar_arithmetic_clamps_month_end() -> None:
    start = datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert parse_duration("P1M").add_to(start) == datetime(2024, 2, 29, 10, tzinfo=UTC)
    assert parse_duration("P1Y").add_to(datetime(2024, 2, 29, tzinfo=UTC)).day == 28


def test_exact_only_for_timedelta() -> None:
    assert parse_duration("PT8H").to_timedelta() == timedelta(hours=8)
    with pytest.raises(DurationError):
        parse_duration("P1M").to_timedelta()
