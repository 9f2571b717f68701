"""The LINE WORKS emulator's own behaviour: auth, documented limits, paging, control API, CLI."""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import yarl
from cryptography.hazmat.primitives import serialization

from drivers.lineworks.auth import GRANT_TYPE
from embedded.settings import lineworks_settings
from fixtures.emulator_base import RunningEmulator
from tests.lineworks.helpers import (
    FACILITIES,
    HARUTO,
    control,
    request_log,
    vendor,
)

TOKEN_PATH = "/oauth2/v2.0/token"


async def _token(emulator: RunningEmulator, scope: str = "calendar") -> str:
    settings = lineworks_settings(emulator)["lineworks"]
    key = serialization.load_pem_private_key(
        Path(settings["private_key_file"]).read_bytes(), None)
    now = int(time.time())
    assertion = jwt.encode({"iss": settings["client_id"], "sub": settings["service_account"],
                            "iat": now, "exp": now + 3600}, key, algorithm="RS256")
    status, body = await vendor(emulator, "POST", TOKEN_PATH, data={
        "assertion": assertion, "grant_type": GRANT_TYPE, "client_id": settings["client_id"],
        "client_secret": settings["client_secret"], "scope": scope})
    assert status == 200, body
    assert body["token_type"] == "Bearer" and int(body["expires_in"]) == 86400
    assert body["refresh_token"] and body["scope"] == scope
    return str(body["access_token"])


def _events_path(user: str = HARUTO) -> str:
    return f"/v1.0/users/{user}/calendar/events"


async def test_driver_settings_point_at_the_emulator(emulator: RunningEmulator) -> None:
    settings = lineworks_settings(emulator)
    assert set(settings) == {"lineworks"}
    lineworks = settings["lineworks"]
    assert lineworks["api_base_url"] == emulator.url
    assert lineworks["auth_url"] == emulator.url + TOKEN_PATH
    assert Path(lineworks["ca_file"]) == emulator.ca_file
    assert Path(lineworks["private_key_file"]).name == "lineworks-private-key.pem"
    assert Path(lineworks["private_key_file"]).stat().st_mode & 0o077 == 0
    assert (lineworks["client_id"], lineworks["client_secret"], lineworks["service_account"]) == (
        "emulated-client", "emulated-secret", "emulated.serviceaccount")


async def test_api_refuses_missing_expired_and_underscoped_tokens(
        emulator: RunningEmulator) -> None:
    query = {"fromDateTime": "2024-01-01T00:00:00+09:00",
             "untilDateTime": "2024-01-02T00:00:00+09:00"}
    status, body = await vendor(emulator, "GET", _events_path(), params=query)
    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    reader = await _token(emulator, "calendar.read")
    assert (await vendor(emulator, "GET", _events_path(), token=reader, params=query))[0] == 200
    status, body = await vendor(emulator, "POST", "/v1.0/calendars", token=reader,
                                json={"calendarName": "x"})
    assert (status, body["code"]) == (403, "FORBIDDEN") and "calendar scope" in body["description"]
    await control(emulator, "POST", "faults", {"expire_tokens": True})
    status, body = await vendor(emulator, "GET", _events_path(), token=reader, params=query)
    assert (status, body) == (401, {"code": "UNAUTHORIZED",
                                    "description": "the access token has expired"})


async def test_event_list_limits(emulator: RunningEmulator) -> None:
    token = await _token(emulator)

    async def listing(raw_query: str, user: str = HARUTO) -> tuple[int, Any]:
        url = yarl.URL(emulator.url + _events_path(user) + "?" + raw_query, encoded=True)
        async with aiohttp.ClientSession() as http, http.get(
                url, headers={"Authorization": f"Bearer {token}"},
                ssl=ssl.create_default_context(cafile=str(emulator.ca_file))) as response:
            return response.status, await response.json()

    status, body = await listing("fromDateTime=2024-01-01T00:00:00%2B09:00"
                                 "&untilDateTime=2024-02-01T00:00:01%2B09:00")
    assert status == 400 and "31 days or less" in body["description"]
    status, body = await listing("fromDateTime=2024-01-01T00:00:00%2B09:00"
                                 "&untilDateTime=2024-02-01T00:00:00%2B09:00")
    assert status == 200 and body == {"events": []}
    status, body = await listing("fromDateTime=2024-01-01T00:00:00+09:00"
                                 "&untilDateTime=2024-01-02T00:00:00+09:00")
    assert status == 400 and "YYYY-MM-DDThh:mm:ssTZD" in body["description"], \
        "an unencoded + arrives as a space"
    status, body = await listing("untilDateTime=2024-01-02T00:00:00Z")
    assert (status, body["description"]) == (400, "fromDateTime is required")
    status, body = await listing("fromDateTime=2024-01-01T00:00:00Z"
                                 "&untilDateTime=2024-01-02T00:00:00Z", user="me")
    assert status == 400 and "'me' cannot be used" in body["description"]


