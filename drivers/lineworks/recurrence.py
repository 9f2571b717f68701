"""RFC 5545 ``RRULE`` lines of a LINE WORKS event as the normalised ``Recurrence``.

``range_start`` is midnight of the first occurrence's day; ``range_end`` is midnight of the
``UNTIL`` day, or of the last occurrence when ``COUNT`` is given. A series without an end gets
year 1, as the Microsoft Graph mapping reports Graph's "noEnd" ranges.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from drivers.calendar.models import Recurrence

__all__ = ["NO_END", "recurrence_from_lines"]

NO_END = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
DAY_NAMES = {"MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday",
             "FR": "friday", "SA": "saturday", "SU": "sunday"}
#: Longest COUNT a series end is computed for.
MAX_COUNT = 10_000


def _rule_parts(lines: Sequence[Any]) -> dict[str, str] | None:
    for line in lines:
        if isinstance(line, str) and line.upper().startswith("RRULE:"):
            parts = {}
            for item in line[6:].split(";"):
                key, _, value = item.partition("=")
                if key:
                    parts[key.strip().upper()] = value.strip()
            return parts
    return None


def _pattern(freq: str, parts: dict[str, str]) -> str | None:
    relative = any(day.strip()[:-2] for day in parts.get("BYDAY", "").split(",") if day) or (
        "BYSETPOS" in parts)
    return {
        "DAILY": "daily",
        "WEEKLY": "weekly",
        "MONTHLY": "monthly" if relative else "month_day",
        "YEARLY": "relativeyearly" if relative else "absoluteyearly",
    }.get(freq)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _last_day(first: date, freq: str, interval: int, count: int, weekdays: int) -> date:
    steps = count - 1
    if freq == "DAILY":
        return first + timedelta(days=steps * interval)
    if freq == "WEEKLY":
        weeks = math.ceil(count / max(1, weekdays)) - 1
        return first + timedelta(days=weeks * interval * 7 + (6 if weekdays > 1 else 0))
    if freq == "MONTHLY":
        return _add_months(first, steps * interval)
    return _add_months(first, steps * interval * 12)


def _until(value: str, zone: tzinfo) -> date | None:
    text = value.strip()
    try:
        if "T" in text:
            moment = datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
            if text.endswith("Z"):
                return moment.replace(tzinfo=UTC).astimezone(zone).date()
            return moment.date()
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _midnight(day: date, zone: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def recurrence_from_lines(lines: Sequence[Any] | None, first: datetime) -> Recurrence | None:
    """The normalised recurrence of an event starting at ``first`` (aware), or None."""
    parts = _rule_parts(lines or [])
    if parts is None:
        return None
    freq = parts.get("FREQ", "").upper()
    pattern = _pattern(freq, parts)
    if pattern is None:
        return None
    try:
        interval = max(1, int(parts.get("INTERVAL", "1")))
    except ValueError:
        interval = 1
    zone = first.tzinfo or UTC
    days = [DAY_NAMES[code[-2:].upper()] for code in parts.get("BYDAY", "").split(",")
            if code[-2:].upper() in DAY_NAMES]
    first_day = first.date()
    range_end = NO_END
    if "UNTIL" in parts:
        until = _until(parts["UNTIL"], zone)
        range_end = _midnight(until, zone) if until is not None else NO_END
    elif parts.get("COUNT", "").isdigit():
        count = min(MAX_COUNT, max(1, int(parts["COUNT"])))
        range_end = _midnight(_last_day(first_day, freq, interval, count, len(days)), zone)
    return Recurrence(range_start=_midnight(first_day, zone), range_end=range_end,
                      interval=interval, pattern=pattern, days_of_week=days)
