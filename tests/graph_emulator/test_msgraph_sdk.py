"""Microsoft's msgraph-sdk, unmodified, against the Graph emulator: every route it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.item.members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.group import Group
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.response_type import ResponseType
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.item.calendar.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.calendars.item.events.events_request_builder import (
    EventsRequestBuilder,
)
from msgraph.generated.users.item.events.item.cancel.cancel_post_request_body import (
    CancelPostRequestBody,
)
from msgraph.generated.users.item.events.item.decline.decline_post_request_body import (
    DeclinePostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_response_content import BatchResponseContent
from msgraph_core.tasks.page_iterator import PageIterator

from fixtures.emulator_base import RunningEmulator
from tests.graph_emulator.helpers import Graph, address
from tests.graph_emulator.sdk import Sdk, graph_sdk

SERVICE = address("placeos.service")
ROOM = address("room.mel.302")
NEVER = datetime(1, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sdk(emulator: RunningEmulator) -> AsyncIterator[Sdk]:
    async with graph_sdk(emulator) as client:
        yield client


def _seed_users(graph: Graph) -> list[dict[str, Any]]:
    return list(graph.state.users.values())


def _group_id(graph: Graph, name: str) -> str:
    return next(g["id"] for g in graph.state.groups.values() if g["displayName"] == name)


def _user_with_manager(graph: Graph) -> tuple[dict[str, Any], dict[str, Any]]:
    user = next(u for u in _seed_users(graph) if u.get("manager"))
    return user, graph.state.users[user["manager"]]


async def _api_log(graph: Graph) -> list[dict[str, Any]]:
    log = await graph.control("GET", "requests")
    return [e for e in log if e["path"].startswith("/v1.0/")]


async def test_users_with_paging(sdk: Sdk, graph: Graph) -> None:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=4, select=["id", "displayName", "userPrincipalName"], orderby=["displayName"])
    first = await sdk.client.users.get(RequestConfiguration(query_parameters=query))
    assert isinstance(first, UserCollectionResponse)
    assert first.value is not None and len(first.value) == 4
    assert first.odata_next_link and first.odata_next_link.startswith(sdk.service_root)
    seen: list[User] = []

    def collect(user: User) -> bool:
        seen.append(user)
        return True

    await PageIterator(first, sdk.adapter).iterate(collect)
    expected = sorted(_seed_users(graph), key=lambda u: u["displayName"])
    assert [u.user_principal_name for u in seen] == [u["userPrincipalName"] for u in expected]
    pages = [e for e in await _api_log(graph) if e["path"] == "/v1.0/users"]
    assert len(pages) == -(-len(expected) // 4)
    assert all(e["status"] == 200 for e in pages)


async def test_user_and_manager(sdk: Sdk, graph: Graph) -> None:
    user, manager = _user_with_manager(graph)
    by_id = await sdk.client.users.by_user_id(user["id"]).get()
    by_upn = await sdk.client.users.by_user_id(user["userPrincipalName"]).get()
    assert by_id is not None and by_upn is not None
    assert (by_id.id, by_id.display_name, by_id.mail) == (user["id"], user["displayName"],
                                                          user["mail"])
    assert by_upn.id == user["id"]
    boss = await sdk.client.users.by_user_id(user["id"]).manager.get()
    assert isinstance(boss, User), "the manager's @odata.type selects the User model"
    assert (boss.id, boss.display_name) == (manager["id"], manager["displayName"])


async def test_groups_members_and_memberships_with_type_casts(sdk: Sdk, graph: Graph) -> None:
    groups = await sdk.client.groups.get()
    assert groups is not None and groups.value
    assert all(isinstance(g, Group) for g in groups.value)
    platform = _group_id(graph, "Platform Team")
    group = graph.state.groups[platform]
    query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
        select=["id", "displayName"], top=999)
    members = await sdk.client.groups.by_group_id(platform).members.graph_user.get(
        RequestConfiguration(query_parameters=query))
    assert members is not None and members.value is not None
    expected_users = {m for m in group["members"] if m in graph.state.users}
    assert {m.id for m in members.value} == expected_users
    assert all(isinstance(m, User) for m in members.value)
    typed = await sdk.client.groups.by_group_id(platform).members.graph_group.get()
    assert typed is not None and typed.value is not None
    assert {g.id for g in typed.value} == {m for m in group["members"]
                                           if m in graph.state.groups}
    member_id = next(iter(expected_users))
    direct = await sdk.client.users.by_user_id(member_id).member_of.get()
    assert direct is not None and direct.value is not None
    assert platform in {g.id for g in direct.value}
    assert all(isinstance(g, Group) for g in direct.value)
    transitive = await sdk.client.users.by_user_id(
        member_id).transitive_member_of.graph_group.get()
    assert transitive is not None and transitive.value is not None
    expected = {g["id"] for g in graph.state.transitive_groups(member_id)}
    assert {g.id for g in transitive.value} == expected
    assert len(expected) > len(direct.value), "the tenant nests groups"
    roles = await sdk.client.users.by_user_id(member_id).member_of.graph_directory_role.get()
    assert roles is not None and roles.value == []


async def test_calendars_and_calendar_view(sdk: Sdk) -> None:
    calendars = await sdk.client.users.by_user_id(SERVICE).calendars.get()
    assert calendars is not None and calendars.value
    assert calendars.value[0].is_default_calendar is True
    start = datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC)
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time=(start - timedelta(days=7)).isoformat(),
        end_date_time=(start + timedelta(days=7)).isoformat(), top=100)
    view = await sdk.client.users.by_user_id(SERVICE).calendar.calendar_view.get(
        RequestConfiguration(query_parameters=query))
    assert view is not None and view.value
    for event in view.value:
        assert event.start is not None and event.start.time_zone == "UTC"
        assert event.response_status is not None and event.response_status.time is not None
    unanswered = [e for e in view.value
                  if e.response_status and e.response_status.response == ResponseType.None_]
    organized = [e for e in view.value if e.is_organizer]
    assert organized, "the service account organizes seeded meetings"
    assert all(e.response_status and e.response_status.response == ResponseType.Organizer
               and e.response_status.time == NEVER for e in organized)
    assert all(e.response_status and e.response_status.time == NEVER for e in unanswered)


async def test_calendar_by_id_its_events_and_nested_group_links(sdk: Sdk, graph: Graph) -> None:
    mailbox = sdk.client.users.by_user_id(SERVICE)
    default = await mailbox.calendar.get()
    assert default is not None and default.id and default.is_default_calendar is True
    same = await mailbox.calendars.by_calendar_id(default.id).get()
    assert same is not None and same.name == default.name
    query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
        select=["subject", "start", "isOrganizer"], top=5)
    events = await mailbox.calendars.by_calendar_id(default.id).events.get(
        RequestConfiguration(query_parameters=query))
    assert events is not None and events.value and len(events.value) <= 5
    assert all(e.id and e.subject is not None and e.body is None for e in events.value)
    collected: list[Event] = []

    def collect(event: Event) -> bool:
        collected.append(event)
        return True

    await PageIterator(events, sdk.adapter).iterate(collect)
    box = graph.state.mailboxes[SERVICE.lower()]
    assert len(collected) == len([e for e in box.events.values()
                                  if e.calendar_id == default.id])
    all_staff = _group_id(graph, "All Staff")
    nested = await sdk.client.groups.by_group_id(all_staff).transitive_members.graph_user.get(
        RequestConfiguration(query_parameters=GraphUserRequestBuilder
                             .GraphUserRequestBuilderGetQueryParameters(top=999)))
    assert nested is not None and nested.value is not None
    expected = {m["id"] for m in graph.state.transitive_members(all_staff)
                if m["id"] in graph.state.users}
    assert {u.id for u in nested.value} == expected
    platform = _group_id(graph, "Platform Team")
    parents = await sdk.client.groups.by_group_id(platform).member_of.graph_group.get()
    assert parents is not None and parents.value is not None
    assert {g.id for g in parents.value} == {g["id"] for g in graph.state.direct_groups(platform)}


async def test_create_get_and_delete_event(sdk: Sdk, graph: Graph) -> None:
    day = date.today() + timedelta(days=20)
    event = Event(
        subject="SDK planning",
        body=ItemBody(content_type=BodyType.Text, content="Agenda"),
        start=DateTimeTimeZone(date_time=f"{day.isoformat()}T10:00:00",
                               time_zone="AUS Eastern Standard Time"),
        end=DateTimeTimeZone(date_time=f"{day.isoformat()}T11:00:00",
                             time_zone="AUS Eastern Standard Time"),
        attendees=[
            Attendee(email_address=EmailAddress(address=address("maya.patel"), name="Maya"),
                     type=AttendeeType.Required),
            Attendee(email_address=EmailAddress(address=ROOM), type=AttendeeType.Resource),
        ],
    )
    mailbox = sdk.client.users.by_user_id(SERVICE)
    created = await mailbox.events.post(event)
    assert created is not None and created.id
    assert created.original_start_time_zone == "AUS Eastern Standard Time"
    statuses = {a.email_address.address: a.status for a in created.attendees or []
                if a.email_address and a.status}
    assert {k: (v.response, v.time) for k, v in statuses.items()} == {
        address("maya.patel"): (ResponseType.None_, NEVER), ROOM: (ResponseType.None_, NEVER)}
    fetched = await mailbox.events.by_event_id(created.id).get()
    assert fetched is not None and fetched.subject == "SDK planning"
    replies = {a.email_address.address: a.status.response for a in fetched.attendees or []
               if a.email_address and a.status}
    assert replies[ROOM] == ResponseType.Accepted
    begins = datetime.combine(day, time(10, 0), tzinfo=ZoneInfo("Australia/Sydney"))
    assert fetched.start is not None and fetched.start.time_zone == "UTC"
    assert fetched.start.date_time == begins.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.0000000")
    await mailbox.events.by_event_id(created.id).delete()
    with pytest.raises(ODataError) as missing:
        await mailbox.events.by_event_id(created.id).get()
    assert missing.value.response_status_code == 404
    assert missing.value.error is not None and missing.value.error.code == "ErrorItemNotFound"


async def test_decline_and_cancel_with_the_sdk_bodies(sdk: Sdk, graph: Graph) -> None:
    day = date.today() + timedelta(days=21)
    maya = address("maya.patel")

    def meeting(subject: str) -> Event:
        return Event(subject=subject,
                     start=DateTimeTimeZone(date_time=f"{day.isoformat()}T09:00:00",
                                            time_zone="UTC"),
                     end=DateTimeTimeZone(date_time=f"{day.isoformat()}T10:00:00",
                                          time_zone="UTC"),
                     attendees=[Attendee(email_address=EmailAddress(address=maya),
                                         type=AttendeeType.Required)])

    organizer = sdk.client.users.by_user_id(SERVICE)
    declined = await organizer.events.post(meeting("Declined via SDK"))
    cancelled = await organizer.events.post(meeting("Cancelled via SDK"))
    assert declined is not None and declined.id and cancelled is not None and cancelled.id
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time=start.isoformat(), end_date_time=(start + timedelta(days=1)).isoformat())
    view = await sdk.client.users.by_user_id(maya).calendar.calendar_view.get(
        RequestConfiguration(query_parameters=query))
    assert view is not None and view.value is not None
    invitation = next(e for e in view.value if e.subject == "Declined via SDK")
    assert invitation.id and invitation.is_organizer is False
    await sdk.client.users.by_user_id(maya).events.by_event_id(invitation.id).decline.post(
        DeclinePostRequestBody(comment="Away that day", send_response=False))
    seen = await organizer.events.by_event_id(declined.id).get()
    assert seen is not None and seen.attendees and seen.attendees[0].status is not None
    assert seen.attendees[0].status.response == ResponseType.None_, \
        "SendResponse false: the organizer hears nothing"
    await organizer.events.by_event_id(cancelled.id).cancel.post(
        CancelPostRequestBody(comment="Room closed"))
    view = await sdk.client.users.by_user_id(maya).calendar.calendar_view.get(
        RequestConfiguration(query_parameters=query))
    assert view is not None and view.value is not None
    assert [(e.subject, e.is_cancelled) for e in view.value] == [
        ("Canceled: Cancelled via SDK", True)]
    bodies = [e["body"] for e in await _api_log(graph)
              if e["path"].endswith(("/decline", "/cancel"))]
    assert bodies == [{"Comment": "Away that day", "SendResponse": False},
                      {"Comment": "Room closed"}]


async def test_send_mail(sdk: Sdk, graph: Graph) -> None:
    body = SendMailPostRequestBody(
        message=Message(
            subject="Visitor arriving",
            body=ItemBody(content_type=BodyType.Html, content="<p>At reception</p>"),
            to_recipients=[Recipient(email_address=EmailAddress(address=address("maya.patel")))],
        ),
        save_to_sent_items=False,
    )
    await sdk.client.users.by_user_id(SERVICE).send_mail.post(body)
    [sent] = graph.state.sent_mail
    assert (sent["sender"], sent["subject"], sent["saveToSentItems"]) == (
        SERVICE, "Visitor arriving", False)
    assert sent["body"] == {"contentType": "html", "content": "<p>At reception</p>"}
    assert [r["emailAddress"]["address"] for r in sent["toRecipients"]] == [
        address("maya.patel")]
    [entry] = [e for e in await _api_log(graph) if e["path"].endswith("/sendMail")]
    assert set(entry["body"]) == {"Message", "SaveToSentItems"}, "the SDK's parameter names"


async def test_batch_read_with_the_sdk_batch_response_api(sdk: Sdk, graph: Graph) -> None:
    user, manager = _user_with_manager(graph)
    platform = _group_id(graph, "Platform Team")
    content = BatchRequestContent()
    content.add_request("user", sdk.batch_item(
        sdk.client.users.by_user_id(user["id"]).to_get_request_information(), "user"))
    content.add_request("manager", sdk.batch_item(
        sdk.client.users.by_user_id(user["id"]).manager.to_get_request_information(),
        "manager"))
    content.add_request("group", sdk.batch_item(
        sdk.client.groups.by_group_id(platform).to_get_request_information(), "group"))
    content.add_request("bad", sdk.batch_item(
        sdk.client.groups.by_group_id("not-a-guid").to_get_request_information(), "bad"))
    response = await sdk.client.batch.post(content)
    assert isinstance(response, BatchResponseContent)
    assert response.get_response_status_codes() == {"user": 200, "manager": 200,
                                                    "group": 200, "bad": 400}
    fetched_user = response.get_response_by_id("user", User)
    assert isinstance(fetched_user, User) and fetched_user.id == user["id"]
    boss = response.get_response_by_id("manager", User)
    assert isinstance(boss, User) and boss.display_name == manager["displayName"]
    group = response.get_response_by_id("group", Group)
    assert isinstance(group, Group) and group.display_name == "Platform Team"
    [entry] = [e for e in await _api_log(graph) if e["path"] == "/v1.0/$batch"]
    assert [part["status"] for part in entry["inner"]] == [200, 200, 200, 400]


async def test_throttled_call_is_retried_after_retry_after(sdk: Sdk, graph: Graph) -> None:
    user, _ = _user_with_manager(graph)
    await graph.control("POST", "faults", {"status": 429, "retry_after": 1, "count": 1,
                                           "path_prefix": f"/v1.0/users/{user['id']}"})
    fetched = await sdk.client.users.by_user_id(user["id"]).get()
    assert fetched is not None and fetched.id == user["id"]
    calls = [e["status"] for e in await _api_log(graph)
             if e["path"] == f"/v1.0/users/{user['id']}"]
    assert calls == [429, 200], "the SDK's retry handler waited and retried once"


async def test_malformed_ids_answer_400_with_graph_codes(sdk: Sdk) -> None:
    with pytest.raises(ODataError) as group:
        await sdk.client.groups.by_group_id("not-a-guid").get()
    assert group.value.response_status_code == 400
    assert group.value.error is not None and group.value.error.code == "Request_BadRequest"
    assert group.value.error.message == "Invalid object identifier 'not-a-guid'."
    with pytest.raises(ODataError) as event:
        await sdk.client.users.by_user_id(SERVICE).events.by_event_id("bogus").get()
    assert event.value.response_status_code == 400
    assert event.value.error is not None
    assert (event.value.error.code, event.value.error.message) == (
        "ErrorInvalidIdMalformed", "Id is malformed.")
