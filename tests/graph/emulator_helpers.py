"""Helpers for driving the Graph driver against the Graph emulator inside a runtime."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from embedded.settings import graph_settings
from fixtures.emulator_base import RunningEmulator
from runtime.testing import RuntimeHandle, run_runtime

DRIVER = "drivers.microsoft.graph_api:GraphAPI"
SYSTEM = "sys-test"
SUPPORT_KEY = "graph-support-key-0001"
USER_KEY = "graph-user-key-0001"
#: Timings that keep the tests short: probe often while disconnected, retry quickly.
QUICK_TIMINGS: dict[str, Any] = {"probe_interval": 0.2, "max_retries": 2,
                                 "retry_base_delay": 0.05, "max_retry_wait": 5.0}


def graph_config(emulator: RunningEmulator, **settings: Any) -> dict[str, Any]:
    """A runtime config hosting the Graph driver against ``emulator`` as Calendar_1."""
    base = graph_settings(emulator)
    module_settings = {**base, **QUICK_TIMINGS, **settings}
    if "calendar_config" in settings:
        module_settings["calendar_config"] = {**base["calendar_config"],
                                              **settings["calendar_config"]}
    return {
        "auth": {"api_keys": [{"key": SUPPORT_KEY, "clearance": "support", "name": "helpdesk"},
                              {"key": USER_KEY, "clearance": "user", "name": "kiosk"}]},
        "modules": {"mod-graph": {"driver": DRIVER, "settings": module_settings}},
        "systems": {SYSTEM: {"name": "Test", "modules": ["mod-graph"]}},
    }


@asynccontextmanager
async def graph_runtime(emulator: RunningEmulator, **settings: Any) -> AsyncIterator[RuntimeHandle]:
    async with run_runtime(graph_config(emulator, **settings)) as runtime:
        yield runtime


async def control(emulator: RunningEmulator, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator's control API (``/_emulator/...``)."""
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.request(method, emulator.url + path, json=body) as response,
    ):
        response.raise_for_status()
        return await response.json()


async def seed(emulator: RunningEmulator) -> dict[str, Any]:
    return await control(emulator, "GET", "/_emulator/seed")  # type: ignore[no-any-return]


async def api_log(emulator: RunningEmulator, since: int = 0) -> list[dict[str, Any]]:
    """Graph API requests (token and discovery routes left out) from log index ``since``."""
    log = await control(emulator, "GET", "/_emulator/requests")
    return [entry for entry in log[since:] if entry["path"].startswith("/v1.0/")]


async def log_length(emulator: RunningEmulator) -> int:
    return len(await control(emulator, "GET", "/_emulator/requests"))


async def fault(emulator: RunningEmulator, **body: Any) -> None:
    await control(emulator, "POST", "/_emulator/faults", body)
