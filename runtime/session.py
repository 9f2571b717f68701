"""One object per WebSocket connection: its bindings, debug streams and outbound queue.

Replies and notifies go through a bounded queue drained by one writer task. A client that stops
reading is cut off (close code 1008, reason logged) once the queue holds `MAX_PENDING_FRAMES`
frames or `MAX_PENDING_BYTES` bytes, so a stuck client never grows memory without bound.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable
from typing import Any

from aiohttp import WSMsgType, web

from protocol import (
    Command,
    ErrorCode,
    ParseFailure,
    Request,
    encode_debug,
    encode_error,
    encode_meta,
    encode_success,
    notify_parts,
    parse_request,
)
from runtime.access import check_access, command_operation
from runtime.auth import Principal
from runtime.errors import ExecFailure
from runtime.logs import DebugTap, get_logger
from runtime.modules import ExecResult, ModuleHost

#: Frames a connection may have waiting to be written before it is cut off.
MAX_PENDING_FRAMES = 4096
#: Bytes a connection may have waiting to be written before it is cut off.
MAX_PENDING_BYTES = 32 * 1024 * 1024
#: Commands one connection may have running at once; more get error_code 7.
MAX_CONCURRENT_EXECS = 512
#: Seconds a cut-off client gets to take the close frame before its transport is aborted.
CLOSE_TIMEOUT = 1.0

_PONG = b"pong"
_session_ids = itertools.count(1)
log = get_logger(component="session")

BindingKey = tuple[str, str, int, str]


class Binding:
    """A client's interest in one status of one module, addressed indirectly by name + index."""

    __slots__ = ("key", "module_id", "prefix", "session", "suffix")

    def __init__(self, session: Session, bind_id: int, key: BindingKey, meta: bytes) -> None:
        self.session = session
        self.key = key
        self.module_id: str | None = None
        self.prefix, self.suffix = notify_parts(bind_id, meta)

    def deliver(self, value: bytes) -> None:
        self.session.send(self.prefix + value + self.suffix)


