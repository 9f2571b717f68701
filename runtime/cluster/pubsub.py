"""One pub/sub connection per host: reference-counted channels, a watchdog, resync on reconnect.

redis-py notices a closed connection but not a server that stops answering (SIGSTOP, a frozen
VM, a black-holed network): the socket stays open and no message ever arrives. The watchdog
sends a PING on the subscribed connection every `WATCHDOG_INTERVAL` seconds and expects the pong
within the same interval; when it does not come, the connection is dropped and a new one is
made. After every reconnect all channels are subscribed again and `on_reconnect` runs, so the
owner of the bindings can read every bound value again (changes made while the connection was
down are not lost).

`add` resolves once Redis has confirmed the subscription, so a caller that then reads the current
value cannot miss a change published in between (subscribe, then read).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from runtime.cluster.keys import WATCHDOG_INTERVAL
from runtime.logs import get_logger

#: Seconds to wait before trying to reconnect after a failure.
RECONNECT_DELAY = 0.5
#: Seconds a subscription confirmation may take before the connection counts as broken.
CONFIRM_TIMEOUT = 5.0

log = get_logger(component="cluster.pubsub")

MessageHandler = Callable[[str, bytes], None]
ReconnectHandler = Callable[[], Awaitable[None]]


class ChannelHub:
    """Channels in use by this host, multiplexed over one subscribed connection."""

    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        on_reconnect: ReconnectHandler,
        watchdog_interval: float = WATCHDOG_INTERVAL,
    ) -> None:
        self.url = url
        self.on_message = on_message
        self.on_reconnect = on_reconnect
        self.watchdog_interval = watchdog_interval
        self.refcounts: dict[str, int] = {}
        self.connected = False
        self.reconnects = 0
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._pong = asyncio.Event()
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- channels ----------------------------------------------------------------------------

    async def add(self, channel: str) -> None:
        """Use a channel; resolves when Redis confirmed the subscription (or it is down)."""
        count = self.refcounts.get(channel, 0)
        self.refcounts[channel] = count + 1
        if count == 0:
            await self._subscribe([channel])
        else:
            pending = self._confirmations.get(channel)
            if pending is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending)

    async def remove(self, channel: str) -> None:
        """Stop using a channel; the last user unsubscribes it."""
        count = self.refcounts.get(channel, 0)
        if count <= 1:
            self.refcounts.pop(channel, None)
            if count == 1 and self.connected and self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)
        else:
            self.refcounts[channel] = count - 1

    async def _subscribe(self, channels: list[str]) -> None:
        if not self.connected or self._pubsub is None:
            return  # subscribed on reconnect
        loop = asyncio.get_running_loop()
        waits = []
        for channel in channels:
            future = self._confirmations.get(channel)
            if future is None or future.done():
                future = loop.create_future()
                self._confirmations[channel] = future
            waits.append(future)
        try:
            await self._pubsub.subscribe(*channels)
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await asyncio.gather(*(asyncio.shield(f) for f in waits))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("subscribe failed", error=str(exc) or type(exc).__name__)
            self._drop_connection()

    # -- connection --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (retrying in the background when Redis is not there yet)."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await self._up.wait()

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._dispose()

    def _drop_connection(self) -> None:
        """Break the current connection; the run loop makes a new one."""
        self.connected = False
        pubsub = self._pubsub
        if pubsub is not None and pubsub.connection is not None:
            with contextlib.suppress(Exception):
                transport = getattr(pubsub.connection, "_writer", None)
                if transport is not None:
                    transport.transport.abort()

    async def _dispose(self) -> None:
        self.connected = False
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        for future in self._confirmations.values():
            if not future.done():
                future.set_exception(ConnectionError("pub/sub connection lost"))
                future.exception()  # retrieved: nobody else may wait on it
        self._confirmations.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                if pubsub is not None:
                    await pubsub.aclose()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                if client is not None:
                    await client.aclose()

    async def _run(self) -> None:
        first = True
        while not self._closing:
            try:
                await self._connect()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("pub/sub connect failed", error=str(exc) or type(exc).__name__)
                await self._dispose()
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            if not first:
                self.reconnects += 1
                log.info("pub/sub reconnected", channels=len(self.refcounts))
            reader = asyncio.get_running_loop().create_task(self._read())
            watchdog = asyncio.get_running_loop().create_task(self._watchdog())
            try:
                await self._confirmed()
                if not first:
                    await self.on_reconnect()
                first = False
                self._up.set()
                await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, watchdog):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                await self._dispose()
            if not self._closing:
                await asyncio.sleep(RECONNECT_DELAY)

    async def _connect(self) -> None:
        client = aioredis.Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=CONFIRM_TIMEOUT,
            decode_responses=False,
        )
        self._client = client
        self._pubsub = client.pubsub()
        async with asyncio.timeout(CONFIRM_TIMEOUT):
            await self._pubsub.ping()  # opens the connection; the pong is read below
            self.connected = True
            channels = list(self.refcounts)
            if channels:
                loop = asyncio.get_running_loop()
                for channel in channels:
                    self._confirmations[channel] = loop.create_future()
                await self._pubsub.subscribe(*channels)

    async def _confirmed(self) -> None:
        """Wait until every channel subscribed on connect is confirmed."""
        pending = [asyncio.shield(f) for f in self._confirmations.values() if not f.done()]
        if pending:
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await asyncio.gather(*pending)

    async def _read(self) -> None:
        pubsub = self._pubsub
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if not self._closing:
                    log.warning("pub/sub connection lost", error=str(exc) or type(exc).__name__)
                return
            if message is None:
                continue
            kind = message["type"]
            if isinstance(kind, bytes):
                kind = kind.decode()
            if kind == "message":
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                try:
                    self.on_message(channel, message["data"])
                except Exception as exc:
                    log.error("pub/sub handler failed", channel=channel, exc_info=exc)
            elif kind == "pong":
                self._pong.set()
            elif kind == "subscribe":
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else channel
                future = self._confirmations.pop(channel, None)
                if future is not None and not future.done():
                    future.set_result(None)

    async def _watchdog(self) -> None:
        pubsub = self._pubsub
        while True:
            await asyncio.sleep(self.watchdog_interval)
            self._pong.clear()
            try:
                async with asyncio.timeout(self.watchdog_interval):
                    await pubsub.ping()
                    await self._pong.wait()
            except (RedisError, OSError, TimeoutError):
                log.warning("pub/sub connection stalled, reconnecting")
                self.connected = False
                return