async def test_event_create_rules(emulator: RunningEmulator) -> None:
    token = await _token(emulator)
    start = {"dateTime": "2024-01-01T10:00:00", "timeZone": "Asia/Tokyo"}
    cases = [
        ({"eventComponents": []}, "eventComponents is required"),
        ({"eventComponents": [{"start": start}]}, "summary is required"),
        ({"eventComponents": [{"summary": "s"}]}, "start is required"),
        ({"eventComponents": [{"summary": "s", "start": {"dateTime": "2024-01-01T10:00:00"}}]},
         "timeZone is required"),
        ({"eventComponents": [{"summary": "s", "start": start,
                               "end": {"dateTime": "2024-01-01T09:00:00",
                                       "timeZone": "Asia/Tokyo"}}]}, "end must be after"),
        ({"eventComponents": [{"summary": "s", "start": {"date": "2024-01-01"},
                               "end": {"date": "2024-01-01"}}]}, "end must be after"),
        ({"eventComponents": [{"summary": "s", "start": start, "visibility": "SECRET"}]},
         "visibility must be one of"),
        ({"eventComponents": [{"summary": "s", "start": start, "attendees": [{"id": "x"}]}]},
         "attendees[0].email is required"),
    ]
    for body, problem in cases:
        status, answer = await vendor(emulator, "POST", _events_path(), token=token, json=body)
        assert status == 400 and problem in answer["description"], answer
    good = {"eventComponents": [{"eventId": "fixed-id", "summary": "s", "start": start}]}
    status, created = await vendor(emulator, "POST", _events_path(), token=token, json=good)
    assert status == 201 and created["organizerCalendarId"]
    component = created["eventComponents"][0]
    assert component["eventId"] == "fixed-id" and component["organizer"]["email"] == HARUTO
    status, again = await vendor(emulator, "POST", _events_path(), token=token, json=good)
    assert (status, again["code"]) == (409, "CONFLICT")
    status, fetched = await vendor(emulator, "GET", _events_path() + "/fixed-id", token=token)
    assert status == 200 and fetched == created
    status, _ = await vendor(emulator, "DELETE", _events_path() + "/fixed-id", token=token,
                             params={"sendNotification": "maybe"})
    assert status == 400


async def test_personals_paging_and_bad_cursor(emulator: RunningEmulator) -> None:
    token = await _token(emulator)
    path = f"/v1.0/users/{HARUTO}/calendar-personals"
    status, first = await vendor(emulator, "GET", path, token=token, params={"count": "2"})
    assert status == 200 and len(first["calendarPersonals"]) == 2
    cursor = first["responseMetaData"]["nextCursor"]
    status, second = await vendor(emulator, "GET", path, token=token,
                                  params={"count": "2", "cursor": cursor})
    assert [p["calendarId"] for p in second["calendarPersonals"]] == [
        "calendar-7d4e5f6a-4444-4b8c-9d2e-3f4a5b6c7d84"]
    assert "responseMetaData" not in second
    for params in ({"cursor": "bogus"}, {"count": "51"}, {"count": "0"}):
        status, body = await vendor(emulator, "GET", path, token=token, params=params)
        assert (status, body["code"]) == (400, "INVALID_PARAMETER")


async def test_seed_route_reset_and_token_route_faults(emulator: RunningEmulator) -> None:
    seed = await control(emulator, "GET", "seed")
    assert seed["credentials"] == {"client_id": "emulated-client",
                                   "client_secret": "emulated-secret",
                                   "service_account": "emulated.serviceaccount",
                                   "token_url": emulator.url + TOKEN_PATH}
    assert {user["email"] for user in seed["users"]} >= {HARUTO}
    assert all(set(user) == {"userId", "email", "userName"} for user in seed["users"])
    assert seed["groups"][0]["groupName"] and seed["orgunits"][0]["orgUnitName"]
    facilities = next(c for c in seed["calendars"] if c["calendarId"] == FACILITIES)
    assert [e["eventId"] for e in facilities["events"]] == ["ev-fire-drill", "ev-carpet-cleaning"]
    token = await _token(emulator)
    assert (await vendor(emulator, "DELETE", _events_path() + "/ev-design-review",
                         token=token))[0] == 204
    await control(emulator, "POST", "faults", {"status": 503, "path_prefix": TOKEN_PATH})
    status, body = await vendor(emulator, "POST", TOKEN_PATH, data={"grant_type": GRANT_TYPE})
    assert (status, body["error"]) == (503, "temporarily_unavailable")
    assert (await control(emulator, "POST", "reset")) == {"reset": True}
    assert await request_log(emulator) == []
    status, _ = await vendor(emulator, "GET", _events_path() + "/ev-design-review", token=token)
    assert status == 401, "reset revokes issued tokens"
    status, event = await vendor(emulator, "GET", _events_path() + "/ev-design-review",
                                 token=await _token(emulator))
    assert status == 200 and event["eventComponents"][0]["summary"] == "Design review"


async def test_runs_alone_from_the_command_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fixtures.lineworks_emulator", "--port", "0",
        "--cert-dir", str(tmp_path), stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2])
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("lineworks_emulator ready at https://127.0.0.1:")
        assert (tmp_path / "lineworks-private-key.pem").is_file()
        assert (tmp_path / "ca.pem").is_file()
    finally:
        process.terminate()
        await process.wait()


async def test_injected_429_carries_rate_limit_headers(emulator: RunningEmulator) -> None:
    token = await _token(emulator)
    await control(emulator, "POST", "faults", {"status": 429, "retry_after": 2, "count": 1})
    async with aiohttp.ClientSession() as http, http.get(
            emulator.url + f"/v1.0/users/{HARUTO}/calendar",
            headers={"Authorization": f"Bearer {token}"},
            ssl=ssl.create_default_context(cafile=str(emulator.ca_file))) as response:
        assert response.status == 429
        assert await response.json() == {"code": "TOO_MANY_REQUESTS",
                                         "description": "API rate limit exceeded"}
        assert (response.headers["RateLimit-Limit"], response.headers["ratelimit-remaining"],
                response.headers["rateLimit-reset"]) == ("240", "0", "2")
