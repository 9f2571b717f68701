"""Test helpers shipped as API: a runtime started in-process and a WebSocket test client.

```python
async with run_runtime({"modules": {...}, "systems": {...}}) as rt:
    async with rt.client() as client:
        value = await client.exec("sys-1", "Display", "power", [True])
```
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import websockets

from runtime.auth import generate_api_key
from runtime.config import load_config, parse_config
from runtime.driver import Driver
from runtime.logs import configure_logging, logging_restored
from runtime.server import CONTROL_PATH, Runtime

if TYPE_CHECKING:
    from runtime.reload import Reloader

__all__ = ["ExecError", "RuntimeHandle", "TestClient", "run_runtime"]


class ExecError(Exception):
    """An error reply to a request."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(frame.get("msg", ""))
        self.frame = frame
        self.error_code: int = frame.get("error_code", -1)
        self.msg: str = frame.get("msg", "")
        self.code: int | None = frame.get("code")


class TestClient:
    """A real `websockets` client speaking the control protocol, with notifies captured."""

    __test__ = False  # not a pytest class

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection
        self.notifications: list[dict[str, Any]] = []
        self.debug_lines: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._notify_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._debug_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pongs: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                if message == "pong":
                    self._pongs.put_nowait(message)
                    continue
                frame = orjson.loads(message)
                kind = frame.get("type")
                if kind == "notify":
                    self.notifications.append(frame)
                    self._notify_queue.put_nowait(frame)
                elif kind == "debug":
                    self.debug_lines.append(frame)
                    self._debug_queue.put_nowait(frame)
                else:
                    future = self._waiting.pop(frame.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def request(self, frame: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a request (an `id` is added when missing) and return its reply frame."""
        if "id" not in frame:
            frame = {"id": next(self._ids), **frame}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[frame["id"]] = future
        await self.connection.send(orjson.dumps(frame).decode())
        return await asyncio.wait_for(future, timeout)

    async def send_raw(self, text: str | bytes) -> None:
        """Send a frame as it is."""
        await self.connection.send(text)

    async def reply_to_raw(
        self, text: str, reply_id: int = 0, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send a raw frame and wait for the reply carrying `reply_id`."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[reply_id] = future
        await self.connection.send(text)
        return await asyncio.wait_for(future, timeout)

    async def exec(
        self,
        sys: str,
        mod: str,
        name: str,
        args: list[Any] | dict[str, Any] | None = None,
        *,
        index: int = 1,
        timeout: float = 10.0,
    ) -> Any:
        """Execute a command; returns its value or raises ExecError."""
        frame: dict[str, Any] = {
            "cmd": "exec",
            "sys": sys,
            "mod": mod,
            "index": index,
            "name": name,
        }
        if args is not None:
            frame["args"] = args
        reply = await self.request(frame, timeout)
        if reply["type"] == "error":
            raise ExecError(reply)
        return reply.get("value")

    async def bind(self, sys: str, mod: str, name: str, *, index: int = 1) -> dict[str, Any]:
        """Bind a status; returns the success frame (raises ExecError on an error reply)."""
        reply = await self.request(
            {"cmd": "bind", "sys": sys, "mod": mod, "index": index, "name": name}
        )
        if reply["type"] == "error":
            raise ExecError(reply)
        return reply

    async def unbind(self, sys: str, mod: str, name: str, *, index: int = 1) -> dict[str, Any]:
        """Unbind a status."""
        return await self.request(
            {"cmd": "unbind", "sys": sys, "mod": mod, "index": index, "name": name}
        )

    async def next_notify(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next notify frame."""
        return await asyncio.wait_for(self._notify_queue.get(), timeout)

    async def next_debug(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next debug frame."""
        return await asyncio.wait_for(self._debug_queue.get(), timeout)

    async def ping(self, timeout: float = 5.0) -> str:
        """Send the text `ping`; returns the `pong`."""
        await self.connection.send("ping")
        return await asyncio.wait_for(self._pongs.get(), timeout)

    async def close(self) -> None:
        await self.connection.close()
        await self._reader


class RuntimeHandle:
    """A runtime running in this process, with helpers to reach it."""

    def __init__(self, runtime: Runtime, api_key: str) -> None:
        self.runtime = runtime
        self.api_key = api_key
        self.url = runtime.url
        self.ws_url = runtime.url.replace("http", "ws", 1) + CONTROL_PATH
        self.reloader: Reloader | None = None

    def driver(self, module_id: str) -> Driver:
        """The live driver instance of a module."""
        instance = self.runtime.host.modules[module_id].instance
        if instance is None:
            raise LookupError(f"module {module_id} has no instance")
        return instance

    @asynccontextmanager
    async def client(self, api_key: str | None = None, **connect: Any) -> AsyncIterator[TestClient]:
        """A connected WebSocket test client (admin unless another key is given)."""
        headers = {"X-API-Key": api_key or self.api_key}
        async with websockets.connect(
            self.ws_url, additional_headers=headers, max_size=None, **connect
        ) as connection:
            client = TestClient(connection)
            try:
                yield client
            finally:
                await client.close()

    async def rest(
        self,
        method: str,
        path: str,
        json: Any = None,
        api_key: str | None = None,
        *,
        authenticate: bool = True,
        **kw: Any,
    ) -> tuple[int, Any]:
        """An HTTP request to the runtime; returns (status, parsed JSON body or None).

        Sends `api_key` (default: the admin key) unless `authenticate` is false.
        """
        headers = {"X-API-Key": api_key or self.api_key} if authenticate else {}
        headers.update(kw.pop("headers", {}))
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, json=json, headers=headers, **kw) as response,
        ):
            text = await response.text()
            return response.status, (orjson.loads(text) if text else None)


@asynccontextmanager
async def run_runtime(
    config: dict[str, Any] | None = None,
    *,
    log_format: str = "console",
    log_level: str = "warning",
    config_path: Path | None = None,
    reload: bool = False,
    grace: float = 0.0,
) -> AsyncIterator[RuntimeHandle]:
    """Start a runtime from a config dict on 127.0.0.1 port 0; stop it afterwards.

    With `config_path` (and no dict) the config is read from that YAML file. With `reload`, a
    `runtime.reload.Reloader` watches the drivers' sources (and the config file) while the
    runtime runs; it is `handle.reloader`. On the way out the runtime shuts down giving execs
    still running `grace` seconds, and the logging configuration is put back as it was.
    """
    with logging_restored():
        configure_logging(log_format, log_level)
        if config is None and config_path is not None:
            parsed = load_config(config_path)
        else:
            parsed = parse_config(config or {}, "<test config>")
        api_key = generate_api_key()
        runtime = Runtime(parsed, admin_keys=[api_key], config_path=config_path)
        await runtime.start("127.0.0.1", 0)
        handle = RuntimeHandle(runtime, api_key)
        try:
            if reload:
                from runtime.reload import Reloader

                handle.reloader = Reloader(runtime)
                await handle.reloader.start()
            yield handle
        finally:
            if handle.reloader is not None:
                await handle.reloader.stop()
            await runtime.stop(grace)
