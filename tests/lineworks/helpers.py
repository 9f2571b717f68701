"""Shared helpers of the LINE WORKS tests: runtime config, emulator control API, status waits."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from embedded.settings import lineworks_settings
from fixtures.emulator_base import RunningEmulator
from runtime.modules import deep_merge
from runtime.testing import RuntimeHandle, TestClient, run_runtime

DRIVER = "drivers.lineworks.calendar:LineWorksCalendar"
SYS = "sys-lw"
MOD = "mod-lw"
USER_KEY = "lw-user-key-0001"
SUPPORT_KEY = "lw-support-key-0001"
HARUTO = "haruto.sato@works.example"
YUI = "yui.tanaka@works.example"
EMMA = "emma.wilson@works.example"
FACILITIES = "calendar-6c3d4e5f-3333-4a7b-8c1d-2e3f4a5b6c73"
ROADMAP = "calendar-7d4e5f6a-4444-4b8c-9d2e-3f4a5b6c7d84"
HARUTO_DEFAULT = "calendar-4a1b2c3d-1111-4e5f-8a9b-0c1d2e3f4a51"
PRODUCT_GROUP = "2d5b6a7f-4e8c-4d9e-9f2a-1b0c9d8e7f65"
SALES_ORGUNIT = "3e6c7b8a-5f9d-4eaf-8a3b-2c1d0e9f8a76"
DAY = 86400


def runtime_config(settings: dict[str, Any]) -> dict[str, Any]:
    """One system with the LINE WORKS module, plus user- and support-clearance API keys."""
    return {
        "auth": {"api_keys": [{"key": USER_KEY, "clearance": "user", "name": "kiosk"},
                              {"key": SUPPORT_KEY, "clearance": "support", "name": "desk"}]},
        "modules": {MOD: {"driver": DRIVER, "settings": settings}},
        "systems": {SYS: {"name": "LINE WORKS test", "modules": [MOD]}},
    }


@asynccontextmanager
async def lineworks_runtime(emulator: RunningEmulator, settings: dict[str, Any] | None = None,
                            *, log_level: str = "warning") -> AsyncIterator[RuntimeHandle]:
    """A runtime whose module points at ``emulator`` (``settings`` merged over its defaults)."""
    base = deep_merge(lineworks_settings(emulator),
                      {"probe_interval": 0.2, "retry_base_delay": 0.05})
    config = runtime_config(deep_merge(base, settings or {}))
    async with run_runtime(config, log_level=log_level) as handle:
        yield handle


def _ssl(emulator: RunningEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emulator.ca_file))


async def control(emulator: RunningEmulator, method: str, route: str,
                  body: Any = None) -> Any:
    """Call the emulator's control API (``/_emulator/<route>``)."""
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{emulator.url}/_emulator/{route}", json=body,
            ssl=_ssl(emulator)) as response:
        return await response.json()


async def request_log(emulator: RunningEmulator, path_part: str = "") -> list[dict[str, Any]]:
    """The emulator's request log, optionally only entries whose path contains ``path_part``."""
    entries = await control(emulator, "GET", "requests")
    return [entry for entry in entries if path_part in entry["path"]]


async def vendor(emulator: RunningEmulator, method: str, path: str, *,
                 token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    """A raw request to the emulated vendor API; returns (status, parsed body or None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, emulator.url + path, headers=headers, ssl=_ssl(emulator),
            **kwargs) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else None
        return response.status, body


async def wait_status(client: TestClient, key: str, value: Any, timeout: float = 5.0) -> None:
    """Bind ``key`` and wait until a notify carries ``value``."""
    await client.bind(SYS, "Calendar", key)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = await client.next_notify(timeout=max(0.01, remaining))
        if frame["meta"]["name"] == key and frame.get("value") == value:
            return
