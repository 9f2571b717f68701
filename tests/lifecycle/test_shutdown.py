"""SIGTERM: stop accepting, let execs finish for the grace, answer the rest, 1001, exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from runtime.testing import ExecError, run_runtime
from tests.support.output import json_objects
from tests.support.serve_process import ServeProcess, start_serve, write_config

from .conftest import OTHER_KEY, USER_KEY, lifecycle_config
from .support import open_raw_websocket_at, read_reply, read_until_closed, send_request

GRACE = 1.0
SHORT, LONG = 0.2, 60.0
#: Execs each of the two connections has in flight at the signal (half short, half long).
EXECS_EACH = 100
#: REST execs in flight at the signal, all longer than the grace.
REST_EXECS = 3
#: Batches of 50 status changes of 20 kB sent before a client that stopped reading is cut off
#: (it is once 32 MiB wait for it: about 35 batches).
MAX_FLOOD_BATCHES = 200
#: Status changes of 20 kB queued for a client that stopped reading (below its 32 MiB cut-off).
STUCK_CHANGES = 600


async def _start_server(
    tmp_path: Path, grace: float = GRACE, *, stubborn: bool = False
) -> ServeProcess:
    marker = tmp_path / "unloaded.txt"
    config = lifecycle_config(shutdown_grace=grace, log_format="json", log_level="info")
    if stubborn:
        config["modules"]["mod-s"] = {"driver": "tests.lifecycle.drivers:Stubborn"}
        config["systems"]["sys-1"]["modules"].append("mod-s")
    for module in config["modules"].values():
        module["settings"] = {"unload_marker": str(marker)}
    return await start_serve(config=write_config(tmp_path / "config.yaml", config))


async def _sigterm_and_wait(served: ServeProcess) -> tuple[int, float]:
    """SIGTERM the server and wait for its exit: its return code and the seconds it took."""
    signalled = time.monotonic()
    served.signal(signal.SIGTERM)
    returncode = await served.wait_exit(GRACE + 10)
    return returncode, time.monotonic() - signalled


async def _kill_if_running(served: ServeProcess) -> None:
    served.kill()
    await served.wait_exit()


def _logged(event: str, **fields: Any) -> Callable[[list[str]], int]:
    """How many of the lines are the JSON log line `event` with these fields."""

    def count(lines: list[str]) -> int:
        return sum(
            1
            for line in json_objects(lines)
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        )

    return count


async def _collect(
    connection: websockets.ClientConnection, pong: asyncio.Event
) -> tuple[list[dict[str, Any]], int]:
    """Every frame until the server closes; returns them and the close code."""
    frames = []
    try:
        async for message in connection:
            if message == "pong":
                pong.set()
            else:
                frames.append(orjson.loads(message))
    except websockets.ConnectionClosed:
        pass
    assert connection.close_code is not None
    return frames, connection.close_code


async def _metric(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(url + "/metrics") as response:
        text = await response.text()
    (value,) = [line.split()[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


async def _rest_execs_in_flight(
    http: aiohttp.ClientSession, url: str, served: ServeProcess
) -> list[asyncio.Task[tuple[int, Any]]]:
    """REST execs running when this returns (the only execs running then)."""

    async def rest_exec() -> tuple[int, Any]:
        path = "/api/engine/v2/systems/sys-1/Worker_2/slow_announced"
        async with http.post(url + path, json=[LONG]) as r:
            return r.status, await r.json()

    tasks = [asyncio.create_task(rest_exec()) for _ in range(REST_EXECS)]
    started = _logged("slow command started", module_id="mod-v")
    await served.stderr.wait_until(lambda lines: started(lines) == REST_EXECS, "REST execs")
    assert await _metric(http, url, "placeos_runtime_execs_in_flight") == REST_EXECS
    return tasks


async def test_sigterm_with_execs_in_flight(tmp_path: Path) -> None:
    served = await _start_server(tmp_path)
    ws_url = served.ws_url
    http = aiohttp.ClientSession(headers={"X-API-Key": USER_KEY})
    try:
        rest_execs = await _rest_execs_in_flight(http, served.url, served)
        clients = [
            await websockets.connect(ws_url, additional_headers={"X-API-Key": USER_KEY})
            for _ in range(2)
        ]
        expected: dict[tuple[int, int], float] = {}
        for number, client in enumerate(clients):
            for request_id in range(1, EXECS_EACH + 1):
                seconds = SHORT if request_id % 2 else LONG
                expected[(number, request_id)] = seconds
                request = {
                    "id": request_id,
                    "cmd": "exec",
                    "sys": "sys-1",
                    "mod": "Worker",
                    "index": 1 + number,
                    "name": "slow",
                    "args": [seconds],
                }
                await client.send(orjson.dumps(request).decode())
            await client.send("ping")
        pongs = [asyncio.Event() for _ in clients]
        collectors = [
            asyncio.create_task(_collect(client, pong))
            for client, pong in zip(clients, pongs, strict=True)
        ]
        # every exec has reached the server once each connection's pong has come back
        await asyncio.wait_for(asyncio.gather(*(pong.wait() for pong in pongs)), 10)
        signalled = time.monotonic()
        served.signal(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*collectors), GRACE + 10)
        returncode = await served.wait_exit(GRACE + 10)
        elapsed = time.monotonic() - signalled
        rest_replies = await asyncio.gather(*rest_execs)
    finally:
        await http.close()
        await _kill_if_running(served)
    log_lines = [json.loads(line) for line in served.stderr.snapshot()]

    assert returncode == 0
    assert elapsed <= GRACE + 1.0, f"exit took {elapsed:.2f} s"
    for number, (frames, close_code) in enumerate(results):
        assert close_code == 1001
        replies = [f for f in frames if f.get("type") in ("success", "error")]
        ids = sorted(f["id"] for f in replies)
        assert ids == list(range(1, EXECS_EACH + 1)), f"each exec gets exactly one reply: {ids}"
        for reply in replies:
            if expected[(number, reply["id"])] == SHORT:
                assert (reply["type"], reply["value"]) == ("success", SHORT)
            else:
                assert (reply["type"], reply["error_code"]) == ("error", 7)
                assert reply["msg"] == "server shutting down"
    for status, body in rest_replies:
        assert status == 503
        assert (body["error"], body["message"]) == ("unexpected failure", "server shutting down")
    unloaded = (tmp_path / "unloaded.txt").read_text(encoding="utf-8").split()
    assert sorted(unloaded) == ["mod-v", "mod-w"]
    closed = [line for line in log_lines if line.get("event") == "connection closed"]
    assert [line["code"] for line in closed] == [1001, 1001]
    assert not [line for line in log_lines if "destroyed" in str(line.get("event"))]


async def test_a_second_signal_ends_the_grace(tmp_path: Path) -> None:
    served = await _start_server(tmp_path, grace=120)
    try:
        headers = {"X-API-Key": USER_KEY}
        async with websockets.connect(served.ws_url, additional_headers=headers) as ws:
            request = {"id": 1, "cmd": "exec", "sys": "sys-1", "mod": "Worker", "name": "slow"}
            await ws.send(orjson.dumps({**request, "args": [LONG]}).decode())
            await ws.send("ping")
            assert await ws.recv() == "pong"
            served.signal(signal.SIGTERM)
            # the first signal has been taken once the server says so
            await served.stderr.wait_for(
                lambda line: "a second signal ends the grace" in line, "the first signal's note"
            )
            served.signal(signal.SIGTERM)
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (reply["id"], reply["error_code"], reply["msg"]) == (
                1,
                7,
                "server shutting down",
            )
        assert await served.wait_exit(10) == 0
    finally:
        await _kill_if_running(served)


async def test_stop_answers_rest_execs_and_reports_not_ready() -> None:
    """In-process shutdown: a REST exec past the grace gets 503 / error 7; /readyz turns 503."""
    async with (
        run_runtime(lifecycle_config()) as rt,
        aiohttp.ClientSession(headers={"X-API-Key": rt.api_key}) as http,
        aiohttp.ClientSession() as probe,
        rt.client() as client,
    ):
        async with probe.get(rt.url + "/readyz") as response:
            assert response.status == 200
        exec_url = rt.url + "/api/engine/v2/systems/sys-1/Worker_1/wait_gate"
        rest_exec = asyncio.create_task(http.post(exec_url, json=[]))
        ws_exec = asyncio.create_task(client.exec("sys-1", "Worker", "wait_gate"))
        arrivals = rt.driver("mod-w").arrivals  # type: ignore[attr-defined]
        await asyncio.wait_for(asyncio.gather(arrivals.get(), arrivals.get()), 10)
        assert rt.runtime.execs.in_flight == 2
        stopping = asyncio.create_task(rt.runtime.stop(grace=0.5))
        await asyncio.sleep(0)
        async with probe.get(rt.url + "/readyz") as response:  # its kept-alive connection
            assert response.status == 503
            assert (await response.json())["ready"] is False
        with pytest.raises(aiohttp.ClientConnectionError):  # no new connections
            await http.get(rt.url + "/healthz")
        with pytest.raises(ExecError) as refused:
            await client.exec("sys-1", "Worker", "slow", [0])
        assert (refused.value.error_code, refused.value.msg) == (7, "server shutting down")
        with pytest.raises(ExecError) as abandoned:
            await ws_exec
        assert (abandoned.value.error_code, abandoned.value.msg) == (7, "server shutting down")
        response = await rest_exec
        assert response.status == 503
        body = await response.json()
        assert (body["error"], body["message"]) == ("unexpected failure", "server shutting down")
        response.release()
        await stopping


async def test_sigterm_after_a_cut_off_client_read_again(tmp_path: Path) -> None:
    """A client cut off (1008) for not reading that then reads again leaves nothing waiting:
    the exec it left running is cancelled at the grace and the process exits in time."""
    served = await _start_server(tmp_path)
    ws_url, url = served.ws_url, served.url
    http = aiohttp.ClientSession(headers={"X-API-Key": USER_KEY})
    sock = await asyncio.to_thread(open_raw_websocket_at, url, USER_KEY)
    try:
        send_request(sock, id=1, cmd="bind", sys="sys-1", mod="Worker", name="a")
        send_request(sock, id=2, cmd="debug", sys="sys-1", mod="mod-w", name="x")
        send_request(sock, id=3, cmd="exec", sys="sys-1", mod="Worker", name="slow", args=[LONG])
        send_request(sock, id=4, cmd="bind", sys="sys-1", mod="Worker", name="b")
        assert (await asyncio.to_thread(read_reply, sock, 4))["type"] == "success"
        async with websockets.connect(ws_url, additional_headers={"X-API-Key": OTHER_KEY}) as ws:
            cutoffs = "placeos_runtime_slow_client_cutoffs_total"
            for batch in range(MAX_FLOOD_BATCHES):
                for n in range(batch * 50, (batch + 1) * 50):
                    request = {"id": n, "cmd": "exec", "sys": "sys-1", "mod": "Worker"}
                    args = ["a", [n, "x" * 20_000]]
                    await ws.send(orjson.dumps({**request, "name": "set_status", "args": args}))
                while orjson.loads(await ws.recv())["id"] != n:
                    pass
                if await _metric(http, url, cutoffs) == 1:
                    break
            else:
                pytest.fail("the client that stopped reading was never cut off")
        assert await _metric(http, url, "placeos_runtime_bindings") == 0
        assert await _metric(http, url, "placeos_runtime_debug_streams") == 0
        code = await asyncio.to_thread(read_until_closed, sock)  # the client reads again
        assert code in (1008, None)
        # the other client's connection is over once the server says so (the cut-off one left
        # the count at the cut-off)
        other_closed = _logged("connection closed", principal="panel", code=1000)
        await served.stderr.wait_until(other_closed, "the other client's close")
        assert await _metric(http, url, "placeos_runtime_connections") == 0
        assert await _metric(http, url, "placeos_runtime_execs_in_flight") == 1
        returncode, elapsed = await _sigterm_and_wait(served)
    finally:
        sock.close()
        await http.close()
        await _kill_if_running(served)
    assert returncode == 0
    assert elapsed <= GRACE + 1.0, f"exit took {elapsed:.2f} s"
    log_lines = [json.loads(line) for line in served.stderr.snapshot()]
    closed = [line for line in log_lines if line.get("event") == "connection closed"]
    assert sorted(line["code"] for line in closed) == [1000, 1008]


async def test_sigterm_with_a_client_that_stopped_reading(tmp_path: Path) -> None:
    """Frames waiting for a client that does not read do not hold the exit past the bound."""
    served = await _start_server(tmp_path)
    ws_url, url = served.ws_url, served.url
    http = aiohttp.ClientSession(headers={"X-API-Key": USER_KEY})
    sock = await asyncio.to_thread(open_raw_websocket_at, url, USER_KEY)
    try:
        send_request(sock, id=1, cmd="bind", sys="sys-1", mod="Worker", name="a")
        send_request(sock, id=2, cmd="exec", sys="sys-1", mod="Worker", name="slow", args=[LONG])
        assert (await asyncio.to_thread(read_reply, sock, 1))["type"] == "success"
        async with websockets.connect(ws_url, additional_headers={"X-API-Key": OTHER_KEY}) as ws:
            for n in range(STUCK_CHANGES):  # several MiB, below the per-connection cut-off
                request = {"id": n, "cmd": "exec", "sys": "sys-1", "mod": "Worker"}
                args = ["a", [n, "x" * 20_000]]
                await ws.send(orjson.dumps({**request, "name": "set_status", "args": args}))
            await ws.send("ping")
            while await ws.recv() != "pong":
                pass
        assert await _metric(http, url, "placeos_runtime_pending_output_bytes") > 0
        assert await _metric(http, url, "placeos_runtime_slow_client_cutoffs_total") == 0
        returncode, elapsed = await _sigterm_and_wait(served)
    finally:
        sock.close()
        await http.close()
        await _kill_if_running(served)
    assert returncode == 0
    assert elapsed <= GRACE + 1.0, f"exit took {elapsed:.2f} s"


async def test_sigterm_with_a_command_that_ignores_cancellation(tmp_path: Path) -> None:
    """A careless driver's command that swallows every cancellation gets its one reply and
    does not keep the process alive."""
    served = await _start_server(tmp_path, stubborn=True)
    try:
        headers = {"X-API-Key": USER_KEY}
        async with websockets.connect(served.ws_url, additional_headers=headers) as ws:
            request = {"id": 1, "cmd": "exec", "sys": "sys-1", "mod": "Stubborn"}
            await ws.send(orjson.dumps({**request, "name": "ignore_cancel"}).decode())
            await ws.send("ping")
            assert await ws.recv() == "pong"
            served.signal(signal.SIGTERM)
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), GRACE + 10))
            assert (reply["id"], reply["error_code"], reply["msg"]) == (
                1,
                7,
                "server shutting down",
            )
        assert await served.wait_exit(GRACE + 10) == 0
    finally:
        await _kill_if_running(served)
    log_lines = [json.loads(line) for line in served.stderr.snapshot()]
    assert "tasks ignored cancellation; exiting without them" in [
        line["event"] for line in log_lines
    ]
