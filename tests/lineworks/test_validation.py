"""Every documented create/update rule is checked before a request is sent, naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.lineworks.errors import LineWorksValidationError
from drivers.lineworks.validation import (
    calendar_create_body,
    calendar_update_body,
    check_members,
)
from fixtures.emulator_base import RunningEmulator
from runtime.testing import ExecError
from tests.lineworks.helpers import HARUTO, SYS, YUI, lineworks_runtime, request_log

MEMBER = {"id": YUI, "type": "USER", "role": "EVENT_READ"}

CREATE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"calendar_name": ""}, "calendarName is required"),
    ({"calendar_name": "   "}, "calendarName is required"),
    ({"calendar_name": "x" * 51},
     "calendarName must be at most 50 characters (maxLength 50; got 51)"),
    ({"calendar_name": "ok", "description": "d" * 1001},
     "description must be at most 1000 characters (maxLength 1000; got 1001)"),
    ({"calendar_name": "ok", "members": [{**MEMBER, "type": "TEAM"}]},
     "members[0].type must be one of USER, GROUP, ORGUNIT (got 'TEAM')"),
    ({"calendar_name": "ok", "members": [{**MEMBER, "role": "OWNER"}]},
     "members[0].role must be one of CALENDAR_EVENT_READ_WRITE, EVENT_READ_WRITE, EVENT_READ, "
     "EVENT_READ_FREE_BUSY (got 'OWNER')"),
    ({"calendar_name": "ok", "members": [{"type": "USER", "role": "EVENT_READ"}]},
     "members[0].id is required"),
    ({"calendar_name": "ok", "members": [MEMBER, {**MEMBER, "role": "EVENT_READ_WRITE"}]},
     "members must be unique (uniqueItems): members[0] and members[1] are both USER"),
    ({"calendar_name": "ok", "members": [MEMBER, {**MEMBER, "id": YUI.upper()}]},
     "members must be unique (uniqueItems)"),
    ({"calendar_name": "ok", "members": [{**MEMBER, "roles": "x"}]},
     "members[0] has an unknown field 'roles'"),
]

EVENT_CASES: list[tuple[dict[str, Any], str]] = [
    ({"title": "", "event_start": 1_700_000_000, "event_end": 1_700_003_600, "user_id": HARUTO},
     "summary is required"),
    ({"title": "t" * 201, "event_start": 1_700_000_000, "event_end": 1_700_003_600,
      "user_id": HARUTO}, "summary must be at most 200 characters (maxLength 200; got 201)"),
    ({"title": "ok", "description": "d" * 5001, "event_start": 1_700_000_000,
      "event_end": 1_700_003_600, "user_id": HARUTO},
     "description must be at most 5000 characters (maxLength 5000; got 5001)"),
    ({"title": "ok", "location": "l" * 101, "event_start": 1_700_000_000,
      "event_end": 1_700_003_600, "user_id": HARUTO},
     "location must be at most 100 characters (maxLength 100; got 101)"),
    ({"title": "ok", "event_start": 1_700_003_600, "event_end": 1_700_000_000, "user_id": HARUTO},
     "event_end must be after event_start"),
    ({"title": "ok", "event_start": 1_700_000_000, "event_end": 1_700_003_600,
      "timezone": "Mars/Olympus", "user_id": HARUTO},
     "timezone 'Mars/Olympus' is not a known IANA time zone name"),
    ({"title": "ok", "event_start": 1_700_000_000, "event_end": 1_700_003_600,
      "attendees": [{"name": "No Mail"}], "user_id": HARUTO}, "attendees[0].email is required"),
    ({"title": "ok", "event_start": 1_700_000_000, "event_end": 1_700_003_600,
      "attendees": [{"email": f"a{i}@works.example"} for i in range(501)], "user_id": HARUTO},
     "attendees may hold at most 500 entries (got 501)"),
    ({"title": "ok", "event_start": 1_700_000_000}, "user_id or calendar_id is required"),
]


async def _expect_rule(client: Any, command: str, args: dict[str, Any], rule: str) -> None:
    with pytest.raises(ExecError) as caught:
        await client.exec(SYS, "Calendar", command, args)
    assert caught.value.error_code == 3
    assert rule in caught.value.msg, caught.value.msg
    assert caught.value.msg.endswith("(LineWorksValidationError)")


async def test_create_calendar_rules_fail_before_any_request(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        for args, rule in CREATE_CASES:
            await _expect_rule(client, "create_calendar", args, rule)
        await _expect_rule(client, "update_calendar",
                           {"calendar_id": "c", "calendar_name": "x" * 51}, "maxLength 50")
        await _expect_rule(client, "update_calendar", {"calendar_id": "c"}, "nothing to update")
        for args, rule in EVENT_CASES:
            await _expect_rule(client, "create_event", args, rule)
        await _expect_rule(client, "list_events", [HARUTO, 1_700_000_000, 1_700_000_000],
                           "period_end must be after period_start")
    sent = [e for e in await request_log(emulator, "/v1.0/")
            if e["method"] != "GET" or "/events" in e["path"]]
    assert sent == []


def test_valid_bodies_keep_documented_fields() -> None:
    body = calendar_create_body("x" * 50, [MEMBER], "d" * 1000, True)
    assert body == {"calendarName": "x" * 50, "members": [MEMBER], "description": "d" * 1000,
                    "isPublic": True}
    assert calendar_create_body("Team", (), None, False) == {
        "calendarName": "Team", "members": [], "isPublic": False}
    assert calendar_update_body(is_public=False) == {"isPublic": False}
    roles = ["CALENDAR_EVENT_READ_WRITE", "EVENT_READ_WRITE", "EVENT_READ", "EVENT_READ_FREE_BUSY"]
    members = [{"id": f"id-{role}", "type": kind, "role": role}
               for role, kind in zip(roles, ["USER", "GROUP", "ORGUNIT", "USER"], strict=True)]
    assert check_members(members) == members
    # the same id may appear once per member type
    same_id = [{"id": "x", "type": "GROUP", "role": "EVENT_READ"},
               {"id": "x", "type": "ORGUNIT", "role": "EVENT_READ"}]
    assert check_members(same_id) == same_id


def test_member_must_be_an_object() -> None:
    with pytest.raises(LineWorksValidationError, match=r"members\[0\] must be an object"):
        check_members(["alice"])
