"""Settings the model rejects fail ``on_load`` / ``on_update`` with an error naming the key and
the rule; the value, and any secret beside it, is never shown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fixtures.emulator_base import RunningEmulator
from runtime.modules import deep_merge
from runtime.testing import ExecError, TestClient, run_runtime
from tests.graph.emulator_helpers import SYSTEM, graph_config
from tests.vendor_client.exposure import exposed_text

MODULE = "mod-graph"
SECRET = "graph-s3cret-never-shown-4410"

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": (
        {"calendar_config": {"client_secret": {"value": SECRET}}},
        "calendar_config.client_secret: Input should be a valid string"),
    "required key null": (
        {"calendar_config": {"tenant": None, "client_secret": SECRET}},
        "calendar_config.tenant: Input should be a valid string"),
    "secret present": (
        {"calendar_config": {"client_secret": SECRET}, "rate_limit": SECRET,
         "batch_requests": "sometimes"},
        "rate_limit: Input should be a valid number, unable to parse string as a number; "
        "batch_requests: Input should be a valid boolean, unable to interpret input"),
}


async def _connected(client: TestClient, expected: bool) -> None:
    await client.bind(SYSTEM, "Calendar", "connected")
    async with asyncio.timeout(10):
        while (await client.next_notify(timeout=10))["value"] is not expected:
            pass


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_settings_fail_on_load_naming_the_key(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str], case: str,
) -> None:
    settings, problem = CASES[case]
    config = graph_config(emulator)
    module_config = config["modules"][MODULE]
    module_config["settings"] = deep_merge(module_config["settings"], settings)
    reason = f"on_load raised: invalid settings: {problem} (SettingsError)"
    async with run_runtime(config) as rt, rt.client() as client:
        module = rt.runtime.host.modules[MODULE]
        assert (module.state, module.error) == ("failed", reason)
        assert rt.driver(MODULE).status["load_error"] == reason
        assert rt.driver(MODULE).status["connected"] is False
        with pytest.raises(ExecError) as caught:
            await client.exec(SYSTEM, "Calendar", "list_users", [])
        seen = await exposed_text(rt, SYSTEM, "Calendar_1", MODULE)
    logs = capfd.readouterr().err
    assert reason in seen and problem in logs
    for text in (seen, logs, str(caught.value.frame)):
        assert SECRET not in text


async def test_bad_settings_on_update_stop_the_client_until_fixed(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str],
) -> None:
    settings, problem = CASES["secret present"]
    async with run_runtime(graph_config(emulator)) as rt, rt.client() as client:
        await _connected(client, True)
        host = rt.runtime.host
        module = host.modules[MODULE]
        good = module.settings
        await host.update_settings(module, deep_merge(good, settings))
        assert module.state == "running" and rt.driver(MODULE).status["connected"] is False
        with pytest.raises(ExecError) as caught:
            await client.exec(SYSTEM, "Calendar", "list_users", [])
        assert caught.value.msg.endswith(f"invalid settings: {problem} (SettingsError)")
        seen = await exposed_text(rt, SYSTEM, "Calendar_1", MODULE)
        await host.update_settings(module, good)
        await _connected(client, True)
        assert await client.exec(SYSTEM, "Calendar", "list_users", [])
    logs = capfd.readouterr().err
    assert "on_update failed" in logs and problem in logs
    for text in (seen, logs, str(caught.value.frame)):
        assert SECRET not in text
