"""How a connection's outbound frames reach the socket: straight out, or through a writer.

While a client keeps up (nothing queued, nothing being written, the transport's buffer empty), a
frame is framed here (an unmasked text frame, RFC 6455) and written straight to the transport;
whatever else is sent in the same turn of the event loop is queued and written with one write at
the end of that turn, so a burst of pipelined replies or of notifies costs one system call and
wakes no task. Otherwise frames wait in the connection's bounded queue, drained by a writer task
(started the first time it is needed) with aiohttp's flow control; while it writes, the
connection's input is held (`input_held`, `output_drained`): a client that sends faster than it
reads meets backpressure rather than growing the queue. `Session.send` decides which path a
frame takes and enforces the bounds.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any

from aiohttp import WSMsgType, web

from protocol import text_frame_header, text_frames
from protocol.frames import SHORT_TEXT_HEADERS
from runtime.limits import OutputBudget
from runtime.logs import get_logger

_SHORT = SHORT_TEXT_HEADERS
_SHORT_COUNT = len(SHORT_TEXT_HEADERS)

log = get_logger(component="session")


class TurnEnd:
    """Runs `end_burst` of every connection that wrote straight out this turn, at its end.

    One loop callback per turn for all connections, rather than one per connection: a change
    notified to 1,000 connections schedules one callback, not 1,000.
    """

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[Outbound] = []

    def add(self, connection: Outbound) -> None:
        if not self._pending:
            self._loop.call_soon(self._run)
        self._pending.append(connection)

    def _run(self) -> None:
        pending, self._pending = self._pending, []
        for connection in pending:
            connection.end_burst()


_turn_ends: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnEnd] = (
    weakref.WeakKeyDictionary()
)


def turn_end() -> TurnEnd:
    """The running loop's `TurnEnd`."""
    loop = asyncio.get_running_loop()
    found = _turn_ends.get(loop)
    if found is None:
        found = _turn_ends[loop] = TurnEnd(loop)
    return found


class Outbound:
    """The write side of a connection (a mixin of `Session`, which holds the state)."""

    __slots__ = (
        "_burst",
        "_drained",
        "_pending_bytes",
        "_queue",
        "_turn_end",
        "_wakeup",
        "_writer",
        "_writing",
        "input_held",
    )

    id: int
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    output: OutputBudget
    state: Any
    _loop: asyncio.AbstractEventLoop

    def init_outbound(self) -> None:
        self._queue: deque[bytes] | None = None  # made when first needed (memory per idle client)
        self._pending_bytes = 0
        #: A frame went straight out this turn; the rest of the turn's frames wait in the queue.
        self._burst = False
        #: The writer task holds frames it has taken from the queue.
        self._writing = False
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._turn_end = turn_end()
        #: The writer is writing queued frames: take no more requests until it is done.
        self.input_held = False
        self._drained: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        raise NotImplementedError

    def _release(self, code: int | None, *, drop_output: bool) -> None:
        raise NotImplementedError

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The writer task, once a slow client has made one necessary."""
        return self._writer

    @property
    def pending_bytes(self) -> int:
        """Bytes queued for the writer."""
        return self._pending_bytes

    def _keeping_up(self) -> bool:
        """Whether a frame may go straight to the transport: nothing is waiting before it."""
        transport = self.transport
        return (
            not self._writing
            and transport is not None
            and not transport.get_write_buffer_size()
            and not transport.is_closing()
            and not self.ws.closed
        )

    def _write_now(self, frame: bytes) -> None:
        """Write one frame straight out; the frames sent after it this turn wait for its end."""
        size = len(frame)
        header = _SHORT[size] if size < _SHORT_COUNT else text_frame_header(size)
        self.transport.write(header + frame)  # type: ignore[union-attr]
        self._burst = True
        self._turn_end.add(self)

    def end_burst(self) -> None:
        """The turn that wrote straight out is over: write what was queued behind it."""
        self._burst = False
        self._write_queued()

    def _write_queued(self) -> None:
        """Write what is queued with one write while the client keeps up, else via the writer."""
        queue = self._queue
        if not queue:
            return
        if self._keeping_up():
            self.transport.write(text_frames(list(queue)))  # type: ignore[union-attr]
            queue.clear()
            self.output.pending -= self._pending_bytes
            self._pending_bytes = 0
        else:
            self._wake_writer()

    def input_hold_started(self) -> None:
        """The writer began writing queued frames, so the input is held (for accounting)."""

    async def output_drained(self) -> None:
        """Wait while the input is held: until the writer has written what was queued, or the
        connection has ended."""
        if not self.input_held:
            return
        if self._drained is None:
            self._drained = self._loop.create_future()
        await asyncio.shield(self._drained)

    def _release_input(self) -> None:
        self._writing = self.input_held = False
        drained = self._drained
        if drained is not None:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    def _wake_writer(self) -> None:
        if self._writer is None:
            self._wakeup = asyncio.Event()
            self._writer = self._loop.create_task(self.run_writer())
        elif self._wakeup is not None:
            self._wakeup.set()

    async def run_writer(self) -> None:
        """Write queued frames while the session is open (and what is left when it shuts down)."""
        queue, ws, wakeup = self._queue, self.ws, self._wakeup
        assert queue is not None and wakeup is not None
        try:
            while True:
                if queue:
                    self._writing = self.input_held = True
                    self.input_hold_started()
                    while queue:
                        frame = queue.popleft()
                        size = len(frame)
                        self._pending_bytes -= size
                        self.output.pending -= size
                        await ws.send_frame(frame, WSMsgType.TEXT)
                    self._release_input()
                if not self.is_open:
                    return
                wakeup.clear()
                await wakeup.wait()
        except (ConnectionError, RuntimeError) as exc:
            if self.is_open:
                log.info("write failed", session=self.id, error=type(exc).__name__)
            self._release(None, drop_output=True)
            if self.transport is not None:
                self.transport.abort()
        finally:
            self._release_input()
