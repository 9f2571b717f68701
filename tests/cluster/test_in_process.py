"""Three runtimes in one process, one real Redis: layout, routing, bindings, ownership."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from runtime.modules import ModuleState
from runtime.testing import ExecError, RuntimeHandle
from tests.cluster.inprocess import cluster_config, cluster_host, new_key, new_port, until
from tests.cluster.redis_server import RedisServer

MODULES = 6


@pytest.fixture
async def trio(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[RuntimeHandle]]:
    key = new_key()
    journal = tmp_path / "journal.txt"
    async with AsyncExitStack() as stack:
        hosts = []
        for _ in range(3):
            config = cluster_config(redis_server.url, new_port(), MODULES, journal)
            hosts.append(await stack.enter_async_context(cluster_host(config, key)))
        await until(lambda: all(placed(h, hosts) for h in hosts))
        yield hosts


def placed(handle: RuntimeHandle, hosts: list[RuntimeHandle]) -> bool:
    """Every module runs on exactly one host and this host agrees on the owners."""
    node = handle.runtime.cluster
    assert node is not None
    if len(node.membership.uris) != len(hosts):
        return False
    running = [
        m
        for h in hosts
        for m, module in h.runtime.host.modules.items()
        if module.state is ModuleState.RUNNING
    ]
    return sorted(running) == sorted(handle.runtime.host.modules)


def owner_handle(hosts: list[RuntimeHandle], module_id: str) -> RuntimeHandle:
    for handle in hosts:
        if handle.runtime.host.modules[module_id].state is ModuleState.RUNNING:
            return handle
    raise AssertionError(f"{module_id} runs nowhere")


def remote_from(hosts: list[RuntimeHandle], client_host: RuntimeHandle) -> str:
    for module_id, module in client_host.runtime.host.modules.items():
        if module.state is ModuleState.REMOTE:
            return module_id
    raise AssertionError("every module runs on the client's host")


async def test_placeos_layout_in_redis(trio: list[RuntimeHandle], redis: aioredis.Redis) -> None:
    lookup = await redis.hgetall("{service_core}_lookup")
    assert sorted(v.decode() for v in lookup.values()) == sorted(h.url for h in trio)
    system = await redis.hgetall("system/sys-1")
    assert system == {f"Probe/{i + 1}".encode(): f"mod-{i}".encode() for i in range(MODULES)}
    interface = orjson.loads(await redis.get("interface/mod-0"))
    assert "record" in interface["functions"]
    for i in range(MODULES):
        owner = owner_handle(trio, f"mod-{i}")
        pid = await redis.hget(f"status/mod-{i}", "pid")
        assert pid is not None
        lease = (await redis.get(f"owner/mod-{i}")).decode()
        assert lease.startswith(owner.url + " ")


async def test_exec_and_bind_from_a_host_that_does_not_run_the_module(
    trio: list[RuntimeHandle],
) -> None:
    client_host = trio[0]
    module_id = remote_from(trio, client_host)
    index = int(module_id.split("-")[1]) + 1
    async with client_host.client() as client:
        await client.bind("sys-1", "Probe", "power", index=index)
        assert await client.exec("sys-1", "Probe", "set", ["power", "on"], index=index) == "on"
        notify = await client.next_notify()
        assert notify["value"] == "on" and notify["meta"]["index"] == index
        await client.exec("sys-1", "Probe", "set", ["power", None], index=index)
        assert (await client.next_notify())["value"] is None
        with pytest.raises(ExecError) as failure:
            await client.exec("sys-1", "Probe", "fail", ["nope"], index=index)
        assert failure.value.error_code == 3
        assert failure.value.msg == "module raised: nope (ValueError)"
        with pytest.raises(ExecError) as unknown:
            await client.exec("sys-1", "Probe", "missing", [], index=index)
        assert unknown.value.error_code == 1


async def test_rest_reads_and_execs_across_hosts(trio: list[RuntimeHandle]) -> None:
    client_host = trio[1]
    module_id = remote_from(trio, client_host)
    slug = f"Probe_{int(module_id.split('-')[1]) + 1}"
    status, body = await client_host.rest(
        "POST", f"/api/engine/v2/systems/sys-1/{slug}/set", json=["mode", "eco"]
    )
    assert (status, body) == (200, "eco")
    status, body = await client_host.rest("GET", f"/api/engine/v2/systems/sys-1/{slug}/mode")
    assert (status, body) == (200, "eco")
    status, state = await client_host.rest("GET", f"/api/engine/v2/systems/sys-1/{slug}")
    assert status == 200 and state["mode"] == '"eco"'


async def test_a_misrouted_exec_is_refused_with_421(trio: list[RuntimeHandle]) -> None:
    handle = trio[0]
    module_id = remote_from(trio, handle)
    status, body = await handle.rest(
        "POST",
        f"/api/core/v1/command/{module_id}/execute",
        json={"__exec__": "record", "record": ["misrouted"]},
        authenticate=False,
        headers={"Authorization": "Bearer cluster-secret-for-tests-0001"},
    )
    assert status == 421
    assert "not hosted" in body["error"]
    assert handle.runtime.host.modules[module_id].state is ModuleState.REMOTE


async def test_the_command_route_wants_the_secret(trio: list[RuntimeHandle]) -> None:
    handle = trio[0]
    module_id = next(m for m in handle.runtime.host.modules if handle.runtime.cluster.hosts(m))
    body = {"__exec__": "set", "set": ["k", 1]}
    path = f"/api/core/v1/command/{module_id}/execute"
    status, _ = await handle.rest(
        "POST", path, json=body, authenticate=False, headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401
    status, value = await handle.rest(
        "POST",
        path,
        json=body,
        authenticate=False,
        headers={"Authorization": "Bearer cluster-secret-for-tests-0001"},
    )
    assert (status, value) == (200, 1)


async def test_cluster_view(trio: list[RuntimeHandle]) -> None:
    status, view = await trio[2].rest("GET", "/api/engine/v2/cluster")
    assert status == 200
    assert view["node"] == trio[2].url
    assert sorted(n["uri"] for n in view["nodes"]) == sorted(h.url for h in trio)
    assert {m: owner_handle(trio, m).url for m in view["owners"]} == view["owners"]
