"""The Graph client against a scriptable local server: retries, token renewal, paging,
batching, error messages and health reporting."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest

from drivers.microsoft.errors import GraphConnectionError, GraphError
from drivers.microsoft.graph_request import odata_string, path, with_query
from drivers.microsoft.graph_settings import GraphSettings
from drivers.vendor_client import RetryPolicy
from drivers.vendor_client.limiter import DEFAULT_MAX_WAIT
from tests.graph.fake_graph import FakeGraph, FakeMsalApp, Reply, Seen, make_client

OK: Reply = (200, {}, {"ok": True})


def scripted(*replies: Reply) -> object:
    """A handler answering with ``replies`` in turn, then repeating the last one."""
    queue = list(replies)

    def handler(_seen: Seen) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


async def test_429_waits_for_retry_after_then_succeeds(fake_graph: FakeGraph) -> None:
    throttled = (429, {"Retry-After": "0.4"}, {"error": {"code": "TooManyRequests",
                                                         "message": "slow down"}})
    fake_graph.on("GET", "/users", scripted(throttled, OK))  # type: ignore[arg-type]
    client = make_client(fake_graph, batch=False)
    try:
        body = await client.get("/users")
    finally:
        await client.close()
    assert body == {"ok": True}
    first, second = fake_graph.seen
    assert second.t - first.t >= 0.39


async def test_503_is_retried_with_growing_backoff(fake_graph: FakeGraph) -> None:
    unavailable = (503, {}, {"error": {"code": "ServiceUnavailable", "message": "busy"}})
    fake_graph.on("GET", "/users", scripted(unavailable, unavailable, unavailable, OK))  # type: ignore[arg-type]
    policy = RetryPolicy(max_retries=4, base_delay=0.1, max_delay=1.0, max_total=5.0)
    client = make_client(fake_graph, batch=False, retry=policy)
    try:
        assert await client.get("/users") == {"ok": True}
    finally:
        await client.close()
    gaps = [b.t - a.t for a, b in pairwise(fake_graph.seen)]
    assert len(gaps) == 3
    # jittered between half and all of 0.1, 0.2, 0.4 seconds
    for gap, nominal in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert nominal / 2 - 0.01 <= gap <= nominal + 0.3


async def test_retries_are_bounded_and_the_last_error_is_raised(fake_graph: FakeGraph) -> None:
    fake_graph.on("GET", "/users", (504, {}, {"error": {"code": "GatewayTimeout",
                                                        "message": "upstream"}}))
    health: list[tuple[bool, str]] = []
    client = make_client(fake_graph, batch=False, health=health)
    try:
        with pytest.raises(GraphError) as error:
            await client.get("/users")
    finally:
        await client.close()
    assert str(error.value) == "504 GatewayTimeout: upstream"
    assert len(fake_graph.seen) == 4  # first try + max_retries (3)
    assert health[-1][0] is False


async def test_retry_after_beyond_the_time_budget_is_not_waited_for(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.on("GET", "/users", (429, {"Retry-After": "30"}, {"error": {
        "code": "TooManyRequests", "message": "later"}}))
    client = make_client(fake_graph, batch=False)
    started = time.monotonic()
    try:
        with pytest.raises(GraphError, match="429 TooManyRequests"):
            await client.get("/users")
    finally:
        await client.close()
    assert time.monotonic() - started < 2
    assert len(fake_graph.seen) == 1


async def test_a_rejected_token_is_replaced_once(fake_graph: FakeGraph) -> None:
    def only_second_token(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == "Bearer tok-2":
            return OK
        return 401, {}, {"error": {"code": "InvalidAuthenticationToken",
                                   "message": "Access token has expired or is not yet valid."}}

    fake_graph.on("GET", "/users", only_second_token)
    app = FakeMsalApp()
    client = make_client(fake_graph, batch=False, app=app)
    try:
        assert await client.get("/users") == {"ok": True}
    finally:
        await client.close()
    assert app.calls == 2
    assert [s.headers["Authorization"] for s in fake_graph.seen] == ["Bearer tok-1",
                                                                      "Bearer tok-2"]


async def test_persistent_401_is_an_error_and_marks_graph_unhealthy(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.on("GET", "/users", (401, {}, {"error": {
        "code": "InvalidAuthenticationToken", "message": "Access token validation failure."}}))
    health: list[tuple[bool, str]] = []
    client = make_client(fake_graph, batch=False, health=health)
    try:
        with pytest.raises(GraphError) as error:
            await client.get("/users")
    finally:
        await client.close()
    assert str(error.value) == "401 InvalidAuthenticationToken: Access token validation failure."
    assert "tok-" not in str(error.value)
    assert len(fake_graph.seen) == 2
    assert health[-1][0] is False


async def test_graph_error_message_carries_status_code_and_message(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.on("GET", "/users/nobody", (404, {}, {"error": {
        "code": "Request_ResourceNotFound",
        "message": "Resource 'nobody' does not exist or one of its queried reference-property "
                   "objects are not present."}}))
    health: list[tuple[bool, str]] = []
    client = make_client(fake_graph, batch=False, health=health)
    try:
        with pytest.raises(GraphError) as error:
            await client.get("/users/nobody")
    finally:
        await client.close()
    assert str(error.value).startswith("404 Request_ResourceNotFound: Resource 'nobody' does not")
    assert error.value.status == 404
    # Graph answered: reachable, credentials ok
    assert health == [(True, "Microsoft Graph answered")]


async def test_next_links_are_followed_to_the_end(fake_graph: FakeGraph) -> None:
    def page(seen: Seen) -> Reply:
        number = int(seen.url.split("page=")[1]) if "page=" in seen.url else 1
        body: dict[str, object] = {"value": [{"n": number * 10 + i} for i in range(3)]}
        if number < 3:
            body["@odata.nextLink"] = f"{fake_graph.url}/v1.0/items?page={number + 1}"
        return 200, {}, body

    fake_graph.on("GET", "/items", page)
    client = make_client(fake_graph)
    try:
        items = await client.get_all("/items", params={"$top": 3})
        capped = await client.get_all("/items", limit=4)
    finally:
        await client.close()
    assert [item["n"] for item in items] == [10, 11, 12, 20, 21, 22, 30, 31, 32]
    assert [item["n"] for item in capped] == [10, 11, 12, 20]
    assert [s.url for s in fake_graph.seen][:3] == ["/items?$top=3", "/items?page=2",
                                                   "/items?page=3"]
    assert len(fake_graph.seen) == 5  # the capped listing stopped after its second page


async def test_a_next_link_to_another_host_is_refused(fake_graph: FakeGraph) -> None:
    fake_graph.on("GET", "/items", (200, {}, {
        "value": [], "@odata.nextLink": "https://evil.example/v1.0/items?page=2"}))
    client = make_client(fake_graph)
    try:
        with pytest.raises(GraphError, match="UnexpectedNextLink"):
            await client.get_all("/items")
    finally:
        await client.close()


async def test_concurrent_requests_travel_in_batches_of_twenty(fake_graph: FakeGraph) -> None:
    def room(seen: Seen) -> Reply:
        return 200, {}, {"room": seen.url.split("/")[2]}

    for number in range(40):
        fake_graph.on("GET", f"/users/room{number}@x.example/calendar/calendarView", room)
    client = make_client(fake_graph)
    try:
        bodies = await asyncio.gather(*(
            client.get(path("users", f"room{n}@x.example", "calendar", "calendarView"),
                       params={"startDateTime": "2024-01-01T00:00:00-00:00"})
            for n in range(40)))
    finally:
        await client.close()
    assert [b["room"] for b in bodies] == [f"room{n}@x.example" for n in range(40)]
    assert [s.url for s in fake_graph.http_requests] == ["/$batch", "/$batch"]
    assert all(s.in_batch for s in fake_graph.seen)
    inner = fake_graph.seen[0]
    assert inner.headers["Prefer"] == 'IdType="ImmutableId"'
    assert "Authorization" not in inner.headers
    assert fake_graph.http_requests[0].headers["Authorization"] == "Bearer tok-1"


async def test_a_throttled_batch_item_is_retried_alone(fake_graph: FakeGraph) -> None:
    fake_graph.on("GET", "/a", OK)
    fake_graph.on("GET", "/b", scripted(  # type: ignore[arg-type]
        (429, {"Retry-After": "0.2"}, {"error": {"code": "TooManyRequests", "message": "b"}}),
        OK))
    fake_graph.on("GET", "/c", OK)
    client = make_client(fake_graph)
    try:
        results = await asyncio.gather(client.get("/a"), client.get("/b"), client.get("/c"))
    finally:
        await client.close()
    assert results == [{"ok": True}] * 3
    assert [s.url for s in fake_graph.seen] == ["/a", "/b", "/c", "/b"]
    assert [s.url for s in fake_graph.http_requests] == ["/$batch", "/b"]
    assert fake_graph.seen[3].t - fake_graph.seen[1].t >= 0.19


async def test_batching_off_sends_each_request_alone(fake_graph: FakeGraph) -> None:
    fake_graph.on("GET", "/a", OK)
    client = make_client(fake_graph, batch=False)
    try:
        await asyncio.gather(*(client.get("/a") for _ in range(5)))
    finally:
        await client.close()
    assert [s.url for s in fake_graph.http_requests] == ["/a"] * 5


async def test_post_bodies_and_extra_headers_reach_graph_inside_a_batch(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.on("POST", "/users/x/sendMail", (202, {}, None))
    fake_graph.on("GET", "/groups", (200, {}, {"value": []}))
    client = make_client(fake_graph)
    try:
        await asyncio.gather(
            client.request("POST", "/users/x/sendMail", body={"message": {"subject": "hi"}}),
            client.get("/groups", headers={"ConsistencyLevel": "eventual"}))
    finally:
        await client.close()
    mail, groups = fake_graph.seen
    assert mail.body == {"message": {"subject": "hi"}}
    assert mail.headers["Content-Type"] == "application/json"
    assert groups.headers["ConsistencyLevel"] == "eventual"


async def test_a_post_is_not_repeated_when_the_connection_drops_after_sending(
    fake_graph: FakeGraph,
) -> None:
    fake_graph.drop.add(("POST", "/users/x/sendMail"))
    fake_graph.drop.add(("GET", "/users"))
    client = make_client(fake_graph, batch=False)
    try:
        with pytest.raises(GraphConnectionError):
            await client.request("POST", "/users/x/sendMail", body={"message": {}})
        assert len(fake_graph.http_requests) == 1
        with pytest.raises(GraphConnectionError):
            await client.get("/users")
    finally:
        await client.close()
    methods = [s.method for s in fake_graph.http_requests]
    assert methods.count("POST") == 1
    assert methods.count("GET") >= 4  # first try + 3 retries (aiohttp may add its own)


async def test_unreachable_graph_is_a_connection_error_and_unhealthy() -> None:
    unreachable = FakeGraph(url="http://127.0.0.1:9")
    health: list[tuple[bool, str]] = []
    client = make_client(unreachable, batch=False, health=health,
                         retry=RetryPolicy(max_retries=1, base_delay=0.01))
    try:
        with pytest.raises(GraphConnectionError, match="cannot reach Microsoft Graph"):
            await client.get("/users")
        with pytest.raises(GraphConnectionError):
            await client.probe()
    finally:
        await client.close()
    assert health and all(ok is False for ok, _ in health)


async def test_repeated_server_errors_mark_graph_unhealthy(fake_graph: FakeGraph) -> None:
    fake_graph.on("GET", "/boom", (500, {}, {"error": {"code": "InternalServerError",
                                                       "message": "oops"}}))
    fake_graph.on("GET", "/users", (200, {}, {"value": []}))
    health: list[tuple[bool, str]] = []
    client = make_client(fake_graph, batch=False, health=health,
                         retry=RetryPolicy(max_retries=0))
    try:
        for _ in range(2):
            with pytest.raises(GraphError):
                await client.get("/boom")
        assert health == []  # one or two 500s are not an outage
        with pytest.raises(GraphError):
            await client.get("/boom")
        assert health[-1] == (False, "3 server errors in a row (last HTTP 500)")
        assert client.health is not None and await client.health.probe_once() is True
    finally:
        await client.close()
    assert health[-1] == (True, "Microsoft Graph answered")


def test_query_strings_and_odata_literals_are_escaped() -> None:
    assert path("users", "o'neil@x.example", "calendar") == "/users/o%27neil@x.example/calendar"
    assert odata_string("O'Neil") == "'O''Neil'"
    literal = odata_string("a'b")
    url = with_query("/users", {"$filter": f"mail eq {literal}", "$top": 5, "skip": None})
    assert url == "/users?$filter=mail%20eq%20%27a%27%27b%27&$top=5"


def test_default_timings_are_the_documented_ones() -> None:
    settings = GraphSettings.model_validate({})
    assert (settings.probe_interval, settings.connected_probe_interval) == (5.0, 10.0)
    assert settings.rate_limit == 5 and DEFAULT_MAX_WAIT == 90.0
    policy = settings.retry_policy()
    assert policy.max_retries >= 3 and policy.max_total <= 120
    assert all(policy.base_delay / 2 <= policy.backoff(0) <= policy.base_delay
               for _ in range(20))
