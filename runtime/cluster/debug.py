"""`debug` of a module that runs on another host: its lines are streamed from the owner.

The tap given to sessions relays: a listener added for a module this host does not run gets the
owner's lines over a WebSocket to the owner's control endpoint (authenticated by the cluster
secret), which follows the module when it moves. Lines of local modules come from the process's
own tap as on a single host.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import aiohttp
import orjson

from runtime.logs import DebugListener, DebugTap, get_logger

if TYPE_CHECKING:
    from runtime.cluster.node import ClusterNode

CONTROL_PATH = "/api/engine/v2/systems/control"
#: Seconds between attempts to reach a module's owner for its debug lines.
RELAY_RETRY = 0.5

log = get_logger(component="cluster.debug")


class RelayTap(DebugTap):
    """A debug tap that adds the lines of remote modules to those of the local tap."""

    __slots__ = ("_local", "_node", "_relays")

    def __init__(self, local: DebugTap, node: ClusterNode) -> None:
        super().__init__()
        self._local = local
        self._node = node
        self._relays: dict[str, asyncio.Task[None]] = {}

    def add(self, module_id: str, listener: DebugListener) -> None:
        self._local.add(module_id, listener)
        super().add(module_id, listener)
        if module_id not in self._relays:
            loop = asyncio.get_running_loop()
            self._relays[module_id] = loop.create_task(self._relay(module_id))

    def remove(self, module_id: str, listener: DebugListener) -> None:
        self._local.remove(module_id, listener)
        super().remove(module_id, listener)
        if not self.active(module_id):
            task = self._relays.pop(module_id, None)
            if task is not None:
                task.cancel()

    async def close(self) -> None:
        for task in list(self._relays.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._relays.clear()

    async def _relay(self, module_id: str) -> None:
        node = self._node
        async with aiohttp.ClientSession() as http:
            while True:
                owner = node.owner_of(module_id)
                if owner is None or owner == node.uri:
                    await asyncio.sleep(RELAY_RETRY)
                    continue
                try:
                    await self._stream(http, owner, module_id)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.debug("debug relay interrupted", module_id=module_id, error=str(exc))
                await asyncio.sleep(RELAY_RETRY)

    async def _stream(self, http: aiohttp.ClientSession, owner: str, module_id: str) -> None:
        node = self._node
        url = owner.replace("http", "ws", 1) + CONTROL_PATH
        headers = {"Authorization": f"Bearer {node.secret}"}
        async with http.ws_connect(url, headers=headers, heartbeat=10) as ws:
            request = {"id": 1, "cmd": "debug", "sys": "-", "mod": module_id, "index": 1}
            await ws.send_bytes(orjson.dumps({**request, "name": "debug"}))
            while node.owner_of(module_id) == owner:  # when the module moves, follow it
                try:
                    message = await ws.receive(timeout=RELAY_RETRY)
                except TimeoutError:
                    continue
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return
                if message.type is not aiohttp.WSMsgType.TEXT or message.data == "pong":
                    continue
                frame = orjson.loads(message.data)
                if frame.get("type") == "debug":
                    self.emit(module_id, str(frame.get("level")), str(frame.get("msg")))
