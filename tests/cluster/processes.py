"""Runtime hosts as real processes (`python -m runtime serve --config`) sharing a redis-server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import websockets
import yaml

from runtime.server import CONTROL_PATH
from runtime.testing import TestClient
from tests.cluster.inprocess import SECRET, cluster_config
from tests.cluster.redis_server import free_port
from tests.support.serve_process import ServeProcess, start_serve

API_KEY = "cluster-admin-key-0001"
#: Seconds a host process may take to print its ready line.
START_TIMEOUT = 30.0


class HostProcess:
    """One runtime host process."""

    def __init__(self, workdir: Path, redis_url: str, modules: int, ttl: float, tick: float):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / f"host-{self.port}.yaml"
        self.journal = workdir / "journal.txt"
        config = cluster_config(redis_url, self.port, modules, self.journal, ttl=ttl, tick=tick)
        self.config_path.write_text(yaml.safe_dump(config))
        self.served: ServeProcess | None = None

    @property
    def pid(self) -> int:
        assert self.served is not None
        return self.served.pid

    async def start(self) -> None:
        self.served = await start_serve(
            "--api-key", API_KEY, "--log-level", "info",
            config=self.config_path, port=None, timeout=START_TIMEOUT,
        )

    def signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def kill(self) -> None:
        if self.served is not None:
            self.served.kill()
            self.served.process.wait()

    async def logged(self, *phrases: str, timeout: float = 15.0) -> str:
        """The first stderr line holding any of `phrases`, as soon as the host writes it."""
        assert self.served is not None
        return await self.served.stderr.wait_for(
            lambda line: any(phrase in line for phrase in phrases), f"one of {phrases}", timeout
        )

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.served is not None
        return await self.served.stop(timeout)

    async def rest(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = kw.pop("headers", {"X-API-Key": API_KEY})
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, headers=headers, **kw) as response,
        ):
            body = await response.read()
            return response.status, (orjson.loads(body) if body else None)

    async def view(self) -> dict[str, Any]:
        status, body = await self.rest("GET", "/api/engine/v2/cluster")
        assert status == 200, body
        return body

    @asynccontextmanager
    async def client(self) -> AsyncIterator[TestClient]:
        url = self.url.replace("http", "ws", 1) + CONTROL_PATH
        async with websockets.connect(url, additional_headers={"X-API-Key": API_KEY}) as conn:
            client = TestClient(conn)
            try:
                yield client
            finally:
                await client.close()

    async def command(self, module_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.rest(
            "POST",
            f"/api/core/v1/command/{module_id}/execute",
            json=body,
            headers={"Authorization": f"Bearer {SECRET}"},
        )


def journal_events(journal: Path) -> list[tuple[float, int, str, str, str]]:
    """(time, pid, module id, event, detail) per journal line, in order."""
    events = []
    for line in journal.read_text().splitlines() if journal.exists() else []:
        parts = line.split(" ", 4)
        detail = parts[4].strip() if len(parts) > 4 else ""
        events.append((float(parts[0]), int(parts[1]), parts[2], parts[3], detail))
    return events


def assert_never_twice(journal: Path, deaths: dict[int, float] | None = None) -> None:
    """No module had two live instances at once; `deaths` maps a killed pid to when it died."""
    deaths = deaths or {}
    running: dict[str, int] = {}
    for at, pid, module_id, event, _ in journal_events(journal):
        holder = running.get(module_id)
        if event == "start":
            ended = holder is None or (holder in deaths and deaths[holder] <= at)
            assert ended, f"{module_id} started on {pid} while running on {holder}"
            running[module_id] = pid
        elif event == "stop" and holder == pid:
            del running[module_id]
