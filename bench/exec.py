"""Exec throughput and latency of the runtime against a raw aiohttp WebSocket echo baseline.

    python bench/exec.py [--duration 2] [--connections 50] [--depth 32] [--repeat 2]
                         [--loop asyncio|uvloop] [--commands sync,async,io]

Both servers run in this process on loopback; the clients (aiohttp, identical for both) run in one
spawned process. The raw server JSON-decodes each request and answers with the same reply frame
the runtime sends (orjson both ways), so the difference is the runtime's own work: parsing and
validating the request, resolving the module, checking the function and its arguments, running
the driver method and queueing the reply. The same command runs in three shapes: `sync` (a plain
method), `async` (a coroutine that finishes without suspending) and `io` (a coroutine that
suspends once, as one awaiting a device does; reported). Targets: sync throughput >= 85 % of raw,
async >= 70 % (on 1 and on N connections), round trip p50 <= 1.3x raw for both; the exit status
is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
from _common import (
    SYS_ID,
    ClientProcess,
    CpuMeter,
    add_loop_option,
    percentile,
    print_environment,
    print_header,
    print_row,
    raw_server,
    run_main,
    runtime_server,
    serve_jobs,
    verdict,
)
from aiohttp import WSMsgType, web

MAX_MSG = 4 * 1024 * 1024
LATENCY_WARMUP_REQUESTS = 300
LATENCY_MAX_SAMPLES = 20_000
DRAIN_TIMEOUT = 10.0
#: The runtime's keep-alive text frame (every 80 s), which is no reply.
UNSOLICITED_PONG = "pong"


#: The driver method each command shape calls (bench/bench_driver.py).
METHODS = {"sync": "power", "async": "power_async", "io": "power_io"}
#: Throughput share of raw and p50 ratio each shape must reach (None: reported only).
TARGETS: dict[str, tuple[float, float] | None] = {
    "sync": (0.85, 1.3),
    "async": (0.70, 1.3),
    "io": None,
}


def request_text(request_id: int, method: str = "power") -> str:
    """The exec request both servers receive (a driver method with one bool argument)."""
    return (
        f'{{"id":{request_id},"cmd":"exec","sys":"{SYS_ID}","mod":"Display","index":1,'
        f'"name":"{method}","args":[true]}}'
    )


# -- the raw baseline server --------------------------------------------------------------------


async def raw_echo(request: web.Request) -> web.WebSocketResponse:
    """Decode each request with orjson and send back the reply frame the runtime would send."""
    ws = web.WebSocketResponse(max_msg_size=MAX_MSG, autoping=True, heartbeat=None)
    await ws.prepare(request)
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        req = orjson.loads(message.data)
        args = req.get("args") or [None]
        reply = {
            "id": req["id"],
            "type": "success",
            "value": args[0],
            "meta": {
                "sys": req["sys"],
                "mod": req["mod"],
                "index": req["index"],
                "name": req["name"],
            },
            "code": 200,
        }
        await ws.send_frame(orjson.dumps(reply), WSMsgType.TEXT)
    return ws


# -- the client process -------------------------------------------------------------------------


@dataclass
class Window:
    """Shared state of one throughput run: the measuring window and what it counted."""

    measuring: bool = False
    stopping: bool = False
    replies: int = 0  # inside the window
    total: int = 0  # from connect to close
    errors: int = 0


async def _pipeline(
    ws: aiohttp.ClientWebSocketResponse, depth: int, window: Window, method: str
) -> None:
    ids = itertools.count(1)
    for _ in range(depth):
        await ws.send_str(request_text(next(ids), method))
    outstanding = depth
    while outstanding:
        message = await ws.receive()
        if message.type is not WSMsgType.TEXT:
            raise ConnectionError(f"connection ended with {outstanding} replies outstanding")
        if message.data == UNSOLICITED_PONG:
            continue
        outstanding -= 1
        window.total += 1
        if orjson.loads(message.data)["type"] != "success":
            window.errors += 1
        if window.measuring:
            window.replies += 1
        if not window.stopping:
            await ws.send_str(request_text(next(ids), method))
            outstanding += 1


async def _throughput(job: dict[str, Any]) -> dict[str, Any]:
    window, cpu = Window(), CpuMeter()
    elapsed = 0.0

    async def clock() -> None:
        nonlocal elapsed
        await asyncio.sleep(job["warmup"])
        window.measuring = True
        cpu.start()
        started = time.perf_counter()
        await asyncio.sleep(job["duration"])
        window.measuring, window.stopping = False, True
        elapsed = time.perf_counter() - started

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = await asyncio.gather(
            *(
                http.ws_connect(job["url"], headers=job["headers"], max_msg_size=MAX_MSG)
                for _ in range(job["connections"])
            )
        )
        try:
            clock_task = asyncio.create_task(clock())
            pipelines = asyncio.gather(
                *(_pipeline(ws, job["depth"], window, job["method"]) for ws in sockets)
            )
            await asyncio.wait_for(pipelines, job["warmup"] + job["duration"] + DRAIN_TIMEOUT)
            await clock_task
            client_cpu = cpu.stop()
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
    return {
        "rate": window.replies / elapsed,
        "total": window.total,
        "errors": window.errors,
        "client_cpu": client_cpu,
    }


async def _latency(job: dict[str, Any]) -> dict[str, Any]:
    samples: list[float] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(job["url"], headers=job["headers"], max_msg_size=MAX_MSG) as ws,
    ):
        deadline = None
        for number in itertools.count(1):
            text = request_text(number, job["method"])
            sent = time.perf_counter_ns()
            await ws.send_str(text)
            message = await ws.receive()
            while message.type is WSMsgType.TEXT and message.data == UNSOLICITED_PONG:
                message = await ws.receive()
            took = time.perf_counter_ns() - sent
            if message.type is not WSMsgType.TEXT or orjson.loads(message.data)["id"] != number:
                raise ConnectionError(f"unexpected reply to request {number}: {message.data!r}")
            if number == LATENCY_WARMUP_REQUESTS:
                deadline = time.perf_counter() + job["duration"]
            elif deadline is not None:
                samples.append(took / 1000)
                if time.perf_counter() > deadline or len(samples) >= LATENCY_MAX_SAMPLES:
                    break
    samples.sort()
    return {"p50": percentile(samples, 0.50), "p99": percentile(samples, 0.99), "n": len(samples)}


async def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    return await (_latency(job) if job["kind"] == "latency" else _throughput(job))


def client_main(conn: Connection) -> None:
    serve_jobs(conn, _run_job)


# -- orchestration ------------------------------------------------------------------------------


async def _measure(client: ClientProcess, job: dict[str, Any]) -> dict[str, Any]:
    server_cpu = CpuMeter()
    server_cpu.start()
    result: dict[str, Any] = await client.call(job)
    result["server_cpu"] = server_cpu.stop()
    if "total" in result:
        result["server_us"] = server_cpu.seconds / result["total"] * 1e6
    return result


def _best(results: list[dict[str, Any]], key: str, highest: bool) -> dict[str, Any]:
    return (max if highest else min)(results, key=lambda r: r[key])


async def main(options: argparse.Namespace) -> int:
    print_environment(options.loop)
    client = ClientProcess(client_main)
    shapes = options.commands.split(",")
    try:
        async with raw_server(raw_echo) as raw_url, runtime_server() as rt:
            targets = {
                "raw": (raw_url, {}),
                "runtime": (rt.ws_url, {"X-API-Key": rt.api_key}),
            }
            phases: dict[str, dict[str, Any]] = {
                "tput1": {"kind": "throughput", "connections": 1},
                "tputN": {"kind": "throughput", "connections": options.connections},
                "latency": {"kind": "latency"},
            }
            common = {
                "depth": options.depth,
                "warmup": options.warmup,
                "duration": options.duration,
                "loop": options.loop,
            }
            found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for attempt in range(1, options.repeat + 1):
                for phase, spec in phases.items():
                    for shape in shapes:
                        for name, (url, headers) in targets.items():
                            job = {
                                **common,
                                **spec,
                                "url": url,
                                "headers": headers,
                                "method": METHODS[shape],
                            }
                            result = await _measure(client, job)
                            found.setdefault((phase, shape, name), []).append(result)
                            print(
                                f"  run {attempt} {phase:<7} {shape:<5} {name:<8} "
                                f"{_describe(result)}",
                                flush=True,
                            )
    finally:
        client.stop()
    return _report(found, shapes, options)


def _describe(result: dict[str, Any]) -> str:
    cpu = f"server cpu {result['server_cpu']:.0%}"
    if "rate" in result:
        return (
            f"{result['rate']:>10,.0f} exec/s  {cpu} ({result['server_us']:.1f} us/exec)"
            f"  client cpu {result['client_cpu']:.0%}  errors {result['errors']}"
        )
    return f"p50 {result['p50']:7.1f} us  p99 {result['p99']:7.1f} us  n={result['n']}  {cpu}"


def _report(
    found: dict[tuple[str, str, str], list[dict[str, Any]]],
    shapes: list[str],
    options: argparse.Namespace,
) -> int:
    misses = 0
    print_header(
        f"Exec on loopback, {options.loop} loop, best of {options.repeat} "
        f"(pipelined depth {options.depth}, {options.duration:g} s windows)"
    )
    print_row("", "raw aiohttp", "runtime", "ratio", "target")
    for shape in shapes:
        target = TARGETS[shape]
        for phase, label in (("tput1", "1 conn"), ("tputN", f"{options.connections} conns")):
            raw = _best(found[(phase, shape, "raw")], "rate", highest=True)
            run = _best(found[(phase, shape, "runtime")], "rate", highest=True)
            ratio = run["rate"] / raw["rate"]
            if target is None:
                note = "(reported)"
            else:
                ok = ratio >= target[0] and run["errors"] == 0
                misses += not ok
                note = f">= {target[0]:.0%}  {verdict(ok)}"
            print_row(
                f"{shape} exec/s, {label}",
                f"{raw['rate']:,.0f}",
                f"{run['rate']:,.0f}",
                f"{ratio:.0%}",
                note,
            )
        raw_lat = _best(found[("latency", shape, "raw")], "p50", highest=False)
        run_lat = _best(found[("latency", shape, "runtime")], "p50", highest=False)
        ratio = run_lat["p50"] / raw_lat["p50"]
        if target is None:
            note = "(reported)"
        else:
            misses += ratio > target[1]
            note = f"<= {target[1]:g}x  {verdict(ratio <= target[1])}"
        print_row(
            f"{shape} round trip p50 (us)",
            f"{raw_lat['p50']:.1f}",
            f"{run_lat['p50']:.1f}",
            f"{ratio:.2f}x",
            note,
        )
        print_row(
            f"{shape} round trip p99 (us)",
            f"{raw_lat['p99']:.1f}",
            f"{run_lat['p99']:.1f}",
            f"{run_lat['p99'] / raw_lat['p99']:.2f}x",
            "(reported)",
        )
        raw = _best(found[("tputN", shape, "raw")], "rate", highest=True)
        run = _best(found[("tputN", shape, "runtime")], "rate", highest=True)
        print_row(
            f"{shape} server CPU per exec (us)",
            f"{raw['server_us']:.1f}",
            f"{run['server_us']:.1f}",
            f"{run['server_us'] / raw['server_us']:.2f}x",
            "(reported)",
        )
    print(
        "\nServer CPU per exec does not depend on what else the machine runs; throughput does."
        "\nA client cpu near 100 % means the client process, not the server, set that figure.",
        flush=True,
    )
    return 1 if misses else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--depth", type=int, default=32, help="requests in flight per connection")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best counts")
    parser.add_argument(
        "--commands", default="sync,async,io", help="command shapes to run, comma-separated"
    )
    add_loop_option(parser)
    options = parser.parse_args(argv)
    unknown = set(options.commands.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown command shape(s): {', '.join(sorted(unknown))}")
    return options


if __name__ == "__main__":
    raise SystemExit(run_main(main, parse_args()))
