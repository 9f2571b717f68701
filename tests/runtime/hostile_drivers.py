"""Drivers that raise what ends a process or cancels a task: the runtime must contain it."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import Driver

RAISABLE: dict[str, type[BaseException]] = {
    "SystemExit": SystemExit,
    "KeyboardInterrupt": KeyboardInterrupt,
    "CancelledError": asyncio.CancelledError,
    "GeneratorExit": GeneratorExit,
}


def _raise(name: str) -> None:
    raise RAISABLE[name]("driver says stop")


class Hostile(Driver):
    generic_name = "Hostile"

    def __init__(self) -> None:
        self.timer_runs = 0
        self.timer_ran_thrice = asyncio.Event()

    def raise_sync(self, name: str) -> None:
        _raise(name)

    async def raise_async(self, name: str) -> None:
        await asyncio.sleep(0)
        _raise(name)

    async def await_cancelled_task(self) -> None:
        """A CancelledError from a task the driver itself cancelled."""
        task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        task.cancel()
        await task

    def ok(self) -> str:
        return "still here"

    async def hang(self) -> None:
        await asyncio.sleep(3600)

    def start_raising_timer(self, name: str, asynchronous: bool = False) -> None:
        def tick() -> Any:
            self.timer_runs += 1
            if self.timer_runs >= 3:
                self.timer_ran_thrice.set()
            if asynchronous:
                return self.raise_async(name)
            _raise(name)
            return None

        self.schedule.every(0.001, tick)


class HostileHook(Driver):
    """Raises the exception named by setting `raise` from the hook named by setting `hook`."""

    generic_name = "HostileHook"

    def _maybe(self, hook: str) -> None:
        if self.setting_or(None, "hook") == hook:
            _raise(self.setting("raise"))

    async def on_load(self) -> None:
        await asyncio.sleep(0)
        self._maybe("on_load")

    def on_update(self) -> None:
        self._maybe("on_update")

    async def on_unload(self) -> None:
        self._maybe("on_unload")

    def ok(self) -> str:
        return "still here"
