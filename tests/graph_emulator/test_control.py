"""Control API: request log and redaction, faults (status, down, expiry, latency), reset, seed."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from fixtures.graph_emulator import start
from tests.graph_emulator.helpers import Graph, address, client_session


async def test_request_log_redacts_secrets(graph: Graph) -> None:
    await graph.login()
    await graph.get("/v1.0/users", params={"$top": "2"})
    log = await graph.control("GET", "requests")
    token_entry, users_entry = log
    assert token_entry["method"] == "POST"
    assert token_entry["path"] == "/emulated-tenant/oauth2/v2.0/token"
    assert token_entry["status"] == 200
    assert token_entry["body"]["client_secret"] == "***"
    assert token_entry["body"]["client_id"] == "emulated-client"
    assert users_entry["query"] == {"$top": "2"}
    assert users_entry["t"] >= token_entry["t"] >= 0
    assert "emulated-secret" not in str(log)
    assert graph.token not in str(log)


async def test_status_fault_with_retry_after_and_count(graph: Graph) -> None:
    await graph.login()
    await graph.control("POST", "faults", {"status": 429, "retry_after": 2, "count": 2})
    for _ in range(2):
        status, body, headers = await graph.call("GET", "/v1.0/users")
        assert status == 429
        assert headers["Retry-After"] == "2"
        assert body["error"]["code"] == "TooManyRequests"
    status, _ = await graph.get("/v1.0/users")
    assert status == 200


async def test_default_fault_prefix_spares_the_token_route(graph: Graph) -> None:
    await graph.control("POST", "faults", {"status": 503, "count": 1})
    status, _ = await graph.token_request()
    assert status == 200
    await graph.control("POST", "faults", {"status": 503, "count": 1,
                                           "path_prefix": "/emulated-tenant/oauth2"})
    status, body = await graph.token_request()
    assert (status, body["error"]) == (503, "temporarily_unavailable")


async def test_fault_scoped_by_path_prefix(graph: Graph) -> None:
    await graph.control("POST", "faults", {"status": 503, "count": 1,
                                           "path_prefix": "/v1.0/groups"})
    assert (await graph.get("/v1.0/users"))[0] == 200
    status, body = await graph.get("/v1.0/groups")
    assert (status, body["error"]["code"]) == (503, "serviceNotAvailable")


async def test_down_drops_connections_but_control_api_answers(graph: Graph) -> None:
    await graph.login()
    await graph.control("POST", "faults", {"down": True})
    with pytest.raises(aiohttp.ClientError):
        await graph.get("/v1.0/users")
    with pytest.raises(aiohttp.ClientError):
        await graph.token_request()
    state = await graph.control("GET", "faults")
    assert state["down"] is True
    await graph.control("POST", "faults", {"down": False})
    assert (await graph.get("/v1.0/users"))[0] == 200


async def test_expire_tokens(graph: Graph) -> None:
    await graph.login()
    await graph.control("POST", "faults", {"expire_tokens": True})
    status, body = await graph.get("/v1.0/users")
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    await graph.login()
    assert (await graph.get("/v1.0/users"))[0] == 200


async def test_latency(graph: Graph) -> None:
    await graph.login()
    await graph.control("POST", "faults", {"latency_ms": 250})
    began = time.monotonic()
    await graph.get("/v1.0/users?$top=1")
    assert time.monotonic() - began >= 0.25
    await graph.control("POST", "faults", {"latency_ms": 0})


async def test_bad_fault_request(graph: Graph) -> None:
    async with graph.session.post(f"{graph.url}/_emulator/faults",
                                  json={"status": 200}) as response:
        assert response.status == 400


async def test_reset(graph: Graph) -> None:
    await graph.login()
    path = f"/v1.0/users/{address('noreply')}/calendar/events"
    status, _, _ = await graph.call("POST", path, json={
        "subject": "Temp", "start": {"dateTime": "2030-01-01T09:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-01-01T10:00", "timeZone": "UTC"}})
    assert status == 201
    await graph.control("POST", "faults", {"status": 500, "count": 5})
    await graph.control("POST", "reset")
    assert await graph.control("GET", "requests") == []
    assert (await graph.control("GET", "faults"))["status_faults"] == []
    assert (await graph.get("/v1.0/users"))[0] == 401
    await graph.login()
    status, body = await graph.get(path)
    assert status == 200
    assert body["value"] == []


async def test_seed_view(graph: Graph) -> None:
    seed = await graph.control("GET", "seed")
    assert seed["credentials"] == {"tenant": "emulated-tenant", "client_id": "emulated-client",
                                   "client_secret": "emulated-secret"}
    people = [u for u in seed["users"] if not u.get("isRoom")]
    assert len(people) >= 30
    assert sum(1 for u in people if not u["accountEnabled"]) >= 3
    assert len(seed["rooms"]) >= 40
    assert len(seed["groups"]) >= 8
    ids = {u["id"] for u in seed["users"]} | {g["id"] for g in seed["groups"]}
    assert all(m in ids for g in seed["groups"] for m in g["members"])
    assert any(u["manager"] for u in seed["users"])
    assert seed["calendars"][address("amelia.hartley")][0]["name"] == "Calendar"


async def test_exposed_credentials_and_custom_credentials(tmp_path: Path) -> None:
    async with await start(tmp_path, client_id="app-2", client_secret="s2",
                           tenant="other") as emulator, \
            client_session(emulator.ca_file) as session:
        assert emulator.credentials == {"tenant": "other", "client_id": "app-2",
                                        "client_secret": "s2"}
        assert emulator.url.startswith("https://127.0.0.1:") and emulator.ca_file.is_file()
        graph = Graph(emulator, session)
        status, _ = await graph.token_request(tenant="other", client_id="app-2",
                                              client_secret="s2")
        assert status == 200
