"""The calling side of the exec channel: one WebSocket per peer host, many execs in flight on it.

A channel is opened when the first exec for a peer needs it (`GET CHANNEL_PATH` upgraded, the
cluster secret as a bearer token, as for the POST route). Each request carries an id; its reply
may come back in any order. A peer that answers the upgrade with anything but 101 (a PlaceOS
core node: 404) is remembered for `NO_CHANNEL_RETRY` seconds, during which its execs go by the
POST route (`ExecClient`).

At most once: `NeverRan` means the exec cannot have reached the owner (the channel could not be
opened, it broke while the record was still queued here, or the owner answered "not hosted
here" before starting anything) and may be sent again. A channel that breaks after a record was
handed to the socket ends that exec with one error reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from protocol import ErrorCode
from runtime.cluster import frames
from runtime.cluster.frames import Reply
from runtime.cluster.wire import BatchWriter
from runtime.errors import ExecFailure
from runtime.logs import get_logger

CHANNEL_PATH = "/api/engine/v2/cluster/channel"
#: Seconds the WebSocket upgrade to a peer may take.
CONNECT_TIMEOUT = 5.0
#: Seconds a peer that does not offer the channel gets its execs by POST before asking again.
NO_CHANNEL_RETRY = 300.0
#: Seconds between checks for execs past their deadline (how late a timeout reply may be).
TIMEOUT_SWEEP = 0.25
#: Seconds between WebSocket pings on an open channel (a silent peer is noticed in 1.5x this).
HEARTBEAT = 10.0

log = get_logger(component="cluster.channel")


class NeverRan(Exception):
    """The exec cannot have reached the owner; it may be sent again."""


class NoChannel(Exception):
    """The peer does not offer the channel (its upgrade answer was not 101)."""


class _Expired(Exception):
    """An exec's deadline passed before its reply came."""


class PeerChannel:
    """One open channel to one peer."""

    def __init__(self, uri: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.uri = uri
        self.ws = ws
        self.pending: dict[int, asyncio.Future[Reply]] = {}
        self.deadlines: dict[int, float] = {}  # one sweeper instead of a timer per exec
        self.closed = False
        self.execs = 0
        self._ids = itertools.count(1)
        self.writer = BatchWriter(ws)
        self._loop = loop = asyncio.get_running_loop()
        self.reader = loop.create_task(self._read_loop())
        self.sweeper = loop.create_task(self._sweep())
        self.on_closed: Callable[[PeerChannel], None] | None = None

    async def call(
        self, module_id: str, method: str, args: list[Any] | dict[str, Any], timeout: float
    ) -> Reply:
        """Send one exec and wait (up to `timeout`) for its reply."""
        if self.closed:
            raise NeverRan(f"channel to {self.uri} closed")
        request_id = next(self._ids)
        data = frames.encode_request(request_id, module_id, method, args)
        if len(data) - frames.PREFIX_BYTES > frames.MAX_RECORD_BYTES:
            message = f"arguments of {method} exceed {frames.MAX_RECORD_BYTES} bytes"
            raise ExecFailure(ErrorCode.BAD_REQUEST, message, 413)
        future: asyncio.Future[Reply] = self._loop.create_future()
        self.pending[request_id] = future
        self.deadlines[request_id] = self._loop.time() + timeout
        self.execs += 1
        self.writer.put(data, request_id)
        try:
            return await future
        except _Expired:
            message = f"module raised: {method} timed out on {self.uri} (TimeoutError)"
            raise ExecFailure(ErrorCode.REQUEST_FAILED, message, 500) from None
        finally:
            self.pending.pop(request_id, None)
            self.deadlines.pop(request_id, None)

    async def _sweep(self) -> None:
        """End every exec past its deadline with a timeout (a late reply is dropped)."""
        deadlines, pending = self.deadlines, self.pending
        while True:
            await asyncio.sleep(TIMEOUT_SWEEP)
            now = self._loop.time()
            for request_id in [i for i, at in deadlines.items() if at <= now]:
                del deadlines[request_id]
                future = pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_exception(_Expired())

    async def _read_loop(self) -> None:
        problem = "closed by the peer"
        try:
            async for message in self.ws:
                if message.type is not aiohttp.WSMsgType.BINARY:
                    problem = f"unexpected {message.type.name} message"
                    break
                pending = self.pending
                for payload in frames.split(message.data):
                    reply = frames.decode_reply(payload)
                    future = pending.pop(reply.id, None)
                    if future is not None and not future.done():
                        future.set_result(reply)
        except frames.FrameError as exc:
            problem = f"malformed reply: {exc}"
        except (aiohttp.ClientError, OSError) as exc:
            problem = str(exc) or type(exc).__name__
        finally:
            await self._fail_all(problem)

    async def _fail_all(self, problem: str) -> None:
        """The channel is gone: every exec waiting on it ends now, once."""
        self.closed = True
        self.sweeper.cancel()
        if self.on_closed is not None:
            self.on_closed(self)
        unsent = set(self.writer.queued_ids)
        await self.writer.close()
        pending, self.pending = self.pending, {}
        if pending:
            log.warning("exec channel lost", peer=self.uri, in_flight=len(pending), why=problem)
        for request_id, future in pending.items():
            if future.done():
                continue
            if request_id in unsent:
                future.set_exception(NeverRan(f"channel to {self.uri} lost: {problem}"))
            else:
                message = f"connection to {self.uri} lost during the exec: {problem}"
                future.set_exception(ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503))
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader

    def describe(self) -> dict[str, Any]:
        return {"open": not self.closed, "in_flight": len(self.pending), "execs": self.execs}


