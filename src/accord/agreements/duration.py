"""ISO 8601 durations (``P2Y``, ``P7D``, ``PT8H``, ``P1Y6M``, ``P2W``).

A small, strict parser: integer amounts only, designators in ISO order, no
negative or alternative (``PYYYY-MM-DD``) forms. Years and months are kept
apart from days because they are calendar units: ``P1M`` added to 31 January
is 28/29 February, not 31 days later. :meth:`Duration.add_to` does calendar
arithmetic; :meth:`Duration.to_timedelta` refuses calendar units (a legal
deadline in Accord is exact: write ``P30D``, not ``P1M``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["Duration", "DurationError", "parse_duration"]

_PATTERN = re.compile(
    r"^P(?!$)"
    r"(?:(?P<years>\d+)Y)?"
    r"(?:(?P<months>\d+)M)?"
    r"(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+)H)?"
    r"(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)S)?"
    r")?$"
)


class DurationError(ValueError):
    """The text is not an ISO 8601 duration Accord accepts."""


@dataclass(frozen=True, slots=True, order=False)
class Duration:
    """An ISO 8601 duration; weeks are folded into days (``P2W`` == ``P14D``)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def __post_init__(self) -> None:
        for name in ("years", "months", "days", "hours", "minutes", "seconds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DurationError(f"{name} must be a non-negative integer, not {value!r}")

    @classmethod
    def parse(cls, text: str) -> Duration:
        return parse_duration(text)

    @property
    def is_exact(self) -> bool:
        """True when the duration has no calendar units (years, months)."""
        return self.years == 0 and self.months == 0

    @property
    def is_zero(self) -> bool:
        return self == Duration()

    def to_timedelta(self) -> timedelta:
        if not self.is_exact:
            raise DurationError(f"{self} has calendar units (years/months); no fixed length")
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds)

    def add_to(self, when: datetime) -> datetime:
        """``when`` plus this duration; months clamp to the month's last day."""
        total_months = when.month - 1 + self.months + 12 * self.years
        year = when.year + total_months // 12
        month = total_months % 12 + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        moved = when.replace(year=year, month=month, day=day)
        return moved + timedelta(days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds)

    def add_to_date(self, when: date) -> date:
        moved = self.add_to(datetime(when.year, when.month, when.day))
        return moved.date()

    def __str__(self) -> str:
        if self.is_zero:
            return "PT0S"
        out = "P"
        if self.years:
            out += f"{self.years}Y"
        if self.months:
            out += f"{self.months}M"
        if self.days:
            out += f"{self.days}D"
        if self.hours or self.minutes or self.seconds:
            out += "T"
            if self.hours:
                out += f"{self.hours}H"
            if self.minutes:
                out += f"{self.minutes}M"
            if self.seconds:
                out += f"{self.seconds}S"
        return out


def parse_duration(text: str) -> Duration:
    """Parse ``text`` (e.g. ``P2Y``, ``PT8H``, ``P1Y6M``, ``P2W``) or raise DurationError."""
    if not isinstance(text, str):
        raise DurationError(f"expected an ISO 8601 duration string, not {type(text).__name__}")
    match = _PATTERN.match(text.strip())
    if not match:
        raise DurationError(f"{text!r} is not an ISO 8601 duration (examples: P2Y, P7D, PT8H, P1Y6M)")
    parts = {name: int(value) for name, value in match.groupdict().items() if value}
    weeks = parts.pop("weeks", 0)
    parts["days"] = parts.get("days", 0) + 7 * weeks
    return Duration(**parts)
