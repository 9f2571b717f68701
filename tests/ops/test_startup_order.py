"""Start-up order: the socket is bound (and health answers) before any module's on_load runs."""

from __future__ import annotations

import asyncio

import aiohttp

from runtime.config import parse_config
from runtime.server import Runtime
from tests.ops.ops_drivers import LOAD_GATES, LoadGate

CONFIG = {
    "modules": {"mod-gated": {"driver": "tests.ops.ops_drivers:Gated", "settings": {"gate": "g1"}}},
    "systems": {"sys-1": {"name": "One", "modules": ["mod-gated"]}},
}


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_socket_is_bound_before_modules_load_and_ready_after() -> None:
    gate = LOAD_GATES["g1"] = LoadGate()
    runtime = Runtime(parse_config(CONFIG), admin_keys=["startup-order-key"])
    starting = asyncio.get_running_loop().create_task(runtime.start("127.0.0.1", 0))
    try:
        await asyncio.wait_for(gate.entered.wait(), 10)
        # on_load is running: the port already answers, but the runtime is not ready yet
        assert runtime.url.startswith("http://127.0.0.1:")
        assert await _status(runtime.url + "/healthz") == 200
        assert await _status(runtime.url + "/readyz") == 503
        assert not starting.done()
        gate.release.set()
        assert await asyncio.wait_for(starting, 10) == runtime.url
        assert await _status(runtime.url + "/readyz") == 200
    finally:
        gate.release.set()
        await runtime.stop()
        del LOAD_GATES["g1"]
