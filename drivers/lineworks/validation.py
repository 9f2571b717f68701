"""Checks of request bodies against the documented LINE WORKS rules, before anything is sent.

Each failure raises ``LineWorksValidationError`` whose message names the field and the rule
(``calendarName must be at most 50 characters (maxLength 50; got 51)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from drivers.lineworks.errors import LineWorksValidationError

__all__ = [
    "CALENDAR_DESCRIPTION_MAX",
    "CALENDAR_NAME_MAX",
    "EVENT_DESCRIPTION_MAX",
    "EVENT_LOCATION_MAX",
    "EVENT_SUMMARY_MAX",
    "MAX_ATTENDEES",
    "MEMBER_ROLES",
    "MEMBER_TYPES",
    "calendar_create_body",
    "calendar_update_body",
    "check_event_component",
    "check_members",
]

CALENDAR_NAME_MAX = 50
CALENDAR_DESCRIPTION_MAX = 1000
MEMBER_TYPES = ("USER", "GROUP", "ORGUNIT")
MEMBER_ROLES = (
    "CALENDAR_EVENT_READ_WRITE",
    "EVENT_READ_WRITE",
    "EVENT_READ",
    "EVENT_READ_FREE_BUSY",
)
MEMBER_FIELDS = ("id", "type", "role")
EVENT_SUMMARY_MAX = 200
EVENT_DESCRIPTION_MAX = 5000
EVENT_LOCATION_MAX = 100
MAX_ATTENDEES = 500


def _fail(message: str) -> NoReturn:
    raise LineWorksValidationError(message)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        _fail("calendarName is required (a non-empty string)")
    if len(name) > CALENDAR_NAME_MAX:
        _fail(f"calendarName must be at most {CALENDAR_NAME_MAX} characters "
              f"(maxLength {CALENDAR_NAME_MAX}; got {len(name)})")
    return str(name)


def _check_description(description: Any) -> str:
    if not isinstance(description, str):
        _fail("description must be a string")
    if len(description) > CALENDAR_DESCRIPTION_MAX:
        _fail(f"description must be at most {CALENDAR_DESCRIPTION_MAX} characters "
              f"(maxLength {CALENDAR_DESCRIPTION_MAX}; got {len(description)})")
    return str(description)


def check_members(members: Sequence[Any]) -> list[dict[str, str]]:
    """Valid CalendarMember objects: id required, known type and role, no duplicates."""
    checked: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, member in enumerate(members):
        where = f"members[{index}]"
        if not isinstance(member, dict):
            _fail(f"{where} must be an object with id, type and role")
        unknown = [key for key in member if key not in MEMBER_FIELDS]
        if unknown:
            _fail(f"{where} has an unknown field {unknown[0]!r} (allowed: id, type, role)")
        member_id = member.get("id")
        if not isinstance(member_id, str) or not member_id.strip():
            _fail(f"{where}.id is required (a user, group or orgunit id)")
        member_type = member.get("type")
        if member_type not in MEMBER_TYPES:
            _fail(f"{where}.type must be one of {', '.join(MEMBER_TYPES)} "
                  f"(got {member_type!r})")
        role = member.get("role")
        if role not in MEMBER_ROLES:
            _fail(f"{where}.role must be one of {', '.join(MEMBER_ROLES)} (got {role!r})")
        key = (str(member_type), str(member_id).strip().casefold())
        if key in seen:
            _fail(f"members must be unique (uniqueItems): members[{seen[key]}] and {where} "
                  f"are both {member_type} {member_id}")
        seen[key] = index
        checked.append({"id": str(member_id), "type": str(member_type), "role": str(role)})
    return checked


def calendar_create_body(calendar_name: Any, members: Sequence[Any],
                         description: str | None, is_public: bool) -> dict[str, Any]:
    """The ``POST /calendars`` body, after checking every documented constraint."""
    body: dict[str, Any] = {"calendarName": _check_name(calendar_name),
                            "members": check_members(members)}
    if description is not None:
        body["description"] = _check_description(description)
    body["isPublic"] = bool(is_public)
    return body


def calendar_update_body(calendar_name: str | None = None,
                         members: Sequence[Any] | None = None,
                         description: str | None = None,
                         is_public: bool | None = None) -> dict[str, Any]:
    """The ``PATCH /calendars/{calendarId}`` body: only the given fields, each checked."""
    body: dict[str, Any] = {}
    if calendar_name is not None:
        body["calendarName"] = _check_name(calendar_name)
    if members is not None:
        body["members"] = check_members(members)
    if description is not None:
        body["description"] = _check_description(description)
    if is_public is not None:
        body["isPublic"] = bool(is_public)
    if not body:
        _fail("nothing to update: give at least one of calendar_name, members, "
              "description, is_public")
    return body


def check_event_component(event: dict[str, Any]) -> None:
    """Check an event about to be created against the documented Event field rules."""
    summary = event.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        _fail("summary is required (the event title must not be empty)")
    for field, limit in (("summary", EVENT_SUMMARY_MAX),
                         ("description", EVENT_DESCRIPTION_MAX),
                         ("location", EVENT_LOCATION_MAX)):
        value = event.get(field)
        if isinstance(value, str) and len(value) > limit:
            _fail(f"{field} must be at most {limit} characters "
                  f"(maxLength {limit}; got {len(value)})")
    if "start" not in event:
        _fail("start is required")
    attendees = event.get("attendees") or []
    if len(attendees) > MAX_ATTENDEES:
        _fail(f"attendees may hold at most {MAX_ATTENDEES} entries (got {len(attendees)})")
    for index, attendee in enumerate(attendees):
        if attendee.get("isResource"):
            if not attendee.get("id"):
                _fail(f"attendees[{index}].id is required for a resource attendee")
        elif not attendee.get("email"):
            _fail(f"attendees[{index}].email is required for a person attendee")
