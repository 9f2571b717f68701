"""The driver the benchmarks host: one status and the same command in three shapes."""

from __future__ import annotations

import asyncio

from runtime import Driver


class BenchDisplay(Driver):
    """`power` as a sync command, an async one that finishes at once, and one awaiting I/O."""

    generic_name = "Display"

    def power(self, state: bool) -> bool:
        self["power"] = state
        return state

    async def power_async(self, state: bool) -> bool:
        self["power"] = state
        return state

    async def power_io(self, state: bool) -> bool:
        await asyncio.sleep(0)  # one suspension, as a command awaiting a device or a cloud does
        self["power"] = state
        return state

    async def echo(self, token: str) -> str:
        return token

    async def echo_io(self, token: str) -> str:
        await asyncio.sleep(0)
        return token

    def set_keys(self, value: int, keys: int) -> int:
        """Set `key0` .. `key<keys-1>` to `value` (the fan-out benchmark's change)."""
        for number in range(keys):
            self[f"key{number}"] = value
        return value
