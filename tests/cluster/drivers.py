"""A driver for the cluster tests: it says where it runs and keeps a journal of its life.

Every start, stop and command is appended to the file in the `journal` setting with the
process id, so a test can prove that a module never ran on two hosts at once and that an exec
ran at most once, whichever process ran it.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from runtime import Driver

#: For hosts in the test's own process: execs of `hold` begun (token -> set when it began) and
#: the events that let them finish.
BEGUN: dict[str, asyncio.Event] = {}
RELEASE: dict[str, asyncio.Event] = {}


class Probe(Driver):
    generic_name = "Probe"
    default_settings: dict[str, Any] = {"journal": "", "tick": 0}

    def _journal(self, event: str, detail: str = "") -> None:
        path = self.setting_or("", "journal")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{time.time():.6f} {os.getpid()} {self.module_id} {event} {detail}\n")

    async def on_load(self) -> None:
        self._journal("start")
        self["pid"] = os.getpid()
        tick = float(self.setting_or(0, "tick"))
        if tick > 0:
            self.schedule.every(tick, self._tick)

    def _tick(self) -> None:
        self["ticker"] = os.getpid()
        self["ticks"] = int(self.status.get("ticks", 0)) + 1

    async def on_unload(self) -> None:
        self._journal("stop")

    def whoami(self) -> int:
        return os.getpid()

    def set(self, key: str, value: Any = None) -> Any:
        self[key] = value
        return value

    def record(self, token: str) -> str:
        self._journal("exec", token)
        return token

    async def slow_record(self, token: str, seconds: float) -> str:
        self._journal("exec-begin", token)
        await asyncio.sleep(seconds)
        self._journal("exec", token)
        return token

    async def hold(self, token: str) -> str:
        self._journal("exec-begin", token)
        BEGUN.setdefault(token, asyncio.Event()).set()
        await RELEASE.setdefault(token, asyncio.Event()).wait()
        self._journal("exec", token)
        return token

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def log_line(self, text: str) -> None:
        self.logger.info(text)
