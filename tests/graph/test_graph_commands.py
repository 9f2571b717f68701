"""Every command of the Graph driver through a real runtime against the Graph emulator: the
happy path and each documented failure, as PlaceOS clients see them."""

from __future__ import annotations

import base64
import logging
import sys
import time
from typing import Any

import pytest

from embedded.settings import graph_settings
from fixtures.emulator_base import RunningEmulator
from runtime.testing import ExecError, TestClient, run_runtime
from tests.graph.emulator_helpers import (
    SUPPORT_KEY,
    SYSTEM,
    USER_KEY,
    api_log,
    control,
    graph_config,
    graph_runtime,
    log_length,
    seed,
)
from tests.support.output import Output, OutputWriter

DAY = 86400


async def call(client: TestClient, name: str, args: list[Any] | dict[str, Any] | None = None,
               **kwargs: Any) -> Any:
    return await client.exec(SYSTEM, "Calendar", name, args if args is not None else [], **kwargs)


def by_mail(data: dict[str, Any], address: str) -> dict[str, Any]:
    return next(u for u in data["users"] if u["mail"] == address)


async def test_directory_commands_match_the_tenant(emulator: RunningEmulator) -> None:
    tenant = await seed(emulator)
    enabled = sorted(u["mail"] for u in tenant["users"] if u.get("accountEnabled"))
    amelia = by_mail(tenant, "amelia.hartley@emulated.example")
    async with graph_runtime(emulator) as rt, rt.client() as c:
        users = await call(c, "list_users")
        assert sorted(u["email"] for u in users) == enabled
        assert all(u["suspended"] is False for u in users)
        found = await call(c, "list_users", ["amel"])
        assert [u["email"] for u in found] == [amelia["mail"]]
        assert found[0] == {
            "id": amelia["id"], "name": amelia["displayName"], "email": amelia["mail"],
            "phone": amelia["mobilePhone"], "title": amelia["jobTitle"],
            "username": amelia["userPrincipalName"],
            "office_location": amelia["officeLocation"], "suspended": False, "unmapped": {},
        }
        assert len(await call(c, "list_users", {"limit": 3})) == 3
        assert await call(c, "list_users", ["o'brien"]) == []  # quote escaped, no error

        assert (await call(c, "get_user", [amelia["mail"]]))["id"] == amelia["id"]
        by_id = await call(c, "get_user", [amelia["id"]])
        assert by_id["email"] == amelia["mail"]
        assert await call(c, "get_user", ["nobody@emulated.example"]) is None


async def test_unknown_user_is_an_error_carrying_graphs_message(
    emulator: RunningEmulator,
) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        for command in ("get_user", "get_user_manager", "list_calendars", "get_groups"):
            with pytest.raises(ExecError) as error:
                await call(c, command, ["00000000-0000-0000-0000-000000000000"])
            assert error.value.error_code == 3
            assert error.value.msg.startswith("module raised: 404 ")
            assert error.value.msg.endswith("(GraphError)")
        with pytest.raises(ExecError) as error:
            await call(c, "list_events", ["ghost@emulated.example", 0, DAY])
        assert error.value.error_code == 3
        assert error.value.msg == (
            "module raised: 404 ErrorInvalidUser: The requested user 'ghost@emulated.example' "
            "is invalid. (GraphError)")


async def test_manager_and_no_manager(emulator: RunningEmulator) -> None:
    tenant = await seed(emulator)
    benjamin = by_mail(tenant, "benjamin.okafor@emulated.example")
    manager = next(u for u in tenant["users"] if u["id"] == benjamin["manager"])
    amelia = by_mail(tenant, "amelia.hartley@emulated.example")
    assert amelia["manager"] is None
    async with graph_runtime(emulator) as rt, rt.client() as c:
        found = await call(c, "get_user_manager", [benjamin["mail"]])
        assert (found["id"], found["email"]) == (manager["id"], manager["mail"])
        with pytest.raises(ExecError) as error:
            await call(c, "get_user_manager", [amelia["mail"]])
        assert error.value.error_code == 3
        assert "404 Request_ResourceNotFound" in error.value.msg