class Session:
    """A control connection."""

    __slots__ = (
        "_pending_bytes",
        "_queue",
        "_tasks",
        "_wakeup",
        "bindings",
        "closed",
        "debug_streams",
        "host",
        "id",
        "principal",
        "tap",
        "transport",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        host: ModuleHost,
        tap: DebugTap,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.id = next(_session_ids)
        self.ws = ws
        self.transport = transport
        self.principal = principal
        self.host = host
        self.tap = tap
        self.bindings: dict[BindingKey, Binding] = {}
        self.debug_streams: dict[tuple[str, str, int], tuple[str, Any]] = {}
        self.closed = False
        self._queue: deque[bytes] = deque()
        self._pending_bytes = 0
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- outbound --------------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue a frame for the writer; cut the client off when it has stopped reading."""
        if self.closed:
            return
        queue = self._queue
        if len(queue) >= MAX_PENDING_FRAMES or self._pending_bytes > MAX_PENDING_BYTES:
            self.cut_off(
                f"client is not reading: {len(queue)} frames, {self._pending_bytes} bytes pending"
            )
            return
        queue.append(frame)
        self._pending_bytes += len(frame)
        if len(queue) == 1:
            self._wakeup.set()

    def cut_off(self, reason: str) -> None:
        """Close the connection with 1008 and drop everything pending."""
        if self.closed:
            return
        log.warning("closing slow connection", session=self.id, reason=reason)
        self.close()
        self._queue.clear()
        self._pending_bytes = 0
        task = asyncio.get_running_loop().create_task(self._close_slow())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_slow(self) -> None:
        """Try a 1008 close; a client that does not even take that loses its transport."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=1008, message=b"too many pending messages")
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()

    async def run_writer(self) -> None:
        """Write queued frames until the session closes."""
        queue, ws = self._queue, self.ws
        try:
            while not self.closed:
                while queue:
                    frame = queue.popleft()
                    self._pending_bytes -= len(frame)
                    await ws.send_frame(frame, WSMsgType.TEXT)
                self._wakeup.clear()
                if not queue:
                    await self._wakeup.wait()
        except (ConnectionError, RuntimeError):
            self.closed = True

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
        module_name: str | None = request.mod
        if cmd is Command.DEBUG:  # debug addresses a module by its id
            module = self.host.modules.get(request.mod)
            module_name = module.name if module is not None else None
        denied = check_access(self.principal.clearance, command_operation(cmd), module_name)
        if denied is not None:
            self.send(encode_error(request.id, ErrorCode.ACCESS_DENIED, denied.message, 401))
            return
        if cmd is Command.EXEC:
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
        """Run a sync command inline; an async one in a task of its own."""
        if len(self._tasks) >= MAX_CONCURRENT_EXECS:
            msg = f"too many requests in flight on this connection (limit {MAX_CONCURRENT_EXECS})"
            self.send(encode_error(req.id, ErrorCode.UNEXPECTED_FAILURE, msg, 503))
            return
        try:
            outcome = self.host.start_exec(
                req.sys, req.mod, req.index, req.name, req.args, self.principal.clearance
            )
        except Exception as exc:
            self._send_failure(req, exc)
            return
        if isinstance(outcome, ExecResult):
            self._send_result(req, outcome)
            return
        task = asyncio.get_running_loop().create_task(self._await_exec(req, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _await_exec(self, req: Request, pending: Awaitable[ExecResult]) -> None:
        try:
            result = await pending
        except Exception as exc:
            self._send_failure(req, exc)
            return
        self._send_result(req, result)

    def _send_result(self, req: Request, result: ExecResult) -> None:
        meta = encode_meta(req.sys, req.mod, req.index, req.name)
        self.send(encode_success(req.id, meta, result.value, result.code))

    def _send_failure(self, req: Request, exc: Exception) -> None:
        if isinstance(exc, ExecFailure):
            self.send(encode_error(req.id, exc.error_code, exc.message, exc.http_code))
            return
        log.error("exec failed unexpectedly", session=self.id, exc_info=exc)
        msg = f"failed to execute request: {exc}"
        self.send(encode_error(req.id, ErrorCode.UNEXPECTED_FAILURE, msg, 500))

    def _bind(self, req: Request) -> None:
        meta = encode_meta(req.sys, req.mod, req.index, req.name)
        key: BindingKey = (req.sys, req.mod, req.index, req.name)
        if key in self.bindings:
            self.send(encode_success(req.id, meta))
            return
        binding = Binding(self, req.id, key, meta)
        self.bindings[key] = binding
        self.send(encode_success(req.id, meta))
        self._attach(binding, self.host.resolve_id(req.sys, req.mod, req.index))

    def _attach(self, binding: Binding, module_id: str | None) -> None:
        """Point a binding at `module_id` (or nothing), sending the value it now shows."""
        store, name = self.host.store, binding.key[3]
        old = binding.module_id
        if old == module_id:
            return
        if old is not None:
            store.unsubscribe(old, name, binding)
        binding.module_id = module_id
        if module_id is not None:
            store.subscribe(module_id, name, binding)
            current = store.get(module_id, name)
            if current is not None:
                binding.deliver(current)
        elif old is not None:
            binding.deliver(b"null")

    def rebind_all(self) -> None:
        """Re-resolve every binding after systems or modules changed."""
        for key, binding in list(self.bindings.items()):
            self._attach(binding, self.host.resolve_id(key[0], key[1], key[2]))

    def _unbind(self, req: Request) -> None:
        binding = self.bindings.pop((req.sys, req.mod, req.index, req.name), None)
        if binding is not None and binding.module_id is not None:
            self.host.store.unsubscribe(binding.module_id, req.name, binding)
        self.send(encode_success(req.id))

    def _debug(self, req: Request) -> None:
        module_id = req.mod
        if module_id not in self.host.modules:
            msg = f"failed to attach debugger: could not find module {module_id}"
            self.send(encode_error(req.id, ErrorCode.MODULE_NOT_FOUND, msg, 404))
            return
        stream_key = (req.sys, module_id, req.index)
        if stream_key not in self.debug_streams:
            meta = encode_meta(req.sys, module_id, req.index, req.name)
            request_id = req.id

            def listener(level: str, message: str) -> None:
                self.send(encode_debug(request_id, module_id, level, message, meta))

            self.debug_streams[stream_key] = (module_id, listener)
            self.tap.add(module_id, listener)
        self.send(encode_success(req.id))

    def _ignore(self, req: Request) -> None:
        stream = self.debug_streams.pop((req.sys, req.mod, req.index), None)
        if stream is not None:
            self.tap.remove(*stream)
        self.send(encode_success(req.id))

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every binding and debug stream; stop the writer."""
        if self.closed:
            return
        self.closed = True
        store = self.host.store
        for binding in self.bindings.values():
            if binding.module_id is not None:
                store.unsubscribe(binding.module_id, binding.key[3], binding)
        self.bindings.clear()
        for module_id, listener in self.debug_streams.values():
            self.tap.remove(module_id, listener)
        self.debug_streams.clear()
        self._wakeup.set()
