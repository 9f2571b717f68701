"""Timers a driver registers through the runtime, cancelled when its module stops."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.containment import is_driver_failure

Callback = Callable[[], Any]


@dataclass(slots=True, eq=False)
class Timer:
    """One registered timer: `every` repeats, `in` runs once."""

    kind: str
    seconds: float
    callback: Callback
    immediate: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def cancel(self) -> None:
        """Stop the timer."""
        if self.task is not None:
            self.task.cancel()

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


class Scheduler:
    """`every`, `in_` and `clear` for one module."""

    __slots__ = ("_logger", "_timers")

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self._timers: list[Timer] = []

    @property
    def timers(self) -> list[Timer]:
        """The timers still registered."""
        self._timers = [t for t in self._timers if not t.done]
        return list(self._timers)

    def every(self, seconds: float, callback: Callback, *, immediate: bool = False) -> Timer:
        """Run `callback` every `seconds` (first run now when `immediate`)."""
        return self._start(Timer("every", seconds, callback, immediate))

    def in_(self, seconds: float, callback: Callback) -> Timer:
        """Run `callback` once after `seconds`."""
        return self._start(Timer("in", seconds, callback))

    def clear(self) -> None:
        """Cancel every timer."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def rebind(self, rebind: Callable[[Callback], Callback]) -> int:
        """Point every live timer at `rebind(callback)`; returns how many there are.

        Hot reload uses this: each timer keeps its task and its schedule, so nothing is
        duplicated, no `immediate` run fires again and no one-shot delay starts over; a
        callback already running finishes, and the next run calls the new callback.
        """
        live = self.timers
        for timer in live:
            timer.callback = rebind(timer.callback)
        return len(live)

    def _start(self, timer: Timer) -> Timer:
        timer.task = asyncio.get_running_loop().create_task(self._run(timer))
        self._timers.append(timer)
        return timer

    async def _run(self, timer: Timer) -> None:
        if timer.kind == "in" or not timer.immediate:
            await asyncio.sleep(timer.seconds)
        while True:
            try:
                result = timer.callback()
                if inspect.isawaitable(result):
                    await result
            except BaseException as exc:  # whatever a callback raises fails that run only
                if not is_driver_failure(exc):
                    raise
                self._logger.error(
                    "in scheduled task", callback=_name(timer.callback), exc_info=exc
                )
            if timer.kind == "in":
                return
            await asyncio.sleep(timer.seconds)


def _name(callback: Callback) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)
