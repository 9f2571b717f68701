"""The owner's side of the exec channel: `GET /api/engine/v2/cluster/channel`, upgraded.

The upgrade takes the cluster secret as a bearer token (or an Admin credential), as the POST
route does. Every request record goes through `begin_routed` (the POST route's logic): a sync
command is answered at once, an async one (or one for a module still starting) in a task of its
own; reply records go out together with the others of the same loop turn. A record with a
readable id that cannot be served (malformed, oversize) gets an error reply with that id; one
without a readable id, or a message that is not binary, closes the channel (1003); a message
over `MAX_MESSAGE_BYTES` closes it too (1009). A reply too large to send becomes an error reply.
At shutdown, after the exec drain, each channel waits for its running execs' replies to be
written and closes with 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from protocol import ErrorCode
from runtime.cluster import frames
from runtime.cluster.owner import NotHosted, begin_routed
from runtime.cluster.wire import BatchWriter
from runtime.errors import ExecFailure
from runtime.http_json import json_response as _json
from runtime.logs import get_logger
from runtime.tasks import start_task

if TYPE_CHECKING:
    from runtime.server import Runtime

log = get_logger(component="cluster.channel")

Authorise = Callable[[web.Request], Awaitable[bool]]


class ServedChannel:
    """One peer's channel into this host."""

    def __init__(self, server: ChannelServer, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.runtime = server.runtime
        self.ws = ws
        self.writer = BatchWriter(ws)
        self.tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()

    async def run(self) -> None:
        ws = self.ws
        async for message in ws:
            if message.type is not WSMsgType.BINARY:
                await self._close(f"unexpected {message.type.name} message")
                return
            try:
                for payload in frames.split(message.data):
                    self._request(payload)
            except frames.FrameError as exc:
                await self._close(str(exc))
                return

    def _request(self, payload: memoryview) -> None:
        try:
            request = frames.decode_request(payload)
        except frames.FrameError as exc:
            if exc.request_id is None:
                raise
            reply = frames.encode_error(exc.request_id, ErrorCode.BAD_REQUEST, str(exc), 400)
            self.writer.put(reply)
            return
        self.server.execs += 1
        request_id = request.id
        try:
            outcome = begin_routed(self.runtime, request.module_id, request.method, request.args)
        except (NotHosted, ExecFailure) as refused:
            self.writer.put(_failure(request_id, refused))
            return
        except Exception:
            log.exception("routed exec failed", module_id=request.module_id)
            message = f"internal error running {request.method}"
            self.writer.put(frames.encode_error(request_id, ErrorCode.UNEXPECTED_FAILURE, message))
            return
        if isinstance(outcome, bytes):  # a sync command, answered in this loop turn
            self.writer.put(_result(request, outcome))
            return
        task = start_task(self._loop, self._finish(request, outcome))
        if not task.done():
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _finish(self, request: frames.Request, pending: Awaitable[bytes]) -> None:
        try:
            raw = await pending
        except (NotHosted, ExecFailure) as failure:
            reply = _failure(request.id, failure)
        except Exception:
            log.exception("routed exec failed", module_id=request.module_id)
            message = f"internal error running {request.method}"
            reply = frames.encode_error(request.id, ErrorCode.UNEXPECTED_FAILURE, message)
        else:
            reply = _result(request, raw)
        self.writer.put(reply)

    async def _close(self, reason: str) -> None:
        log.warning("closing exec channel", why=reason)
        await self.writer.flush(1.0)
        await self.ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"malformed record")

    async def shut(self, timeout: float) -> None:
        """Let running execs write their replies (up to `timeout`), then close with 1001."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.tasks:
                    await asyncio.wait(list(self.tasks))
        await self.writer.flush(timeout)
        await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


class ChannelServer:
    """Every channel peers hold into this host."""

    def __init__(self, runtime: Runtime, authorise: Authorise) -> None:
        self.runtime = runtime
        self.authorise = authorise
        self.served: set[ServedChannel] = set()
        self.accepted = 0
        self.execs = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.runtime.cluster is None:
            return _json({"error": "this host is not part of a cluster"}, 404)
        if not await self.authorise(request):
            return _json({"error": "cluster secret or admin credential required"}, 401)
        ws = web.WebSocketResponse(max_msg_size=frames.MAX_MESSAGE_BYTES, compress=False)
        await ws.prepare(request)
        channel = ServedChannel(self, ws)
        self.served.add(channel)
        self.accepted += 1
        try:
            await channel.run()
        finally:
            self.served.discard(channel)
            await channel.writer.close()
        return ws

    async def shut(self, timeout: float) -> None:
        """Close every channel once its execs replied (see `ServedChannel.shut`)."""
        await asyncio.gather(*(c.shut(timeout) for c in list(self.served)))

    def describe(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "open": len(self.served),
            "execs": self.execs,
        }


def _result(request: frames.Request, raw: bytes) -> bytes:
    reply = frames.encode_result(request.id, raw)
    if len(reply) - frames.PREFIX_BYTES <= frames.MAX_RECORD_BYTES:
        return reply
    message = f"result of {request.method} exceeds {frames.MAX_RECORD_BYTES} bytes"
    return frames.encode_error(request.id, ErrorCode.REQUEST_FAILED, message, 500)


def _failure(request_id: int, failure: NotHosted | ExecFailure) -> bytes:
    if isinstance(failure, NotHosted):
        return frames.encode_not_hosted(request_id, str(failure))
    return frames.encode_error(
        request_id, failure.error_code, failure.message, failure.http_code, failure.backtrace
    )
