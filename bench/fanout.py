"""Status fan-out: changes delivered to N bound connections, runtime vs raw aiohttp broadcast.

    python bench/fanout.py [--connections 1000] [--keys 1,10] [--rounds 15] [--repeat 2]
                           [--loop asyncio|uvloop]

The client process opens N connections to a server and binds K statuses (`key0` .. `key<K-1>`
of the Display module) on each: N x K bindings. Per round the server notes the time, then
changes all K statuses once: the runtime sets the driver's K statuses (each value is encoded
once, whatever the number of bindings); the raw aiohttp server sends the equal K notify frames to
each of its N sockets in a loop (key by key, as the runtime publishes them). The client
timestamps each arrival; the figure is the time from the change until the last of the N x K
frames has arrived (median over the rounds). Each K of `--keys` is a case (1k and 10k bindings
by default). Target: runtime <= 1.3x raw; the exit status is 1 when missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from multiprocessing.connection import Connection
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
    now_ns,
    parse_frames,
    print_environment,
    print_header,
    print_row,
    raise_open_file_limit,
    raw_server,
    run_main,
    run_on_loop,
    runtime_server,
    upgrade_request,
    verdict,
)
from aiohttp import WSMsgType, web

WARMUP_ROUNDS = 2
ROUND_GAP = 0.05
CONNECT_CONCURRENCY = 64
#: Ratio of the runtime's last delivery to raw's that passes.
TARGET_RATIO = 1.3


def key_name(number: int) -> str:
    return f"key{number}"


def key_meta(number: int) -> dict[str, Any]:
    return {"sys": SYS_ID, "mod": "Display", "index": 1, "name": key_name(number)}


def bind_text(number: int) -> str:
    """The bind request for `key<number>`, with request id number + 1."""
    return orjson.dumps({"id": number + 1, "cmd": "bind", **key_meta(number)}).decode()


def notify_frame(number: int, value: int) -> bytes:
    """The frame the runtime sends for binding `key<number>` when it becomes `value`."""
    return orjson.dumps(
        {"id": number + 1, "type": "notify", "value": value, "meta": key_meta(number)}
    )


# -- the raw baseline server --------------------------------------------------------------------


class RawBroadcaster:
    """A bare aiohttp server: a bind request adds the socket to the broadcast set."""

    def __init__(self) -> None:
        self.sockets: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                req = orjson.loads(message.data)
                if req.get("cmd") == "bind":
                    self.sockets.add(ws)
                    meta = {key: req[key] for key in ("sys", "mod", "index", "name")}
                    reply = {"id": req["id"], "type": "success", "meta": meta}
                    await ws.send_frame(orjson.dumps(reply), WSMsgType.TEXT)
        finally:
            self.sockets.discard(ws)
        return ws

    async def broadcast(self, frames: list[bytes]) -> None:
        sockets = list(self.sockets)
        for frame in frames:
            for ws in sockets:
                await ws.send_frame(frame, WSMsgType.TEXT)


# -- the client process -------------------------------------------------------------------------
#
# A minimal WebSocket client as an asyncio Protocol: no task per connection and no message queue,
# so receiving costs a few microseconds per frame. (The aiohttp client spends ~35 us per frame
# here, which would hide the servers' difference behind the client's own work.)


class LightClient(asyncio.Protocol):
    """One connection: upgrade, send the binds, then hand each notify's value to `on_text`."""

    def __init__(self, host: str, path: str, headers: dict[str, str], keys: int) -> None:
        self.keys = keys
        self.unbound = keys
        self.request = upgrade_request(host, path, headers)
        self.buffer = bytearray()
        self.upgraded = False
        self.bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_text: Any = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.bound.done():
            self.bound.set_exception(ConnectionError(f"connection lost before bind: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.bound.set_exception(ConnectionError(status.decode(errors="replace")))
                return
            del buffer[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(
                b"".join(client_frame(bind_text(n).encode()) for n in range(self.keys))
            )
        for opcode, payload in parse_frames(buffer):
            if opcode == 0x1:
                self._text(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(client_frame(payload, 0xA))

    def _text(self, payload: bytes) -> None:
        if payload == b"pong":
            return
        frame = orjson.loads(payload)
        if frame["type"] == "notify":
            if self.on_text is not None and isinstance(frame["value"], int):
                self.on_text(frame["value"])
        elif not self.bound.done():
            if frame["type"] == "success":
                self.unbound -= 1
                if not self.unbound:
                    self.bound.set_result(None)
            else:
                self.bound.set_exception(ConnectionError(f"bind failed: {frame}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(client_frame(b"\x03\xe8", 0x8))
            self.transport.close()


class Arrivals:
    """Per round: how many frames have arrived; reports the first and the last arrival's time."""

    def __init__(self, conn: Connection, frames: int, first_value: int) -> None:
        self.conn = conn
        self.frames = frames
        self.first_value = first_value
        self.counts: dict[int, int] = {}
        self.first_ns: dict[int, int] = {}

    def arrived(self, value: int) -> None:
        if value < self.first_value:  # the value current at bind time
            return
        count = self.counts.get(value, 0) + 1
        self.counts[value] = count
        if count == 1:
            self.first_ns[value] = now_ns()
        if count == self.frames:
            self.conn.send(("done", value, self.first_ns.pop(value), now_ns()))


async def _connect_and_bind(job: dict[str, Any], limit: asyncio.Semaphore) -> LightClient:
    url = urlsplit(job["url"])
    assert url.hostname is not None and url.port is not None
    async with limit:
        _, client = await asyncio.get_running_loop().create_connection(
            lambda: LightClient(
                f"{url.hostname}:{url.port}", url.path, job["headers"], job["keys"]
            ),
            url.hostname,
            url.port,
        )
        await asyncio.wait_for(client.bound, 30)
    return client


async def _session(conn: Connection, job: dict[str, Any]) -> None:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients = await asyncio.gather(
        *(_connect_and_bind(job, limit) for _ in range(job["connections"]))
    )
    arrivals = Arrivals(conn, len(clients) * job["keys"], job["first_value"])
    for client in clients:
        client.on_text = arrivals.arrived
    conn.send(("ready", len(clients)))
    await asyncio.to_thread(conn.recv)  # the parent sends anything when the rounds are over
    for client in clients:
        client.close()
    conn.send(("closed", len(clients)))


def client_main(conn: Connection) -> None:
    raise_open_file_limit(8192)
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            run_on_loop(_session(conn, job), job.get("loop", "asyncio"))
        except Exception as exc:
            conn.send({"client_error": f"{type(exc).__name__}: {exc}"})


# -- orchestration ------------------------------------------------------------------------------

Samples = dict[str, list[float]]  # "last" / "first" delivery (ms), "cpu" server CPU (ms)


async def _rounds(
    client: ClientProcess, job: dict[str, Any], rounds: int, change: Any, first_value: int
) -> Samples:
    """Run warm-up plus `rounds` changes against one server; returns the measured samples."""
    client.send({**job, "first_value": first_value})
    kind, ready = await client.recv()
    if kind != "ready" or ready != job["connections"]:
        raise RuntimeError(f"client not ready: {kind} {ready}")
    samples: Samples = {"last": [], "first": [], "cpu": []}
    cpu = CpuMeter()
    for number in range(WARMUP_ROUNDS + rounds):
        value = first_value + number
        await asyncio.sleep(ROUND_GAP)
        cpu.start()
        started = now_ns()
        await change(value)
        kind, done_value, first_ns, last_ns = await client.recv()
        cpu.stop()
        if kind != "done" or done_value != value:
            raise RuntimeError(f"unexpected answer {kind} {done_value} in round {value}")
        if number >= WARMUP_ROUNDS:
            samples["last"].append((last_ns - started) / 1e6)
            samples["first"].append((first_ns - started) / 1e6)
            samples["cpu"].append(cpu.seconds * 1000)
    client.send("stop")
    await client.recv()
    return samples


async def main(options: argparse.Namespace) -> int:
    print_environment(options.loop)
    limit = raise_open_file_limit(2 * options.connections + 1024)
    print(f"open-file limit {limit}; {options.connections} connections per server", flush=True)
    client = ClientProcess(client_main)
    cases = [int(keys) for keys in options.keys.split(",")]
    found: dict[tuple[int, str], Samples] = {
        (keys, name): {"last": [], "first": [], "cpu": []}
        for keys in cases
        for name in ("raw", "runtime")
    }
    broadcaster = RawBroadcaster()
    next_value = 1
    try:
        async with raw_server(broadcaster.handle) as raw_url, runtime_server() as rt:
            driver = rt.driver(MODULE_ID)
            for number in range(max(cases)):
                driver[key_name(number)] = 0
            keys = 1

            async def raw_change(value: int) -> None:
                await broadcaster.broadcast([notify_frame(n, value) for n in range(keys)])

            async def runtime_change(value: int) -> None:
                for number in range(keys):
                    driver[key_name(number)] = value

            targets = {
                "raw": (raw_url, {}, raw_change),
                "runtime": (rt.ws_url, {"X-API-Key": rt.api_key}, runtime_change),
            }
            for keys in cases:
                for attempt in range(1, options.repeat + 1):
                    for name, (url, headers, change) in targets.items():
                        job = {
                            "url": url,
                            "headers": headers,
                            "connections": options.connections,
                            "keys": keys,
                            "loop": options.loop,
                        }
                        samples = await _rounds(client, job, options.rounds, change, next_value)
                        next_value += WARMUP_ROUNDS + options.rounds
                        for key, values in samples.items():
                            found[(keys, name)][key].extend(values)
                        print(
                            f"  {options.connections * keys:>6} bindings run {attempt} {name:<8}"
                            f" last delivery median {statistics.median(samples['last']):6.2f} ms"
                            f" (min {min(samples['last']):6.2f}, max {max(samples['last']):6.2f})"
                            f"  first {statistics.median(samples['first']):5.2f} ms"
                            f"  server cpu {statistics.median(samples['cpu']):5.2f} ms",
                            flush=True,
                        )
    finally:
        client.stop()
    return max(_report(keys, found, options) for keys in cases)


def _report(keys: int, found: dict[tuple[int, str], Samples], options: argparse.Namespace) -> int:
    raw = {key: statistics.median(values) for key, values in found[(keys, "raw")].items()}
    run = {key: statistics.median(values) for key, values in found[(keys, "runtime")].items()}
    ratio = run["last"] / raw["last"]
    print_header(
        f"Fan-out to {options.connections} connections x {keys} keys = "
        f"{options.connections * keys} bindings, {options.loop} loop "
        f"({len(found[(keys, 'runtime')]['last'])} rounds each, medians)"
    )
    print_row("", "raw aiohttp", "runtime", "ratio", "target")
    ok = ratio <= TARGET_RATIO
    rows = (
        ("change -> last delivery (ms)", "last", f"<= {TARGET_RATIO:g}x  {verdict(ok)}"),
        ("change -> first delivery (ms)", "first", "(reported)"),
        ("server CPU per change (ms)", "cpu", "(reported)"),
    )
    for label, key, target in rows:
        print_row(
            label, f"{raw[key]:.2f}", f"{run[key]:.2f}", f"{run[key] / raw[key]:.2f}x", target
        )
    print(
        "Server CPU per change does not depend on what else the machine runs; delivery times do.",
        flush=True,
    )
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument(
        "--keys", default="1,10", help="statuses bound per connection, one case each"
    )
    parser.add_argument("--rounds", type=int, default=15, help="measured changes per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per server, alternating")
    add_loop_option(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(run_main(main, parse_args()))