async def test_groups_and_members(emulator: RunningEmulator) -> None:
    tenant = await seed(emulator)
    groups = {g["displayName"]: g for g in tenant["groups"]}
    user_ids = {u["id"]: u for u in tenant["users"]}
    engineering = groups["Engineering"]
    direct_users = sorted(user_ids[m]["mail"] for m in engineering["members"] if m in user_ids)
    async with graph_runtime(emulator) as rt, rt.client() as c:
        listed = await call(c, "list_groups")
        assert sorted(g["name"] for g in listed) == sorted(groups)
        book_club = await call(c, "list_groups", ["O'Reilly"])
        assert [g["name"] for g in book_club] == ["O'Reilly Book Club"]

        group = await call(c, "get_group", [engineering["id"]])
        assert group == {"id": engineering["id"], "name": "Engineering",
                         "email": engineering["mail"],
                         "description": engineering["description"]}
        assert (await call(c, "get_group", [engineering["mail"]]))["id"] == engineering["id"]

        members = await call(c, "get_members", [engineering["id"]])
        assert sorted(m["email"] for m in members) == direct_users
        assert sorted(m["email"] for m in await call(c, "get_members",
                                                      [engineering["mail"]])) == direct_users

        member = user_ids[next(m for m in engineering["members"] if m in user_ids)]
        mine = await call(c, "get_groups", [member["mail"]])
        assert "Engineering" in {g["name"] for g in mine}
        service_account = graph_settings(emulator)["calendar_service_account"]
        service = await call(c, "get_groups", [service_account])
        assert await call(c, "get_groups") == service  # defaults to the service account

        for command in ("get_group", "get_members"):
            with pytest.raises(ExecError) as error:
                await call(c, command, ["11111111-2222-3333-4444-555555555555"])
            assert error.value.error_code == 3
            assert "404 Request_ResourceNotFound" in error.value.msg


async def test_calendars_of_a_mailbox(emulator: RunningEmulator) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        calendars = await call(c, "list_calendars", ["Amelia.Hartley@emulated.example"])
    primary = [cal for cal in calendars if cal["primary"]]
    assert len(primary) == 1
    assert primary[0]["id"] == "amelia.hartley@emulated.example"
    assert set(primary[0]) == {"id", "ref", "summary", "primary", "can_edit"}


