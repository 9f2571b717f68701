"""Load: many connections pipelining async execs, memory per idle connection, stuck readers.

    python bench/load.py [--connections 1000] [--execs 100] [--processes 4]
                         [--command echo_io|echo] [--stuck 10] [--loop asyncio|uvloop]

The runtime runs in this process; the clients run in `--processes` spawned processes, each an
asyncio Protocol per connection (no per-connection task), and each connection has an API key of
its own, as separate users would. Three phases:

1. Idle memory: every connection is opened and authenticated; the server's RSS growth divided by
   the number of connections is the memory per idle authenticated connection (target <= 16 KiB).
2. Exec load: every connection sends `--execs` exec requests at once (pipelined) and waits for
   their replies. Each request carries a token naming its process, connection and sequence
   number, which the command returns; a reply with an unknown or repeated id is a duplicate, a
   reply whose value is another request's token is misrouted, a request without a reply by the
   deadline is lost. Target: every reply, none lost, duplicated or misrouted; p50 / p99 of the
   time from sending a request to its reply are reported.
3. Stuck readers: `--stuck` clients bind a status and stop reading (small receive buffers) while
   the driver publishes 20 kB values; the server's peak RSS growth is reported with how many of
   them were cut off. Each connection is bounded on its own (runtime.session.MAX_PENDING_BYTES);
   a process-wide budget bounds the sum where the runtime has one.

The exit status is 1 when a reply is missing or wrong, or the idle-memory target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from _common import (
    MODULE_ID,
    SYS_ID,
    ClientProcess,
    CpuMeter,
    add_loop_option,
    client_frame,
    parse_frames,
    percentile,
    print_environment,
    print_header,
    raise_open_file_limit,
    run_main,
    run_on_loop,
    upgrade_request,
    verdict,
)

CONNECT_CONCURRENCY = 64
#: Seconds the exec phase may take before unanswered requests count as lost.
REPLY_DEADLINE = 120.0
IDLE_TARGET_KIB = 16.0
STUCK_VALUE_BYTES = 20_000
STUCK_RCVBUF = 4096
#: How often (in published values) the stuck phase samples RSS and the open sessions.
STUCK_SAMPLE_EVERY = 25


def rss_kib() -> int:
    """This process's resident set size in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss_kib() -> int:
    gc.collect()
    return rss_kib()


def load_config(keys: list[str]) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [{"key": key, "name": f"load {n}"} for n, key in enumerate(keys)]},
        "modules": {MODULE_ID: {"driver": "bench.bench_driver:BenchDisplay"}},
        "systems": {SYS_ID: {"name": "Load", "modules": [MODULE_ID]}},
    }


# -- the client processes -----------------------------------------------------------------------


class Stats:
    """What one client process saw in the exec phase."""

    def __init__(self) -> None:
        self.latencies_us: list[float] = []
        self.duplicated = 0
        self.misrouted = 0
        self.errors = 0


