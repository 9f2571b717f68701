"""Graph -> PlaceOS mapping, fed with response examples from Microsoft's Graph documentation.

The examples (``graph_docs_examples/*.json``, each naming its documentation page) are Graph's
own words, so the mapping is checked against real Graph shapes and not only against what our
emulator returns. Expected Unix times were computed independently (``date -u -d ... +%s``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.microsoft.errors import graph_error_from_response
from drivers.microsoft.graph_client import _split_batch_response
from drivers.microsoft.graph_mapping import (
    map_calendar,
    map_event,
    map_group,
    map_member,
    map_user,
)

EXAMPLES = Path(__file__).parent / "graph_docs_examples"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())["response"]


def test_every_example_names_its_documentation_page() -> None:
    for path in EXAMPLES.glob("*.json"):
        assert json.loads(path.read_text())["source"].startswith("https://learn.microsoft.com/")


def test_event_with_several_locations_maps_field_by_field_in_placeos_order() -> None:
    event = map_event(example("event_create_multiple_locations"), mailbox="adelev@contoso.com")
    assert event.to_json() == {
        "event_start": 1504116000,  # 2017-08-30 11:00 Pacific (PDT) = 18:00 UTC
        "event_end": 1504119600,
        "id": "AAMkADAGAADDdm4NAAA=",
        "host": "AdeleV@contoso.onmicrosoft.com",
        "title": "Plan summer company picnic",
        "body": "<html>\r\n<head>\r\n</head>\r\n<body>\r\nLet's kick-start this event planning!"
                "\r\n</body>\r\n</html>\r\n",
        "attendees": [
            {"name": "Dana Swope", "email": "danas@contoso.onmicrosoft.com",
             "response_status": "needsAction", "resource": False},
            {"name": "Alex Wilber", "email": "alexw@contoso.onmicrosoft.com",
             "response_status": "needsAction", "resource": False},
        ],
        "hide_attendees": False,
        "location": "Conf Room 3; Fourth Coffee; Home Office",
        "private": False,
        "all_day": False,
        "timezone": "America/Los_Angeles",
        "recurring": False,
        "created": "2017-08-30T07:06:33Z",
        "updated": "2017-08-30T07:06:34Z",
        "attachments": [],
        "status": "confirmed",
        "creator": "AdeleV@contoso.onmicrosoft.com",
        "ical_uid": "04000000820089190544",
        "online_meeting_phones": [],
        "visibility": "normal",
        "mailbox": "adelev@contoso.com",
    }
    assert list(event.to_json()) == [
        "event_start", "event_end", "id", "host", "title", "body", "attendees", "hide_attendees",
        "location", "private", "all_day", "timezone", "recurring", "created", "updated",
        "attachments", "status", "creator", "ical_uid", "online_meeting_phones", "visibility",
        "mailbox",
    ]


def test_series_master_carries_its_weekly_recurrence() -> None:
    event = map_event(example("event_create_recurring")).to_json()
    assert event["event_start"] == 1504551600  # 2017-09-04 12:00 PDT
    assert event["event_end"] == 1504558800
    assert event["recurring"] is True
    assert event["recurrence"] == {
        "range_start": 1504508400,  # 2017-09-04 00:00 PDT
        "range_end": 1514707200,  # 2017-12-31 00:00 PST
        "interval": 1,
        "pattern": "weekly",
        "days_of_week": ["monday"],
    }
    assert event["location"] == "Harry's Bar"
    assert "online_meeting_url" not in event


def test_teams_meeting_fields_come_from_online_meeting() -> None:
    event = map_event(example("event_create_online_meeting")).to_json()
    assert event["event_start"] == 1552244400  # 2019-03-10 12:00, the first day of US DST
    assert event["online_meeting_provider"] == "teamsForBusiness"
    assert event["online_meeting_url"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert event["online_meeting_id"] == "177513992"
    assert event["online_meeting_phones"] == ["+1 425 555 0123"]
    assert event["attendees"][0]["email"] == "adelev@contoso.onmicrosoft.com"
    assert "online_meeting_sip" not in event and "online_meeting_pin" not in event


def test_event_read_in_utc_without_original_zone() -> None:
    event = map_event(example("event_get")).to_json()
    assert (event["event_start"], event["event_end"]) == (1415034000, 1415035800)
    assert event["timezone"] == "UTC"
    assert event["location"] == "Conf Room Rainier"
    assert event["host"] == event["creator"] == "engineering@M365x214355.onmicrosoft.com"
    assert "status" not in event  # no responseStatus: the mailbox has not responded
    assert "created" not in event and "ical_uid" not in event


def test_shortened_calendar_view_item_still_maps() -> None:
    item = example("calendarview_list")["value"][0]
    event = map_event(item, mailbox="room@contoso.com").to_json()
    assert event["status"] == "confirmed"
    assert event["timezone"] == "America/Los_Angeles"
    assert event["ical_uid"].startswith("040000008200E00074C5B7101A82E008")
    assert isinstance(event["event_start"], int)
    assert event["attendees"] == []


def test_user_defaults_map_to_a_placeos_user() -> None:
    user = map_user(example("user_get")).to_json()
    assert user == {
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "name": "Adele Vance",
        "email": "AdeleV@contoso.com",
        "phone": "+1 425 555 0109",
        "title": "Retail Manager",
        "username": "AdeleV@contoso.com",
        "office_location": "18/2111",
        "suspended": True,  # accountEnabled is not a default property (quirk of the original)
        "unmapped": {},
    }


def test_manager_without_phones_and_member_mapping() -> None:
    manager = map_user(example("user_manager")).to_json()
    assert manager["name"] == "Sara Davis"
    assert "phone" not in manager
    member = map_member(example("user_get")).to_json()
    assert list(member) == ["id", "name", "email", "phone", "username", "suspended", "unmapped"]
    assert member["phone"] == "+1 425 555 0109"


def test_group_keeps_only_placeos_fields() -> None:
    assert map_group(example("group_get")).to_json() == {
        "id": "02bd9fd6-8f93-4758-87c3-1fb73740a315",
        "name": "HR Taskforce",
        "email": "HRTaskforce@M365x214355.onmicrosoft.com",
        "description": "Welcome to the HR Taskforce team.",
    }
    group = map_group(example("transitive_member_of_groups")["value"][0]).to_json()
    assert group["name"] == "AAD Contoso Users"
    assert "description" not in group


def test_calendar_id_is_the_owner_address() -> None:
    calendar = map_calendar(example("calendars_list")["value"][0], mailbox="SamanthaB@contoso.com")
    assert calendar.to_json() == {
        "id": "samanthab@contoso.com",
        "ref": "AAMkAGI2TGuLAAA=",
        "summary": "Calendar",
        "primary": False,
        "can_edit": True,
    }


def test_batch_response_items_are_matched_by_id_with_their_errors() -> None:
    responses = _split_batch_response(example("batch_response"), 5, token="t")
    assert [r.status for r in responses] == [200, 403, 403, 405, 200]
    assert responses[4].body["value"][0]["displayName"] == "Lynne Robbins"
    assert responses[0].headers["content-type"].startswith("application/json")
    assert str(graph_error_from_response(403, responses[1].body)) == (
        "403 Forbidden: You do not have the required permissions to access this item."
    )
    assert str(graph_error_from_response(403, responses[2].body)) == (
        "403 Authorization_RequestDenied: Insufficient privileges to complete the operation."
    )


def test_batch_response_out_of_order_and_missing_items() -> None:
    body = {"responses": [{"id": "2", "status": 204, "body": None},
                          {"id": "1", "status": 429, "headers": {"Retry-After": "7"}}]}
    first, second, third = _split_batch_response(body, 3, token="t")
    assert (first.status, first.headers["retry-after"]) == (429, "7")
    assert second.status == 204
    assert third.status == 503  # no answer for request 3: retried like a 503
