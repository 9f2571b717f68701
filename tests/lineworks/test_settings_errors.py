"""Settings the model rejects fail ``on_load`` / ``on_update`` with an error naming the key and
the rule; the value, and any secret beside it, is never shown."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.emulator_base import RunningEmulator
from runtime.modules import deep_merge
from runtime.testing import ExecError
from tests.lineworks.helpers import HARUTO, MOD, SYS, lineworks_runtime, wait_status
from tests.vendor_client.exposure import exposed_text

SECRET = "lw-s3cret-never-shown-7781"
PEM = f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "wrong type": (
        {"lineworks": {"client_secret": [SECRET]}},
        "lineworks.client_secret: Input should be a valid string"),
    "missing required": (
        {"lineworks": {"client_id": "", "client_secret": SECRET}},
        "lineworks.client_id: String should have at least 1 character"),
    "secret present": (
        {"lineworks": {"client_secret": SECRET, "private_key": PEM}, "probe_interval": -1,
         "max_retries": SECRET},
        "max_retries: Input should be a valid integer, unable to parse string as an integer; "
        "probe_interval: Input should be greater than 0"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_settings_fail_on_load_naming_the_key(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str], case: str,
) -> None:
    settings, problem = CASES[case]
    reason = f"on_load raised: invalid settings: {problem} (SettingsError)"
    async with lineworks_runtime(emulator, settings) as rt, rt.client() as client:
        module = rt.runtime.host.modules[MOD]
        assert (module.state, module.error) == ("failed", reason)
        assert rt.driver(MOD).status["load_error"] == reason
        assert rt.driver(MOD).status["connected"] is False
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "list_calendars", [HARUTO])
        seen = await exposed_text(rt, SYS, "Calendar_1", MOD)
    logs = capfd.readouterr().err
    assert reason in seen and problem in logs
    for text in (seen, logs, str(caught.value.frame)):
        assert SECRET not in text


async def test_bad_settings_on_update_stop_the_client_until_fixed(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str],
) -> None:
    settings, problem = CASES["secret present"]
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        host = rt.runtime.host
        module = host.modules[MOD]
        good = module.settings
        await host.update_settings(module, deep_merge(good, settings))
        assert module.state == "running" and rt.driver(MOD).status["connected"] is False
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "list_calendars", [HARUTO])
        assert caught.value.msg.endswith(f"invalid settings: {problem} (SettingsError)")
        seen = await exposed_text(rt, SYS, "Calendar_1", MOD)
        await host.update_settings(module, good)
        await wait_status(client, "connected", True)
        assert await client.exec(SYS, "Calendar", "list_calendars", [HARUTO])
    logs = capfd.readouterr().err
    assert "on_update failed" in logs and problem in logs
    for text in (seen, logs, str(caught.value.frame)):
        assert SECRET not in text
