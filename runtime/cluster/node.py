"""This host as a member of a cluster: placement, leases, exec routing, Redis faults.

Placement follows the membership: on every new node list the owner of each module is chosen by
rendezvous hashing over the live URIs. A module moves in two steps fenced by its lease: the old
owner stops it (`on_unload`) and releases the lease; the new owner takes the lease (`SET NX`),
clears the module's status in Redis (bound clients see `null` per key) and starts it. A module
never runs on two hosts at once: without the lease it does not start, and a host that finds its
lease gone (renewal refused, or a fenced write) halts the module at once.

Redis faults: while Redis cannot be reached, modules running here keep running and execs that
need another host fail at once; when it answers again empty (restarted without persistence) the
host registers again, takes its leases back, and writes interfaces, system lookups and every
status of its modules again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from protocol import ErrorCode
from runtime.auth import Principal
from runtime.cluster import keys, rendezvous
from runtime.cluster.client import ExecClient
from runtime.cluster.debug import RelayTap
from runtime.cluster.keys import text
from runtime.cluster.layout import SharedLayout
from runtime.cluster.leases import Leases
from runtime.cluster.membership import VERSION_POLL, Membership, NodeInfo
from runtime.cluster.pubsub import ChannelHub
from runtime.cluster.store import RedisStatusStore
from runtime.config import ClusterConfig
from runtime.errors import ExecFailure
from runtime.logs import DebugTap, get_logger
from runtime.modules import Module, ModuleHost
from runtime.security import Clearance

if TYPE_CHECKING:
    from runtime.status import StatusStore

#: Seconds a single Redis command may take before it counts as failed.
REDIS_TIMEOUT = 2.0
#: Seconds between attempts to take the lease of a module this host owns but another holds.
PLACEMENT_RETRY = 0.25

log = get_logger(component="cluster")


class ClusterNode:
    """Everything this host does as one node of a cluster."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.uri = config.node_uri.rstrip("/")
        self.ttl = config.ttl
        # No socket_timeout: redis-py applies it with asyncio.wait_for, which on Python 3.11
        # can lose a cancellation; every call site bounds its calls with asyncio.timeout.
        self.redis = aioredis.Redis.from_url(config.redis, socket_connect_timeout=REDIS_TIMEOUT)
        self.leases = Leases(self.redis, self.ttl, self.uri)
        self.hub = ChannelHub(config.redis, self._on_message, self._on_reconnect)
        self.store = RedisStatusStore(self.redis, self.leases, self.hub, self._fenced)
        self.membership = Membership(self.redis, self.uri, self._rebalance, self.ttl)
        self.client = ExecClient(self.owner_of, lambda: self.secret, config.exec_channel)
        self.secret = config.secret or ""
        self.owners: dict[str, str] = {}
        self.host: ModuleHost | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[None] | None = None  # leases, between leave and stop
        self.layout = SharedLayout(self.redis, self.uri)
        self.tap: RelayTap | None = None
        self._handing_over: set[str] = set()
        self._taking: set[str] = set()

    @property
    def status_store(self) -> StatusStore:
        return self.store

    @property
    def healthy(self) -> bool:
        """Whether Redis answered the last membership check."""
        return self.membership.healthy

    @property
    def ready(self) -> bool:
        """Registered, with Redis answering."""
        return self.membership.registered and self.membership.healthy

    # -- lifecycle ---------------------------------------------------------------------------

    def attach(self, host: ModuleHost) -> None:
        """Let the cluster decide where `host`'s modules run and route their execs."""
        self.host = host
        self.layout.host = host
        host.hosted_here = self.store.local.__contains__
        host.remote = self
        host.lookup_listeners.append(self._lookups_changed)

    async def start(self) -> None:
        """Join: seed Redis, subscribe, register, and start the modules this host owns."""
        await self._load_secret()
        await self.layout.seed()
        self.store.start()
        await self.hub.start()
        await self.hub.add(keys.LOOKUP_CHANGE_CHANNEL)
        await self.membership.start()
        loop = asyncio.get_running_loop()
        self._maintenance = loop.create_task(self._maintain())

    async def leave(self) -> None:
        """Deregister at once (modules keep running until `stop`)."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
            self._renewal = asyncio.get_running_loop().create_task(self._renew_while_leaving())
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.membership.leave()
        await self.membership.stop()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.ttl):
                await self._others_rebalanced()

    async def _others_rebalanced(self) -> None:
        """Wait until every remaining node placed modules on the version our leave set, so
        none of them routes a new exec here any more."""
        version = await self.redis.get(keys.VERSION_KEY)
        while True:
            lookup = await self.redis.hgetall(keys.LOOKUP_KEY)
            others = sorted(k for k in lookup if text(k) != self.membership.node_key)
            infos = await self.redis.mget(others) if others else []
            current = await self.redis.get(keys.VERSION_KEY)
            if current != version:
                version = current  # the leader moved it on: wait for that one
                continue
            wanted = text(version or b"")
            if all(raw is None or NodeInfo.decode(raw).version == wanted for raw in infos):
                return
            await asyncio.sleep(VERSION_POLL)

    async def _renew_while_leaving(self) -> None:
        """Keep the leases of modules still running here until `stop` hands them over."""
        while True:
            await asyncio.sleep(max(self.ttl / 3, 0.1))
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(REDIS_TIMEOUT):
                    lost, _ = await self.leases.renew_all()
                for module_id in lost:
                    self._lose(module_id)

    async def stop(self) -> None:
        """Leave, stop local modules, release their leases (the others start them)."""
        await self.leave()
        await self._cancel_tasks()
        host = self.host
        self._handing_over.update(self.store.local)  # execs arriving now get 421
        if host is not None:
            for module_id in list(self.store.local):
                module = host.modules.get(module_id)
                if module is not None:
                    await host.stop_module(module)
        await self.store.flushed_or_timeout()
        renewal, self._renewal = self._renewal, None
        if renewal is not None:  # stopped only now: no renewal may re-take a released lease
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
        for module_id in list(self.leases.held):
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(REDIS_TIMEOUT):
                    await self.leases.release(module_id)
        await self._cancel_tasks()
        if self.tap is not None:
            await self.tap.close()
        await self.store.close()
        await self.hub.close()
        await self.client.close()
        await self.redis.aclose()

    # -- secret ------------------------------------------------------------------------------

    async def _load_secret(self) -> None:
        if self.config.secret:
            return
        candidate = secrets.token_urlsafe(32)
        await self.redis.set(keys.SECRET_KEY, candidate, nx=True)
        stored = await self.redis.get(keys.SECRET_KEY)
        self.secret = text(stored) if stored else candidate

    async def check_secret(self, presented: str) -> bool:
        """Whether `presented` is the cluster secret (re-read from Redis when it differs)."""
        if self.secret and secrets.compare_digest(presented, self.secret):
            return True
        if self.config.secret:
            return False
        with contextlib.suppress(RedisError, OSError):
            stored = await self.redis.get(keys.SECRET_KEY)
            if stored:
                self.secret = text(stored)
        return bool(self.secret) and secrets.compare_digest(presented, self.secret)

    async def peer(self, request: web.Request) -> Principal | None:
        """Another host of the cluster (bearer = the cluster secret), with Admin clearance."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        if await self.check_secret(token.strip()):
            return Principal("cluster peer", Clearance.ADMIN, "cluster-secret")
        return None

    def relay_tap(self, local: DebugTap) -> DebugTap:
        """The debug tap for sessions: local lines, plus those of modules run elsewhere."""
        self.tap = RelayTap(local, self)
        return self.tap

    # -- seeding Redis -----------------------------------------------------------------------

    def _lookups_changed(self) -> None:
        if self.layout.seeded:
            self._spawn(self.layout.write_systems())

    async def _reseed(self) -> None:
        """Redis lost everything: write interfaces, lookups and every local status again."""
        log.warning("Redis lost the cluster's data; writing it again")
        await self._load_secret()
        await self.layout.seed()

    # -- placement ---------------------------------------------------------------------------

    def owner_of(self, module_id: str) -> str | None:
        return self.owners.get(module_id)

    async def _rebalance(self, uris: list[str], version: str) -> None:
        host = self.host
        if host is None:
            return
        self.owners = rendezvous.owners(uris, host.modules)
        log.info("rebalance", version=version, nodes=len(uris))
        leaving = [m for m in self.store.local if self.owners.get(m) != self.uri]
        await asyncio.gather(*(self._give_up(m) for m in leaving))
        await self._take_owned()

    async def _take_owned(self) -> None:
        """Start every module this host owns and can get the lease of."""
        host = self.host
        if host is None:
            return
        wanted = [
            m for m, owner in self.owners.items() if owner == self.uri and m not in self.store.local
        ]
        await asyncio.gather(*(self._take(m) for m in wanted))

    async def _take(self, module_id: str) -> None:
        """Take the lease of a module this host owns and start it (once, however many
        placement passes ask for it at the same time)."""
        if module_id in self._taking or module_id in self.store.local:
            return
        self._taking.add(module_id)
        try:
            await self._take_now(module_id)
        finally:
            self._taking.discard(module_id)

    async def _take_now(self, module_id: str) -> None:
        host = self.host
        module = host.modules.get(module_id) if host else None
        if host is None or module is None:
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                lease = await self.leases.acquire(module_id)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("lease request failed", module_id=module_id, error=str(exc))
            return
        if lease is None:
            return  # still held by its previous host: tried again on the next check
        if self.owners.get(module_id) != self.uri:  # a rebalance moved it meanwhile
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(REDIS_TIMEOUT):
                    await self.leases.release(module_id)
            return
        self._handing_over.discard(module_id)
        self.store.adopt(module_id)
        log.info("module placed here", module_id=module_id)
        await host.start_module(module)

    async def _give_up(self, module_id: str) -> None:
        host = self.host
        module = host.modules.get(module_id) if host else None
        self._handing_over.add(module_id)
        if host is not None and module is not None:
            await host.hand_over(module)
        await self.store.flushed_or_timeout()
        self.store.release(module_id)
        self._handing_over.discard(module_id)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.leases.release(module_id)
        log.info("module handed over", module_id=module_id, to=self.owners.get(module_id))

    def _fenced(self, module_id: str) -> None:
        """A status write was refused: the lease is gone, so the module stops at once."""
        self._lose(module_id)

    def _lose(self, module_id: str) -> None:
        if module_id not in self.store.local:
            return
        log.warning("lease lost; stopping module", module_id=module_id)
        self.leases.forget(module_id)
        self.store.release(module_id)
        host = self.host
        module = host.modules.get(module_id) if host else None
        if host is not None and module is not None:
            host.halt(module)

    async def _maintain(self) -> None:
        """Renew leases, retry pending placements, repair Redis after it lost its data."""
        interval = max(self.ttl / 3, 0.1)
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + interval
        while True:
            await asyncio.sleep(min(PLACEMENT_RETRY, interval))
            try:
                if loop.time() < next_renewal:
                    if self._pending():
                        await self._take_owned()  # a lease the previous host just let go
                    continue
                next_renewal = loop.time() + interval
                async with asyncio.timeout(REDIS_TIMEOUT):
                    lost, retaken = await self.leases.renew_all()
                for module_id in lost:
                    self._lose(module_id)
                for module_id in retaken:
                    self.store.republish(module_id)
                async with asyncio.timeout(REDIS_TIMEOUT):
                    seeded = await self.redis.exists(keys.SEED_MARKER)
                if not seeded:
                    async with asyncio.timeout(REDIS_TIMEOUT * 3):
                        await self._reseed()
                elif self.store.dirty:
                    self.store.dirty = False
                    for module_id in list(self.store.local):
                        self.store.republish(module_id)
                misplaced = [
                    m
                    for m in self.store.local
                    if self.owners.get(m) != self.uri and m not in self._handing_over
                ]
                await asyncio.gather(*(self._give_up(m) for m in misplaced))
                await self._take_owned()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("cluster maintenance failed", error=str(exc) or type(exc).__name__)

    def _pending(self) -> bool:
        """Whether a module this host owns is not running here yet (its lease was taken)."""
        return any(
            owner == self.uri and m not in self.store.local for m, owner in self.owners.items()
        )

    # -- messages ----------------------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        if channel == keys.LOOKUP_CHANGE_CHANNEL:
            self._spawn(self._reload_lookup(text(data)))
        else:
            self.store.on_message(channel, data)

    async def _on_reconnect(self) -> None:
        await self.store.resync()
        host = self.host
        if host is not None:
            for sys_id in list(host.systems):
                await self._reload_lookup(sys_id)

    async def _reload_lookup(self, sys_id: str) -> None:
        await self.layout.reload_lookup(sys_id, self._lookups_changed)

    # -- exec routing ------------------------------------------------------------------------

    def execute(
        self, module: Module, method: str, args: list[Any] | dict[str, Any]
    ) -> Coroutine[Any, Any, bytes]:
        """Run a command on the module's owner; its JSON-encoded result."""
        return self._execute(module, method, args)

    async def _execute(
        self, module: Module, method: str, args: list[Any] | dict[str, Any]
    ) -> bytes:
        if not self.healthy:
            message = f"module {module.id} runs on another host and Redis cannot be reached"
            raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503)
        raw, _code = await self.client.execute(module.id, method, args, module.config.exec_timeout)
        return raw

    def hosts(self, module_id: str) -> bool:
        """Whether this host holds the module's lease (runs it, or is starting it)."""
        return module_id in self.store.local and module_id not in self._handing_over

    async def describe(self) -> dict[str, Any]:
        """The body of `GET /api/engine/v2/cluster`."""
        nodes = []
        uris, infos = await self.membership.node_infos()
        for uri, info in zip(uris, infos, strict=True):
            nodes.append({"uri": uri, "ready": bool(info and info.ready)})
        return {
            "node": self.uri,
            "version": self.membership.version,
            "nodes": nodes,
            "owners": dict(self.owners),
        }

    async def _cancel_tasks(self) -> None:
        """Cancel the background tasks and wait for them, so none still uses Redis after
        `stop` closed the connection."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
