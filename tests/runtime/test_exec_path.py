"""The exec hot path: argument fast path, the shared exec-timeout timer, pipelined replies."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets

from runtime import Driver
from runtime.deadlines import Deadlines
from runtime.interface import ArgumentError, interface_of
from runtime.server import CONTROL_PATH
from runtime.testing import RuntimeHandle


class Shapes(Driver):
    def plain(self, level: int, label: str = "d") -> Any:
        return [level, label]

    def positional_only(self, first: float, /, second: Any = None) -> Any:
        return [first, second]

    def keyword_only(self, name: str, *, flag: bool = False) -> Any:
        return [name, flag]

    def keyword_name(self, from_: str, to: str = "x") -> Any:
        return [from_, to]

    def nothing(self) -> Any:
        return "none"


ARGS: list[Any] = [
    [],
    [1],
    [1, "a"],
    [1, "a", "extra"],
    ["7"],
    [True],
    [2.5],
    [None],
    {"level": 3},
    {"level": 3, "label": "b"},
    {"first": 1.5},
    {"from": "me"},
    {"name": "n", "flag": True},
    {"nope": 1},
]


def _outcome(function: Any, instance: Any, make_args: Any) -> Any:
    try:
        positional, named = make_args()
    except ArgumentError as exc:
        return ("error", str(exc))
    return ("ok", function(instance, *positional, **named))


@pytest.mark.parametrize("method", ["plain", "positional_only", "keyword_only", "keyword_name"])
@pytest.mark.parametrize("args", ARGS, ids=repr)
def test_call_arguments_calls_exactly_as_bind_does(method: str, args: Any) -> None:
    command = interface_of(Shapes, Driver).commands[method]
    instance = Shapes.__new__(Shapes)
    fast = _outcome(command.function, instance, lambda: command.call_arguments(args))
    slow = _outcome(command.function, instance, lambda: command.bind(args))
    assert fast == slow


def test_argument_errors_still_name_the_parameter() -> None:
    command = interface_of(Shapes, Driver).commands["plain"]
    with pytest.raises(ArgumentError, match="invalid argument 'level' for 'plain'"):
        command.call_arguments(["not a number"])
    with pytest.raises(ArgumentError, match="missing argument 'level' for 'plain'"):
        command.call_arguments([])
    with pytest.raises(ArgumentError, match=r"wrong number of arguments for 'plain' \(given 3"):
        command.call_arguments([1, "a", "b"])


async def test_deadlines_cancel_only_what_outlives_its_timeout() -> None:
    deadlines = Deadlines()
    ended = asyncio.Event()

    async def wait_forever() -> None:
        await asyncio.Event().wait()

    async def quick() -> None:
        await ended.wait()

    # registered first, ended early: the timer re-arms for the ones behind it
    first = asyncio.create_task(quick())
    stuck = [asyncio.create_task(wait_forever()) for _ in range(3)]
    other_length = asyncio.create_task(wait_forever())
    deadlines.add(first, 0.05)  # type: ignore[arg-type]
    for task in stuck:
        deadlines.add(task, 0.05)  # type: ignore[arg-type]
    deadlines.add(other_length, 30.0)  # type: ignore[arg-type]
    ended.set()
    await first
    assert deadlines.remove(first, 0.05) is False  # type: ignore[arg-type]
    for task in stuck:
        with pytest.raises(asyncio.CancelledError):
            await task
        assert deadlines.remove(task, 0.05) is True  # type: ignore[arg-type]
    assert not other_length.done()
    assert deadlines.remove(other_length, 30.0) is False  # type: ignore[arg-type]
    other_length.cancel()
    deadlines.close()


async def test_many_hanging_execs_each_time_out_with_the_exec_timeout_error(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        hanging = [
            asyncio.create_task(client.request(_exec(1000 + n, "hang", [], index=2)))
            for n in range(1, 21)
        ]
        assert await client.exec("sys-1", "Display", "power", [True], index=2) is True
        replies = await asyncio.gather(*hanging)
    for reply in replies:
        assert (reply["type"], reply["error_code"]) == ("error", 3)
        assert reply["msg"] == "module raised: hang timed out after 0.3 s (TimeoutError)"


def _exec(request_id: int, name: str, args: list[Any], index: int = 1) -> dict[str, Any]:
    return {
        "id": request_id,
        "cmd": "exec",
        "sys": "sys-1",
        "mod": "Display",
        "index": index,
        "name": name,
        "args": args,
    }


async def test_pipelined_sync_and_async_execs_each_get_one_reply(rt: RuntimeHandle) -> None:
    url = rt.url.replace("http", "ws", 1) + CONTROL_PATH
    count = 400
    async with websockets.connect(url, additional_headers={"X-API-Key": rt.api_key}) as ws:
        for number in range(1, count + 1):
            if number % 2:
                await ws.send(orjson.dumps(_exec(number, "power", [number % 4 == 1])).decode())
            else:
                await ws.send(orjson.dumps(_exec(number, "volume", [number])).decode())
        replies = [orjson.loads(await ws.recv()) for _ in range(count)]
    assert sorted(reply["id"] for reply in replies) == list(range(1, count + 1))
    for reply in replies:
        number = reply["id"]
        expected = number % 4 == 1 if number % 2 else {"level": number, "index": 0}
        assert (reply["type"], reply["value"]) == ("success", expected)
    sync_ids = [reply["id"] for reply in replies if reply["id"] % 2]
    assert sync_ids == sorted(sync_ids), "sync replies keep the order of their requests"


def _read_text_frames(sock: Any, count: int) -> list[bytes]:
    """Read `count` server text frames from a blocking socket (skipping the bind reply)."""
    buffer = bytearray()
    frames: list[bytes] = []
    while len(frames) < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        buffer += chunk
        while len(buffer) >= 2:
            size, start = buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                break
            frames.append(bytes(buffer[start : start + size]))
            del buffer[: start + size]
    return frames


async def test_a_client_that_falls_behind_and_catches_up_gets_every_frame_in_order(
    rt: RuntimeHandle,
) -> None:
    from tests.runtime.test_limits import _masked_text_frame, _open_silent_websocket

    host, port = rt.url.removeprefix("http://").split(":")
    sock = await asyncio.to_thread(_open_silent_websocket, host, int(port), rt.api_key)
    try:
        bind = b'{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","name":"seq"}'
        sock.sendall(_masked_text_frame(bind))
        assert orjson.loads((await asyncio.to_thread(_read_text_frames, sock, 1))[0])["id"] == 1
        driver = rt.driver("mod-1")
        filler = "x" * 40_000
        for number in range(300):  # 12 MB while the client reads nothing: the queue fills
            driver["seq"] = [number, filler]
            if number % 10 == 0:
                await asyncio.sleep(0)
        (session,) = rt.runtime.sessions
        assert session.writer is not None, "the queue and its writer took over"
        reading = asyncio.create_task(asyncio.to_thread(_read_text_frames, sock, 300))
        frames = await reading
        driver["seq"] = [300, "caught up"]
        frames += await asyncio.to_thread(_read_text_frames, sock, 1)
    finally:
        sock.close()
    values = [orjson.loads(frame)["value"][0] for frame in frames]
    assert values == list(range(301))
