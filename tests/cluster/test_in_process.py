"""Three runtimes in one process, one real Redis: layout, routing, bindings, ownership."""

from __future__ import annotations

import asyncio
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

MODULES = 9


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
    handle = next(h for h in trio if h.runtime.cluster.store.local)
    module_id = sorted(handle.runtime.cluster.store.local)[0]
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


def index_of(module_id: str) -> int:
    return int(module_id.split("-")[1]) + 1


async def test_debug_of_a_module_on_another_host(trio: list[RuntimeHandle]) -> None:
    client_host = trio[0]
    module_id = remote_from(trio, client_host)
    async with client_host.client() as client:
        reply = await client.request(
            {"cmd": "debug", "sys": "sys-1", "mod": module_id, "index": 1, "name": "debug"}
        )
        assert reply["type"] == "success"
        relay = client_host.runtime.tap
        # the relay is connected once the owner's tap has a listener for the module
        owner = owner_handle(trio, module_id)
        await until(lambda: owner.runtime.tap.active(module_id) and relay.active(module_id))
        await client.exec(
            "sys-1", "Probe", "log_line", ["hello from afar"], index=index_of(module_id)
        )
        line = await client.next_debug()
        assert line["msg"] == "hello from afar" and line["mod"] == module_id


async def test_a_host_leaving_hands_its_modules_over(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    key = new_key()
    journal = tmp_path / "journal.txt"
    stacks = [AsyncExitStack() for _ in range(3)]
    try:
        hosts = []
        for stack in stacks:
            config = cluster_config(redis_server.url, new_port(), MODULES, journal)
            hosts.append(await stack.enter_async_context(cluster_host(config, key)))
        await until(lambda: all(placed(h, hosts) for h in hosts))
        leaving = next(h for h in hosts if h.runtime.cluster.store.local)
        staying = [h for h in hosts if h is not leaving]
        module_id = sorted(leaving.runtime.cluster.store.local)[0]
        async with staying[0].client() as client:
            await client.bind("sys-1", "Probe", "pid", index=index_of(module_id))
            first = await client.next_notify()
            await stacks[hosts.index(leaving)].aclose()  # SIGTERM-like: deregisters at once
            await until(lambda: all(placed(h, staying) for h in staying), timeout=5)
            assert (await client.next_notify())["value"] is None
            assert (await client.next_notify())["value"] == first["value"]  # same process here
            assert (
                await client.exec(
                    "sys-1", "Probe", "record", ["after-leave"], index=index_of(module_id)
                )
                == "after-leave"
            )
    finally:
        for stack in stacks:
            await stack.aclose()
    assert_never_twice(journal)


def assert_never_twice(journal: Path) -> None:
    """No module had two instances at once: starts and stops alternate per module."""
    running: dict[str, str] = {}
    for line in journal.read_text().splitlines():
        _, pid_text, module_id, event, *_ = line.split(" ")
        if event == "start":
            assert module_id not in running, f"{module_id} started twice: {line}"
            running[module_id] = pid_text
        elif event == "stop":
            running.pop(module_id, None)


async def test_a_lost_lease_stops_the_module_at_once(
    trio: list[RuntimeHandle], redis: aioredis.Redis
) -> None:
    module_id = "mod-0"
    owner = owner_handle(trio, module_id)
    await redis.set(f"owner/{module_id}", "somebody else")
    module = owner.runtime.host.modules[module_id]
    await until(lambda: module.state is ModuleState.REMOTE)
    assert all(h.runtime.host.modules[module_id].state is not ModuleState.RUNNING for h in trio)
    await redis.delete(f"owner/{module_id}")  # the intruder went away: the owner takes it back
    await until(lambda: module.state is ModuleState.RUNNING)


async def test_lookup_change_rebinds(trio: list[RuntimeHandle], redis: aioredis.Redis) -> None:
    handle = trio[0]
    async with handle.client() as client:
        await client.exec("sys-1", "Probe", "set", ["name", "two"], index=3)
        await client.exec("sys-1", "Probe", "set", ["name", "one"], index=1)
        await client.bind("sys-1", "Probe", "name", index=1)
        assert (await client.next_notify())["value"] == "one"
        await redis.hset("system/sys-1", "Probe/1", "mod-2")
        await redis.publish("lookup-change", "sys-1")
        assert (await client.next_notify())["value"] == "two"


async def test_redis_restarted_empty(trio: list[RuntimeHandle], redis_server: RedisServer) -> None:
    redis_server.kill()
    redis_server.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:

        async def seeded() -> bool:
            lookup = await client.hgetall("{service_core}_lookup")
            statuses = [await client.hget(f"status/mod-{i}", "pid") for i in range(MODULES)]
            return (
                len(lookup) == 3
                and await client.exists("system/sys-1", "interface/mod-0") == 2
                and all(s is not None for s in statuses)
            )

        deadline = asyncio.get_running_loop().time() + 15
        while not await seeded():
            assert asyncio.get_running_loop().time() < deadline, "Redis was not seeded again"
            await asyncio.sleep(0.05)
        await until(lambda: all(placed(h, trio) for h in trio))
        async with trio[0].client() as ws:
            module_id = remote_from(trio, trio[0])
            assert (
                await ws.exec("sys-1", "Probe", "record", ["x"], index=index_of(module_id)) == "x"
            )
    finally:
        await client.aclose()


async def test_redis_unreachable(trio: list[RuntimeHandle], redis_server: RedisServer) -> None:
    handle = next(h for h in trio if h.runtime.cluster.store.local)
    remote = remote_from(trio, handle)
    local = sorted(handle.runtime.cluster.store.local)[0]
    redis_server.kill()
    node = handle.runtime.cluster
    await until(lambda: not node.healthy)
    async with handle.client() as client:
        assert (
            await client.exec("sys-1", "Probe", "record", ["here"], index=index_of(local)) == "here"
        )
        with pytest.raises(ExecError) as failure:
            await client.exec("sys-1", "Probe", "record", ["there"], index=index_of(remote))
        assert failure.value.error_code == 7
    redis_server.start()
    await until(lambda: node.healthy)
