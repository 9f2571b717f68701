"""Per-module leases (`owner/<module_id>`) and status writes fenced by them.

A host may run a module only while it holds the module's lease: a random token set with
`SET NX PX`, renewed by a compare-and-set script. Every status write is a script that checks
the lease before `HSET`/`HDEL` + `PUBLISH`, so a host that lost a lease (frozen past the TTL,
cut off, or rebalanced away) cannot overwrite the new owner's values; it learns so from the
script's answer and stops the module at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from runtime.cluster import keys

# KEYS[1] lease; ARGV[1] token, ARGV[2] px. 1 renewed, 2 re-taken (it had expired), 0 lost.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""

# KEYS[1] lease; ARGV[1] token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lease, KEYS[2] status hash; ARGV[1] token, ARGV[2] field, ARGV[3] channel,
# ARGV[4] JSON value or empty for a deletion.
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('PUBLISH', ARGV[3], 'null')
else
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
"""

# KEYS[1] lease, KEYS[2] status hash; ARGV[1] token, ARGV[2] channel prefix `status/<id>/`.
_CLEAR = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local fields = redis.call('HKEYS', KEYS[2])
redis.call('DEL', KEYS[2])
for _, field in ipairs(fields) do
  redis.call('PUBLISH', ARGV[2] .. field, 'null')
end
return 1
"""


class LeaseOutcome:
    """What a renewal found."""

    RENEWED = 1
    RETAKEN = 2
    LOST = 0


@dataclass(slots=True)
class Lease:
    """A lease this host holds."""

    module_id: str
    token: str


class Leases:
    """Acquire, renew, release leases and run fenced status writes."""

    def __init__(self, redis: aioredis.Redis, ttl: float, holder: str) -> None:
        self.redis = redis
        self.ttl_ms = max(1, round(ttl * 1000))
        self.holder = holder
        self.held: dict[str, Lease] = {}
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self.write_script = redis.register_script(_WRITE)
        self.clear_script = redis.register_script(_CLEAR)

    def _token(self) -> str:
        return f"{self.holder} {secrets.token_hex(8)}"

    async def acquire(self, module_id: str) -> Lease | None:
        """Take the lease when nobody holds it; None when another host does."""
        lease = self.held.get(module_id)
        if lease is not None:
            return lease
        token = self._token()
        if await self.redis.set(keys.lease_key(module_id), token, nx=True, px=self.ttl_ms):
            lease = Lease(module_id, token)
            self.held[module_id] = lease
            return lease
        return None

    async def renew_all(self) -> tuple[list[str], list[str]]:
        """Renew every held lease; returns the module ids whose lease was lost, and those
        whose lease had vanished and was taken again (Redis lost it: its status is gone too)."""
        if not self.held:
            return [], []
        leases = list(self.held.values())
        async with self.redis.pipeline(transaction=False) as pipe:
            for lease in leases:
                await self._renew(
                    keys=[keys.lease_key(lease.module_id)],
                    args=[lease.token, self.ttl_ms],
                    client=pipe,
                )
            results = await pipe.execute()
        lost = [
            lease.module_id
            for lease, result in zip(leases, results, strict=True)
            if int(result) == LeaseOutcome.LOST
        ]
        retaken = [
            lease.module_id
            for lease, result in zip(leases, results, strict=True)
            if int(result) == LeaseOutcome.RETAKEN
        ]
        for module_id in lost:
            self.held.pop(module_id, None)
        return lost, retaken

    async def release(self, module_id: str) -> None:
        """Give a lease up (only if this host still holds it)."""
        lease = self.held.pop(module_id, None)
        if lease is not None:
            await self._release(keys=[keys.lease_key(module_id)], args=[lease.token])

    def forget(self, module_id: str) -> None:
        """Drop a lease from the table without touching Redis (it was lost)."""
        self.held.pop(module_id, None)

    async def clear_status(self, module_id: str) -> bool:
        """Delete a module's status hash, publishing `null` per key; False when fenced off."""
        lease = self.held.get(module_id)
        if lease is None:
            return False
        result = await self.clear_script(
            keys=[keys.lease_key(module_id), keys.status_key(module_id)],
            args=[lease.token, f"status/{module_id}/"],
        )
        return bool(int(result))
