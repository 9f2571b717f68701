"""Membership with redis_service_manager's keys, against a real redis-server."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from runtime.cluster import keys
from runtime.cluster.membership import Membership


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    async def __call__(self, uris: list[str], version: str) -> None:
        self.calls.append((uris, version))


def member(redis: aioredis.Redis, uri: str, ttl: float = 6.0) -> tuple[Membership, Recorder]:
    recorder = Recorder()
    return Membership(redis, uri, recorder, ttl=ttl), recorder


async def test_registration_uses_placeos_keys(redis: aioredis.Redis) -> None:
    node, rebalances = member(redis, "http://127.0.0.1:9001")
    await node.check()
    assert node.node_key.startswith("{service_core}.") and len(node.node_key) == 15 + 26
    assert await redis.hgetall("{service_core}_lookup") == {
        node.node_key.encode(): b"http://127.0.0.1:9001"
    }
    info = orjson.loads(await redis.get(node.node_key))
    assert info == {"u": "http://127.0.0.1:9001", "r": True, "v": node.version}
    assert 0 < await redis.pttl(node.node_key) <= 6000
    assert (await redis.get("{service_core}_version")).decode() == node.version
    assert rebalances.calls == [(["http://127.0.0.1:9001"], node.version)]
    assert node.leader


async def test_every_member_sees_every_node_and_the_lowest_key_leads(
    redis: aioredis.Redis,
) -> None:
    nodes = [member(redis, f"http://127.0.0.1:900{i}") for i in range(3)]
    for node, _ in nodes:
        await node.check()
    for node, _ in nodes:
        await node.check()
    for node, _ in nodes:
        await node.check()
    leaders = [node for node, _ in nodes if node.leader]
    assert len(leaders) == 1
    assert leaders[0].node_key == min(node.node_key for node, _ in nodes)
    uris = sorted(f"http://127.0.0.1:900{i}" for i in range(3))
    versions = {node.version for node, _ in nodes}
    assert len(versions) == 1
    for node, rebalances in nodes:
        assert sorted(rebalances.calls[-1][0]) == uris
        assert node.ready


async def test_leader_purges_an_expired_node_and_the_others_rebalance(
    redis: aioredis.Redis,
) -> None:
    (a, _), (b, _), (c, _) = (member(redis, f"http://127.0.0.1:900{i}") for i in range(3))
    for node in (a, b, c, a, b, c):
        await node.check()
    leader = min((a, b, c), key=lambda n: n.node_key)
    victim = max((a, b, c), key=lambda n: n.node_key)
    survivors = [n for n in (a, b, c) if n is not victim]
    await redis.delete(victim.node_key)  # what expiry does when the node dies
    await leader.check()
    assert victim.node_key.encode() not in await redis.hgetall(keys.LOOKUP_KEY)
    for node in survivors:
        await node.check()
        assert sorted(node.uris) == sorted(n.uri for n in survivors)


async def test_a_vanished_registration_comes_back_under_a_new_ulid(
    redis: aioredis.Redis,
) -> None:
    node, _ = member(redis, "http://127.0.0.1:9001")
    await node.check()
    first = node.node_key
    await redis.flushdb()  # Redis restarted empty
    await node.check()
    assert node.node_key != first
    assert await redis.hget(keys.LOOKUP_KEY, node.node_key) == b"http://127.0.0.1:9001"


async def test_leave_removes_the_node_at_once(redis: aioredis.Redis) -> None:
    (a, _), (b, rb) = member(redis, "http://a:1"), member(redis, "http://b:2")
    for node in (a, b, a, b):
        await node.check()
    version = await redis.get(keys.VERSION_KEY)
    await a.leave()
    assert await redis.exists(a.node_key) == 0
    assert await redis.hgetall(keys.LOOKUP_KEY) == {b.node_key.encode(): b"http://b:2"}
    assert await redis.get(keys.VERSION_KEY) != version
    await b.check()
    assert rb.calls[-1][0] == ["http://b:2"]


async def test_leader_announces_a_version_once_every_node_is_ready(
    redis: aioredis.Redis,
) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.CLUSTER_VERSION_CHANNEL)
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    (a, _), (b, _) = member(redis, "http://a:1"), member(redis, "http://b:2")
    for _ in range(3):
        for node in (a, b):
            await node.check()
    message = await pubsub.get_message(timeout=2)
    assert message is not None and message["type"] == "message"
    assert message["data"].decode() == a.version == b.version
    await pubsub.aclose()
