"""The channel hub: reconnect after a dropped or stalled connection, then resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from runtime.cluster.pubsub import ChannelHub
from tests.cluster.redis_server import RedisServer


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


class Probe:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.resyncs = 0

    def on_message(self, channel: str, data: bytes) -> None:
        self.messages.append((channel, data))

    async def on_reconnect(self) -> None:
        self.resyncs += 1


@asynccontextmanager
async def running_hub(url: str, probe: Probe, **options: float) -> AsyncIterator[ChannelHub]:
    """A started hub, closed however the test ends (its reconnect task never outlives it)."""
    hub = ChannelHub(url, probe.on_message, probe.on_reconnect, **options)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


async def test_add_resolves_after_redis_confirmed(
    redis_server: RedisServer, redis: aioredis.Redis
) -> None:
    probe = Probe()
    async with running_hub(redis_server.url, probe) as hub:
        await hub.add("status/m/k")
        assert await redis.publish("status/m/k", b"1") == 1  # one subscriber, already there
        await until(lambda: probe.messages == [("status/m/k", b"1")])
        await hub.remove("status/m/k")
        assert await redis.publish("status/m/k", b"2") == 0


async def test_a_killed_connection_is_replaced_and_resubscribed(
    redis_server: RedisServer, redis: aioredis.Redis
) -> None:
    probe = Probe()
    async with running_hub(redis_server.url, probe) as hub:
        await hub.add("lookup-change")
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await until(lambda: probe.resyncs == 1)
        assert await redis.publish("lookup-change", b"sys-1") == 1
        await until(lambda: probe.messages == [("lookup-change", b"sys-1")])


async def test_the_watchdog_notices_a_stalled_server(
    redis_server: RedisServer, redis: aioredis.Redis
) -> None:
    probe = Probe()
    async with running_hub(redis_server.url, probe, watchdog_interval=0.3) as hub:
        await hub.add("status/m/k")
        redis_server.freeze()
        try:
            await until(lambda: not hub.connected)
        finally:
            redis_server.thaw()
        await until(lambda: probe.resyncs == 1)
        assert hub.connected
        assert await redis.publish("status/m/k", b"after") == 1
        await until(lambda: probe.messages == [("status/m/k", b"after")])
