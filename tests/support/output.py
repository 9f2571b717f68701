"""Lines a child process writes to one stream, kept as they arrive, with waits for the next ones.

A reader thread feeds the lines in; tests wait for a line (or a condition over all lines) from
synchronous code or from any event loop. A wait wakes on each new line, never on a timer: the
timeout only bounds a failure, and a failure quotes what the stream said.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
from collections.abc import Callable
from typing import IO, Any

#: Seconds a wait for a line may take before the test fails (the machine may be busy).
LINE_TIMEOUT = 30.0
#: Characters of a stream quoted in a failure message.
QUOTED_TAIL = 4000

Condition = Callable[[list[str]], bool]


class StreamEnded(AssertionError):
    """The stream closed (the process exited) before the awaited line came."""


class Output:
    """The lines (without their line ends) one stream of a process has written so far."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.ended = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def text(self) -> str:
        """Everything so far, one line per line."""
        with self._lock:
            return "".join(line + "\n" for line in self.lines)

    def json_lines(self) -> list[dict[str, Any]]:
        """The lines that are JSON objects (structured log lines), parsed."""
        return json_objects(self.snapshot())

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def feed(self, line: str | None) -> None:
        """One more line, or None once the stream has closed."""
        with self._lock:
            if line is None:
                self.ended = True
            else:
                self.lines.append(line)
            self._changed.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(event.set)

    def read_from(self, stream: IO[bytes]) -> threading.Thread:
        """Start a thread feeding the lines of `stream` in until it closes."""

        def pump() -> None:
            try:
                for raw in iter(stream.readline, b""):
                    self.feed(raw.decode(errors="replace").rstrip("\r\n"))
            finally:
                self.feed(None)

        thread = threading.Thread(target=pump, name=f"output-{self.name}", daemon=True)
        thread.start()
        return thread

    async def wait_until(
        self, condition: Condition, what: str, timeout: float = LINE_TIMEOUT
    ) -> list[str]:
        """Wait until `condition(lines)` holds; returns the lines it held for."""
        return await self._wait(condition, what, timeout, until_closed=False)

    async def wait_closed(self, timeout: float = LINE_TIMEOUT) -> list[str]:
        """Wait until the stream has closed; returns all its lines."""
        return await self._wait(
            lambda _: False, "the end of the stream", timeout, until_closed=True
        )

    async def _wait(
        self, condition: Condition, what: str, timeout: float, *, until_closed: bool
    ) -> list[str]:
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event.clear()  # before looking: a line fed after the look sets it again
                    with self._lock:
                        lines, ended = list(self.lines), self.ended
                    if condition(lines) or (ended and until_closed):
                        return lines
                    if ended:
                        raise StreamEnded(self._failure(what, "the stream ended", lines))
                    await event.wait()
        except TimeoutError:
            raise AssertionError(
                self._failure(what, f"not within {timeout:g} s", self.snapshot())
            ) from None
        finally:
            with self._lock:
                self._waiters.remove(entry)

    async def wait_for(
        self, predicate: Callable[[str], bool], what: str, timeout: float = LINE_TIMEOUT,
        *, start: int = 0,
    ) -> str:
        """The first line from index `start` on that satisfies `predicate`."""
        found: list[str] = []

        def seen(lines: list[str]) -> bool:
            found[:] = [line for line in lines[start:] if predicate(line)][:1]
            return bool(found)

        await self.wait_until(seen, what, timeout)
        return found[0]

    def wait_for_sync(
        self, predicate: Callable[[str], bool], what: str, timeout: float = LINE_TIMEOUT
    ) -> str:
        """`wait_for` for code that runs no event loop (it blocks this thread)."""
        with self._changed:
            found: list[str] = []

            def seen() -> bool:
                found[:] = [line for line in self.lines if predicate(line)][:1]
                return bool(found) or self.ended

            self._changed.wait_for(seen, timeout)
            if found:
                return found[0]
            reason = "the stream ended" if self.ended else f"not within {timeout:g} s"
            failure = self._failure(what, reason, list(self.lines))
        raise StreamEnded(failure) if self.ended else AssertionError(failure)

    def _failure(self, what: str, reason: str, lines: list[str]) -> str:
        text = "".join(line + "\n" for line in lines)[-QUOTED_TAIL:]
        return f"{what}: {reason}; {self.name} said:\n{text}"


def json_objects(lines: list[str]) -> list[dict[str, Any]]:
    """The lines that parse as JSON objects, parsed; other lines are left out."""
    parsed = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


class OutputWriter(io.TextIOBase):
    """A text stream that feeds an `Output` line by line: stands in for `sys.stderr` so a test
    in this process can wait for a log line as it is written."""

    def __init__(self, output: Output, also: IO[str] | None = None) -> None:
        super().__init__()
        self.output = output
        self.also = also  # a stream that gets every write too (the one this stands in for)
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.also is not None:
            self.also.write(text)
            self.also.flush()
        with self._lock:
            *complete, self._partial = (self._partial + text).split("\n")
            for line in complete:
                self.output.feed(line)
        return len(text)
