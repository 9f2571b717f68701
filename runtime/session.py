"""One object per WebSocket connection: its bindings, debug streams and outbound frames.

Outbound frames go straight to the transport while the client keeps up, else through a bounded
queue and a writer task (runtime/outbound.py). A client that stops reading is cut off (close
code 1008, reason logged) once the queue holds `MAX_PENDING_FRAMES` frames or
`MAX_PENDING_BYTES` bytes, or when the whole process holds more than its output budget and this
connection holds the most, so a stuck client never grows memory without bound.

A session is OPEN, then CLOSING, then CLOSED (as websockets' `State`). Leaving OPEN, whatever
the cause (the client's close, a reset, a cut-off, a failed write, server shutdown), runs one
teardown that releases every binding, debug stream and counter at once; the writer never waits
once the session has left OPEN. Execs still running go on to their end: their replies are dropped
and they count against their credential until they end.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from aiohttp import web

from protocol import (
    Command,
    ErrorCode,
    ParseFailure,
    Request,
    encode_error,
    encode_meta,
    encode_success,
    parse_request,
)
from runtime.access import check_command
from runtime.auth import Principal
from runtime.errors import ExecFailure
from runtime.limits import (
    SHUTTING_DOWN,
    ExecTracker,
    OutputBudget,
)
from runtime.logs import DebugTap, get_logger
from runtime.metrics import RuntimeMetrics
from runtime.modules import ModuleHost
from runtime.outbound import Outbound
from runtime.streams import Binding, BindingKey, Streams
from runtime.tasks import ExecStarter, Suspended, current_task_of

#: Frames a connection may have waiting to be written before it is cut off.
MAX_PENDING_FRAMES = 4096
#: Bytes a connection may have waiting to be written before it is cut off.
MAX_PENDING_BYTES = 32 * 1024 * 1024
#: Commands one connection may have running at once; more get error_code 7.
MAX_CONCURRENT_EXECS = 512
#: Seconds a closing connection gets to take its last frames and the close frame.
CLOSE_TIMEOUT = 1.0

_PONG = b"pong"
_session_ids = itertools.count(1)
log = get_logger(component="session")


class SessionState(enum.Enum):
    """Where a connection is in its life."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


OPEN = SessionState.OPEN
_EXEC = Command.EXEC  # (an Enum member looked up on its class runs Python code on 3.11)


@dataclass(slots=True, eq=False)
class Hub:
    """What every session of one runtime shares."""

    host: ModuleHost
    tap: DebugTap
    execs: ExecTracker
    output: OutputBudget
    metrics: RuntimeMetrics
    released: Callable[[Session], None]
    starter: ExecStarter = field(default_factory=ExecStarter)


