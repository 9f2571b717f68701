"""`ExecClient` against real aiohttp peers on loopback: the exec channel, the POST fallback for a
peer that only serves PlaceOS's route, and the at-most-once rules (retry only what never ran)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import Enum

import orjson
import pytest
from aiohttp import WSMsgType, web

from protocol import ErrorCode
from runtime.cluster import client as client_module
from runtime.cluster import frames
from runtime.cluster.channel import CHANNEL_PATH, NO_CHANNEL_RETRY
from runtime.cluster.client import ExecClient
from runtime.errors import ExecFailure
from tests.cluster.redis_server import free_port

SECRET = "peer-secret-for-client-tests-01"


class Mode(Enum):
    ANSWER = "answer"  # reply with the args as the result
    NOT_HOSTED = "not hosted"
    CUT = "cut"  # read the request, then drop the connection without replying
    SILENT = "silent"  # read the request, never reply
    REVERSED = "reversed"  # answer each message's requests in reverse order


class Peer:
    """A host on loopback: the POST route always; the channel unless `channel` is false."""

    def __init__(self, mode: Mode = Mode.ANSWER, channel: bool = True) -> None:
        self.mode = mode
        self.channel = channel
        self.upgrades = 0
        self.posts: list[dict[str, object]] = []
        self.requests: list[frames.Request] = []
        self.received = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/core/v1/command/{module_id}/execute", self._post)
        if self.channel:
            app.router.add_get(CHANNEL_PATH, self._channel)
        else:
            app.router.add_get(CHANNEL_PATH, self._count_upgrade_404)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {SECRET}"

    async def _post(self, request: web.Request) -> web.Response:
        assert self._authorised(request)
        body = orjson.loads(await request.read())
        self.posts.append(body)
        result = orjson.dumps(body[body["__exec__"]])
        return web.Response(
            body=result, content_type="application/json", headers={"Response-Code": "200"}
        )

    async def _count_upgrade_404(self, _request: web.Request) -> web.Response:
        self.upgrades += 1
        raise web.HTTPNotFound()

    async def _channel(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            raise web.HTTPUnauthorized()
        self.upgrades += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            assert message.type is WSMsgType.BINARY
            batch = [frames.decode_request(p) for p in frames.split(message.data)]
            self.requests.extend(batch)
            self.received.set()
            if self.mode is Mode.CUT:
                assert request.transport is not None
                request.transport.abort()
                break
            if self.mode is Mode.SILENT:
                continue
            if self.mode is Mode.REVERSED:
                batch.reverse()
            replies = b"".join(
                frames.encode_not_hosted(r.id, "not hosted here")
                if self.mode is Mode.NOT_HOSTED
                else frames.encode_result(r.id, orjson.dumps(r.args))
                for r in batch
            )
            await ws.send_bytes(replies)
        return ws


@asynccontextmanager
async def peers(*made: Peer) -> AsyncIterator[None]:
    for peer in made:
        await peer.start()
    try:
        yield
    finally:
        for peer in made:
            await peer.stop()


@asynccontextmanager
async def exec_client(owner_of: Callable[[str], str | None]) -> AsyncIterator[ExecClient]:
    client = ExecClient(owner_of, lambda: SECRET)
    try:
        yield client
    finally:
        await client.close()


async def test_many_execs_share_one_channel_and_each_gets_its_own_reply() -> None:
    peer = Peer(Mode.REVERSED)
    async with peers(peer), exec_client(lambda _m: peer.url) as client:
        results = await asyncio.gather(
            *(client.execute("mod-1", "echo", [n], 5.0) for n in range(200))
        )
        assert results == [(orjson.dumps([n]), 200) for n in range(200)]
        assert peer.upgrades == 1
        assert len(peer.requests) == 200
        assert len({r.id for r in peer.requests}) == 200
        assert (client.by_channel, client.by_post) == (200, 0)
        assert peer.posts == []


async def test_a_peer_without_the_channel_gets_the_post_route_and_is_remembered() -> None:
    peer = Peer(channel=False)
    async with peers(peer), exec_client(lambda _m: peer.url) as client:
        now = 1000.0
        client.channels.clock = lambda: now
        assert await client.execute("mod-1", "echo", ["a"], 5.0) == (b'["a"]', 200)
        assert await client.execute("mod-1", "echo", {"x": 1}, 5.0) == (b'{"x":1}', 200)
        assert peer.upgrades == 1  # asked once, then remembered
        assert peer.posts == [
            {"__exec__": "echo", "echo": ["a"]},
            {"__exec__": "echo", "echo": {"x": 1}},
        ]
        assert client.describe()["channels"]["post_only"] == [peer.url]
        now += NO_CHANNEL_RETRY
        assert await client.execute("mod-1", "echo", ["b"], 5.0) == (b'["b"]', 200)
        assert peer.upgrades == 2  # asked again after a while
        assert (client.by_channel, client.by_post) == (0, 3)


async def test_a_channel_cut_after_the_request_was_written_ends_the_exec_once() -> None:
    peer = Peer(Mode.CUT)
    async with peers(peer), exec_client(lambda _m: peer.url) as client:
        with pytest.raises(ExecFailure) as failure:
            await client.execute("mod-1", "record", ["once"], 5.0)
        assert failure.value.error_code is ErrorCode.UNEXPECTED_FAILURE
        assert "lost during the exec" in failure.value.message
        assert [r.args for r in peer.requests] == [["once"]]  # never sent again
        assert client.channels.channels == {}  # the broken channel is dropped
        peer.mode = Mode.ANSWER
        assert await client.execute("mod-1", "echo", ["next"], 5.0) == (b'["next"]', 200)
        assert peer.upgrades == 2  # a new channel for the next exec


async def test_a_connect_failure_is_retried_to_the_new_owner() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    peer = Peer()
    async with peers(peer):
        owners = iter([dead, peer.url])
        async with exec_client(lambda _m: next(owners, peer.url)) as client:
            assert await client.execute("mod-1", "echo", ["moved"], 5.0) == (b'["moved"]', 200)
        assert [r.args for r in peer.requests] == [["moved"]]
        assert peer.upgrades == 1


async def test_not_hosted_is_retried_to_the_new_owner() -> None:
    old, new = Peer(Mode.NOT_HOSTED), Peer()
    async with peers(old, new):
        owners = iter([old.url, new.url])
        async with exec_client(lambda _m: next(owners, new.url)) as client:
            assert await client.execute("mod-1", "echo", ["x"], 5.0) == (b'["x"]', 200)
        assert [r.args for r in old.requests] == [["x"]]
        assert [r.args for r in new.requests] == [["x"]]


async def test_a_timeout_is_one_error_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "HOP_MARGIN", 0.0)
    peer = Peer(Mode.SILENT)
    async with peers(peer), exec_client(lambda _m: peer.url) as client:
        with pytest.raises(ExecFailure) as failure:
            await client.execute("mod-1", "slow", [], 0.05)
        assert failure.value.error_code is ErrorCode.REQUEST_FAILED
        assert "timed out" in failure.value.message
        assert len(peer.requests) == 1
        channel = client.channels.channels[peer.url]
        assert channel.pending == {} and channel.deadlines == {}


async def test_arguments_over_the_record_limit_are_refused_before_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frames, "MAX_RECORD_BYTES", 1024)
    peer = Peer()
    async with peers(peer), exec_client(lambda _m: peer.url) as client:
        with pytest.raises(ExecFailure) as failure:
            await client.execute("mod-1", "echo", ["x" * 2000], 5.0)
        assert failure.value.error_code is ErrorCode.BAD_REQUEST
        assert peer.requests == []
