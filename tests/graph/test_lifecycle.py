"""The probing loop over the module's life: one loop across settings updates, none after unload."""

from __future__ import annotations

import asyncio

from fixtures.emulator_base import RunningEmulator
from runtime.modules import deep_merge
from runtime.testing import TestClient, run_runtime
from tests.graph.emulator_helpers import SYSTEM, graph_config
from tests.vendor_client.test_health import until

MODULE = "mod-graph"


async def _connected(client: TestClient) -> None:
    await client.bind(SYSTEM, "Calendar", "connected")
    async with asyncio.timeout(10):
        while (await client.next_notify(timeout=10))["value"] is not True:
            pass


async def test_one_probe_loop_across_updates_and_none_after_unload(
    emulator: RunningEmulator,
) -> None:
    async with run_runtime(graph_config(emulator)) as rt, rt.client() as client:
        await _connected(client)
        host = rt.runtime.host
        module = host.modules[MODULE]
        driver = rt.driver(MODULE)
        tokens = driver._tokens  # type: ignore[attr-defined]
        for interval in (0.3, 0.4):
            await host.update_settings(module, deep_merge(module.settings,
                                                          {"probe_interval": interval}))
            await until(lambda: len(driver.schedule.timers) == 1)  # the old loop ended
            health = driver._health  # type: ignore[attr-defined]
            assert health.running and health.monitor.timings.probe_interval == interval
            assert driver._tokens is tokens, "same app registration: the token cache is kept"  # type: ignore[attr-defined]
        await host.remove_module(MODULE)
        assert driver.schedule.timers == [] and not health.running and health.monitor is None
        assert driver._client is None  # type: ignore[attr-defined]
