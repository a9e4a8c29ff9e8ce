"""Agents' working hours: is someone there now, and when does the next shift open?

`WorkingHours.parse("09:00-21:00", "mon-fri", "Europe/Moscow")`. An end before the start means the
shift passes midnight ("22:00-06:00" belongs to the day it starts on). "00:00-24:00" is all day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    pass


def _parse_time(text: str) -> time | None:
    text = text.strip()
    if text in ("24:00", "24"):
        return None  # end of day
    try:
        hh, _, mm = text.partition(":")
        return time(int(hh), int(mm or 0))
    except ValueError:
        raise ScheduleError(f"bad time {text!r}: use HH:MM, e.g. 09:00") from None


def _parse_days(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        first, _, last = part.partition("-")
        try:
            a = DAYS.index(first[:3])
            b = DAYS.index(last[:3]) if last else a
        except ValueError:
            raise ScheduleError(f"bad day {part!r}: use mon..sun, e.g. mon-fri,sun") from None
        i = a
        while True:
            out.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    if not out:
        raise ScheduleError("no working days: use e.g. mon-sun")
    return frozenset(out)


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time | None  # None: midnight at the end of the day
    days: frozenset[int]  # 0 = Monday
    tz: ZoneInfo

    @classmethod
    def parse(cls, hours: str, days: str, tz: str) -> WorkingHours:
        first, sep, last = hours.partition("-")
        if not sep:
            raise ScheduleError(f"bad hours {hours!r}: use HH:MM-HH:MM, e.g. 09:00-21:00")
        start = _parse_time(first)
        if start is None:
            raise ScheduleError("hours cannot start at 24:00")
        try:
            zone = ZoneInfo(tz)
        except Exception:  # noqa: BLE001 - ZoneInfo raises KeyError, ValueError or OSError by the name
            raise ScheduleError(f"unknown time zone {tz!r}: use an IANA name such as Europe/Moscow") from None
        return cls(start, _parse_time(last), _parse_days(days), zone)

    def _shift(self, day: datetime) -> tuple[datetime, datetime]:
        """The shift starting on the local calendar day of `day`."""
        begin = datetime.combine(day.date(), self.start, self.tz)
        if self.end is None:
            end = datetime.combine(day.date() + timedelta(days=1), time(0), self.tz)
        else:
            end = datetime.combine(day.date(), self.end, self.tz)
            if end <= begin:
                end += timedelta(days=1)
        return begin, end

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        for back in (0, 1):  # today's shift, or yesterday's running past midnight
            day = local - timedelta(days=back)
            if day.weekday() in self.days:
                begin, end = self._shift(day)
                if begin <= local < end:
                    return True
        return False

    def current_opening(self, now: datetime) -> datetime | None:
        """When the shift running at `now` began (None when closed)."""
        local = now.astimezone(self.tz)
        for back in (0, 1):
            day = local - timedelta(days=back)
            if day.weekday() in self.days:
                begin, end = self._shift(day)
                if begin <= local < end:
                    return begin
        return None

    def next_opening(self, now: datetime) -> datetime:
        """The start of the next shift after `now` (now itself when open)."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        for ahead in range(0, 8):
            day = local + timedelta(days=ahead)
            if day.weekday() in self.days:
                begin, _ = self._shift(day)
                if begin > local:
                    return begin
        raise ScheduleError("no opening within a week")  # unreachable with at least one day
