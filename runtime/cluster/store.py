"""Status in Redis, PlaceOS's layout, behind the same interface as the in-memory store.

The values of modules running on this host live here in memory, as in a single host, and every
change is also written to Redis (hash `status/<id>` + channel `status/<id>/<key>`) by one writer
task, fenced by the module's lease, in the order the driver made them. Values of modules running
elsewhere are cached only for keys somebody on this host is bound to, kept fresh by the channel
of that key; they are read again after a pub/sub reconnect, and when a module leaves this host.
A change is encoded once: the same bytes go to local subscribers and to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.cluster import keys
from runtime.cluster.leases import Leases
from runtime.cluster.pubsub import ChannelHub
from runtime.logs import get_logger
from runtime.status import NULL, StatusStore, Subscriber

#: Status writes sent to Redis in one pipeline at most.
WRITE_BATCH = 256
#: Seconds one pipeline of writes (or reads) may take.
WRITE_TIMEOUT = 3.0

log = get_logger(component="cluster.store")

_Op = tuple[str, str | None, bytes | None]  # module id, key (None: clear all), value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class RedisStatusStore(StatusStore):
    """`StatusStore` whose values are shared through Redis with every host of the cluster."""

    __slots__ = (
        "_done",
        "_queue",
        "_queued",
        "_sent",
        "_tasks",
        "_wake",
        "_writer",
        "dirty",
        "hub",
        "leases",
        "local",
        "on_fenced",
        "redis",
    )

    def __init__(
        self,
        redis: aioredis.Redis,
        leases: Leases,
        hub: ChannelHub,
        on_fenced: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.redis = redis
        self.leases = leases
        self.hub = hub
        self.on_fenced = on_fenced
        self.local: set[str] = set()
        self.dirty = False  # a write failed: local values must be written again
        self._queue: deque[_Op] = deque()
        self._queued = 0  # ops ever queued
        self._sent = 0  # ops ever sent (or dropped after a failure)
        self._done = asyncio.Condition()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- ownership ---------------------------------------------------------------------------

    def adopt(self, module_id: str) -> None:
        """This host now runs `module_id` (it holds the lease); its writes go to Redis."""
        self.local.add(module_id)

    def release(self, module_id: str) -> None:
        """`module_id` no longer runs here: keep only bound keys, and read them again."""
        if module_id not in self.local:
            return
        self.local.discard(module_id)
        values = self._values.get(module_id)
        if values:
            for key in [k for k in values if not self.subscriber_count(module_id, k)]:
                del values[key]
        self._spawn(self._refresh([(m, k) for (m, k) in self._subscribers if m == module_id]))

    # -- writes ------------------------------------------------------------------------------

    def set(self, module_id: str, key: str, encoded: bytes | None) -> bool:
        """Store and publish a status of a module running here; refused for any other."""
        if module_id not in self.local:
            return False
        if not super().set(module_id, key, encoded):
            return False
        self._enqueue((module_id, key, encoded))
        return True

    def clear(self, module_id: str) -> None:
        """Delete every status of a module (local subscribers and Redis see `null` per key)."""
        values = self._values.pop(module_id, {})
        for key in values:
            self._publish(module_id, key, NULL)
        if module_id in self.local:
            self._enqueue((module_id, None, None))

    def republish(self, module_id: str) -> None:
        """Write every current value of a local module to Redis again (after Redis lost them)."""
        if module_id not in self.local:
            return
        self._enqueue((module_id, None, None))
        for key, value in self._values.get(module_id, {}).items():
            self._enqueue((module_id, key, value))

    def _enqueue(self, op: _Op) -> None:
        self._queue.append(op)
        self._queued += 1
        self._wake.set()

    @property
    def written(self) -> bool:
        """Whether every write queued so far has reached Redis (`barrier` would not wait)."""
        return self._sent >= self._queued

    async def barrier(self, timeout: float = 5.0) -> None:
        """Return once every write queued so far has reached Redis (read-your-writes)."""
        target = self._queued
        if self._sent >= target:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._done:
                await self._done.wait_for(lambda: self._sent >= target)

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def close(self) -> None:
        """Write what is queued (briefly), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while self._queue and self._writer is not None and not self._writer.done():
                    await asyncio.sleep(0.01)
        for task in [self._writer, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def settled(self) -> None:
        """Return once every pending subscribe / read started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def flushed_or_timeout(self, timeout: float = 2.0) -> None:
        """`flushed`, giving up after `timeout` seconds (Redis may be unreachable)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.flushed()

    async def flushed(self) -> None:
        """Return once every queued write has been sent (the last batch included, not only
        taken off the queue)."""
        async with self._done:
            await self._done.wait_for(lambda: self._sent >= self._queued)

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            batch: list[_Op] = []
            while self._queue and len(batch) < WRITE_BATCH:
                batch.append(self._queue.popleft())
            if not self._queue:
                self._wake.clear()
            if batch:
                try:
                    await self._write(batch)
                finally:
                    self._sent += len(batch)
                    async with self._done:
                        self._done.notify_all()

    async def _write(self, batch: list[_Op]) -> None:
        sent: list[str] = []
        try:
            async with (
                asyncio.timeout(WRITE_TIMEOUT),
                self.redis.pipeline(transaction=False) as pipe,
            ):
                for module_id, key, value in batch:
                    lease = self.leases.held.get(module_id)
                    if lease is None:
                        continue
                    lease_key = keys.lease_key(module_id)
                    if key is None:
                        await self.leases.clear_script(
                            keys=[lease_key, keys.status_key(module_id)],
                            args=[lease.token, f"status/{module_id}/"],
                            client=pipe,
                        )
                    else:
                        await self.leases.write_script(
                            keys=[lease_key, keys.status_key(module_id)],
                            args=[
                                lease.token,
                                key,
                                keys.status_channel(module_id, key),
                                value or b"",
                            ],
                            client=pipe,
                        )
                    sent.append(module_id)
                results = await pipe.execute() if sent else []
        except (RedisError, OSError, TimeoutError) as exc:
            if not self.dirty:
                log.warning("status write failed; will write again", error=str(exc))
            self.dirty = True
            return
        fenced = {m for m, result in zip(sent, results, strict=True) if not int(result)}
        for module_id in fenced:
            log.warning("status write fenced off: lease lost", module_id=module_id)
            self.on_fenced(module_id)

    # -- reads -------------------------------------------------------------------------------

    async def fetch(self, module_id: str, key: str) -> bytes | None:
        """One status, from memory when it is kept fresh here, else from Redis."""
        if module_id in self.local or self.subscriber_count(module_id, key):
            return self.get(module_id, key)
        value = await self.redis.hget(keys.status_key(module_id), key)
        return None if value is None else _bytes(value)

    async def fetch_snapshot(self, module_id: str) -> dict[str, bytes]:
        """Every status of a module, from memory when it runs here, else from Redis."""
        if module_id in self.local:
            return self.snapshot(module_id)
        values = await self.redis.hgetall(keys.status_key(module_id))
        return {(k.decode() if isinstance(k, bytes) else k): _bytes(v) for k, v in values.items()}

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, module_id: str, key: str, subscriber: Subscriber) -> None:
        first = not self.subscriber_count(module_id, key)
        super().subscribe(module_id, key, subscriber)
        if first:
            self._spawn(self._watch(module_id, key))

    def unsubscribe(self, module_id: str, key: str, subscriber: Subscriber) -> None:
        had = self.subscriber_count(module_id, key)
        super().unsubscribe(module_id, key, subscriber)
        if had and not self.subscriber_count(module_id, key):
            if module_id not in self.local:
                values = self._values.get(module_id)
                if values is not None:
                    values.pop(key, None)
                    if not values:
                        del self._values[module_id]
            self._spawn(self.hub.remove(keys.status_channel(module_id, key)))

    async def _watch(self, module_id: str, key: str) -> None:
        """Subscribe to the key's channel, then read its current value."""
        await self.hub.add(keys.status_channel(module_id, key))
        if module_id not in self.local and self.subscriber_count(module_id, key):
            await self._refresh([(module_id, key)])

    def on_message(self, channel: str, data: bytes) -> None:
        """A status change published by whichever host runs the module."""
        parsed = keys.parse_status_channel(channel)
        if parsed is None:
            return
        module_id, key = parsed
        if module_id in self.local or not self.subscriber_count(module_id, key):
            return
        self._apply(module_id, key, None if data == NULL else bytes(data))

    def _apply(self, module_id: str, key: str, value: bytes | None) -> None:
        values = self._values.setdefault(module_id, {})
        current = values.get(key)
        if value is None:
            if current is None:
                return
            del values[key]
            self._publish(module_id, key, NULL)
        elif current != value:
            values[key] = value
            self._publish(module_id, key, value)

    async def resync(self) -> None:
        """Read every bound key of modules running elsewhere again; deliver what changed."""
        await self._refresh([(m, k) for (m, k) in self._subscribers if m not in self.local])

    async def _refresh(self, targets: list[tuple[str, str]]) -> None:
        if not targets:
            return
        try:
            async with (
                asyncio.timeout(WRITE_TIMEOUT),
                self.redis.pipeline(transaction=False) as pipe,
            ):
                for module_id, key in targets:
                    pipe.hget(keys.status_key(module_id), key)
                values = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("status read failed", error=str(exc) or type(exc).__name__)
            return
        for (module_id, key), value in zip(targets, values, strict=True):
            if module_id not in self.local and self.subscriber_count(module_id, key):
                self._apply(module_id, key, None if value is None else bytes(value))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
