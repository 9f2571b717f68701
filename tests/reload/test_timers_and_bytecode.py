"""Timers follow the new code without duplicates; stale bytecode and no-op saves never win."""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.testing import run_runtime
from tests.reload.support import DriverPackage, code_constants, live

TICKER = """
    from runtime import Driver


    class Ticker(Driver):
        generic_name = "Ticker"

        def __init__(self) -> None:
            self.ticks = 0
            self.updates = 0

        def on_load(self) -> None:
            self.schedule.every(0.05, self.tick)

        def on_update(self) -> None:
            self.updates += 1

        def tick(self) -> None:
            self.ticks += 1
            self["tick_version"] = VERSION

        def arm(self, seconds: float) -> None:
            self.schedule.in_(seconds, self.fire)

        def fire(self) -> None:
            self["fired"] = VERSION
"""


def ticker(version: int) -> str:
    return TICKER.replace("VERSION", str(version))


def ticker_config(package: DriverPackage) -> dict[str, Any]:
    return {
        "modules": {"mod-ticker": {"driver": package.driver("ticker", "Ticker")}},
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-ticker"]}},
    }


async def test_timers_are_rebound_to_the_new_methods_and_never_duplicated(
    package: DriverPackage,
) -> None:
    package.write("ticker", ticker(1))
    async with run_runtime(ticker_config(package), reload=True) as rt:
        assert rt.reloader is not None
        instance = live(rt, "mod-ticker")
        async with rt.client() as ticks, rt.client() as fired:
            await ticks.bind("sys-1", "Ticker", "tick_version")
            assert (await ticks.next_notify())["value"] == 1
            await fired.bind("sys-1", "Ticker", "fired")
            await fired.exec("sys-1", "Ticker", "arm", [0.6])  # a one-shot, due after the edit
            assert len(instance.schedule.timers) == 2

            package.write("ticker", ticker(2))
            report = await rt.reloader.wait_for_report(1)
            assert report.swapped == ["mod-ticker"]
            assert instance.updates == 1  # an on_update without a parameter is still called

            # the repeating timer now runs the new tick, through the binding made before
            assert (await ticks.next_notify())["value"] == 2
            assert len(instance.schedule.timers) == 2
            before = instance.ticks
            await asyncio.sleep(0.5)
            assert 0 < instance.ticks - before <= 13  # one 50 ms timer (~10 runs), not two

            # the one-shot fires once, on the new code, when it was due
            assert (await fired.next_notify(timeout=2))["value"] == 2
            await asyncio.sleep(0.2)
            assert [n["value"] for n in fired.notifications] == [2]
            assert len(instance.schedule.timers) == 1


async def test_an_edit_keeping_size_and_mtime_still_reloads_despite_cached_bytecode(
    package: DriverPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # the import below writes a .pyc
    path = package.write("ticker", ticker(1))
    async with run_runtime(ticker_config(package), reload=True) as rt:
        assert rt.reloader is not None
        cached = Path(importlib.util.cache_from_source(str(path)))
        assert cached.is_file()
        before = os.stat(path)

        path.write_text(path.read_text().replace('self["fired"] = 1', 'self["fired"] = 7'))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(path)
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        # the trap is real: the standard loader would still run the old bytecode
        name = f"{package.name}.ticker"
        stale = importlib.machinery.SourceFileLoader(name, str(path)).get_code(name)
        assert 7 not in code_constants(stale)

        report = await rt.reloader.wait_for_report(1)
        assert report.ok and report.swapped == ["mod-ticker"]
        async with rt.client() as client:
            await client.bind("sys-1", "Ticker", "fired")
            await client.exec("sys-1", "Ticker", "arm", [0])
            assert (await client.next_notify())["value"] == 7
        assert not cached.exists()  # the stale bytecode is gone for later imports too


async def test_saving_unchanged_content_does_not_reload(
    package: DriverPackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = package.write("ticker", ticker(1))
    async with run_runtime(ticker_config(package), reload=True) as rt:
        assert rt.reloader is not None
        instance = live(rt, "mod-ticker")
        handled: asyncio.Queue[list[Any]] = asyncio.Queue()
        handle_changes = rt.reloader.handle_changes

        async def observed(paths: Any) -> list[Any]:
            reports = await handle_changes(paths)
            handled.put_nowait(reports)
            return reports

        monkeypatch.setattr(rt.reloader, "handle_changes", observed)
        path.write_bytes(path.read_bytes())  # an editor saving without changes
        os.utime(path)
        assert await asyncio.wait_for(handled.get(), 10) == []  # seen, and nothing done
        assert rt.reloader.report_count == 0 and instance.updates == 0
        package.write("ticker", ticker(2))
        assert (await rt.reloader.wait_for_report(1)).swapped == ["mod-ticker"]
