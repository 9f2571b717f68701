"""JSON batching: limits, per-part answers, dependsOn, per-part throttling and faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.graph_emulator import start
from tests.graph_emulator.helpers import Graph, address, client_session


def _get(part_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": part_id, "method": "GET", "url": url, **extra}


async def _batch(graph: Graph, parts: list[dict[str, Any]]) -> tuple[int, Any]:
    status, body, _ = await graph.call("POST", "/v1.0/$batch", json={"requests": parts})
    return status, body


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in body["responses"]}


async def test_twenty_requests_are_answered_each(graph: Graph) -> None:
    people = [u for u in graph.state.users.values() if not u.get("isRoom")][:20]
    parts = [_get(str(i), f"/users/{u['userPrincipalName']}?$select=id,displayName")
             for i, u in enumerate(people)]
    status, body = await _batch(graph, parts)
    assert status == 200
    responses = _by_id(body)
    assert set(responses) == {str(i) for i in range(20)}
    for i, user in enumerate(people):
        assert responses[str(i)]["status"] == 200
        assert responses[str(i)]["body"]["displayName"] == user["displayName"]
    log = await graph.control("GET", "requests")
    batch_entry = next(e for e in log if e["path"] == "/v1.0/$batch")
    assert len(batch_entry["inner"]) == 20
    assert batch_entry["inner"][0] == {"method": "GET", "url": parts[0]["url"], "status": 200}


async def test_twenty_one_requests_are_refused(graph: Graph) -> None:
    parts = [_get(str(i), "/users?$top=1") for i in range(21)]
    status, body = await _batch(graph, parts)
    assert status == 400
    assert body["error"]["code"] == "BadRequest"
    assert "20" in body["error"]["message"]


async def test_parts_have_their_own_status_and_errors(graph: Graph) -> None:
    parts = [
        _get("ok", f"/users/{address('maya.patel')}"),
        _get("missing", "/users/nobody@emulated.example"),
        _get("view", f"/users/{address('maya.patel')}/calendar/calendarView"),
        {"id": "mail", "method": "POST", "url": f"/users/{address('noreply')}/sendMail",
         "headers": {"Content-Type": "application/json"},
         "body": {"message": {"subject": "s", "toRecipients": [
             {"emailAddress": {"address": "x@northwind.example"}}]}}},
        {"id": "no-type", "method": "POST", "url": f"/users/{address('noreply')}/sendMail",
         "body": {"message": {}}},
        _get("versioned", "/v1.0/users"),
    ]
    status, body = await _batch(graph, parts)
    assert status == 200
    responses = _by_id(body)
    assert responses["ok"]["status"] == 200
    assert responses["ok"]["headers"]["Content-Type"].startswith("application/json;odata.")
    assert responses["ok"]["headers"]["OData-Version"] == "4.0"
    assert responses["missing"]["status"] == 404
    assert responses["missing"]["headers"]["Content-Type"] == "application/json"
    assert responses["missing"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert responses["view"]["body"]["error"]["code"] == "ErrorInvalidParameter"
    assert responses["mail"]["status"] == 202
    assert "body" not in responses["mail"]
    assert "Content-Type" not in responses["mail"]["headers"]
    assert responses["no-type"]["status"] == 400
    assert responses["versioned"]["status"] == 400
    assert [r["id"] for r in body["responses"]] != [p["id"] for p in parts]


async def test_depends_on(graph: Graph) -> None:
    parts = [
        _get("1", "/users/nobody@emulated.example"),
        _get("2", "/users?$top=1", dependsOn=["1"]),
        _get("3", "/groups?$top=1"),
        _get("4", "/users?$top=1", dependsOn=["3"]),
    ]
    status, body = await _batch(graph, parts)
    responses = _by_id(body)
    assert [responses[i]["status"] for i in "1234"] == [404, 424, 200, 200]
    status, body = await _batch(graph, [_get("a", "/users", dependsOn=["b"]),
                                        _get("b", "/users")])
    assert status == 400


async def test_injected_429_hits_individual_parts(graph: Graph) -> None:
    await graph.control("POST", "faults", {"status": 429, "retry_after": 3, "count": 2,
                                           "path_prefix": "/v1.0/users"})
    parts = [_get(str(i), "/users?$top=1") for i in range(4)] + [_get("g", "/groups?$top=1")]
    status, body = await _batch(graph, parts)
    assert status == 200
    throttled = [r for r in body["responses"] if r["status"] == 429]
    assert len(throttled) == 2
    assert all(r["headers"]["Retry-After"] == "3" for r in throttled)
    assert throttled[0]["body"]["error"]["code"] == "TooManyRequests"
    assert _by_id(body)["g"]["status"] == 200


async def test_built_in_rate_limit_throttles_parts(tmp_path: Path) -> None:
    async with await start(tmp_path, rate_limit=5) as emulator, \
            client_session(emulator.ca_file) as session:
        graph = Graph(emulator, session)
        parts = [_get(str(i), f"/users/{address('maya.patel')}/calendars") for i in range(8)]
        status, body = await _batch(graph, parts)
        assert status == 200
        statuses = sorted(r["status"] for r in body["responses"])
        assert statuses == [200] * 5 + [429] * 3
        throttled = next(r for r in body["responses"] if r["status"] == 429)
        assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
        assert int(throttled["headers"]["Retry-After"]) >= 1
        status, error, headers = await graph.call("GET", "/v1.0/users")
        assert (status, error["error"]["code"]) == (429, "TooManyRequests")
        assert "Retry-After" in headers
