"""Benchmark: 40 concurrent ``list_events`` (one per room) at ``rate_limit`` 5, with automatic
``$batch`` versus one request per call (``batch_requests: false``).

Starts the Graph emulator and a runtime in this process and prints, for each mode, the wall time,
the number of Graph HTTP requests and the highest request rate the emulator saw in any one-second
window (from its request log), then the speed-up of batching.

    python bench/graph.py
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedded.settings import graph_settings
from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator import start
from runtime.testing import TestClient, run_runtime

ROOMS = 40
RATE_LIMIT = 5
SYSTEM = "sys-bench"
DAY = 86400


async def control(emulator: RunningEmulator, path: str) -> Any:
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(emulator.url + path) as response,
    ):
        return await response.json()


def busiest_second(times: list[float]) -> int:
    return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)


async def wait_connected(client: TestClient) -> None:
    await client.bind(SYSTEM, "Calendar", "connected")
    while (await client.next_notify(timeout=10))["value"] is not True:
        pass


async def run_mode(emulator: RunningEmulator, rooms: list[str], batch: bool) -> dict[str, Any]:
    settings = {**graph_settings(emulator), "rate_limit": RATE_LIMIT, "batch_requests": batch}
    config = {
        "modules": {
            "mod-graph": {
                "driver": "drivers.microsoft.graph_api:GraphAPI",
                "settings": settings,
                "exec_timeout": 120,
            }
        },
        "systems": {SYSTEM: {"name": "Bench", "modules": ["mod-graph"]}},
    }
    now = int(time.time())
    async with run_runtime(config) as runtime, runtime.client() as client:
        await wait_connected(client)
        await asyncio.sleep(1.1)  # let the limiter's window empty after the connection probe
        mark = len(await control(emulator, "/_emulator/requests"))
        began = time.perf_counter()
        results = await asyncio.gather(
            *(
                client.exec(
                    SYSTEM,
                    "Calendar",
                    "list_events",
                    [room, now - 7 * DAY, now + 7 * DAY],
                    timeout=120,
                )
                for room in rooms
            )
        )
        elapsed = time.perf_counter() - began
    log = [
        entry
        for entry in (await control(emulator, "/_emulator/requests"))[mark:]
        if entry["path"].startswith("/v1.0/")
    ]
    return {
        "seconds": elapsed,
        "requests": len(log),
        "events": sum(len(events) for events in results),
        "busiest_second": busiest_second([entry["t"] for entry in log]),
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as certs:
        async with await start(Path(certs)) as emulator:
            rooms = (await control(emulator, "/_emulator/seed"))["rooms"][:ROOMS]
            batched = await run_mode(emulator, rooms, batch=True)
            single = await run_mode(emulator, rooms, batch=False)
    print(f"list_events x {len(rooms)} rooms at rate_limit {RATE_LIMIT}/s")
    for name, figures in (("batched", batched), ("one by one", single)):
        print(
            f"  {name:<11} {figures['seconds']:7.3f} s  {figures['requests']:3d} HTTP requests"
            f"  {figures['events']:4d} events  busiest second: "
            f"{figures['busiest_second']} requests"
        )
    ratio = single["seconds"] / batched["seconds"]
    highest = max(batched["busiest_second"], single["busiest_second"])
    print(f"speed-up from batching: {ratio:.1f}x (target >= 8x)")
    print(
        f"highest request rate the emulator observed: {highest} requests in one second "
        f"(limit {RATE_LIMIT})"
    )


if __name__ == "__main__":
    asyncio.run(main())