class Session(Outbound, Streams):
    """A control connection."""

    __slots__ = (
        "_closer",
        "_ended",
        "_loop",
        "_tasks",
        "bindings",
        "close_code",
        "credential",
        "debug_streams",
        "execs",
        "host",
        "hub",
        "id",
        "opened_at",
        "output",
        "principal",
        "starter",
        "state",
        "stats",
        "tap",
        "transport",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        hub: Hub,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.id = next(_session_ids)
        self.ws = ws
        self.transport = transport
        self.principal = principal
        self.credential = principal.credential
        self.hub = hub
        self.host = hub.host
        self.tap = hub.tap
        self.execs = hub.execs
        self.output = hub.output
        self.stats = hub.metrics.execs
        self.starter = hub.starter
        self.state = OPEN
        self.close_code: int | None = None
        self.opened_at = time.monotonic()
        self.bindings: dict[BindingKey, Binding] = {}
        self.debug_streams: dict[tuple[str, str, int], tuple[str, Any]] = {}
        self._loop = asyncio.get_running_loop()
        self.init_outbound()
        self._tasks: dict[asyncio.Task[None], Request] = {}
        self._closer: asyncio.Task[None] | None = None
        self._ended: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the session is still OPEN (it takes frames)."""
        return self.state is OPEN

    # -- outbound --------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Send a frame; cut the client off when it has stopped reading."""
        if self.state is not OPEN:
            return
        queue = self._queue
        if not queue and not self._burst and self._keeping_up():
            self._write_now(frame)
            return
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= MAX_PENDING_FRAMES or self._pending_bytes > MAX_PENDING_BYTES:
            if self._burst:  # one long turn (a large pipelined batch): write what it made so far
                self._write_queued()
            if len(queue) >= MAX_PENDING_FRAMES or self._pending_bytes > MAX_PENDING_BYTES:
                self.cut_off(
                    f"client is not reading: {len(queue)} frames, "
                    f"{self._pending_bytes} bytes pending"
                )
                return
        size = len(frame)
        queue.append(frame)
        self._pending_bytes += size
        output = self.output
        output.pending += size
        if output.pending > output.limit:
            output.overflow()
        if len(queue) == 1 and not self._burst:
            self._wake_writer()

    def input_hold_started(self) -> None:
        self.hub.metrics.input_holds.inc()

    def cut_off(self, reason: str) -> None:
        """Close the connection with 1008 and drop everything pending."""
        if self.state is not OPEN:
            return
        log.warning("closing slow connection", session=self.id, reason=reason)
        self.hub.metrics.slow_client_cutoffs.inc()
        self._release(1008, drop_output=True)
        closing = self._close_socket(1008, b"too many pending messages")
        self._closer = asyncio.get_running_loop().create_task(closing)

    async def _close_socket(self, code: int, message: bytes) -> None:
        """Send a close frame; a client that does not take it in time loses its socket."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()

    # -- inbound ---------------------------------------------------------------------------

    def handle(self, frame: str | bytes) -> None:
        """Handle one inbound frame; every request carrying an id gets exactly one reply."""
        if frame == "ping" or frame == b"ping":
            self.send(_PONG)
            return
        request = parse_request(frame)
        if isinstance(request, ParseFailure):
            self.send(encode_error(request.id, request.code, request.message, 500))
            return
        cmd = request.cmd
        denied = check_command(self.principal.clearance, cmd, request.mod, self.host.modules)
        if denied is not None:
            if cmd is _EXEC:
                self.stats.failed(ErrorCode.ACCESS_DENIED, 0.0)
            self.send(encode_error(request.id, ErrorCode.ACCESS_DENIED, denied.message, 401))
            return
        if cmd is _EXEC:
            self._exec(request)
        elif cmd is Command.BIND:
            self._bind(request)
        elif cmd is Command.UNBIND:
            self._unbind(request)
        elif cmd is Command.DEBUG:
            self._debug(request)
        else:
            self._ignore(request)

    def _exec(self, req: Request) -> None:
        """Run a sync command inline; an async one from its first step on in a task of its own
        (runtime/tasks.py), counted in flight only if it suspends."""
        tasks = self._tasks
        if len(tasks) >= MAX_CONCURRENT_EXECS:
            limit = MAX_CONCURRENT_EXECS
            self._refuse(req, f"too many requests in flight on this connection (limit {limit})")
            return
        execs = self.execs
        if execs.stopping or execs.by_credential.get(self.credential, 0) >= execs.limit:
            self._refuse(req, execs.refusal(self.credential) or "")
            return
        started = perf_counter()
        try:
            outcome = self.host.start_exec(
                req.sys,
                req.mod,
                req.index,
                req.name,
                req.args,
                self.principal.clearance,
                self.starter,
            )
        except Exception as exc:
            self._send_failure(req, exc, started)
            return
        if isinstance(outcome, bytes):  # (`_send_result`, inline: sync, or async done at once)
            self.stats.success(perf_counter() - started)
            meta = encode_meta(req.sys, req.mod, req.index, req.name)
            self.send(encode_success(req.id, meta, outcome, 200))
            return
        if isinstance(outcome, Suspended):  # its first step ran; its runner takes the rest
            rest = outcome.rest
            assert rest is not None
            task: asyncio.Task[Any] | None = self.starter.adopt(
                outcome, self._await_exec(req, rest, started)
            )
        else:
            task = self.starter.start(self._loop, self._await_exec(req, outcome, started))
        if task is not None:  # it suspended (one that did not has replied already)
            tasks[task] = req
            execs.started(self.credential, task)

    async def _await_exec(self, req: Request, pending: Awaitable[bytes], started: float) -> None:
        """Reply once the command ends, then stop counting the exec (no done callback)."""
        try:
            result = await pending
        except asyncio.CancelledError:
            if not self.execs.stopping:
                raise
            self._refuse(req, SHUTTING_DOWN)
        except Exception as exc:
            self._send_failure(req, exc, started)
        else:
            self._send_result(req, result, started)
        finally:
            tasks = self._tasks
            if tasks:  # else this exec never suspended, so it was never counted
                task = current_task_of(self._loop)
                if task is not None and tasks.pop(task, None) is not None:
                    self.execs.finished(task)

    def _send_result(self, req: Request, value: bytes, started: float) -> None:
        self.stats.success(perf_counter() - started)
        meta = encode_meta(req.sys, req.mod, req.index, req.name)
        self.send(encode_success(req.id, meta, value, 200))

    def _send_failure(self, req: Request, exc: Exception, started: float) -> None:
        if self.execs.stopping and _being_cancelled():
            self._refuse(req, SHUTTING_DOWN)
            return
        if isinstance(exc, ExecFailure):
            self.stats.failed(exc.error_code, perf_counter() - started)
            self.send(encode_error(req.id, exc.error_code, exc.message, exc.http_code))
            return
        log.error("exec failed unexpectedly", session=self.id, exc_info=exc)
        self.stats.failed(ErrorCode.UNEXPECTED_FAILURE, perf_counter() - started)
        msg = f"failed to execute request: {exc}"
        self.send(encode_error(req.id, ErrorCode.UNEXPECTED_FAILURE, msg, 500))

    def _refuse(self, req: Request, message: str) -> None:
        """Answer an exec that may not run (a limit, or shutdown) with error_code 7."""
        self.stats.refused()
        self.send(encode_error(req.id, ErrorCode.UNEXPECTED_FAILURE, message, 503))

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Leave OPEN: release everything and drop the output (the connection has ended)."""
        self._release(None, drop_output=True)

    def _release(self, code: int | None, *, drop_output: bool) -> None:
        """The one teardown: bindings, debug streams and counters go at once; runs once."""
        if self.state is not OPEN:
            return
        self.state = SessionState.CLOSING
        self.close_code = code
        self.release_streams()
        queue = self._queue
        if drop_output:
            if queue:
                queue.clear()
            self.output.pending -= self._pending_bytes
            self._pending_bytes = 0
        elif queue:
            self._write_queued()  # the end of the turn would find the session closed
        if self._wakeup is not None:
            self._wakeup.set()
        self.hub.released(self)

    def abandon_execs(self) -> None:
        """Answer every exec of this connection still running with "server shutting down"."""
        for task, req in self._tasks.items():
            if not task.done():
                self._refuse(req, SHUTTING_DOWN)

    async def shutdown(
        self,
        code: int = 1001,
        message: bytes = b"server shutting down",
        timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        """Server shutdown: release, write what is queued, close with `code`; all within
        `timeout` seconds, after which the socket is aborted."""
        if self.state is not OPEN:
            return
        self._release(code, drop_output=False)
        writer = self._writer
        try:
            async with asyncio.timeout(timeout):
                if writer is not None:
                    await asyncio.wait([writer])
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            if writer is not None:
                writer.cancel()
            if self.transport is not None:
                self.transport.abort()

    async def finish(self) -> None:
        """The connection is over: stop the writer (bounded) and enter CLOSED."""
        self.close()
        for task in (self._writer, self._closer):
            if task is not None and not task.done():
                done, _ = await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
                if not done:
                    task.cancel()
        if self._pending_bytes:
            if self._queue:
                self._queue.clear()
            self.output.pending -= self._pending_bytes
            self._pending_bytes = 0
        self.state = SessionState.CLOSED
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the connection is over and its writer has stopped (state CLOSED)."""
        if self.state is SessionState.CLOSED:
            return
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._ended)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