class ChannelPool:
    """The channels of one host to its peers, opened lazily, one per peer."""

    def __init__(
        self,
        http: Callable[[], aiohttp.ClientSession],
        secret: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.secret = secret
        self.clock = clock
        self.channels: dict[str, PeerChannel] = {}
        self._opening: dict[str, asyncio.Task[PeerChannel]] = {}
        #: Peers without the channel, and until when their execs go by POST.
        self.no_channel_until: dict[str, float] = {}
        self.opened = 0

    def offered_by(self, uri: str) -> bool:
        """Whether to try the channel for `uri` (not known to lack it, or known long enough)."""
        until = self.no_channel_until.get(uri)
        if until is None:
            return True
        if self.clock() < until:
            return False
        del self.no_channel_until[uri]
        return True

    async def get(self, uri: str) -> PeerChannel:
        """The open channel to `uri`; raises NoChannel, or NeverRan when it cannot be opened."""
        channel = self.channels.get(uri)
        if channel is not None and not channel.closed:
            return channel
        opening = self._opening.get(uri)
        if opening is None:
            opening = asyncio.get_running_loop().create_task(self._open(uri))
            self._opening[uri] = opening
            opening.add_done_callback(self._opened)
        return await asyncio.shield(opening)

    def _opened(self, task: asyncio.Task[PeerChannel]) -> None:
        for uri, opening in list(self._opening.items()):
            if opening is task:
                del self._opening[uri]
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have given up waiting

    async def _open(self, uri: str) -> PeerChannel:
        headers = {"Authorization": f"Bearer {self.secret()}"}
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                ws = await self.http().ws_connect(
                    uri + CHANNEL_PATH,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_close=CONNECT_TIMEOUT),
                    max_msg_size=frames.MAX_MESSAGE_BYTES,
                    heartbeat=HEARTBEAT,
                    autoping=True,
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as exc:
            self.no_channel_until[uri] = self.clock() + NO_CHANNEL_RETRY
            log.info("peer has no exec channel; using POST", peer=uri, status=exc.status)
            raise NoChannel(f"{uri} answered {exc.status}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise NeverRan(f"cannot reach {uri}: {exc or type(exc).__name__}") from None
        channel = PeerChannel(uri, ws)
        channel.on_closed = self._closed
        self.channels[uri] = channel
        self.opened += 1
        return channel

    def _closed(self, channel: PeerChannel) -> None:
        if self.channels.get(channel.uri) is channel:
            del self.channels[channel.uri]

    async def close(self) -> None:
        for task in list(self._opening.values()):
            task.cancel()
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in list(self.channels.values())))

    def describe(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "open": {uri: c.describe() for uri, c in self.channels.items()},
            "opened": self.opened,
            "post_only": sorted(u for u, t in self.no_channel_until.items() if t > now),
        }
