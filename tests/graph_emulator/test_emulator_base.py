"""Shared emulator machinery: token store, faults, rate limiter, CA reuse, CLI ready line."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path

import aiohttp

from fixtures.emulator_base import SlidingWindowLimiter
from fixtures.emulator_faults import FaultState, StatusFault
from fixtures.emulator_tokens import TokenStore
from fixtures.graph_emulator import start


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_store_reasons() -> None:
    clock = FakeClock()
    store = TokenStore(60, clock=clock)
    issued = store.issue("app")
    assert issued.expires_in == 60
    assert store.validate(issued.token) is None
    assert store.validate(None) == "missing"
    assert store.validate("nope") == "unknown"
    clock.now += 60
    assert store.validate(issued.token) == "expired"
    fresh = store.issue("app", lifetime=5)
    store.expire_all()
    assert store.validate(fresh.token) == "expired"
    later = store.issue("app")
    assert store.validate(later.token) is None
    store.revoke_all()
    assert store.validate(later.token) == "unknown"


def test_fault_matching_and_count() -> None:
    faults = FaultState()
    faults.status_faults.append(StatusFault(429, 1.0, 2, None))
    assert faults.take("/oauth2/v2.0/token", is_token_route=True) is None
    assert faults.take("/v1.0/users", is_token_route=False) is not None
    assert faults.take("/v1.0/users", is_token_route=False) is not None
    assert faults.take("/v1.0/users", is_token_route=False) is None
    faults.status_faults.append(StatusFault(503, None, -1, "/v1.0/groups"))
    assert faults.take("/v1.0/users", is_token_route=False) is None
    for _ in range(5):
        assert faults.take("/v1.0/groups/x", is_token_route=False) is not None


def test_sliding_window_limiter() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock=clock)
    assert limiter.acquire() is None
    clock.now += 0.25
    assert limiter.acquire() is None
    wait = limiter.acquire()
    assert wait is not None and abs(wait - 0.75) < 1e-9
    clock.now += 0.75
    assert limiter.acquire() is None


async def test_two_emulators_share_one_ca(tmp_path: Path) -> None:
    async with await start(tmp_path) as first, await start(tmp_path) as second:
        assert first.ca_file == second.ca_file
        context = ssl.create_default_context(cafile=str(first.ca_file))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s:
            for emulator in (first, second):
                url = emulator.url.replace("127.0.0.1", "localhost")
                async with s.get(f"{url}/_emulator/faults") as response:
                    assert response.status == 200


async def test_cli_prints_one_ready_line_and_serves(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fixtures.graph_emulator", "--port", "0", "--cert-dir",
        str(tmp_path), "--client-secret", "cli-secret", "--page-size", "3",
        cwd=Path(__file__).resolve().parents[2], stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "ready at https://127.0.0.1:" in line
        url = line.split("ready at ", 1)[1].split()[0]
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s, \
                s.get(f"{url}/_emulator/seed") as response:
            seed = json.loads(await response.text())
        assert seed["credentials"]["client_secret"] == "cli-secret"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) is not None
