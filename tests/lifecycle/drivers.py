"""Drivers the lifecycle tests host: gated and slow commands, loop blockers, unload markers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from runtime import Driver


class Worker(Driver):
    """Commands that wait for the test to let them go, or for some time."""

    generic_name = "Worker"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.arrivals: asyncio.Queue[None] = asyncio.Queue()

    async def wait_gate(self) -> str:
        self.arrivals.put_nowait(None)
        await self.gate.wait()
        return "released"

    def open_gate(self) -> None:
        self.gate.set()

    async def slow(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def slow_announced(self, seconds: float) -> float:
        """`slow`, saying in the log once it is running."""
        self.logger.info("slow command started")
        return await self.slow(seconds)

    def set_status(self, key: str, value: object) -> None:
        self[key] = value

    def say(self, text: str) -> None:
        self.logger.info(text)

    def block(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def block_in_timer(self, seconds: float) -> None:
        self.schedule.in_(0, lambda: self.stall(seconds))

    def stall(self, seconds: float) -> None:
        time.sleep(seconds)

    def on_unload(self) -> None:
        marker = self.setting_or(None, "unload_marker")
        if marker:
            with Path(marker).open("a", encoding="utf-8") as file:
                file.write(f"{self.module_id}\n")


class SlowStarter(Driver):
    """An `on_load` that blocks the loop."""

    def on_load(self) -> None:
        time.sleep(0.4)


class Stubborn(Driver):
    """A careless driver: a command that swallows every cancellation."""

    generic_name = "Stubborn"

    async def ignore_cancel(self) -> str:
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)
