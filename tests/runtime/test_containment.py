"""Whatever a command, hook or timer raises, BaseException subclasses included, fails that call
only: one error_code 3 reply (or a logged failure); the process and the module go on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.modules import deep_merge
from runtime.testing import RuntimeHandle, run_runtime
from tests.runtime.hostile_drivers import RAISABLE
from tests.runtime.test_cli import KEY, run_cli, start_server

HOSTILE = "tests.runtime.hostile_drivers:Hostile"
HOOK = "tests.runtime.hostile_drivers:HostileHook"
NAMES = list(RAISABLE)


def _config() -> dict[str, Any]:
    modules: dict[str, Any] = {"mod-h": {"driver": HOSTILE, "exec_timeout": 5}}
    for hook in ("on_load", "on_update", "on_unload"):
        for name in NAMES:
            modules[f"mod-{hook}-{name}"] = {
                "driver": HOOK,
                "name": f"{hook}-{name}",
                "settings": {"hook": hook, "raise": name},
            }
    return {"modules": modules, "systems": {"sys-1": {"name": "s", "modules": list(modules)}}}


@pytest.fixture
async def hrt() -> AsyncIterator[RuntimeHandle]:
    async with run_runtime(_config()) as handle:
        yield handle


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("command", ["raise_sync", "raise_async"])
async def test_command_raising_base_exception_gets_one_error_3(
    hrt: RuntimeHandle, command: str, name: str
) -> None:
    async with hrt.client() as client:
        reply = await client.request(
            {"cmd": "exec", "sys": "sys-1", "mod": "Hostile", "name": command, "args": [name]}
        )
        assert reply["type"] == "error"
        assert reply["error_code"] == 3
        assert reply["msg"] == f"module raised: driver says stop ({name})"
        assert await client.exec("sys-1", "Hostile", "ok") == "still here"
    status, envelope = await hrt.rest(
        "POST", f"/api/engine/v2/systems/sys-1/Hostile_1/{command}", json=[name]
    )
    assert (status, envelope["error"]) == (500, "request failed")
    assert envelope["message"] == f"module raised: driver says stop ({name})"
    assert hrt.runtime.host.modules["mod-h"].state == "running"


async def test_cancelled_error_from_a_drivers_own_task_is_its_failure(hrt: RuntimeHandle) -> None:
    async with hrt.client() as client:
        reply = await client.request(
            {"cmd": "exec", "sys": "sys-1", "mod": "Hostile", "name": "await_cancelled_task"}
        )
        assert (reply["error_code"], reply["msg"]) == (3, "module raised:  (CancelledError)")


async def test_the_runtimes_own_timeout_still_cancels_a_command() -> None:
    config = {
        "modules": {"mod-h": {"driver": HOSTILE, "exec_timeout": 0.05}},
        "systems": {"sys-1": {"name": "s", "modules": ["mod-h"]}},
    }
    async with run_runtime(config) as rt, rt.client() as client:
        reply = await client.request(
            {"cmd": "exec", "sys": "sys-1", "mod": "Hostile", "name": "hang"}
        )
        assert (reply["error_code"], reply["msg"]) == (
            3, "module raised: hang timed out after 0.05 s (TimeoutError)"
        )
        assert await client.exec("sys-1", "Hostile", "ok") == "still here"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_timer_raising_base_exception_keeps_running(
    hrt: RuntimeHandle, name: str, asynchronous: bool
) -> None:
    driver: Any = hrt.driver("mod-h")
    driver.start_raising_timer(name, asynchronous)
    await driver.timer_ran_thrice.wait()  # the third run happens only if the first two failed
    assert len(driver.schedule.timers) == 1
    driver.schedule.clear()


@pytest.mark.parametrize("name", NAMES)
async def test_on_load_raising_base_exception_fails_only_that_module(
    hrt: RuntimeHandle, name: str
) -> None:
    module = hrt.runtime.host.modules[f"mod-on_load-{name}"]
    assert module.state == "failed"
    reason = f"on_load raised: driver says stop ({name})"
    assert module.error == reason
    status, value = await hrt.rest(
        "GET", f"/api/engine/v2/systems/sys-1/on_load-{name}_1/load_error"
    )
    assert (status, value) == (200, reason)
    async with hrt.client() as client:
        assert await client.exec("sys-1", "Hostile", "ok") == "still here"


@pytest.mark.parametrize("name", NAMES)
async def test_on_update_raising_base_exception_is_logged_and_the_module_runs(
    hrt: RuntimeHandle, name: str
) -> None:
    host = hrt.runtime.host
    module = host.modules[f"mod-on_update-{name}"]
    assert module.state == "running"  # on_load does not call on_update in this driver
    await host.update_settings(module, deep_merge(module.settings, {"other": 1}))
    assert module.state == "running"
    async with hrt.client() as client:
        assert await client.exec("sys-1", f"on_update-{name}", "ok") == "still here"


@pytest.mark.parametrize("name", NAMES)
async def test_on_unload_raising_base_exception_lets_the_module_stop(
    hrt: RuntimeHandle, name: str
) -> None:
    host = hrt.runtime.host
    await host.remove_module(f"mod-on_unload-{name}")
    assert f"mod-on_unload-{name}" not in host.modules
    async with hrt.client() as client:
        assert await client.exec("sys-1", "Hostile", "ok") == "still here"


async def test_a_served_process_survives_every_case(tmp_path: Path) -> None:
    """`serve` as a real process: commands raising each exception, then it still answers."""
    config = {
        "auth": {"api_keys": [{"key": KEY, "clearance": "admin"}]},
        "modules": {"mod-h": {"driver": HOSTILE}},
        "systems": {"sys-1": {"name": "s", "modules": ["mod-h"]}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    served = await start_server("--config", str(path))
    url = served.url
    try:
        for command in ("raise_sync", "raise_async"):
            for name in NAMES:
                code, _out, err = await run_cli(
                    "exec", "sys-1", "Hostile_1", command, name, "--url", url, "--api-key", KEY
                )
                assert code == 1
                assert f"module raised: driver says stop ({name})" in err
        code, out, _err = await run_cli(
            "exec", "sys-1", "Hostile_1", "ok", "--url", url, "--api-key", KEY
        )
        assert (code, out.strip()) == (0, '"still here"')
        assert served.returncode is None
    finally:
        assert await served.stop() == 0
