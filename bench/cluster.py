"""Cluster figures: routed exec throughput, cross-host status delivery, failover, placement cost.

Hosts are real `python -m runtime serve` processes sharing one real redis-server; the clients
run in this process. Every figure is printed beside its single-host baseline from the same run:

- exec throughput through a host that does not run the module, as a ratio of the throughput
  of the owner itself (target >= 50 % at 50 connections): once over the exec channel our hosts
  use among themselves, once from a host configured with `exec_channel: false`, which sends
  them by PlaceOS's POST route as it does to PlaceOS nodes;
- a status change's delivery to a binding held on another host, as a ratio of the delivery
  to a binding on the owner (exec `set` sent, notify received);
- failover: seconds from kill -9 of a host until all its modules run elsewhere, median and max
  over `--kills` kills (target median <= ttl + 2 s);
- placement: seconds to compute owners of 100,000 modules over 100 nodes, and the share of
  modules that move when one node leaves.

Run: `.venv/bin/python bench/cluster.py` (about a minute at the default ttl of 6 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import redis.asyncio as aioredis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import print_environment, print_header, print_row, verdict
from runtime.cluster import rendezvous
from runtime.server import CONTROL_PATH
from tests.cluster.processes import API_KEY, HostProcess
from tests.cluster.redis_server import RedisServer

MODULES = 6
#: Every host process started so far (for CPU accounting).
HOSTS: list[HostProcess] = []


async def owners(redis: aioredis.Redis) -> dict[str, str]:
    found = {}
    for i in range(MODULES):
        raw = await redis.get(f"owner/mod-{i}")
        if raw is not None:
            found[f"mod-{i}"] = raw.decode().split(" ")[0]
    return found


async def wait_placed(redis: aioredis.Redis, alive: list[HostProcess], timeout: float) -> float:
    """Seconds until every module is leased by its rendezvous owner among the live hosts and
    that host wrote its status."""
    uris = {h.url for h in alive}
    started = time.monotonic()
    while True:
        placed = await owners(redis)
        expected = rendezvous.owners(uris, [f"mod-{i}" for i in range(MODULES)])
        if placed == expected:
            pids = [await redis.hget(f"status/{m}", "pid") for m in placed]
            by_uri = {h.url: h.pid for h in alive}
            if all(
                p is not None and int(p) == by_uri[placed[m]]
                for m, p in zip(placed, pids, strict=True)
            ):
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError("modules were not placed in time")
        await asyncio.sleep(0.02)


async def connect(
    http: aiohttp.ClientSession, host: HostProcess
) -> aiohttp.ClientWebSocketResponse:
    url = host.url.replace("http", "ws", 1) + CONTROL_PATH
    return await http.ws_connect(url, headers={"X-API-Key": API_KEY})


def exec_frame(request_id: int, index: int, name: str, args: list[object]) -> str:
    return orjson.dumps(
        {
            "id": request_id,
            "cmd": "exec",
            "sys": "sys-1",
            "mod": "Probe",
            "index": index,
            "name": name,
            "args": args,
        }
    ).decode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    host: HostProcess,
    index: int,
    connections: int,
    seconds: float,
    cpu: dict[str, dict[str, float]] | None = None,
    label: str = "",
) -> float:
    """Execs per second over `connections` connections, each one request at a time; with
    `cpu`, the CPU microseconds per exec of every host process go to `cpu[label][url]`."""
    done = 0
    processes = {h.url: h.pid for h in HOSTS}
    before = {url: cpu_seconds(pid) for url, pid in processes.items()}
    async with aiohttp.ClientSession() as http:
        sockets = [await connect(http, host) for _ in range(connections)]
        deadline = time.monotonic() + seconds

        async def run(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal done
            n = 0
            while time.monotonic() < deadline:
                n += 1
                await ws.send_str(exec_frame(n, index, "whoami", []))
                while True:
                    reply = orjson.loads((await ws.receive()).data)
                    if reply.get("id") == n:
                        break
                if reply["type"] != "success":
                    raise RuntimeError(reply)
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(run(ws) for ws in sockets))
        elapsed = time.monotonic() - started
        for ws in sockets:
            await ws.close()
    if cpu is not None:
        cpu[label] = {
            url: (cpu_seconds(pid) - before[url]) / max(done, 1) * 1e6
            for url, pid in processes.items()
        }
    return done / elapsed


async def delivery(writer: HostProcess, reader: HostProcess, index: int, samples: int) -> float:
    """Median ms from sending `set` on `writer` to the notify on a binding held on `reader`."""
    times = []
    async with aiohttp.ClientSession() as http:
        write, read = await connect(http, writer), await connect(http, reader)
        bind = {
            "id": 1,
            "cmd": "bind",
            "sys": "sys-1",
            "mod": "Probe",
            "index": index,
            "name": "bench",
        }
        await read.send_str(orjson.dumps(bind).decode())
        await read.receive()
        for n in range(samples):
            started = time.perf_counter()
            await write.send_str(exec_frame(n + 10, index, "set", ["bench", n]))
            while True:
                frame = orjson.loads((await read.receive()).data)
                if frame.get("type") == "notify" and frame.get("value") == n:
                    break
            times.append(time.perf_counter() - started)
            await write.receive()
        await write.close()
        await read.close()
    return statistics.median(times) * 1000


def placement_cost() -> tuple[float, float]:
    nodes = [f"http://10.0.{i // 250}.{i % 250}:8080" for i in range(100)]
    keys = [f"mod-{i}" for i in range(100_000)]
    started = time.perf_counter()
    before = rendezvous.owners(nodes, keys)
    elapsed = time.perf_counter() - started
    after = rendezvous.owners(nodes[1:], keys)
    moved = sum(1 for k in keys if before[k] != after[k]) / len(keys)
    return elapsed, moved


async def main(options: argparse.Namespace) -> int:
    print_environment()
    redis_server = RedisServer()
    redis_server.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    redis = aioredis.Redis.from_url(redis_server.url)
    hosts: list[HostProcess] = []
    ok = True
    try:
        for channel in (True, True, False):  # the third sends execs by PlaceOS's POST route
            host = HostProcess(workdir, redis_server.url, MODULES, options.ttl, 0)
            if not channel:
                config = yaml.safe_load(host.config_path.read_text())
                config["cluster"]["exec_channel"] = False
                host.config_path.write_text(yaml.safe_dump(config))
            hosts.append(host)  # before start: a host that fails to start is killed too
            await host.start()
        HOSTS.extend(hosts)
        await wait_placed(redis, hosts, options.ttl * 3 + 10)
        placed = await owners(redis)
        # The owner and the channel host are the two with the channel; the third uses POST.
        owner = next(h for h in hosts[:2] if h.url in placed.values())
        other = next(h for h in hosts[:2] if h is not owner)
        post_host = hosts[2]
        module_id = sorted(m for m, uri in placed.items() if uri == owner.url)[0]
        index = int(module_id.split("-")[1]) + 1

        print_header(f"exec throughput, {options.connections} connections (execs/s)")
        print_row("", "on owner", "via other", "ratio", "target")
        cpu: dict[str, dict[str, float]] = {}
        local = await throughput(owner, index, options.connections, options.seconds, cpu, "local")
        routed = await throughput(
            other, index, options.connections, options.seconds, cpu, "channel"
        )
        by_post = await throughput(
            post_host, index, options.connections, options.seconds, cpu, "post"
        )
        ratio = routed / local
        ok &= ratio >= 0.5
        print_row(
            "whoami, exec channel",
            f"{local:.0f}",
            f"{routed:.0f}",
            f"{ratio:.0%}",
            f">= 50 % {verdict(ratio >= 0.5)}",
        )
        print_row(
            "whoami, POST route (PlaceOS peers)",
            f"{local:.0f}",
            f"{by_post:.0f}",
            f"{by_post / local:.0%}",
            "",
        )
        print_header("server CPU per exec (us; steadier than the rates on a shared machine)")
        print_row("", "owner", "client's host", "total", "")
        for label, key, via in (
            ("on owner", "local", owner),
            ("via other, exec channel", "channel", other),
            ("via other, POST route", "post", post_host),
        ):
            spent = cpu[key]
            mine = spent[owner.url]
            theirs = spent[via.url] if via is not owner else 0.0
            print_row(label, f"{mine:.1f}", f"{theirs:.1f}", f"{mine + theirs:.1f}", "")
        routes = (await other.view())["exec_routes"]
        if routes["by_channel"] == 0 or routes["by_post"] != 0:
            raise RuntimeError(f"the channel host did not use the channel: {routes}")
        if (await post_host.view())["exec_routes"]["by_channel"] != 0:
            raise RuntimeError("the POST host used the channel")

        print_header("status delivery, exec set -> notify (median ms)")
        print_row("", "same host", "other host", "ratio", "")
        near = await delivery(owner, owner, index, options.samples)
        far = await delivery(owner, other, index, options.samples)
        print_row("binding", f"{near:.2f}", f"{far:.2f}", f"{far / near:.2f}x", "(lower is better)")

        print_header(f"failover after kill -9, ttl {options.ttl:g} s (seconds)")
        times = []
        for _ in range(options.kills):
            placed = await owners(redis)
            victim = next(h for h in hosts if h.url in placed.values())
            victim.kill()
            hosts.remove(victim)
            times.append(await wait_placed(redis, hosts, options.ttl * 3 + 10))
            fresh = HostProcess(workdir, redis_server.url, MODULES, options.ttl, 0)
            hosts.append(fresh)
            await fresh.start()
            await wait_placed(redis, hosts, options.ttl * 3 + 10)
        median = statistics.median(times)
        ok &= median <= options.ttl + 2
        print_row(
            "median / max",
            f"{median:.2f}",
            f"{max(times):.2f}",
            "",
            f"median <= ttl + 2 s {verdict(median <= options.ttl + 2)}",
        )

        print_header("placement, 100,000 modules over 100 nodes")
        elapsed, moved = placement_cost()
        print_row(
            "owners computed (s) / moved on leave",
            f"{elapsed:.2f}",
            f"{moved:.2%}",
            "",
            "(one node of 100 leaves: ~1 % should move)",
        )
    finally:
        for host in hosts:
            host.kill()
        await redis.aclose()
        redis_server.stop()
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--ttl", type=float, default=6.0)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
