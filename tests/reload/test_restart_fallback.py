"""Classes that cannot be swapped in place: the module is stopped and started again."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.testing import ExecError, TestClient, run_runtime
from tests.reload.support import DriverPackage, live

SLOTTED = """
    from runtime import Driver


    class Meter(Driver):
        __slots__ = SLOTS
        generic_name = "Meter"
        default_settings = {"unit": "W"}

        def __init__(self) -> None:
            self.level = 0

        def on_unload(self) -> None:
            self.unloads = getattr(self, "unloads", 0) + 1

        def bump(self) -> int:
            self.level += 1
            self["level"] = self.level
            return self.level

        def unit(self) -> str:
            return self.setting("unit")

        def version(self) -> str:
            return VERSION
"""


def meter(slots: tuple[str, ...], version: str, name: str = "Meter", alias: str = "") -> str:
    source = SLOTTED.replace("SLOTS", repr(slots)).replace("VERSION", repr(version))
    source = source.replace("class Meter(", f"class {name}(")
    return source + (f"\n    {alias}\n" if alias else "")


def meter_config(package: DriverPackage) -> dict[str, Any]:
    return {
        "modules": {
            "mod-meter": {"driver": package.driver("meter", "Meter"), "settings": {"unit": "kW"}}
        },
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-meter"]}},
    }


async def attach_debugger(client: TestClient) -> None:
    await client.request(
        {"cmd": "debug", "sys": "sys-1", "mod": "mod-meter", "index": 1, "name": "debug"}
    )


async def test_changed_slots_stop_and_start_the_module_with_its_settings(
    package: DriverPackage,
) -> None:
    package.write("meter", meter(("level",), "v1"))
    async with run_runtime(meter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        old = live(rt, "mod-meter")
        async with rt.client() as client:
            await attach_debugger(client)
            await client.bind("sys-1", "Meter", "level")
            assert await client.exec("sys-1", "Meter", "bump") == 1
            assert (await client.next_notify())["value"] == 1

            package.write("meter", meter(("level", "extra"), "v2"))
            report = await rt.reloader.wait_for_report(1)
            assert report.ok and report.restarted == ["mod-meter"] and not report.swapped

            new = live(rt, "mod-meter")
            assert new is not old and old.unloads == 1
            assert type(new).__slots__ == ("level", "extra")
            assert rt.runtime.host.modules["mod-meter"].state == "running"
            assert await client.exec("sys-1", "Meter", "version") == "v2"
            assert await client.exec("sys-1", "Meter", "unit") == "kW"  # settings kept
            # a restart starts from fresh state; the binding sees the reset, then new values
            assert (await client.next_notify())["value"] is None
            assert await client.exec("sys-1", "Meter", "bump") == 1
            assert (await client.next_notify())["value"] == 1
            lines = [f["msg"] for f in client.debug_lines]
            assert any("stopping and starting the module" in line for line in lines)
            assert any("__slots__ changed" in line for line in lines)


async def test_renamed_or_removed_class_stops_the_module_and_a_fix_starts_it_again(
    package: DriverPackage,
) -> None:
    package.write("meter", meter(("level",), "v1"))
    async with run_runtime(meter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        old = live(rt, "mod-meter")
        async with rt.client() as client:
            await attach_debugger(client)

            # renamed, still reachable under the configured name: started again as the new class
            package.write(
                "meter", meter(("level",), "v2", name="PowerMeter", alias="Meter = PowerMeter")
            )
            report = await rt.reloader.wait_for_report(1)
            assert report.restarted == ["mod-meter"]
            renamed = live(rt, "mod-meter")
            assert renamed is not old and old.unloads == 1
            assert type(renamed).__name__ == "PowerMeter"
            assert await client.exec("sys-1", "Meter", "version") == "v2"
            assert await client.exec("sys-1", "Meter", "unit") == "kW"

            # renamed with nothing left under the configured name: stopped, failed, and said so
            package.write("meter", meter(("level",), "v3", name="PowerMeter"))
            report = await rt.reloader.wait_for_report(2)
            assert report.failed == ["mod-meter"]
            module = rt.runtime.host.modules["mod-meter"]
            assert module.state == "failed"
            assert renamed.unloads == 1
            assert f"{package.name}.meter:Meter no longer exists" in (module.error or "")
            status, load_error = await rt.rest(
                "GET", "/api/engine/v2/systems/sys-1/Meter_1/load_error"
            )
            assert status == 200
            assert "no longer exists" in load_error
            with pytest.raises(ExecError) as stopped:
                await client.exec("sys-1", "Meter", "version")
            assert stopped.value.error_code == 7
            assert any("no longer exists" in f["msg"] for f in client.debug_lines)

            # another edit that still lacks the class leaves it failed, nothing run twice
            package.write("meter", meter(("level",), "v3b", name="PowerMeter"))
            assert (await rt.reloader.wait_for_report(3)).failed == ["mod-meter"]
            assert module.state == "failed" and renamed.unloads == 1

            # the class is back: the module starts again with its settings
            package.write("meter", meter(("level",), "v4"))
            report = await rt.reloader.wait_for_report(4)
            assert report.restarted == ["mod-meter"]
            assert module.state == "running"
            assert await client.exec("sys-1", "Meter", "version") == "v4"
            assert await client.exec("sys-1", "Meter", "unit") == "kW"
            assert renamed.unloads == 1  # the stopped instance is never unloaded twice
