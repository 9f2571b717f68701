"""Several runtimes in this process sharing one real redis-server (fast cluster tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from runtime.auth import generate_api_key
from runtime.config import parse_config
from runtime.logs import configure_logging
from runtime.server import Runtime
from runtime.testing import RuntimeHandle
from tests.cluster.redis_server import free_port

PROBE = "tests.cluster.drivers:Probe"
SECRET = "cluster-secret-for-tests-0001"


def cluster_config(
    redis_url: str, port: int, modules: int, journal: Path, ttl: float = 1.5, tick: float = 0
) -> dict[str, Any]:
    ids = [f"mod-{i}" for i in range(modules)]
    return {
        "server": {"port": port},
        "cluster": {
            "redis": redis_url,
            "node_uri": f"http://127.0.0.1:{port}",
            "ttl": ttl,
            "secret": SECRET,
        },
        "modules": {m: {"driver": PROBE} for m in ids},
        "systems": {
            "sys-1": {
                "name": "Cluster room",
                "settings": {"journal": str(journal), "tick": tick},
                "modules": ids,
            }
        },
    }


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a state to be reached (checked every few ms), failing after `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def cluster_host(config: dict[str, Any], api_key: str) -> AsyncIterator[RuntimeHandle]:
    configure_logging("console", "warning")
    runtime = Runtime(parse_config(config, "<cluster test>"), admin_keys=[api_key])
    await runtime.start("127.0.0.1", config["server"]["port"])
    try:
        yield RuntimeHandle(runtime, api_key)
    finally:
        await runtime.stop()


def new_port() -> int:
    return free_port()


def new_key() -> str:
    return generate_api_key()
