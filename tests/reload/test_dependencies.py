"""Local modules a driver imports are watched too, and reload before the modules using them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import runtime
from runtime.testing import run_runtime
from tests.reload.support import DriverPackage, live, write_and_time_answer

CONSTANTS = """
    GREETING = "hello"
"""

HELPERS = """
    from .constants import GREETING


    def greet(name: str) -> str:
        return f"{GREETING} {name}"
"""

GREETER = """
    import asyncio
    import json

    from runtime import Driver

    from . import helpers


    class Greeter(Driver):
        generic_name = "Greeter"

        def greet(self, name: str) -> str:
            return helpers.greet(name)
"""

GREETER_WITH_EXTRA = (
    GREETER.replace(
        "from . import helpers", "from . import helpers\n    from .extras.shouting import shout"
    )
    + """
        def shout(self, text: str) -> str:
            return shout(text)
"""
)

EXTRA = """
    def shout(text: str) -> str:
        return text.upper()
"""


def greeter_config(package: DriverPackage) -> dict[str, Any]:
    return {
        "modules": {"mod-greeter": {"driver": package.driver("greeter", "Greeter")}},
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-greeter"]}},
    }


def write_package(package: DriverPackage) -> None:
    package.write("constants", CONSTANTS)
    package.write("helpers", HELPERS)
    package.write("greeter", GREETER)


async def test_the_watched_files_are_the_driver_and_its_local_imports_only(
    package: DriverPackage,
) -> None:
    write_package(package)
    async with run_runtime(greeter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        watched = rt.reloader.watched_files
        expected = {package.path(m).resolve() for m in ("greeter", "helpers", "constants")}
        assert expected | {(package.dir / "__init__.py").resolve()} == watched
        runtime_dir = Path(runtime.__file__).resolve().parent
        stdlib_dir = Path(sys.base_prefix).resolve()
        assert not [p for p in watched if p.is_relative_to(runtime_dir)]
        assert not [p for p in watched if p.is_relative_to(stdlib_dir)]


async def test_a_changed_dependency_reloads_its_dependants_dependencies_first(
    package: DriverPackage,
) -> None:
    write_package(package)
    async with run_runtime(greeter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        instance = live(rt, "mod-greeter")
        async with rt.client() as client:
            assert await client.exec("sys-1", "Greeter", "greet", ["ann"]) == "hello ann"
            seconds = await write_and_time_answer(
                client,
                lambda: package.write("constants", 'GREETING = "howdy"\n'),
                ("sys-1", "Greeter", "greet"),
                "howdy ann",
                args=["ann"],
            )
            assert seconds < 1.0
            report = rt.reloader.report(1)
            names = [f"{package.name}.{m}" for m in ("constants", "helpers", "greeter")]
            assert report.modules == names  # constants, then helpers, then the driver
            assert report.swapped == ["mod-greeter"]
            assert live(rt, "mod-greeter") is instance


async def test_a_broken_dependency_keeps_every_module_of_the_change_on_the_old_code(
    package: DriverPackage,
) -> None:
    write_package(package)
    async with run_runtime(greeter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        helpers_module = package.module("helpers")
        async with rt.client() as client:
            await client.request(
                {"cmd": "debug", "sys": "sys-1", "mod": "mod-greeter", "index": 1, "name": "x"}
            )
            package.write("helpers", HELPERS + "\n    raise ValueError('helpers are broken')\n")
            report = await rt.reloader.wait_for_report(1)
            assert "helpers are broken" in (report.error or "")
            assert package.module("helpers") is helpers_module
            assert await client.exec("sys-1", "Greeter", "greet", ["ann"]) == "hello ann"
            frame = await client.next_debug()
            assert "driver reload failed" in frame["msg"] and "helpers are broken" in frame["msg"]


async def test_a_module_newly_imported_by_an_edit_is_watched_from_then_on(
    package: DriverPackage,
) -> None:
    write_package(package)
    async with run_runtime(greeter_config(package), reload=True) as rt:
        assert rt.reloader is not None
        async with rt.client() as client:
            # a new subpackage: a directory the watcher did not watch before
            package.write("extras.__init__", "")
            shouting = package.write("extras.shouting", EXTRA).resolve()
            assert shouting not in rt.reloader.watched_files
            await write_and_time_answer(
                client,
                lambda: package.write("greeter", GREETER_WITH_EXTRA),
                ("sys-1", "Greeter", "shout"),
                "HEY",
                args=["hey"],
            )
            assert shouting in rt.reloader.watched_files
            seconds = await write_and_time_answer(
                client,
                lambda: package.write("extras.shouting", EXTRA.replace("upper", "lower")),
                ("sys-1", "Greeter", "shout"),
                "hey",
                args=["HEY"],
            )
            assert seconds < 1.0
