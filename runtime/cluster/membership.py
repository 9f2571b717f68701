"""Cluster membership kept the way PlaceOS's redis_service_manager keeps it.

Each node registers `{service_core}.<ULID>` = `{"u": uri, "r": ready, "v": version}` with a TTL,
adds itself to the hash `{service_core}_lookup` (node key -> URI) and bumps
`{service_core}_version`. A heartbeat every ttl/3 renews the key (GETEX); a node whose key has
vanished registers again under a new ULID. The leader, the lowest live node key, purges expired
nodes from the lookup and bumps the version; when every live node reports ready on the current
version, the leader publishes it on `cluster/cluster_version`. A node that leaves deletes its key
and lookup entry and bumps the version at once, so the others rebalance on their next check.

Between heartbeats the version key is polled cheaply (`VERSION_POLL`), so a change another node
made is acted on within a fraction of a second rather than a heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from ulid import ULID

from runtime.cluster import keys
from runtime.logs import get_logger

#: Seconds between cheap checks of the version key.
VERSION_POLL = 0.25
#: Seconds the Redis commands of one membership check may take together.
COMMAND_TIMEOUT = 3.0

log = get_logger(component="cluster.membership")

RebalanceCallback = Callable[[list[str], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What one node's registration key holds."""

    uri: str
    ready: bool
    version: str

    def encode(self) -> bytes:
        return orjson.dumps({"u": self.uri, "r": self.ready, "v": self.version})

    @classmethod
    def decode(cls, raw: bytes | str) -> NodeInfo:
        data = orjson.loads(raw)
        return cls(str(data.get("u", "")), bool(data.get("r", False)), str(data.get("v", "")))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Membership:
    """This node's registration, the live node list, and rebalance notices.

    `on_rebalance(uris, version)` is awaited whenever the live node set or the version changes;
    the node is marked ready on that version once it returns. `check()` runs one heartbeat; the
    background task started by `start()` calls it every ttl/3.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        uri: str,
        on_rebalance: RebalanceCallback,
        ttl: float = keys.DEFAULT_TTL,
    ) -> None:
        self.redis = redis
        self.uri = uri
        self.ttl = ttl
        self.on_rebalance = on_rebalance
        self.command_timeout = COMMAND_TIMEOUT
        self.node_key = ""
        self.version = ""
        self.nodes: list[str] = []  # live node keys, sorted
        self.uris: list[str] = []  # their URIs, in the same order
        self.leader = False
        self.ready = False
        self.registered = False
        self.healthy = False  # the last check reached Redis
        self._published_version = ""
        self._seen_version: bytes | str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl * 1000))

    # -- registration ------------------------------------------------------------------------

    async def _register(self) -> None:
        self.node_key = keys.node_key(str(ULID()))
        self.leader = self.ready = False
        info = NodeInfo(self.uri, False, self.version)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.node_key, info.encode(), px=self.ttl_ms)
            pipe.hset(keys.LOOKUP_KEY, self.node_key, self.uri)
            pipe.set(keys.VERSION_KEY, f"{len(self.nodes) + 1}-{ULID()}")
            await pipe.execute()
        self.registered = True
        log.info("node registered", node=self.uri, key=self.node_key)

    async def leave(self) -> None:
        """Deregister at once (delete key and lookup entry, bump the version)."""
        await self.stop()
        if not self.registered:
            return
        self.registered = False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.node_key)
            pipe.hdel(keys.LOOKUP_KEY, self.node_key)
            pipe.set(keys.VERSION_KEY, f"{max(0, len(self.nodes) - 1)}-{ULID()}")
            await pipe.execute()
        log.info("node left", node=self.uri)

    # -- heartbeat ---------------------------------------------------------------------------

    async def check(self) -> None:
        """One heartbeat: keep (or renew) the registration, then act on cluster changes."""
        async with self._lock:
            try:
                await self._check()
            except (RedisError, OSError, TimeoutError) as exc:
                self.healthy = False
                log.warning("membership check failed", error=str(exc) or type(exc).__name__)
                return
            self.healthy = True

    async def _check(self) -> None:
        # Redis calls are bounded by `command_timeout` (asyncio.timeout, which unlike
        # wait_for never loses a cancellation); the rebalance itself is not.
        async with asyncio.timeout(self.command_timeout):
            raw = None
            if self.registered:
                raw = await self.redis.getex(self.node_key, px=self.ttl_ms)
            if raw is None:
                rejoining = self.registered
                if rejoining:
                    log.warning("registration lost, registering again", node=self.uri)
                await self._register()
                if rejoining:
                    # The others lost theirs too (Redis restarted empty) or took our modules
                    # (we were frozen): let them register again before placing anything.
                    return
                info = NodeInfo(self.uri, False, self.version)
            else:
                info = NodeInfo.decode(raw)
            version = _text(await self.redis.get(keys.VERSION_KEY) or b"not-set")
            live = await self._live_nodes()
            if self.node_key not in live:
                await self._register()
                return
            node_list = sorted(live)
            changed = node_list != self.nodes or info.version != version
            if changed:
                self.leader = node_list[0] == self.node_key
                self.ready = False
                if self.leader and info.version == version:
                    version = str(ULID())
                    await self.redis.set(keys.VERSION_KEY, version)
                self.nodes = node_list
                self.uris = [live[k] for k in node_list]
                self.version = version
                await self.redis.set(
                    self.node_key, NodeInfo(self.uri, False, version).encode(), px=self.ttl_ms
                )
            elif self.leader and self.ready and self._published_version != version:
                await self._announce_if_ready(version)
        if not changed:
            return
        await self.on_rebalance(list(self.uris), version)
        if self.version == version:
            self.ready = True
            async with asyncio.timeout(self.command_timeout):
                await self.redis.set(
                    self.node_key, NodeInfo(self.uri, True, version).encode(), px=self.ttl_ms
                )

    async def _live_nodes(self) -> dict[str, str]:
        """node key -> URI of every registered node whose key still exists.

        The leader (lowest live key) removes expired nodes from the lookup hash.
        """
        raw = await self.redis.hgetall(keys.LOOKUP_KEY)
        lookup = {_text(k): _text(v) for k, v in raw.items()}
        ordered = sorted(lookup)
        if not ordered:
            return {}
        exists = await self.redis.mget(ordered)
        dead = [k for k, value in zip(ordered, exists, strict=True) if value is None]
        live = {k: lookup[k] for k in ordered if k not in dead}
        if dead and live and min(live) == self.node_key:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.LOOKUP_KEY, *dead)
                pipe.set(keys.VERSION_KEY, f"{len(live)}-{ULID()}")
                await pipe.execute()
            log.info("purged expired nodes", nodes=[lookup[k] for k in dead])
        return live

    async def _announce_if_ready(self, version: str) -> None:
        infos = await self.redis.mget(self.nodes)
        for raw in infos:
            if raw is None:
                return
            info = NodeInfo.decode(raw)
            if info.version != version or not info.ready:
                return
        self._published_version = version
        await self.redis.publish(keys.CLUSTER_VERSION_CHANNEL, version)

    async def node_infos(self) -> tuple[list[str], list[NodeInfo | None]]:
        """The live nodes' URIs and registrations (None when one vanished), taken together."""
        nodes, uris = list(self.nodes), list(self.uris)
        if not nodes:
            return uris, []
        try:
            async with asyncio.timeout(self.command_timeout):
                raws = await self.redis.mget(nodes)
        except (RedisError, OSError, TimeoutError):
            return uris, [None] * len(nodes)
        return uris, [None if raw is None else NodeInfo.decode(raw) for raw in raws]

    # -- background --------------------------------------------------------------------------

    async def start(self) -> None:
        """Register now and keep the registration alive in the background."""
        await self.check()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the heartbeat (the registration then expires unless `leave` is called)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        interval = max(self.ttl / 3, VERSION_POLL)
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + interval
        while True:
            await asyncio.sleep(min(VERSION_POLL, max(0.0, next_beat - loop.time())))
            if loop.time() >= next_beat or await self._version_moved():
                next_beat = loop.time() + interval
                await self.check()

    async def _version_moved(self) -> bool:
        try:
            async with asyncio.timeout(self.command_timeout):
                current = await self.redis.get(keys.VERSION_KEY)
        except (RedisError, OSError, TimeoutError):
            return False
        moved = current != self._seen_version
        self._seen_version = current
        return moved
