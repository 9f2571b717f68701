"""Time ranges and time values as LINE WORKS writes them.

Event lists accept ``fromDateTime`` / ``untilDateTime`` (``YYYY-MM-DDThh:mm:ssTZD``) at most
31 days apart, so longer periods are split into consecutive windows. Event times are local wall
times (``YYYY-MM-DDTHH:mm:ss``, no offset) plus a time-zone name, or a ``date`` for all-day
events.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drivers.lineworks.errors import LineWorksValidationError

__all__ = [
    "MAX_LIST_RANGE",
    "format_query_time",
    "local_date",
    "local_wall_time",
    "next_day",
    "parse_moment",
    "parse_timestamp",
    "resolve_zone",
    "split_range",
    "zone_or_utc",
]

#: Longest span one event-list request may cover.
MAX_LIST_RANGE = 31 * 24 * 3600


def split_range(start: int, end: int, max_span: int = MAX_LIST_RANGE) -> list[tuple[int, int]]:
    """Consecutive ``(from, until)`` windows covering ``start..end``, each <= ``max_span``."""
    if end <= start:
        raise LineWorksValidationError(
            f"period_end must be after period_start (got {start} .. {end})")
    windows = []
    cursor = start
    while cursor < end:
        until = min(cursor + max_span, end)
        windows.append((cursor, until))
        cursor = until
    return windows


def format_query_time(timestamp: int) -> str:
    """Unix seconds as ``YYYY-MM-DDThh:mm:ss+00:00`` (the list endpoints' format)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def resolve_zone(name: str | None) -> tuple[tzinfo, str]:
    """The zone for an IANA name (None = UTC); an unknown name is a validation error."""
    if not name or name.upper() == "UTC":
        return UTC, "UTC"
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        raise LineWorksValidationError(
            f"timezone {name!r} is not a known IANA time zone name") from None


def zone_or_utc(name: Any) -> tzinfo:
    """The zone named ``name`` (IANA), or UTC when it is unknown or missing."""
    try:
        return resolve_zone(name if isinstance(name, str) else None)[0]
    except LineWorksValidationError:
        return UTC


def parse_moment(value: Any) -> tuple[datetime | None, bool]:
    """A LINE WORKS ``{date}`` / ``{dateTime, timeZone}`` as an aware time, plus all-day flag.

    All-day dates are midnight in their ``timeZone`` when one is given, else in UTC. Values
    that cannot be read give ``(None, False)``.
    """
    if not isinstance(value, dict):
        return None, False
    zone = zone_or_utc(value.get("timeZone"))
    try:
        if value.get("date"):
            day = date.fromisoformat(str(value["date"]))
            return datetime(day.year, day.month, day.day, tzinfo=zone), True
        if value.get("dateTime"):
            moment = datetime.fromisoformat(str(value["dateTime"]))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            return moment, False
    except ValueError:
        return None, False
    return None, False


def parse_timestamp(value: Any) -> datetime | None:
    """``createdTime`` / ``updatedTime`` (``{dateTime, timeZone}``) as an aware time."""
    moment, _ = parse_moment(value)
    return moment


def local_wall_time(timestamp: int, zone: tzinfo) -> str:
    """Unix seconds as the local ``YYYY-MM-DDTHH:mm:ss`` in ``zone``."""
    return datetime.fromtimestamp(timestamp, zone).strftime("%Y-%m-%dT%H:%M:%S")


def local_date(timestamp: int, zone: tzinfo) -> date:
    """The calendar date of ``timestamp`` in ``zone``."""
    return datetime.fromtimestamp(timestamp, zone).date()


def next_day(day: date) -> date:
    """The day after ``day``."""
    return day + timedelta(days=1)
