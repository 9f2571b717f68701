"""Every error is JSON (`{code, description}` on the API), and every API answer carries
the documented `rateLimit-*` headers of its operation."""

from __future__ import annotations

from pathlib import Path

from fixtures import lineworks_emulator
from fixtures.lineworks_emulator.rate_limits import OperationLimits
from tests.lineworks_emulator.client import TOKEN_PATH, LineWorks, lineworks_client

HARUTO = "haruto.sato@works.example"
EVENTS = f"/v1.0/users/{HARUTO}/calendar/events"
RANGE = {"fromDateTime": "2026-12-01T00:00:00+09:00",
         "untilDateTime": "2026-12-02T00:00:00+09:00"}
HEADERS = ("rateLimit-limit", "rateLimit-remaining", "rateLimit-reset", "rateLimit-used")


async def test_router_errors_are_json(works: LineWorks) -> None:
    await works.login()
    unknown = await works.call("GET", "/v1.0/printers")
    assert unknown.status == 404
    assert unknown.headers["Content-Type"].startswith("application/json")
    assert unknown.body == {"code": "NOT_FOUND", "description": "Resource not found"}
    wrong = await works.call("DELETE", f"/v1.0/users/{HARUTO}/calendar")
    assert wrong.status == 405 and "GET" in wrong.headers["Allow"]
    assert wrong.body == {"code": "METHOD_NOT_ALLOWED", "description": "Method not allowed"}
    token_get = await works.call("GET", TOKEN_PATH)
    assert token_get.status == 405
    assert token_get.body["error"] == "invalid_request" and "error_description" in token_get.body
    text = await works.call("POST", "/v1.0/calendars", data="calendarName=x",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (text.status, text.body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    log = await works.control("GET", "requests")
    assert [e["status"] for e in log if e["path"] == "/v1.0/printers"] == [404]


async def test_rate_limit_headers_on_every_api_answer(works: LineWorks) -> None:
    anonymous = await works.call("GET", EVENTS, params=RANGE)
    assert anonymous.status == 401
    assert all(name in anonymous.headers for name in HEADERS)
    issued = await works.login()
    token = await works.call("POST", TOKEN_PATH, data={})
    assert "rateLimit-limit" not in token.headers, "the auth server is not the API"
    answers = [await works.call("GET", EVENTS, params=RANGE) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.headers["rateLimit-remaining"] for a in answers] == ["238", "237", "236"]
    assert [a.headers["rateLimit-used"] for a in answers] == ["2", "3", "4"]
    assert {a.headers["rateLimit-limit"] for a in answers} == {"240"}
    assert all(1 <= int(a.headers["rateLimit-reset"]) <= 60 for a in answers)
    created = await works.call("POST", EVENTS, json={"eventComponents": [{
        "summary": "s", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}}]})
    assert created.status == 201 and created.headers["rateLimit-used"] == "1", \
        "each operation has its own window"
    event_id = created.body["eventComponents"][0]["eventId"]
    deleted = await works.call("DELETE", f"{EVENTS}/{event_id}")
    assert deleted.status == 204 and deleted.headers["rateLimit-remaining"] == "239"
    bad = await works.call("GET", EVENTS, params={"fromDateTime": "yesterday"})
    assert bad.status == 400 and bad.headers["rateLimit-used"] == "5"
    assert issued["access_token"]


async def test_calls_beyond_the_limit_are_refused(tmp_path: Path) -> None:
    async with await lineworks_emulator.start(tmp_path, rate_limit_per_minute=2) as emulator, \
            lineworks_client(emulator) as works:
        await works.login()
        answers = [await works.call("GET", EVENTS, params=RANGE) for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 429]
        assert answers[2].body == {"code": "TOO_MANY_REQUESTS",
                                   "description": "API rate limit exceeded"}
        assert (answers[2].headers["rateLimit-remaining"], answers[2].headers["rateLimit-limit"],
                answers[2].headers["rateLimit-used"]) == ("0", "2", "2")
        other = await works.call("GET", f"/v1.0/users/{HARUTO}/calendar")
        assert other.status == 200
        log = await works.control("GET", "requests")
        assert [e["status"] for e in log if e["path"] == EVENTS] == [200, 200, 429]
        await works.control("POST", "reset")
        await works.login()
        assert (await works.call("GET", EVENTS, params=RANGE)).status == 200


async def test_injected_faults_keep_their_headers(works: LineWorks) -> None:
    await works.login()
    await works.control("POST", "faults", {"status": 503, "count": 1})
    failed = await works.call("GET", EVENTS, params=RANGE)
    assert (failed.status, failed.body["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert failed.headers["rateLimit-remaining"] == "239"
    await works.control("POST", "faults", {"status": 429, "retry_after": 0.5, "count": 1})
    throttled = await works.call("GET", EVENTS, params=RANGE)
    assert (throttled.status, throttled.headers["rateLimit-reset"],
            throttled.headers["rateLimit-remaining"]) == (429, "0.5", "0")


def test_operation_window_opens_with_its_first_call_and_lasts_a_minute() -> None:
    now = [100.0]
    limits = OperationLimits(limit=2, clock=lambda: now[0])
    first = limits.record("GET /a")
    assert (first.used, first.exceeded, first.headers()["rateLimit-reset"]) == (1, False, "60")
    now[0] += 59.2
    second = limits.record("GET /a")
    assert (second.headers()["rateLimit-reset"], second.headers()["rateLimit-remaining"]) == (
        "1", "0")
    assert limits.record("GET /a").exceeded
    assert not limits.record("POST /a").exceeded
    now[0] += 0.8
    fresh = limits.record("GET /a")
    assert (fresh.used, fresh.headers()["rateLimit-reset"]) == (1, "60")
