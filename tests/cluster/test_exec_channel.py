"""The exec channel between real runtimes (this process, one real redis-server): it is what our
hosts use, routed execs count in the owner's metrics and shutdown drain, and the owner refuses
what it must (malformed and oversize records, no secret, a module it does not host)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import orjson
import pytest

from protocol import ErrorCode
from runtime.cluster import frames
from runtime.cluster.channel import CHANNEL_PATH
from runtime.cluster.client import ExecClient
from runtime.modules import ModuleState
from runtime.testing import ExecError, RuntimeHandle
from tests.cluster import drivers
from tests.cluster.inprocess import SECRET, cluster_config, cluster_host, new_key, new_port, until
from tests.cluster.processes import journal_events
from tests.cluster.redis_server import RedisServer

MODULES = 6
SUCCESS = "placeos_runtime_execs_total"


@pytest.fixture
async def pair(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[list[RuntimeHandle]]:
    """Two hosts agreeing on where every module runs."""
    key = new_key()
    journal = tmp_path / "journal.txt"
    async with AsyncExitStack() as stack:
        hosts = []
        for _ in range(2):
            config = cluster_config(redis_server.url, new_port(), MODULES, journal)
            hosts.append(await stack.enter_async_context(cluster_host(config, key)))

        def placed() -> bool:
            if not all(len(h.runtime.cluster.membership.uris) == 2 for h in hosts):  # type: ignore[union-attr]
                return False
            running = [
                m
                for h in hosts
                for m, module in h.runtime.host.modules.items()
                if module.state is ModuleState.RUNNING
            ]
            return sorted(running) == sorted(hosts[0].runtime.host.modules)

        await until(placed)
        yield hosts


def split(hosts: list[RuntimeHandle]) -> tuple[RuntimeHandle, RuntimeHandle, str, int]:
    """(owner, the other host, a module of the owner, its index in sys-1)."""
    owner = next(h for h in hosts if h.runtime.cluster.store.local)  # type: ignore[union-attr]
    other = next(h for h in hosts if h is not owner)
    module_id = sorted(owner.runtime.cluster.store.local)[0]  # type: ignore[union-attr]
    return owner, other, module_id, int(module_id.split("-")[1]) + 1


def count(handle: RuntimeHandle, outcome: str) -> float:
    return handle.runtime.metrics.value(SUCCESS, outcome=outcome) or 0.0


async def test_our_hosts_use_the_channel(pair: list[RuntimeHandle]) -> None:
    owner, other, _module_id, index = split(pair)
    async with other.client() as client:
        for n in range(20):
            assert await client.exec("sys-1", "Probe", "set", ["k", n], index=index) == n
    status, view = await other.rest("GET", "/api/engine/v2/cluster")
    assert status == 200
    routes = view["exec_routes"]
    assert (routes["by_channel"], routes["by_post"]) == (20, 0)
    assert routes["channels"]["open"][owner.url]["execs"] == 20
    status, view = await owner.rest("GET", "/api/engine/v2/cluster")
    assert view["exec_routes"]["served"] == {"accepted": 1, "open": 1, "execs": 20}


async def test_routed_execs_count_in_the_owners_metrics(pair: list[RuntimeHandle]) -> None:
    owner, other, module_id, index = split(pair)
    succeeded, failed = count(owner, "success"), count(owner, "request_failed")
    async with other.client() as client:
        assert await client.exec("sys-1", "Probe", "whoami", index=index) is not None
        with pytest.raises(ExecError):
            await client.exec("sys-1", "Probe", "fail", ["no"], index=index)
    status, _ = await other.rest(
        "POST",
        f"/api/core/v1/command/{module_id}/execute",
        json={"__exec__": "set", "set": ["k", 1]},
        authenticate=False,
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert status == 421  # the other host does not run it: refused, not counted
    status, _ = await owner.rest(
        "POST",
        f"/api/core/v1/command/{module_id}/execute",
        json={"__exec__": "set", "set": ["k", 1]},
        authenticate=False,
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert status == 200
    assert count(owner, "success") == succeeded + 2  # channel + POST route
    assert count(owner, "request_failed") == failed + 1


async def test_routed_execs_are_drained_at_shutdown(pair: list[RuntimeHandle]) -> None:
    owner, other, _module_id, index = split(pair)
    tokens = ("finishes", "cut-short")
    for token in tokens:
        drivers.BEGUN[token], drivers.RELEASE[token] = asyncio.Event(), asyncio.Event()
    async with other.client() as client:
        calls = [
            asyncio.ensure_future(
                client.exec("sys-1", "Probe", "hold", [token], index=index, timeout=30)
            )
            for token in tokens
        ]
        for token in tokens:
            await drivers.BEGUN[token].wait()
        assert owner.runtime.execs.in_flight == 2
        assert owner.runtime.metrics.value("placeos_runtime_execs_in_flight") == 2
        refused = count(owner, "unexpected_failure")
        stopping = asyncio.ensure_future(owner.runtime.stop(grace=60))
        await until(lambda: owner.runtime.execs.stopping)
        drivers.RELEASE["finishes"].set()  # ends within the grace: its result
        assert await calls[0] == "finishes"
        owner.runtime.execs.end_grace()  # the grace is over: the other is cancelled
        with pytest.raises(ExecError) as failure:
            await calls[1]
        assert failure.value.error_code == ErrorCode.UNEXPECTED_FAILURE
        assert failure.value.msg == "server shutting down"
        await stopping
    assert count(owner, "unexpected_failure") == refused + 1
    assert owner.runtime.execs.in_flight == 0


@asynccontextmanager
async def channel(
    handle: RuntimeHandle, **headers: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A raw exec channel into `handle`, as a peer host opens it."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            handle.url + CHANNEL_PATH,
            headers={"Authorization": f"Bearer {SECRET}", **headers},
            max_msg_size=0,
        ) as ws,
    ):
        yield ws


async def replies(ws: aiohttp.ClientWebSocketResponse, count: int) -> dict[int, frames.Reply]:
    found: dict[int, frames.Reply] = {}
    while len(found) < count:
        message = await asyncio.wait_for(ws.receive(), 10)
        assert message.type is aiohttp.WSMsgType.BINARY, message
        for payload in frames.split(message.data):
            reply = frames.decode_reply(payload)
            found[reply.id] = reply
    return found


async def test_the_owner_answers_bad_records_by_id(
    pair: list[RuntimeHandle], tmp_path: Path
) -> None:
    owner, other, module_id, _index = split(pair)
    async with channel(other) as ws:  # `module_id` runs on the owner, never on the other host
        await ws.send_bytes(frames.encode_request(4, module_id, "record", ["misrouted"]))
        assert (await replies(ws, 1))[4].kind is frames.ReplyKind.NOT_HOSTED
    oversize = b'[5,"' + module_id.encode() + b'","set",["k","' + b"x" * frames.MAX_RECORD_BYTES
    async with channel(owner) as ws:
        await ws.send_bytes(
            frames.record(b'[1,"' + module_id.encode() + b'","whoami"')  # not JSON
            + frames.record(b'[2, 7, "whoami", []]')  # bad module id
            + frames.encode_request(3, "no-such-module", "whoami", [])
            + frames.record(oversize + b'"]]')
            + frames.encode_request(6, module_id, "set", ["k", "ok"])
        )
        found = await replies(ws, 5)
        for request_id in (1, 2, 5):
            assert found[request_id].kind is frames.ReplyKind.ERROR
            assert frames.decode_error(found[request_id].body)[0] is ErrorCode.BAD_REQUEST
        assert frames.decode_error(found[5].body)[1].startswith("record over")
        assert frames.decode_error(found[3].body)[:3] == (
            ErrorCode.MODULE_NOT_FOUND,
            "module no-such-module not found",
            404,
        )
        assert (found[6].kind, found[6].body, found[6].code) == (
            frames.ReplyKind.RESULT,
            b'"ok"',
            200,
        )
        assert await owner.runtime.store.fetch(module_id, "k") == b'"ok"'  # only the good one ran
        await ws.send_bytes(frames.record(b'{"no": "id"}'))  # no readable id: closed
        closing = await asyncio.wait_for(ws.receive(), 10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA
    assert "misrouted" not in (tmp_path / "journal.txt").read_text()


@pytest.mark.parametrize(
    "message",
    [b"\x00\x00", frames.record(b"[1]")[:-1], "a text message"],
    ids=["truncated length", "truncated record", "text"],
)
async def test_unreadable_messages_close_the_channel(
    pair: list[RuntimeHandle], message: bytes | str
) -> None:
    async with channel(pair[0]) as ws:
        if isinstance(message, str):
            await ws.send_str(message)
        else:
            await ws.send_bytes(message)
        closing = await asyncio.wait_for(ws.receive(), 10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA


async def test_the_channel_wants_the_secret(pair: list[RuntimeHandle]) -> None:
    owner, _other, _module_id, _index = split(pair)
    for authorization in ("Bearer wrong-secret-0000000000", ""):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with channel(owner, Authorization=authorization):
                pass
        assert refused.value.status == 401


async def test_a_starting_module_is_waited_for(pair: list[RuntimeHandle]) -> None:
    owner, _other, module_id, _index = split(pair)
    host = owner.runtime.host
    module = host.modules[module_id]
    await host.stop_module(module)
    loaded = asyncio.Event()
    release = asyncio.Event()
    driver_class = module.driver_class

    class SlowStart(driver_class):  # type: ignore[misc, valid-type]
        async def on_load(self) -> None:
            loaded.set()
            await release.wait()
            await super().on_load()

    host.replace_class(module, SlowStart)
    starting = asyncio.ensure_future(host.start_module(module))
    await loaded.wait()
    assert module.state is ModuleState.STARTING
    served = owner.runtime.cluster_routes.channels.served
    async with channel(owner) as ws:
        await ws.send_bytes(frames.encode_request(1, module_id, "set", ["k", "after start"]))
        await until(lambda: any(c.tasks for c in served))  # read, and waiting for the module
        reply = asyncio.ensure_future(replies(ws, 1))
        assert module.state is ModuleState.STARTING
        release.set()
        await starting
        found = await reply
        assert (found[1].kind, found[1].body) == (frames.ReplyKind.RESULT, b'"after start"')
    assert orjson.loads(await owner.runtime.store.fetch(module_id, "k") or b"null") == "after start"


async def test_a_message_over_the_limit_closes_the_channel(
    pair: list[RuntimeHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "MAX_MESSAGE_BYTES", 4096)
    owner, _other, module_id, _index = split(pair)
    async with channel(owner) as ws:
        await ws.send_bytes(frames.encode_request(1, module_id, "set", ["k", "x" * 5000]))
        closing = await asyncio.wait_for(ws.receive(), 10)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await owner.runtime.store.fetch(module_id, "k") is None


async def test_not_hosted_here_is_retried_to_the_owner(
    pair: list[RuntimeHandle], tmp_path: Path
) -> None:
    owner, other, module_id, _index = split(pair)
    owners = iter([other.url, owner.url])  # a stale view first: the other host does not run it
    client = ExecClient(lambda _m: next(owners, owner.url), lambda: SECRET)
    try:
        assert await client.execute(module_id, "record", ["retried"], 5.0) == (b'"retried"', 200)
    finally:
        await client.close()
    assert other.runtime.cluster_routes.channels.execs == 1  # answered "not hosted here"
    assert owner.runtime.cluster_routes.channels.execs == 1
    ran = [d for _, _, m, e, d in journal_events(tmp_path / "journal.txt") if e == "exec"]
    assert ran == ["retried"]
