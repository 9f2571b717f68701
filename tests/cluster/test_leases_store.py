"""Leases, fenced status writes and the Redis status store, against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runtime.cluster.leases import Leases
from runtime.cluster.pubsub import ChannelHub
from runtime.cluster.store import RedisStatusStore
from tests.cluster.redis_server import RedisServer


class Collector:
    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.event = asyncio.Event()

    def deliver(self, value: bytes) -> None:
        self.values.append(value)
        self.event.set()

    async def until(self, count: int) -> list[bytes]:
        async with asyncio.timeout(5):
            while len(self.values) < count:
                self.event.clear()
                await self.event.wait()
        return self.values


class Host:
    """The cluster pieces of one host: leases, a channel hub and the store."""

    def __init__(self, server: RedisServer, name: str) -> None:
        self.redis = aioredis.Redis.from_url(server.url)
        self.leases = Leases(self.redis, ttl=5.0, holder=name)
        self.fenced: list[str] = []
        self.hub = ChannelHub(server.url, self._message, self._reconnected)
        self.store = RedisStatusStore(self.redis, self.leases, self.hub, self.fenced.append)

    def _message(self, channel: str, data: bytes) -> None:
        self.store.on_message(channel, data)

    async def _reconnected(self) -> None:
        await self.store.resync()

    async def start(self) -> None:
        self.store.start()
        await self.hub.start()

    async def run(self, module_id: str) -> None:
        assert await self.leases.acquire(module_id) is not None
        self.store.adopt(module_id)
        self.store.clear(module_id)

    async def close(self) -> None:
        await self.store.close()
        await self.hub.close()
        await self.redis.aclose()


@pytest.fixture
async def hosts(redis_server: RedisServer) -> AsyncIterator[tuple[Host, Host]]:
    a, b = Host(redis_server, "a"), Host(redis_server, "b")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_lease_has_one_holder(redis: aioredis.Redis) -> None:
    a, b = Leases(redis, 5.0, "a"), Leases(redis, 5.0, "b")
    assert await a.acquire("mod-1") is not None
    assert await b.acquire("mod-1") is None
    assert 0 < await redis.pttl("owner/mod-1") <= 5000
    await a.release("mod-1")
    assert await b.acquire("mod-1") is not None
    assert await a.renew_all() == ([], [])


async def test_a_renewal_finds_a_lease_taken_over(redis: aioredis.Redis) -> None:
    a, b = Leases(redis, 5.0, "a"), Leases(redis, 5.0, "b")
    await a.acquire("mod-1")
    await a.acquire("mod-2")
    await redis.delete("owner/mod-1")  # expired while a was frozen...
    assert await b.acquire("mod-1") is not None  # ...and b took it
    assert await a.renew_all() == (["mod-1"], [])
    assert set(a.held) == {"mod-2"}
    await redis.delete("owner/mod-2")  # expired, nobody took it (or Redis restarted empty)
    assert await a.renew_all() == ([], ["mod-2"])
    assert (await redis.get("owner/mod-2")).decode() == a.held["mod-2"].token


async def test_writes_land_in_placeos_layout(hosts: tuple[Host, Host]) -> None:
    a, _ = hosts
    listener = a.redis.pubsub()
    await listener.subscribe("status/mod-1/power")
    await listener.get_message(timeout=1)
    await a.run("mod-1")
    assert a.store.set("mod-1", "power", b"true")
    assert not a.store.set("mod-1", "power", b"true")  # unchanged: nothing written
    a.store.set("mod-1", "input", b'"hdmi"')
    a.store.set("mod-1", "power", None)
    await a.store.flushed()
    assert await a.redis.hgetall("status/mod-1") == {b"input": b'"hdmi"'}
    seen = []
    for _ in range(2):
        message = await listener.get_message(timeout=2)
        while message is not None and message["type"] != "message":
            message = await listener.get_message(timeout=2)
        assert message is not None
        seen.append(message["data"])
    assert seen == [b"true", b"null"]
    await listener.aclose()


async def test_a_host_without_the_lease_cannot_write(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    await a.run("mod-1")
    a.store.set("mod-1", "power", b"true")
    await a.store.flushed()
    await a.redis.delete("owner/mod-1")
    await b.run("mod-1")  # b took the module over and cleared it
    b.store.set("mod-1", "power", b"false")
    await b.store.flushed()
    a.store.set("mod-1", "power", b'"stale"')  # a still thinks it runs mod-1
    await a.store.flushed()
    assert a.fenced == ["mod-1"]
    assert await a.redis.hgetall("status/mod-1") == {b"power": b"false"}
    a.store.release("mod-1")
    assert not a.store.set("mod-1", "power", b"1")  # refused once released


async def test_remote_bindings_get_current_value_then_changes(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    await a.run("mod-1")
    a.store.set("mod-1", "power", b"true")
    await a.store.flushed()
    seen = Collector()
    b.store.subscribe("mod-1", "power", seen)
    assert await seen.until(1) == [b"true"]
    a.store.set("mod-1", "power", b"false")
    a.store.set("mod-1", "power", None)
    await a.store.flushed()
    assert await seen.until(3) == [b"true", b"false", b"null"]
    assert b.store.get("mod-1", "power") is None
    assert await b.store.fetch("mod-1", "other") is None
    a.store.set("mod-1", "other", b"1")
    await a.store.flushed()
    assert await b.store.fetch_snapshot("mod-1") == {"other": b"1"}
    b.store.unsubscribe("mod-1", "power", seen)
    await b.store.settled()
    assert b.hub.refcounts.get("status/mod-1/power") is None


async def test_rehome_shows_null_then_the_new_owners_values(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    await a.run("mod-1")
    a.store.set("mod-1", "power", b"true")
    await a.store.flushed()
    seen_on_a, seen_on_b = Collector(), Collector()
    a.store.subscribe("mod-1", "power", seen_on_a)
    b.store.subscribe("mod-1", "power", seen_on_b)
    assert await seen_on_b.until(1) == [b"true"]
    await a.leases.release("mod-1")
    a.store.release("mod-1")
    await b.run("mod-1")
    b.store.set("mod-1", "power", b"false")
    await b.store.flushed()
    assert await seen_on_b.until(3) == [b"true", b"null", b"false"]
    assert await seen_on_a.until(2) == [b"null", b"false"]


async def test_refcounted_channels_share_one_subscription(hosts: tuple[Host, Host]) -> None:
    _, b = hosts
    one, two = Collector(), Collector()
    b.store.subscribe("mod-9", "x", one)
    b.store.subscribe("mod-9", "x", two)
    await b.store.settled()
    assert b.hub.refcounts == {"status/mod-9/x": 1}
    b.store.unsubscribe("mod-9", "x", one)
    assert b.hub.refcounts == {"status/mod-9/x": 1}
    b.store.unsubscribe("mod-9", "x", two)
    await b.store.settled()
    assert b.hub.refcounts == {}


async def test_a_change_missed_while_pubsub_was_down_arrives_after_resync(
    hosts: tuple[Host, Host], redis_server: RedisServer
) -> None:
    a, b = hosts
    await a.run("mod-1")
    a.store.set("mod-1", "power", b"true")
    await a.store.flushed()
    seen = Collector()
    b.store.subscribe("mod-1", "power", seen)
    assert await seen.until(1) == [b"true"]
    # A change whose message b never sees: written without a publish, then b's link drops.
    await a.redis.hset("status/mod-1", "power", b"false")
    await a.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert await seen.until(2) == [b"true", b"false"]


async def test_a_stalled_redis_then_resync(
    hosts: tuple[Host, Host], redis_server: RedisServer
) -> None:
    a, b = hosts
    b.hub.watchdog_interval = 0.3
    await a.run("mod-1")
    a.store.set("mod-1", "power", b"1")
    await a.store.flushed()
    seen = Collector()
    b.store.subscribe("mod-1", "power", seen)
    assert await seen.until(1) == [b"1"]
    await b.hub.close()  # restart b's hub with the short watchdog interval
    b.hub = ChannelHub(redis_server.url, b._message, b._reconnected, watchdog_interval=0.3)
    b.store.hub = b.hub
    await b.hub.start()
    await b.hub.add("status/mod-1/power")
    await a.redis.hset("status/mod-1", "power", b"2")  # never published
    redis_server.freeze()
    try:
        async with asyncio.timeout(10):
            while b.hub.connected:
                await asyncio.sleep(0.02)
    finally:
        redis_server.thaw()
    assert await seen.until(2) == [b"1", b"2"]
