"""Event-loop watchdog: reports a loop that ran one thing for too long, and what it was.

The loop proves it is alive with a callback every `BEAT_INTERVAL`; a thread checks the time of
the last beat. When the loop is overdue by `BLOCKED_THRESHOLD` the thread samples the loop
thread's Python stack (once per stall) and names what it finds: the outermost driver method on
it (a command, a timer callback or a lifecycle hook, with the module id), else the innermost
runtime function. The next beat reports the stall with the time it lasted. Nothing is added to
the exec path: the stack is read only while the loop is already stalled.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from runtime.driver import Driver
from runtime.scheduler import Scheduler

#: A loop that runs nothing else for this many seconds is reported.
BLOCKED_THRESHOLD = 0.1
#: Seconds between the loop's beats.
BEAT_INTERVAL = 0.05
#: Seconds between the watching thread's checks.
CHECK_INTERVAL = 0.02

_HOOKS = frozenset({"on_load", "on_update", "on_unload"})
_TIMER_CODE = Scheduler._run.__code__

#: Called on the loop with (seconds blocked, what was running).
BlockedHandler = Callable[[float, dict[str, Any]], None]


def describe_stack(frame: FrameType | None) -> dict[str, Any] | None:
    """What a stack is running; None when the loop thread is idle in its selector."""
    if frame is None:
        return None
    innermost = frame
    if innermost.f_code.co_name == "select" and innermost.f_code.co_filename.endswith(
        "selectors.py"
    ):
        return None
    driver: tuple[Driver, str] | None = None
    in_timer = False
    while frame is not None:
        code = frame.f_code
        if code is _TIMER_CODE:
            in_timer = True
        elif code.co_argcount and code.co_varnames[0] == "self":
            owner = frame.f_locals.get("self")
            if isinstance(owner, Driver):
                driver = (owner, code.co_name)
        frame = frame.f_back
    if driver is None:
        code = innermost.f_code
        return {"kind": "runtime", "function": code.co_qualname, "file": code.co_filename}
    instance, name = driver
    kind = "timer" if in_timer else "hook" if name in _HOOKS else "command"
    try:
        module_id: str | None = instance.module_id
    except AttributeError:
        module_id = None
    return {"kind": kind, "module_id": module_id, kind: name}


class LoopWatchdog:
    """Watches one event loop from a daemon thread."""

    def __init__(self, on_blocked: BlockedHandler, threshold: float = BLOCKED_THRESHOLD) -> None:
        self.on_blocked = on_blocked
        self.threshold = threshold
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._due = 0.0
        self._sampled_for = -1.0
        self._sample: tuple[float, dict[str, Any] | None] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin watching the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._schedule(time.monotonic())
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + BEAT_INTERVAL
        self._handle = self._loop.call_at(self._loop.time() + BEAT_INTERVAL, self._beat)

    def _beat(self) -> None:
        now = time.monotonic()
        due, sample = self._due, self._sample
        self._schedule(now)
        late = now - due
        if late >= self.threshold and sample is not None and sample[0] == due and sample[1]:
            self.on_blocked(late, sample[1])

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL):
            due = self._due
            if self._sampled_for == due or time.monotonic() - due < self.threshold:
                continue
            self._sampled_for = due
            frame = sys._current_frames().get(self._loop_thread)
            self._sample = (due, describe_stack(frame))