class LoadClient:
    """One connection as an asyncio Protocol: upgrade, then pipelined execs checked on return."""

    def __init__(self, url: str, key: str, tag: str, stats: Stats) -> None:
        parts = urlsplit(url)
        host = f"{parts.hostname}:{parts.port}"
        self.request = upgrade_request(host, parts.path, {"X-API-Key": key})
        self.tag = tag
        self.stats = stats
        self.buffer = bytearray()
        self.upgraded = False
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.outstanding: dict[int, tuple[str, int]] = {}
        self.transport: asyncio.Transport | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.ready, self.done):
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self.ready.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded = True
            self.ready.set_result(None)
        for opcode, payload in parse_frames(buffer):
            if opcode == 0x1:
                self._reply(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(client_frame(payload, 0xA))

    def send_execs(self, count: int, command: str) -> None:
        """Send `count` exec requests in one write."""
        frames = []
        sent = time.perf_counter_ns()
        for number in range(1, count + 1):
            token = f"{self.tag}-{number}"
            self.outstanding[number] = (token, sent)
            request = {
                "id": number,
                "cmd": "exec",
                "sys": SYS_ID,
                "mod": "Display",
                "name": command,
                "args": [token],
            }
            frames.append(client_frame(orjson.dumps(request)))
        assert self.transport is not None
        self.transport.write(b"".join(frames))

    def _reply(self, payload: bytes) -> None:
        if payload == b"pong":
            return
        now = time.perf_counter_ns()
        reply = orjson.loads(payload)
        entry = self.outstanding.pop(reply.get("id"), None)
        if entry is None:
            self.stats.duplicated += 1
            return
        token, sent = entry
        if reply.get("type") != "success":
            self.stats.errors += 1
        elif reply.get("value") != token:
            self.stats.misrouted += 1
        self.stats.latencies_us.append((now - sent) / 1000)
        if not self.outstanding and not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(client_frame(b"\x03\xe8", 0x8))
            self.transport.close()


async def _connect(job: dict[str, Any], key: str, tag: str, stats: Stats, limit: Any) -> Any:
    parts = urlsplit(job["url"])
    async with limit:
        _, client = await asyncio.get_running_loop().create_connection(
            lambda: LoadClient(job["url"], key, tag, stats), parts.hostname, parts.port
        )
        await asyncio.wait_for(client.ready, 30)
    return client


async def _load_session(conn: Connection, job: dict[str, Any]) -> None:
    stats = Stats()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients = await asyncio.gather(
        *(
            _connect(job, key, f"p{job['process']}c{n}", stats, limit)
            for n, key in enumerate(job["keys"])
        )
    )
    conn.send(("ready", len(clients)))
    await asyncio.to_thread(conn.recv)  # go
    for client in clients:
        client.send_execs(job["execs"], job["command"])
    pending = [client.done for client in clients]
    _, not_done = await asyncio.wait(pending, timeout=REPLY_DEADLINE)
    lost = sum(len(client.outstanding) for client in clients)
    conn.send(
        (
            "done",
            {
                "latencies": stats.latencies_us,
                "duplicated": stats.duplicated,
                "misrouted": stats.misrouted,
                "errors": stats.errors,
                "lost": lost,
                "unfinished": len(not_done),
            },
        )
    )
    await asyncio.to_thread(conn.recv)  # close
    for client in clients:
        client.close()
    conn.send(("closed", len(clients)))


def _silent_socket(host: str, port: int, path: str, key: str) -> socket.socket:
    """A WebSocket that binds `big` and then never reads (small receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STUCK_RCVBUF)
    sock.connect((host, port))
    sock.sendall(upgrade_request(f"{host}:{port}", path, {"X-API-Key": key}))
    response = sock.recv(1024)
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response[:80].decode(errors="replace"))
    bind = {"id": 1, "cmd": "bind", "sys": SYS_ID, "mod": "Display", "name": "big"}
    sock.sendall(client_frame(orjson.dumps(bind)))
    return sock


async def _stuck_session(conn: Connection, job: dict[str, Any]) -> None:
    parts = urlsplit(job["url"])
    assert parts.hostname is not None and parts.port is not None
    sockets = [_silent_socket(parts.hostname, parts.port, parts.path, key) for key in job["keys"]]
    conn.send(("ready", len(sockets)))
    await asyncio.to_thread(conn.recv)  # close
    for sock in sockets:
        sock.close()
    conn.send(("closed", len(sockets)))


def client_main(conn: Connection) -> None:
    raise_open_file_limit(8192)
    while True:
        job = conn.recv()
        if job is None:
            return
        session = _stuck_session if job["kind"] == "stuck" else _load_session
        try:
            run_on_loop(session(conn, job), job.get("loop", "asyncio"))
        except Exception as exc:
            conn.send({"client_error": f"{type(exc).__name__}: {exc}"})


# -- orchestration ------------------------------------------------------------------------------


async def _expect(client: ClientProcess, kind: str, timeout: float = 120.0) -> Any:
    answer = await client.recv(timeout)
    if answer[0] != kind:
        raise RuntimeError(f"expected {kind!r} from a client process, got {answer!r}")
    return answer[1]


async def _wait_for_sessions(rt: Any, count: int, *, opening: bool = True) -> None:
    """Wait until at least (`opening`) or at most `count` sessions are open."""
    for _ in range(3000):
        open_now = len(rt.runtime.sessions)
        if open_now >= count if opening else open_now <= count:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError(f"{len(rt.runtime.sessions)} sessions open, waited for {count}")


async def _load_phases(rt: Any, keys: list[str], options: argparse.Namespace) -> dict[str, Any]:
    clients = [ClientProcess(client_main) for _ in range(options.processes)]
    results: dict[str, Any] = {}
    try:
        baseline = settled_rss_kib()
        shares = [keys[n :: options.processes] for n in range(options.processes)]
        for number, (client, share) in enumerate(zip(clients, shares, strict=True)):
            client.send(
                {
                    "kind": "load",
                    "process": number,
                    "url": rt.ws_url,
                    "keys": share,
                    "execs": options.execs,
                    "command": options.command,
                    "loop": options.loop,
                }
            )
        opened = sum([await _expect(client, "ready") for client in clients])
        await _wait_for_sessions(rt, opened)
        await asyncio.sleep(0.2)
        idle = settled_rss_kib()
        results["idle_kib_per_connection"] = (idle - baseline) / opened
        results["idle_connections"] = opened
        results["baseline_rss_kib"] = baseline

        cpu = CpuMeter()
        cpu.start()
        started = time.perf_counter()
        for client in clients:
            client.send("go")
        found = [await _expect(client, "done", REPLY_DEADLINE + 30) for client in clients]
        elapsed = time.perf_counter() - started
        cpu.stop()
        latencies = sorted(x for part in found for x in part["latencies"])
        for key in ("duplicated", "misrouted", "errors", "lost", "unfinished"):
            results[key] = sum(part[key] for part in found)
        results["replies"] = len(latencies)
        results["expected"] = opened * options.execs
        results["elapsed"] = elapsed
        results["p50_ms"] = percentile(latencies, 0.50) / 1000
        results["p99_ms"] = percentile(latencies, 0.99) / 1000
        results["server_us_per_exec"] = cpu.seconds / max(1, len(latencies)) * 1e6
        results["peak_rss_kib"] = rss_kib()
        for client in clients:
            client.send("close")
        for client in clients:
            await _expect(client, "closed")
    finally:
        for client in clients:
            client.stop()
    return results


async def _stuck_phase(rt: Any, keys: list[str], options: argparse.Namespace) -> dict[str, Any]:
    driver = rt.driver(MODULE_ID)
    client = ClientProcess(client_main)
    try:
        await _wait_for_sessions(rt, 0, opening=False)
        before = 0
        client.send({"kind": "stuck", "url": rt.ws_url, "keys": keys, "loop": options.loop})
        stuck = await _expect(client, "ready")
        store = rt.runtime.store
        for _ in range(2000):
            if store.subscriber_count(MODULE_ID, "big") >= stuck:
                break
            await asyncio.sleep(0.01)
        baseline = settled_rss_kib()
        peak = baseline
        filler = "x" * STUCK_VALUE_BYTES
        published = 0
        for published in range(1, options.stuck_values + 1):
            driver["big"] = [published, filler]
            await asyncio.sleep(0)
            if published % STUCK_SAMPLE_EVERY == 0:
                peak = max(peak, rss_kib())
                if len(rt.runtime.sessions) <= before:
                    break
        for _ in range(300):  # cut-off clients lose their transport within the close timeout
            if len(rt.runtime.sessions) <= before:
                break
            await asyncio.sleep(0.01)
        cut_off = stuck - (len(rt.runtime.sessions) - before)
        client.send("close")
        await _expect(client, "closed")
    finally:
        client.stop()
    return {
        "stuck": stuck,
        "published": published,
        "cut_off": cut_off,
        "peak_growth_kib": peak - baseline,
    }


async def main(options: argparse.Namespace) -> int:
    print_environment(options.loop)
    raise_open_file_limit(options.connections + options.stuck + 1024)
    from runtime.testing import run_runtime

    keys = [f"load-key-{n:06d}" for n in range(options.connections + options.stuck)]
    async with run_runtime(load_config(keys), log_level="error") as rt:
        load = await _load_phases(rt, keys[: options.connections], options)
        stuck = (
            await _stuck_phase(rt, keys[options.connections :], options) if options.stuck else None
        )
    return _report(load, stuck, options)


def _report(load: dict[str, Any], stuck: dict[str, Any] | None, options: argparse.Namespace) -> int:
    correct = load["replies"] == load["expected"] and not any(
        load[key] for key in ("duplicated", "misrouted", "errors", "lost")
    )
    idle_ok = load["idle_kib_per_connection"] <= IDLE_TARGET_KIB
    print_header(
        f"Load: {load['idle_connections']} connections x {options.execs} pipelined "
        f"`{options.command}` execs, {options.processes} client processes, {options.loop} loop"
    )
    print(
        f"replies {load['replies']:,} of {load['expected']:,}: lost {load['lost']}, "
        f"duplicated {load['duplicated']}, misrouted {load['misrouted']}, "
        f"error replies {load['errors']}  {verdict(correct)}"
    )
    rate = load["replies"] / load["elapsed"] if load["elapsed"] else 0.0
    print(
        f"all replies in {load['elapsed']:.2f} s ({rate:,.0f} exec/s); request -> reply "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms (all sent at once, so "
        f"these include queueing); server CPU {load['server_us_per_exec']:.1f} us/exec"
    )
    print(
        f"RSS per idle authenticated connection {load['idle_kib_per_connection']:.1f} KiB "
        f"(target <= {IDLE_TARGET_KIB:g} KiB  {verdict(idle_ok)}); server RSS at rest "
        f"{load['baseline_rss_kib'] / 1024:.0f} MiB, after the load "
        f"{load['peak_rss_kib'] / 1024:.0f} MiB"
    )
    if stuck is not None:
        print(
            f"{stuck['stuck']} clients that stop reading, {stuck['published']} values of "
            f"{STUCK_VALUE_BYTES // 1000} kB published: peak RSS growth "
            f"{stuck['peak_growth_kib'] / 1024:.0f} MiB, {stuck['cut_off']} cut off"
        )
    return 0 if correct and idle_ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--execs", type=int, default=100, help="pipelined execs per connection")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument(
        "--command",
        default="echo_io",
        choices=("echo_io", "echo"),
        help="echo_io awaits once before answering; echo answers without suspending",
    )
    parser.add_argument("--stuck", type=int, default=10, help="clients that stop reading")
    parser.add_argument(
        "--stuck-values", type=int, default=3000, help="values published to stuck clients at most"
    )
    add_loop_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(run_main(main, parse_args()))
