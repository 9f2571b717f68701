"""The control API of both emulators refuses unknown keys and ill-typed values with 400."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fixtures import graph_emulator, lineworks_emulator
from fixtures.emulator_base import RunningEmulator

STARTERS: dict[str, Callable[[Path], Awaitable[RunningEmulator]]] = {
    "graph": graph_emulator.start,
    "lineworks": lineworks_emulator.start,
}
BAD_FAULTS = [
    ({"status": 429, "retryAfter": 2}, "retryAfter: unknown key"),
    ({"stauts": 503}, "stauts: unknown key"),
    ({"status": "429"}, "status: Input should be a valid integer"),
    ({"status": True}, "status: Input should be a valid integer"),
    ({"status": 200}, "status: Input should be greater than or equal to 400"),
    ({"status": 503, "count": 0}, "count: Input should be greater than or equal to 1"),
    ({"status": 503, "count": 1.5}, "count: Input should be a valid integer"),
    ({"status": 429, "retry_after": "2"}, "retry_after: Input should be a valid number"),
    ({"status": 503, "path_prefix": "v1.0/users"}, "path_prefix: String should match"),
    ({"latency_ms": -1}, "latency_ms: Input should be greater than or equal to 0"),
    ({"latency_ms": "300"}, "latency_ms: Input should be a valid integer"),
    ({"down": "yes"}, "down: Input should be a valid boolean"),
    ({"down": 1}, "down: Input should be a valid boolean"),
    ({"expire_tokens": "true"}, "expire_tokens: Input should be a valid boolean"),
    ({"retry_after": 2}, "retry_after apply only together with status"),
    ([{"status": 503}], "expected a JSON object"),
]


@pytest.fixture(params=sorted(STARTERS))
async def emulator(request: pytest.FixtureRequest,
                   tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    async with await STARTERS[request.param](tmp_path / "certs") as running:
        yield running


async def _control(emulator: RunningEmulator, method: str, route: str,
                   **kwargs: Any) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{emulator.url}/_emulator/{route}", ssl=context, **kwargs) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(("body", "problem"), BAD_FAULTS)
async def test_bad_fault_requests_are_refused_and_change_nothing(
        emulator: RunningEmulator, body: Any, problem: str) -> None:
    assert (await _control(emulator, "POST", "faults", json={"latency_ms": 5}))[0] == 200
    _, before = await _control(emulator, "GET", "faults")
    status, answer = await _control(emulator, "POST", "faults", json=body)
    assert status == 400
    assert problem in answer["error"]
    assert (await _control(emulator, "GET", "faults"))[1] == before


async def test_good_fault_requests_are_applied(emulator: RunningEmulator) -> None:
    status, faults = await _control(emulator, "POST", "faults", json={
        "status": 429, "retry_after": 2, "count": 3, "path_prefix": "/v1.0/users"})
    assert status == 200
    assert faults["status_faults"] == [{"status": 429, "retry_after": 2.0, "count": 3,
                                        "path_prefix": "/v1.0/users"}]
    status, faults = await _control(emulator, "POST", "faults", json={
        "status": 503, "count": None, "latency_ms": 10, "down": False, "expire_tokens": True})
    assert status == 200 and faults["latency_ms"] == 10 and len(faults["status_faults"]) == 2
    assert faults["status_faults"][1]["count"] == -1, "count null: until reset"
    status, faults = await _control(emulator, "POST", "faults", json={"clear": True})
    assert (status, faults) == (200, {"status_faults": [], "latency_ms": 0, "down": False})


async def test_reset_takes_no_options(emulator: RunningEmulator) -> None:
    status, answer = await _control(emulator, "POST", "reset", json={"seed": "other"})
    assert (status, answer) == (400, {"error": "bad reset request: seed: unknown key"})
    status, answer = await _control(emulator, "POST", "reset", data=b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]
    assert await _control(emulator, "POST", "reset") == (200, {"reset": True})
    assert await _control(emulator, "POST", "reset", json={}) == (200, {"reset": True})
