"""RFC 5545 ``RRULE`` lines of a LINE WORKS event as the normalised ``Recurrence``.

The series is expanded by python-dateutil's RFC 5545 implementation (``dateutil.rrule``) in the
event's own time zone, so occurrences keep their wall-clock time across daylight-saving changes
and ``COUNT`` ends on the right day. ``range_start`` is midnight of the first occurrence's day;
``range_end`` is midnight of the ``UNTIL`` day, or of the last occurrence when ``COUNT`` is
given. A series without an end gets year 1, as the Microsoft Graph mapping reports Graph's
"noEnd" ranges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from itertools import islice
from typing import Any

from dateutil.rrule import rrule, rrulestr

from drivers.calendar.models import Recurrence

__all__ = ["MAX_COUNT", "NO_END", "last_occurrence", "recurrence_from_lines"]

NO_END = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
DAY_NAMES = {"MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday",
             "FR": "friday", "SA": "saturday", "SU": "sunday"}
#: Most occurrences expanded to find where a ``COUNT`` series ends.
MAX_COUNT = 10_000


def _rule_line(lines: Sequence[Any]) -> str | None:
    for line in lines:
        if isinstance(line, str) and line.upper().startswith("RRULE:"):
            return line.strip()
    return None


def _parts(line: str) -> dict[str, str]:
    parts = {}
    for item in line[6:].split(";"):
        key, _, value = item.partition("=")
        if key:
            parts[key.strip().upper()] = value.strip().upper()
    return parts


def _pattern(freq: str, parts: dict[str, str]) -> str | None:
    relative = any(day.strip()[:-2] for day in parts.get("BYDAY", "").split(",") if day) or (
        "BYSETPOS" in parts)
    return {
        "DAILY": "daily",
        "WEEKLY": "weekly",
        "MONTHLY": "monthly" if relative else "month_day",
        "YEARLY": "relativeyearly" if relative else "absoluteyearly",
    }.get(freq)


def _parse(line: str, first: datetime) -> rrule | None:
    """The rule anchored at ``first``; ``UNTIL`` in UTC (``Z``) is compared as an instant."""
    try:
        rule = rrulestr(line, dtstart=first, ignoretz=False)
    except (ValueError, TypeError):
        return None
    return rule if isinstance(rule, rrule) else None


def last_occurrence(line: str, first: datetime) -> datetime | None:
    """The last occurrence of a ``COUNT`` (or ``UNTIL``) series starting at ``first``."""
    rule = _parse(line, first)
    if rule is None:
        return None
    tail = deque(islice(rule, MAX_COUNT), maxlen=1)
    return tail[0] if tail else None


def _midnight(day: date, zone: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _until_day(value: str, zone: tzinfo) -> date | None:
    text = value.strip().upper()
    try:
        if "T" in text:
            moment = datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
            if text.endswith("Z"):
                return moment.replace(tzinfo=UTC).astimezone(zone).date()
            return moment.date()
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def recurrence_from_lines(lines: Sequence[Any] | None, first: datetime,
                          zone: tzinfo | None = None) -> Recurrence | None:
    """The normalised recurrence of an event starting at ``first`` (aware), or None.

    ``zone`` is the event's time zone (default: ``first``'s); the series is expanded there.
    """
    line = _rule_line(lines or [])
    if line is None:
        return None
    parts = _parts(line)
    pattern = _pattern(parts.get("FREQ", ""), parts)
    if pattern is None:
        return None
    zone = zone or first.tzinfo or UTC
    first = first.astimezone(zone)
    try:
        interval = max(1, int(parts.get("INTERVAL", "1")))
    except ValueError:
        interval = 1
    days = [DAY_NAMES[code[-2:]] for code in parts.get("BYDAY", "").split(",")
            if code[-2:] in DAY_NAMES]
    range_end = NO_END
    if "UNTIL" in parts:
        until = _until_day(parts["UNTIL"], zone)
        range_end = _midnight(until, zone) if until is not None else NO_END
    elif "COUNT" in parts:
        last = last_occurrence(line, first)
        range_end = _midnight(last.date(), zone) if last is not None else NO_END
    return Recurrence(range_start=_midnight(first.date(), zone), range_end=range_end,
                      interval=interval, pattern=pattern, days_of_week=days)
