"""Driver source edits reach live instances: new class, same state, rebuilt command table."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from runtime.driver import Driver
from runtime.interface import interface_of
from runtime.testing import ExecError, run_runtime
from tests.reload.support import DriverPackage, live, write_and_time_answer

COUNTER_V1 = """
    from __future__ import annotations

    import asyncio

    from runtime import Driver


    class Counter(Driver):
        generic_name = "Counter"
        default_settings = {"step": 1}

        def __init__(self) -> None:
            self.count = 0
            self.updates: list[str] = []

        def on_update(self, reason: str = "load") -> None:
            self.updates.append(reason)

        def increment(self) -> int:
            self.count += self.setting("step")
            self["count"] = self.count
            return self.count

        def version(self) -> str:
            return "v1"

        def dropped(self) -> str:
            return "still here"

        async def slow(self) -> str:
            # waits inside this (old) code until the test sets `leave`
            self.leave = asyncio.Event()
            self["slow"] = "inside"
            await self.leave.wait()
            return "old code"
"""

COUNTER_V2 = """
    from __future__ import annotations

    from runtime import Driver


    class Counter(Driver):
        generic_name = "Counter"
        default_settings = {"step": 1}

        def __init__(self) -> None:
            self.count = 0
            self.updates: list[str] = []

        def on_update(self, reason: str = "load") -> None:
            self.updates.append(reason)

        def increment(self) -> int:
            self.count += self.setting("step")
            self["count"] = self.count
            return self.count

        def version(self) -> str:
            return "v2"

        def hello(self, name: str, excited: bool = False) -> str:
            return f"hello {name}" + ("!" if excited else "")

        async def slow(self) -> str:
            return "new code"
"""


def counter_config(package: DriverPackage) -> dict[str, Any]:
    return {
        "modules": {"mod-counter": {"driver": package.driver("counter", "Counter")}},
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-counter"]}},
    }


async def test_edit_swaps_the_class_under_the_live_instance_and_keeps_its_state(
    package: DriverPackage,
) -> None:
    package.write("counter", COUNTER_V1)
    async with run_runtime(counter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        instance = live(rt, "mod-counter")
        old_class = type(instance)
        async with rt.client() as client:
            await client.bind("sys-1", "Counter", "count")
            assert await client.exec("sys-1", "Counter", "increment") == 1
            assert (await client.next_notify())["value"] == 1

            seconds = await write_and_time_answer(
                client,
                lambda: package.write("counter", COUNTER_V2),
                ("sys-1", "Counter", "version"),
                "v2",
            )
            assert seconds < 1.0

            # the same object, now of the new class, with its attributes and status kept
            assert live(rt, "mod-counter") is instance
            assert type(instance) is not old_class
            assert type(instance) is package.module("counter").Counter
            assert instance.count == 1
            assert instance.updates == ["load", "reload"]
            assert instance.status["count"] == 1
            assert rt.runtime.host.modules["mod-counter"].state == "running"

            # the command table follows the new class: added, changed and removed commands
            assert await client.exec("sys-1", "Counter", "hello", {"name": "ann"}) == "hello ann"
            assert await client.exec("sys-1", "Counter", "hello", ["bo", True]) == "hello bo!"
            with pytest.raises(ExecError) as removed:
                await client.exec("sys-1", "Counter", "dropped")
            assert removed.value.error_code == 1

            status, functions = await rt.rest(
                "GET", "/api/engine/v2/systems/sys-1/functions/Counter_1"
            )
            assert status == 200
            assert "hello" in functions and "dropped" not in functions
            assert functions["hello"]["order"] == ["name", "excited"]
            metadata = interface_of(type(instance), Driver).metadata
            assert "hello" in metadata["functions"] and "dropped" not in metadata["functions"]

            # the binding made before the reload keeps notifying
            assert await client.exec("sys-1", "Counter", "increment") == 2
            assert (await client.next_notify())["value"] == 2

        report = rt.reloader.report(1)
        assert report.ok and report.swapped == ["mod-counter"]
        assert report.modules == [f"{package.name}.counter"]


async def test_a_command_running_during_the_reload_finishes_on_the_old_code(
    package: DriverPackage,
) -> None:
    package.write("counter", COUNTER_V1)
    async with run_runtime(counter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        async with rt.client() as client:
            await client.bind("sys-1", "Counter", "slow")
            running = asyncio.create_task(client.exec("sys-1", "Counter", "slow"))
            # the exec is now awaiting inside the old method
            assert (await client.next_notify())["value"] == "inside"
            package.write("counter", COUNTER_V2)
            report = await rt.reloader.wait_for_report(1)
            assert report.ok and report.swapped == ["mod-counter"]
            assert not running.done()
            assert await client.exec("sys-1", "Counter", "slow") == "new code"
            assert not running.done()
            live(rt, "mod-counter").leave.set()
            assert await running == "old code"


async def test_an_editor_that_renames_a_new_file_over_the_old_one_is_seen(
    package: DriverPackage,
) -> None:
    package.write("counter", COUNTER_V1)
    async with run_runtime(counter_config(package), reload=True) as rt, rt.client() as client:
        seconds = await write_and_time_answer(
            client,
            lambda: package.replace("counter", COUNTER_V2),
            ("sys-1", "Counter", "version"),
            "v2",
        )
        assert seconds < 1.0


async def test_default_settings_changed_in_code_reach_the_instance(
    package: DriverPackage,
) -> None:
    package.write("counter", COUNTER_V1)
    async with run_runtime(counter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        async with rt.client() as client:
            assert await client.exec("sys-1", "Counter", "increment") == 1
            package.write("counter", COUNTER_V1.replace('{"step": 1}', '{"step": 10}'))
            assert (await rt.reloader.wait_for_report(1)).swapped == ["mod-counter"]
            assert await client.exec("sys-1", "Counter", "increment") == 11
            assert live(rt, "mod-counter").updates == ["load", "reload"]


async def test_write_to_answer_time_stays_under_a_second(package: DriverPackage) -> None:
    package.write("counter", COUNTER_V1)
    async with run_runtime(counter_config(package), reload=True) as rt, rt.client() as client:
        timings = []
        for number in range(1, 6):
            method = f"\n        def edit{number}(self) -> int:\n            return {number}\n"
            source = COUNTER_V1 + method
            timings.append(
                await write_and_time_answer(
                    client,
                    functools.partial(package.write, "counter", source),
                    ("sys-1", "Counter", f"edit{number}"),
                    number,
                )
            )
        assert max(timings) < 1.0, f"write-to-answer times: {timings}"
