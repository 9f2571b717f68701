"""Shared pieces of the loopback benchmarks: servers, the client process, statistics, output.

Servers run in the benchmark's own process; clients run in one spawned process, so the client
never takes event-loop time from the server it measures (the reference machine has 2 cores).
Times that cross the process boundary use CLOCK_MONOTONIC, which is system-wide on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import platform
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SYS_ID = "sys-bench"
MODULE_ID = "mod-display"
BENCH_CONFIG: dict[str, Any] = {
    "modules": {MODULE_ID: {"driver": "bench.bench_driver:BenchDisplay"}},
    "systems": {SYS_ID: {"name": "Bench", "modules": [MODULE_ID]}},
}
RAW_PATH = "/ws"
#: Seconds the parent waits for one answer from the client process.
CLIENT_TIMEOUT = 60.0


LOOPS = ("asyncio", "uvloop")


def add_loop_option(parser: argparse.ArgumentParser) -> None:
    """`--loop asyncio|uvloop`: the event loop of the servers (and of the client process)."""
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default="asyncio",
        help="event loop for both servers and the clients (uvloop must be installed)",
    )


def run_main(main: Callable[[argparse.Namespace], Awaitable[int]], options: Any) -> int:
    """Run `main(options)` on the event loop `options.loop` names."""
    return run_on_loop(main(options), getattr(options, "loop", "asyncio"))


def run_on_loop(coro: Awaitable[Any], loop: str) -> Any:
    """Run a coroutine to its end on a new `asyncio` or `uvloop` event loop."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    return asyncio.run(coro)  # type: ignore[arg-type]


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns: comparable between processes on the same machine."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# -- servers ------------------------------------------------------------------------------------


@asynccontextmanager
async def raw_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A bare aiohttp app serving `handler` at RAW_PATH on 127.0.0.1; yields its ws:// URL."""
    app = web.Application()
    app.router.add_get(RAW_PATH, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}{RAW_PATH}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def runtime_server() -> AsyncIterator[Any]:
    """The runtime hosting the sample Display driver in system SYS_ID; yields its handle."""
    from runtime.testing import run_runtime

    async with run_runtime(BENCH_CONFIG, log_level="error") as handle:
        yield handle


# -- a minimal WebSocket client (RFC 6455) -----------------------------------------------------


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
    return header + mask + masked


def upgrade_request(host: str, path: str, headers: dict[str, str]) -> bytes:
    """The HTTP request that opens a WebSocket at `path`."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "\r\n"
    ).encode()


def parse_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete (unmasked, server) frame off the front of `buffer`."""
    frames: list[tuple[int, bytes]] = []
    while len(buffer) >= 2:
        opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(buffer[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < start + size:
            break
        frames.append((opcode, bytes(buffer[start : start + size])))
        del buffer[: start + size]
    return frames


# -- the client process -------------------------------------------------------------------------


class ClientProcess:
    """A spawned process running `target(conn)`; jobs and answers travel over a Pipe."""

    def __init__(self, target: Callable[[Connection], None]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=target, args=(child_conn,), daemon=True)
        self.process.start()
        child_conn.close()

    def send(self, message: Any) -> None:
        self.conn.send(message)

    async def recv(self, timeout: float = CLIENT_TIMEOUT) -> Any:
        """The next message from the client, without blocking the event loop."""
        ready = await asyncio.to_thread(self.conn.poll, timeout)
        if not ready:
            raise TimeoutError(f"client process sent nothing within {timeout:g} s")
        answer = self.conn.recv()
        if isinstance(answer, dict) and "client_error" in answer:
            raise RuntimeError(f"client process failed: {answer['client_error']}")
        return answer

    async def call(self, job: Any, timeout: float = CLIENT_TIMEOUT) -> Any:
        self.send(job)
        return await self.recv(timeout)

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send(None)
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def serve_jobs(conn: Connection, run_job: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
    """Client-process loop: run each job dict received until `None` arrives.

    A job may name its event loop (`"loop"`); the default is asyncio's own.
    """
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            answer = run_on_loop(run_job(job), job.get("loop", "asyncio"))
        except Exception as exc:
            answer = {"client_error": f"{type(exc).__name__}: {exc}"}
        conn.send(answer)


class CpuMeter:
    """CPU time this process used between start() and stop(), in seconds and as a share."""

    def __init__(self) -> None:
        self._cpu = self._wall = 0.0
        self.seconds = 0.0

    def start(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def stop(self) -> float:
        """The share of one core used since start(); also sets `seconds`."""
        wall = time.perf_counter() - self._wall
        self.seconds = time.process_time() - self._cpu
        return self.seconds / wall if wall > 0 else 0.0


# -- statistics and output ----------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo states it (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_environment(loop: str = "asyncio") -> None:
    """What the figures depend on: versions, cores, loop and how busy the machine already is."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    loop_name = loop
    if loop == "uvloop":
        import uvloop

        loop_name = f"uvloop {uvloop.__version__}"
    print(
        f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, loop {loop_name}, "
        f"{os.cpu_count()} cores ({cpu_model()}), load average before start {load}",
        flush=True,
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_header(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}", flush=True)


def print_row(label: str, raw: str, runtime: str, ratio: str, target: str) -> None:
    print(f"{label:<42}{raw:>14}{runtime:>14}{ratio:>9}  {target}", flush=True)
