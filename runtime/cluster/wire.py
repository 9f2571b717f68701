"""The writing half of an exec channel: records queued during one event-loop turn leave together
in one WebSocket message (one frame header, one write), by a single writer task per channel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import ClientWebSocketResponse, web

from runtime.cluster.frames import MAX_MESSAGE_BYTES

WebSocket = ClientWebSocketResponse | web.WebSocketResponse


class BatchWriter:
    """Queues records and writes them in batches; `on_sent` hears the ids of each batch just
    before it is written (from then on its requests may have reached the other side)."""

    __slots__ = ("_idle", "_ids", "_records", "_size", "_task", "_wake", "on_sent", "ws")

    def __init__(self, ws: WebSocket, on_sent: Callable[[list[int]], None] | None = None) -> None:
        self.ws = ws
        self.on_sent = on_sent
        self._records: list[bytes] = []
        self._ids: list[int] = []
        self._size = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._write_loop())

    def put(self, data: bytes, request_id: int = -1) -> None:
        """Queue one record (`request_id` for `on_sent`)."""
        self._records.append(data)
        self._ids.append(request_id)
        self._size += len(data)
        self._wake.set()
        self._idle.clear()

    @property
    def queued_ids(self) -> list[int]:
        """Ids of records not handed to the socket yet."""
        return list(self._ids)

    async def _write_loop(self) -> None:
        wake, ws = self._wake, self.ws
        try:
            while True:
                await wake.wait()
                wake.clear()
                while self._records:
                    data, ids = self._take()
                    if self.on_sent is not None:
                        self.on_sent(ids)
                    await ws.send_bytes(data)
                self._idle.set()
        except Exception:  # the socket failed: close it, so its reader ends too
            with contextlib.suppress(Exception):
                await ws.close()

    def _take(self) -> tuple[bytes, list[int]]:
        records, ids = self._records, self._ids
        if self._size <= MAX_MESSAGE_BYTES:
            self._records, self._ids, self._size = [], [], 0
            return b"".join(records), ids
        count, size = 0, 0
        for data in records:  # the first records that fit (a record alone always fits)
            if count and size + len(data) > MAX_MESSAGE_BYTES:
                break
            count, size = count + 1, size + len(data)
        self._records, self._ids = records[count:], ids[count:]
        self._size -= size
        return b"".join(records[:count]), ids[:count]

    async def flush(self, timeout: float) -> None:
        """Wait (up to `timeout`) until every queued record was written."""
        if self._task.done():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()

    async def close(self) -> None:
        """Stop writing (whatever is still queued is dropped)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    @property
    def broken(self) -> bool:
        """Whether the writer stopped (the socket failed)."""
        return self._task.done()
