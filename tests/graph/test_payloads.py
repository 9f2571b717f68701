"""Request bodies and filters built from command arguments."""

from __future__ import annotations

import pytest

from drivers.microsoft.graph_payloads import (
    event_body,
    mail_body,
    parse_attendees,
    recipient_list,
    user_search_filter,
)

# 2024-06-03 23:30 UTC = 2024-06-04 09:30 in Sydney (AEST, UTC+10)
START = 1717457400


def body(**overrides: object) -> dict:
    arguments: dict = {
        "title": "Planning", "event_start": START, "event_end": START + 3600,
        "description": "<p>agenda</p>", "attendees": [], "location": None, "timezone": None,
        "organizer": "room@x.example", "online_meeting_provider": None,
    }
    arguments.update(overrides)
    return event_body(**arguments)


def test_times_are_utc_wall_clock_without_a_zone() -> None:
    created = body()
    assert created["start"] == {"dateTime": "2024-06-03T23:30", "timeZone": "UTC"}
    assert created["end"] == {"dateTime": "2024-06-04T00:30", "timeZone": "UTC"}
    assert created["isAllDay"] is False
    assert created["body"] == {"content": "<p>agenda</p>", "contentType": "HTML"}
    assert created["organizer"] == {"emailAddress": {"address": "room@x.example",
                                                     "name": "room@x.example"}}
    assert created["locations"] == []
    assert "location" not in created and "isOnlineMeeting" not in created


def test_times_are_local_wall_clock_in_the_given_zone() -> None:
    created = body(timezone="Australia/Sydney")
    assert created["start"] == {"dateTime": "2024-06-04T09:30", "timeZone": "Australia/Sydney"}


def test_all_day_without_end_lasts_one_day_from_local_midnight() -> None:
    created = body(event_end=None, timezone="Australia/Sydney")
    assert created["isAllDay"] is True
    assert created["start"] == {"dateTime": "2024-06-04T00:00", "timeZone": "Australia/Sydney"}
    assert created["end"] == {"dateTime": "2024-06-05T00:00", "timeZone": "Australia/Sydney"}


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        body(timezone="Mars/Olympus")


def test_attendee_names_are_sent_and_resources_become_locations() -> None:
    attendees = parse_attendees([
        "plain@x.example",
        {"name": "Room 1", "email": "room1@x.example", "resource": True},
        {"name": "Ann", "email": "ann@x.example", "response_status": "accepted"},
    ])
    created = body(attendees=attendees, online_meeting_provider="teamsForBusiness")
    sent = created["attendees"]
    assert sent[0] == {"type": "required", "emailAddress": {"address": "plain@x.example",
                                                            "name": "plain@x.example"}}
    assert sent[1] == {"type": "resource", "emailAddress": {"address": "room1@x.example",
                                                            "name": "Room 1"}}
    assert sent[2]["status"]["response"] == "accepted"
    assert created["location"]["displayName"] == "Room 1"
    assert created["locations"][0]["locationEmailAddress"] == "room1@x.example"
    assert (created["onlineMeetingProvider"], created["isOnlineMeeting"]) == (
        "teamsForBusiness", True)


def test_explicit_location_wins_over_rooms() -> None:
    created = body(location="Level 3", attendees=parse_attendees(
        [{"email": "room1@x.example", "resource": True}]))
    assert created["location"] == {"displayName": "Level 3", "locationType": "default"}
    assert created["locations"] == [created["location"]]


def test_attendees_accept_one_string_and_reject_objects_without_email() -> None:
    assert [a.email for a in parse_attendees("solo@x.example")] == ["solo@x.example"]
    with pytest.raises(ValueError, match="without an email"):
        parse_attendees([{"name": "No Mail"}])


def test_mail_is_html_when_given_else_text_with_attachments_in_order() -> None:
    message = mail_body(
        to=["a@x.example"], subject="Hi", message_plaintext="plain", message_html=" ",
        attachments=[{"file_name": "a.txt", "content": "YQ=="}],
        resource_attachments=[{"file_name": "logo.png", "content": "iVBO", "content_id": "logo"}],
        cc=[], bcc=["b@x.example"],
    )["message"]
    assert message["body"] == {"contentType": "Text", "content": "plain"}
    assert message["toRecipients"] == [{"emailAddress": {"address": "a@x.example",
                                                         "name": "a@x.example"}}]
    assert "ccRecipients" not in message
    assert [a["name"] for a in message["attachments"]] == ["a.txt", "logo.png"]
    assert message["attachments"][1]["contentId"] == "logo"
    html = mail_body(to=["a@x.example"], subject="Hi", message_plaintext="plain",
                     message_html="<b>hi</b>", attachments=[], resource_attachments=[],
                     cc=[], bcc=[])["message"]
    assert html["body"] == {"contentType": "HTML", "content": "<b>hi</b>"}
    assert html["attachments"] == []


def test_recipients_accept_a_string_or_a_list() -> None:
    assert recipient_list("a@x.example") == ["a@x.example"]
    assert recipient_list(["a@x.example", " ", "b@x.example"]) == ["a@x.example", "b@x.example"]
    assert recipient_list(None) == []


def test_user_search_filter_escapes_quotes_per_word() -> None:
    assert user_search_filter(None) == "accountEnabled eq true"
    assert user_search_filter("  ") == "accountEnabled eq true"
    assert user_search_filter("o'neil  amy") == (
        "(accountEnabled eq true) and "
        "(startswith(displayName,'o''neil') or startswith(givenName,'o''neil') or "
        "startswith(surname,'o''neil') or startswith(mail,'o''neil')) and "
        "(startswith(displayName,'amy') or startswith(givenName,'amy') or "
        "startswith(surname,'amy') or startswith(mail,'amy'))"
    )
