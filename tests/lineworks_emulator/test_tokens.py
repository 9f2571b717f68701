"""The token route: the service-account JWT grant and the refresh-token grant."""

from __future__ import annotations

from tests.lineworks_emulator.client import JWT_GRANT, LineWorks

HARUTO_CALENDAR = "/v1.0/users/haruto.sato@works.example/calendar"


async def test_refresh_token_issues_a_new_access_token(works: LineWorks) -> None:
    issued = await works.login("calendar calendar.read")
    assert set(issued) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert issued["scope"] == "calendar calendar.read"
    await works.control("POST", "faults", {"expire_tokens": True})
    expired = await works.call("GET", HARUTO_CALENDAR)
    assert (expired.status, expired.body["code"]) == (401, "UNAUTHORIZED")
    refreshed = await works.token_request(grant_type="refresh_token",
                                          refresh_token=issued["refresh_token"])
    assert refreshed.status == 200, refreshed.body
    assert refreshed.body["token_type"] == "Bearer"
    assert int(refreshed.body["expires_in"]) == 86400
    assert refreshed.body["scope"] == "calendar calendar.read"
    assert "refresh_token" not in refreshed.body, "rotation is off: the refresh token stays"
    works.token = refreshed.body["access_token"]
    assert (await works.call("GET", HARUTO_CALENDAR)).status == 200
    again = await works.token_request(grant_type="refresh_token",
                                      refresh_token=issued["refresh_token"], scope="calendar.read")
    assert (again.status, again.body["scope"]) == (200, "calendar.read")
    works.token = again.body["access_token"]
    write = await works.call("POST", "/v1.0/calendars", json={"calendarName": "x"})
    assert (write.status, write.body["code"]) == (403, "FORBIDDEN")


async def test_refresh_token_refusals(works: LineWorks) -> None:
    issued = await works.login("calendar.read")
    cases = [
        ({"refresh_token": "made-up"}, 400, "invalid_grant"),
        ({}, 400, "invalid_request"),
        ({"refresh_token": issued["refresh_token"], "scope": "calendar"}, 400, "invalid_scope"),
        ({"refresh_token": issued["refresh_token"], "client_secret": "wrong"}, 401,
         "invalid_client"),
    ]
    for fields, status, error in cases:
        answer = await works.token_request(grant_type="refresh_token", **fields)
        assert (answer.status, answer.body["error"]) == (status, error), fields
    log = await works.control("GET", "requests")
    assert issued["refresh_token"] not in str(log), "refresh tokens are redacted in the log"
    await works.control("POST", "reset")
    revoked = await works.token_request(grant_type="refresh_token",
                                        refresh_token=issued["refresh_token"])
    assert (revoked.status, revoked.body["error"]) == (400, "invalid_grant")


async def test_unsupported_grant_and_bad_assertion(works: LineWorks) -> None:
    answer = await works.token_request(grant_type="client_credentials")
    assert (answer.status, answer.body["error"]) == (400, "unsupported_grant_type")
    answer = await works.token_request(grant_type=JWT_GRANT, scope="calendar",
                                       assertion=works.assertion(sub="someone.else"))
    assert (answer.status, answer.body["error"]) == (400, "invalid_grant")
