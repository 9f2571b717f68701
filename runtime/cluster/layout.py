"""The shared part of PlaceOS's layout: `interface/<id>` and `system/<sys>` + `lookup-change`.

Every host writes the same values (all hosts load the same config), so writes are idempotent;
a system whose lookup really changed is announced on `lookup-change`, and a host that hears of
one takes the lookup from Redis (another host, or a PlaceOS tool, changed it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.cluster import keys
from runtime.cluster.keys import text
from runtime.driver import Driver
from runtime.interface import interface_of
from runtime.modules import ModuleHost

#: Seconds one read of a system's lookup may take.
READ_TIMEOUT = 2.0


class SharedLayout:
    """Writes interfaces and system lookups, and reads lookups others changed."""

    def __init__(self, redis: aioredis.Redis, marker: str) -> None:
        self.redis = redis
        self.marker = marker
        self.host: ModuleHost | None = None
        self.seeded = False
        self._written: dict[str, dict[str, str]] = {}

    async def seed(self) -> None:
        """Interfaces and system lookups, then the marker whose absence means Redis lost them."""
        host = self.host
        if host is None:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for module_id, module in host.modules.items():
                metadata = interface_of(module.driver_class, Driver).metadata
                pipe.set(keys.interface_key(module_id), orjson.dumps(metadata))
            await pipe.execute()
        await self.write_systems(force=True)
        await self.redis.set(keys.SEED_MARKER, self.marker)
        self.seeded = True

    async def write_systems(self, force: bool = False) -> None:
        """Write every system's lookup that changed; announce each on `lookup-change`."""
        host = self.host
        if host is None:
            return
        changed: list[str] = []
        for sys_id, system in host.systems.items():
            mapping = {f"{name}/{index}": mod for (name, index), mod in system.lookup.items()}
            if not force and self._written.get(sys_id) == mapping:
                continue
            stored = await self.redis.hgetall(keys.system_key(sys_id))
            if {text(k): text(v) for k, v in stored.items()} != mapping:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(keys.system_key(sys_id))
                    if mapping:
                        pipe.hset(keys.system_key(sys_id), mapping=dict(mapping))  # type: ignore[arg-type]
                    await pipe.execute()
                changed.append(sys_id)
            self._written[sys_id] = mapping
        for sys_id in changed:
            await self.redis.publish(keys.LOOKUP_CHANGE_CHANNEL, sys_id)

    async def reload_lookup(self, sys_id: str, skip: Callable[[], None]) -> None:
        """Take a system's lookup from Redis; tell the lookup listeners (but `skip`)."""
        host = self.host
        system = host.systems.get(sys_id) if host else None
        if host is None or system is None:
            return
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                stored = await self.redis.hgetall(keys.system_key(sys_id))
        except (RedisError, OSError, TimeoutError):
            return
        lookup: dict[tuple[str, int], str] = {}
        for field, value in stored.items():
            name, _, index = text(field).rpartition("/")
            if name and index.isdigit() and text(value) in host.modules:
                lookup[(name, int(index))] = text(value)
        if lookup and lookup != system.lookup:
            system.lookup = lookup
            self._written[sys_id] = {f"{n}/{i}": m for (n, i), m in lookup.items()}
            for listener in list(host.lookup_listeners):
                if listener != skip:
                    listener()
