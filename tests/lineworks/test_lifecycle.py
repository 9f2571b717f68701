"""The probing loop over the module's life: one loop across settings updates, none after unload."""

from __future__ import annotations

from fixtures.emulator_base import RunningEmulator
from runtime.modules import deep_merge
from tests.lineworks.helpers import MOD, lineworks_runtime, request_log, wait_status
from tests.vendor_client.test_health import until


async def test_one_probe_loop_across_updates_and_none_after_unload(
    emulator: RunningEmulator,
) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        host = rt.runtime.host
        module = host.modules[MOD]
        driver = rt.driver(MOD)
        for interval in (0.3, 0.4):
            await host.update_settings(module, deep_merge(module.settings,
                                                          {"probe_interval": interval}))
            await until(lambda: len(driver.schedule.timers) == 1)  # the old loop ended
            health = driver._health  # type: ignore[attr-defined]
            assert health.running and health.monitor.timings.probe_interval == interval
        await host.remove_module(MOD)
        assert driver.schedule.timers == [] and not health.running and health.monitor is None
        assert driver._session is None  # type: ignore[attr-defined]
    assert await request_log(emulator, "/calendar"), "the probes reached LINE WORKS"