async def test_event_lifecycle_create_list_decline_delete(emulator: RunningEmulator) -> None:
    room = "room.syd.1002@emulated.example"
    start = (int(time.time()) // DAY + 5) * DAY + 3 * 3600
    async with graph_runtime(emulator) as rt, rt.client() as c:
        created = await call(c, "create_event", {
            "title": "Kiosk rollout",
            "event_start": start,
            "event_end": start + 1800,
            "description": "<p>Plan</p>",
            "attendees": [{"name": "Maya Patel", "email": "maya.patel@emulated.example"},
                          {"name": "Room 10.02", "email": room, "resource": True}],
            "timezone": "Australia/Sydney",
            "calendar_id": "placeos.service@emulated.example",
        })
        assert (created["event_start"], created["event_end"]) == (start, start + 1800)
        assert created["title"] == "Kiosk rollout"
        assert created["mailbox"] == "placeos.service@emulated.example"
        assert {"name": "Maya Patel", "email": "maya.patel@emulated.example"}.items() <= \
            created["attendees"][0].items()  # the name was sent (the original dropped it)
        assert created["attendees"][1]["resource"] is True

        mine = await call(c, "list_events",
                          ["placeos.service@emulated.example", start - 60, start + 60])
        assert [e["id"] for e in mine] == [created["id"]]
        assert mine[0]["timezone"] == "Australia/Sydney"

        assert await call(c, "delete_event",
                          ["placeos.service@emulated.example", created["id"]]) is True
        assert await call(c, "list_events",
                          ["placeos.service@emulated.example", start - 60, start + 60]) == []
        with pytest.raises(ExecError) as error:
            await call(c, "delete_event", ["placeos.service@emulated.example", created["id"]])
        assert "404" in error.value.msg


async def test_all_day_event_without_end_lasts_a_day(emulator: RunningEmulator) -> None:
    day = (int(time.time()) // DAY + 8) * DAY
    async with graph_runtime(emulator) as rt, rt.client() as c:
        created = await call(c, "create_event", ["Offsite", day + 3600])
    assert created["all_day"] is True
    assert created["event_end"] - created["event_start"] == DAY
    assert created["mailbox"] == "placeos.service@emulated.example"  # the service account


async def test_decline_as_attendee_and_cancel_as_organiser(emulator: RunningEmulator) -> None:
    service = "placeos.service@emulated.example"
    now = int(time.time())
    async with graph_runtime(emulator) as rt, rt.client() as c:
        today = await call(c, "list_events", [service, now - 2 * DAY, now + 2 * DAY])
        invite = next(e for e in today if e["title"] == "Visitor policy draft")
        booking = next(e for e in today if e["title"] == "Desk hot-seat review")
        mark = await log_length(emulator)
        assert await call(c, "decline_event", [service, invite["id"]]) is True
        assert await call(c, "decline_event", {"calendar_id": service,
                                               "event_id": booking["id"],
                                               "comment": "room closed"}) is True
        log = await api_log(emulator, mark)
        actions = [(e["path"].rsplit("/", 1)[-1], e["status"]) for e in log]
        # attendee: declined; organiser: decline refused (400), then cancelled
        assert actions == [("decline", 202), ("decline", 400), ("cancel", 202)]
        assert log[0]["body"] == {"sendResponse": False, "comment": None}
        cancel = next(e for e in log if e["path"].endswith("/cancel"))
        assert cancel["body"] == {"comment": "room closed"}

        remaining = {e["id"] for e in await call(c, "list_events",
                                                 [service, now - 2 * DAY, now + 2 * DAY])}
        assert invite["id"] not in remaining and booking["id"] not in remaining
        with pytest.raises(ExecError) as error:
            await call(c, "decline_event", [service, "AAMkAGunknownAAA="])
        assert error.value.error_code == 3
        assert "404 ErrorItemNotFound" in error.value.msg


async def test_cancelled_events_only_on_request(emulator: RunningEmulator) -> None:
    room = "room.mel.402@emulated.example"
    now = int(time.time())
    window = [room, now - 2 * DAY, now + 2 * DAY]
    async with graph_runtime(emulator) as rt, rt.client() as c:
        default = await call(c, "list_events", window)
        everything = await call(c, "list_events", {"calendar_id": room,
                                                   "period_start": window[1],
                                                   "period_end": window[2],
                                                   "include_cancelled": True})
    cancelled = [e for e in everything if e.get("status") == "cancelled"]
    assert cancelled
    assert all(e.get("status") != "cancelled" for e in default)
    assert len(everything) == len(default) + len(cancelled)


async def test_time_zone_presents_events_in_that_zone(emulator: RunningEmulator) -> None:
    room = "room.syd.1002@emulated.example"
    now = int(time.time())
    async with graph_runtime(emulator) as rt, rt.client() as c:
        plain = await call(c, "list_events", [room, now - 2 * DAY, now + 2 * DAY])
        zoned = await call(c, "list_events", [room, now - 2 * DAY, now + 2 * DAY,
                                              "Asia/Tokyo"])
        with pytest.raises(ExecError) as error:
            await call(c, "list_events", [room, now, now + DAY, "Mars/Olympus"])
    assert plain and [e["event_start"] for e in plain] == [e["event_start"] for e in zoned]
    assert {e["timezone"] for e in zoned} == {"Asia/Tokyo"}
    assert "unknown time zone" in error.value.msg


async def test_mail_and_templates(emulator: RunningEmulator) -> None:
    templates = {"visitor": {"checkin": {"subject": "%{name} has arrived",
                                         "html": "<p>for your meeting at %{time}</p>"}}}
    async with graph_runtime(emulator, email_templates=templates) as rt, rt.client() as c:
        mark = await log_length(emulator)
        assert await call(c, "send_mail", {
            "to": "maya.patel@emulated.example", "subject": "Hello",
            "message_plaintext": "plain text",
            "attachments": {"file_name": "a.txt", "content": base64.b64encode(b"a").decode()},
            "cc": ["liam.oconnor@emulated.example"]}) is True
        assert await call(c, "send_template", [
            ["maya.patel@emulated.example"], ["visitor", "checkin"],
            {"name": "Ann", "time": "10:00"}]) is True
        assert await call(c, "send_template", [
            "maya.patel@emulated.example", "visitor.checkin", {"name": "Bo", "time": 9}]) is True
        assert await call(c, "send_template", [
            "maya.patel@emulated.example", "visitor.checkout", {"name": "Cy"}]) is None
        assert await call(c, "build_template", ["Hi %{name}!", {"name": "Di"}]) == "Hi Di!"

        sent = [e for e in await api_log(emulator, mark) if e["path"].endswith("/sendMail")]
        assert [e["status"] for e in sent] == [202, 202, 202]
        assert sent[0]["path"] == "/v1.0/users/noreply@emulated.example/sendMail"  # mailer_from
        first = sent[0]["body"]["message"]
        assert first["body"] == {"contentType": "Text", "content": "plain text"}
        assert first["ccRecipients"][0]["emailAddress"]["address"] == \
            "liam.oconnor@emulated.example"
        assert first["attachments"][0]["name"] == "a.txt"
        templated = [e["body"]["message"] for e in sent[1:]]
        assert [m["subject"] for m in templated] == ["Ann has arrived", "Bo has arrived"]
        assert templated[0]["body"] == {"contentType": "HTML",
                                        "content": "<p>for your meeting at 10:00</p>"}

        with pytest.raises(ExecError) as error:
            await call(c, "send_mail", {"to": "a@emulated.example", "subject": "x",
                                        "message_plaintext": "hi",
                                        "from": "ghost@emulated.example"})
        assert error.value.error_code == 3
        assert "404 ErrorInvalidUser" in error.value.msg


async def test_send_mail_without_a_body_is_refused_before_anything_is_sent(
    emulator: RunningEmulator,
) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await c.bind(SYSTEM, "Calendar", "connected")
        while (await c.next_notify())["value"] is not True:
            pass
        mark = await log_length(emulator)
        for body in ({}, {"message_plaintext": None, "message_html": None},
                     {"message_plaintext": "", "message_html": ""}):
            with pytest.raises(ExecError) as error:
                await call(c, "send_mail", {"to": "maya.patel@emulated.example",
                                            "subject": "No body", **body})
            assert error.value.error_code == 3
            assert "message_plaintext" in error.value.msg
            assert "message_html" in error.value.msg
        assert await log_length(emulator) == mark, "nothing reached Graph"


async def test_access_token_qr_codes_and_counters(emulator: RunningEmulator) -> None:
    async with graph_runtime(emulator) as rt:
        async with rt.client() as c:
            token = await call(c, "access_token")
            assert set(token) == {"expires", "token"}
            assert token["expires"].endswith("Z") and "." not in token["expires"]
            svg = await call(c, "generate_svg_qrcode", ["Test"])
            assert svg.startswith('<?xml version="1.0" standalone="yes"?>\n<svg version="1.1"')
            png = base64.b64decode(await call(c, "generate_png_qrcode", ["Test", 100]))
            assert png.startswith(b"\x89PNG")
            assert await call(c, "queue_size") == 0
            assert await call(c, "in_flight_size") == 0
            bound = await c.bind(SYSTEM, "Calendar", "connected")
            assert bound["type"] == "success"
            assert (await c.next_notify())["value"] is True
        async with rt.client(api_key=SUPPORT_KEY) as support:
            with pytest.raises(ExecError) as denied:
                await call(support, "access_token")
            assert denied.value.code == 401
            assert await call(support, "queue_size") == 0
        async with rt.client(api_key=USER_KEY) as user:
            with pytest.raises(ExecError):
                await call(user, "list_users")
            assert await call(user, "build_template", ["%{a}", {"a": 1}]) == "1"


async def test_wrong_credentials_disconnect_and_fail_with_the_token_error(
    emulator: RunningEmulator,
) -> None:
    async with graph_runtime(emulator, calendar_config={"client_secret": "not-the-secret"}) \
            as rt, rt.client() as c:
        with pytest.raises(ExecError) as error:
            await call(c, "list_users")
        assert error.value.error_code == 3
        assert "invalid_client" in error.value.msg
        assert "(GraphAuthError)" in error.value.msg
        assert "not-the-secret" not in error.value.msg
        assert rt.driver("mod-graph").status["connected"] is False


async def test_secrets_and_tokens_stay_out_of_logs(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    stderr = Output("stderr")  # the runtime's log lines, as they are written (capfd gets them too)
    monkeypatch.setattr(sys, "stderr", OutputWriter(stderr, also=sys.stderr))
    config = graph_config(emulator)
    config["modules"]["mod-bad"] = {
        "driver": config["modules"]["mod-graph"]["driver"],
        "settings": {**config["modules"]["mod-graph"]["settings"],
                     "calendar_config": {**config["modules"]["mod-graph"]["settings"][
                         "calendar_config"], "client_secret": "wrong-secret-9876"}},
    }
    config["systems"]["sys-bad"] = {"name": "Bad", "modules": ["mod-bad"]}
    async with run_runtime(config, log_level="debug") as rt, rt.client() as c:
        token = (await call(c, "access_token"))["token"]
        await control(emulator, "POST", "/_emulator/faults", {"expire_tokens": True})
        await call(c, "list_users", [None, 1])
        renewed = (await call(c, "access_token"))["token"]
        with pytest.raises(ExecError):
            await c.exec("sys-bad", "Calendar", "list_users", [])
        await stderr.wait_for(  # a failing probe has run and logged
            lambda line: "Microsoft Graph unavailable" in line or "Graph probe failed" in line,
            "the failing module's probe")
    output = capfd.readouterr()
    logged = output.out + output.err + caplog.text
    assert "Microsoft Graph unavailable" in logged or "Graph probe failed" in logged
    for secret in ("emulated-secret", "wrong-secret-9876", token, renewed):
        assert secret not in logged
