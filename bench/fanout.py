"""Status fan-out: one change delivered to N bound connections, runtime vs raw aiohttp broadcast.

    python bench/fanout.py [--connections 1000] [--rounds 15] [--repeat 2]

The client process opens N connections to a server and binds `Display.power` on each. Per round
the server notes the time, then makes one change: the runtime sets the driver's `power` status;
the raw aiohttp server sends an equal notify frame to each of its N sockets in a loop. The client
timestamps each arrival; the figure is the time from the change until the last connection has
the frame (median over the rounds). Target: runtime <= 2x raw; the exit status is 1 when missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
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
    now_ns,
    print_environment,
    print_header,
    print_row,
    raise_open_file_limit,
    raw_server,
    runtime_server,
    verdict,
)
from aiohttp import WSMsgType, web

WARMUP_ROUNDS = 2
ROUND_GAP = 0.05
CONNECT_CONCURRENCY = 64
META = {"sys": SYS_ID, "mod": "Display", "index": 1, "name": "power"}
BIND_TEXT = orjson.dumps({"id": 1, "cmd": "bind", **META}).decode()


def notify_frame(value: int) -> bytes:
    """The frame the runtime sends a connection bound with id 1 when `power` becomes `value`."""
    return orjson.dumps({"id": 1, "type": "notify", "value": value, "meta": META})


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
                    reply = {"id": req["id"], "type": "success", "meta": META}
                    await ws.send_frame(orjson.dumps(reply), WSMsgType.TEXT)
        finally:
            self.sockets.discard(ws)
        return ws

    async def broadcast(self, frame: bytes) -> None:
        for ws in list(self.sockets):
            await ws.send_frame(frame, WSMsgType.TEXT)


# -- the client process -------------------------------------------------------------------------
#
# A minimal WebSocket client as an asyncio Protocol: no task per connection and no message queue,
# so receiving costs a few microseconds per frame. (The aiohttp client spends ~35 us per frame
# here, which would hide the servers' difference behind the client's own work.)


def _client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


class LightClient(asyncio.Protocol):
    """One connection: upgrade, send the bind, then hand each text frame to `on_text`."""

    def __init__(self, host: str, path: str, headers: dict[str, str]) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            + "\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.bound: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_text: Any = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
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
            self.transport.write(_client_frame(BIND_TEXT.encode()))
        while len(buffer) >= 2:
            opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if opcode == 0x1:
                self._text(payload)
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(_client_frame(payload, 0xA))

    def _text(self, payload: bytes) -> None:
        if payload == b"pong":
            return
        frame = orjson.loads(payload)
        if frame["type"] == "notify":
            if self.on_text is not None and isinstance(frame["value"], int):
                self.on_text(frame["value"])
        elif not self.bound.done():
            if frame["type"] == "success":
                self.bound.set_result(None)
            else:
                self.bound.set_exception(ConnectionError(f"bind failed: {frame}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(_client_frame(b"\x03\xe8", 0x8))
            self.transport.close()


class Arrivals:
    """Per round: how many connections have the frame; reports the last arrival's time."""

    def __init__(self, conn: Connection, connections: int, first_value: int) -> None:
        self.conn = conn
        self.connections = connections
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
        if count == self.connections:
            self.conn.send(("done", value, self.first_ns.pop(value), now_ns()))


async def _connect_and_bind(job: dict[str, Any], limit: asyncio.Semaphore) -> LightClient:
    url = urlsplit(job["url"])
    assert url.hostname is not None and url.port is not None
    async with limit:
        _, client = await asyncio.get_running_loop().create_connection(
            lambda: LightClient(f"{url.hostname}:{url.port}", url.path, job["headers"]),
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
    arrivals = Arrivals(conn, len(clients), job["first_value"])
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
            asyncio.run(_session(conn, job))
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
    print_environment()
    limit = raise_open_file_limit(2 * options.connections + 1024)
    print(f"open-file limit {limit}; {options.connections} connections per server", flush=True)
    client = ClientProcess(client_main)
    found: dict[str, Samples] = {
        name: {"last": [], "first": [], "cpu": []} for name in ("raw", "runtime")
    }
    broadcaster = RawBroadcaster()
    next_value = 1
    try:
        async with raw_server(broadcaster.handle) as raw_url, runtime_server() as rt:
            driver = rt.driver(MODULE_ID)
            driver["power"] = 0

            async def raw_change(value: int) -> None:
                await broadcaster.broadcast(notify_frame(value))

            async def runtime_change(value: int) -> None:
                driver["power"] = value

            targets = {
                "raw": (raw_url, {}, raw_change),
                "runtime": (rt.ws_url, {"X-API-Key": rt.api_key}, runtime_change),
            }
            for attempt in range(1, options.repeat + 1):
                for name, (url, headers, change) in targets.items():
                    job = {"url": url, "headers": headers, "connections": options.connections}
                    samples = await _rounds(client, job, options.rounds, change, next_value)
                    next_value += WARMUP_ROUNDS + options.rounds
                    for key, values in samples.items():
                        found[name][key].extend(values)
                    print(
                        f"  run {attempt} {name:<8}"
                        f" last delivery median {statistics.median(samples['last']):6.2f} ms"
                        f" (min {min(samples['last']):6.2f}, max {max(samples['last']):6.2f})"
                        f"  first {statistics.median(samples['first']):5.2f} ms"
                        f"  server cpu {statistics.median(samples['cpu']):5.2f} ms",
                        flush=True,
                    )
    finally:
        client.stop()
    return _report(found, options)


def _report(found: dict[str, Samples], options: argparse.Namespace) -> int:
    raw = {key: statistics.median(values) for key, values in found["raw"].items()}
    run = {key: statistics.median(values) for key, values in found["runtime"].items()}
    ratio = run["last"] / raw["last"]
    print_header(
        f"Fan-out of one change to {options.connections} connections "
        f"({len(found['runtime']['last'])} rounds each, medians)"
    )
    print_row("", "raw aiohttp", "runtime", "ratio", "target")
    rows = (
        ("change -> last delivery (ms)", "last", f"<= 2x  {verdict(ratio <= 2.0)}"),
        ("change -> first delivery (ms)", "first", "(reported)"),
        ("server CPU per change (ms)", "cpu", "(reported)"),
    )
    for label, key, target in rows:
        print_row(
            label, f"{raw[key]:.2f}", f"{run[key]:.2f}", f"{run[key] / raw[key]:.2f}x", target
        )
    print(
        "\nServer CPU per change does not depend on what else the machine runs; delivery times do.",
        flush=True,
    )
    return 0 if ratio <= 2.0 else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15, help="measured changes per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per server, alternating")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
