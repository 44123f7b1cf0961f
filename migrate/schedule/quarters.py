"""Calendar quarters, their migration windows and review meetings: pure date arithmetic."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass

from migrate.errors import UsageError
from migrate.registry.schema import ReviewSettings, WindowSettings

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text)
        if not match or int(match.group(1)) < 1:  # there is no year 0
            raise UsageError(f"'{text}' is not a quarter; expected the form 2027Q1")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, 3 * (self.number - 1) + 1, 1)

    @property
    def last_day(self) -> dt.date:
        month = 3 * self.number
        return dt.date(self.year, month, calendar.monthrange(self.year, month)[1])

    def shift(self, quarters: int) -> Quarter:
        index = self.year * 4 + (self.number - 1) + quarters
        return Quarter(index // 4, index % 4 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}Q{self.number}"  # parse() reads four digits back


@dataclass(frozen=True, order=True)
class Window:
    """A quarter's migration window; `end` is the last day, inclusive."""

    start: dt.date
    end: dt.date
    quarter: Quarter

    @property
    def end_exclusive(self) -> dt.date:
        return self.end + dt.timedelta(days=1)


@dataclass(frozen=True)
class Meeting:
    start: dt.datetime  # aware, in the registry's time zone
    end: dt.datetime
    quarter: Quarter


def _day_of_quarter(quarter: Quarter, day: int) -> dt.date:
    return min(quarter.first_day + dt.timedelta(days=day - 1), quarter.last_day)


# Planning asks for the same few windows thousands of times (every dependency, every
# quarter of the feed); the arguments are immutable, so each answer is kept.
@functools.lru_cache(maxsize=1024)
def migration_window(quarter: Quarter, settings: WindowSettings) -> Window:
    start = _day_of_quarter(quarter, settings.start_day)
    end = min(start + dt.timedelta(days=settings.length_days - 1), quarter.last_day)
    return Window(start=start, end=end, quarter=quarter)


def review_meeting(quarter: Quarter, settings: ReviewSettings, tz: dt.tzinfo) -> Meeting:
    day = _day_of_quarter(quarter, settings.day)
    start = dt.datetime.combine(day, settings.start_time, tzinfo=tz)
    return Meeting(start, start + dt.timedelta(minutes=settings.duration_minutes), quarter)


@functools.lru_cache(maxsize=1024)
def next_window(today: dt.date, settings: WindowSettings) -> Window:
    """The earliest migration window that starts on or after `today`."""
    quarter = Quarter.containing(today)
    window = migration_window(quarter, settings)
    return window if window.start >= today else migration_window(quarter.shift(1), settings)


def window_for_retirement(
    today: dt.date, retires: dt.date, settings: WindowSettings, safety_margin_days: int
) -> Window | None:
    """The earliest window starting on/after today that ends `safety_margin_days` before
    `retires`; None when no window fits (the dependency is urgent).

    Later windows end later, so only the first window can fit: if it does not, none does.
    """
    window = next_window(today, settings)
    if window.end + dt.timedelta(days=safety_margin_days) <= retires:
        return window
    return None
