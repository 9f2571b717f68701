"""SIGTERM of a host with execs routed to it over the exec channel (real processes, real Redis):
each exec gets exactly one reply — its result when it ends within `server.shutdown_grace`, else
error_code 7 — and none runs twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from runtime.testing import ExecError
from tests.cluster.processes import HostProcess, journal_events
from tests.cluster.redis_server import RedisServer
from tests.cluster.test_processes import eventually

TTL = 2.0
MODULES = 6
GRACE = 1.5


@pytest.fixture
async def hosts(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[HostProcess]]:
    made = []
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        for _ in range(2):
            host = HostProcess(tmp_path, redis_server.url, MODULES, TTL, 0)
            config = yaml.safe_load(host.config_path.read_text())
            config["server"]["shutdown_grace"] = GRACE
            host.config_path.write_text(yaml.safe_dump(config))
            made.append(host)
            await host.start()

        async def placed() -> bool:
            owners = [await redis.get(f"owner/mod-{i}") for i in range(MODULES)]
            if any(raw is None for raw in owners):
                return False
            views = [await h.view() for h in made]
            leased = {f"mod-{i}": raw.decode().split(" ")[0] for i, raw in enumerate(owners)}
            return all(len(v["nodes"]) == 2 and v["owners"] == leased for v in views)

        await eventually(placed)
        yield made
    finally:
        for host in made:
            host.kill()
        await redis.aclose()


async def test_sigterm_of_the_owner_answers_each_routed_exec_once(
    hosts: list[HostProcess],
) -> None:
    owners = (await hosts[0].view())["owners"]
    owner = next(h for h in hosts if h.url == owners["mod-0"])
    other = next(h for h in hosts if h is not owner)
    module_id = "mod-0"
    index = int(module_id.split("-")[1]) + 1
    journal = owner.journal
    async with other.client() as client:
        short = asyncio.ensure_future(
            client.exec("sys-1", "Probe", "slow_record", ["short", 0.5], index=index, timeout=30)
        )
        long = asyncio.ensure_future(
            client.exec("sys-1", "Probe", "slow_record", ["long", 60], index=index, timeout=90)
        )

        async def both_begun() -> bool:
            begun = {d for _, _, _, e, d in journal_events(journal) if e == "exec-begin"}
            return begun >= {"short", "long"}

        await eventually(both_begun)
        routes = (await other.view())["exec_routes"]
        assert routes["by_post"] == 0 and routes["channels"]["open"][owner.url]["in_flight"] == 2
        exit_code = asyncio.ensure_future(owner.terminate())
        assert await short == "short"
        with pytest.raises(ExecError) as failure:
            await long
        assert failure.value.error_code == 7
        assert failure.value.msg == "server shutting down"
        assert await exit_code == 0
    events = [(e, d) for _, _, _, e, d in journal_events(journal) if d in ("short", "long")]
    assert sorted(events) == [("exec", "short"), ("exec-begin", "long"), ("exec-begin", "short")]
