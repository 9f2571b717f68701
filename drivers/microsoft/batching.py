"""Automatic JSON batching: requests issued close together travel in one ``$batch`` call.

A request submitted here waits a few milliseconds (``linger``, restarted by each new arrival,
never longer than ``max_linger`` after the first one) for others to join it; the group is then
sent as one batch of at most ``max_size`` (Graph's limit is 20). A lone request is sent on its
own. Each caller gets its own item's response back; retrying an item (429, 503, 401...) is the
caller's business, so a throttled item is retried on its own schedule while its neighbours
succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .graph_request import GraphRequest, GraphResponse

__all__ = ["MAX_BATCH_SIZE", "RequestBatcher"]

MAX_BATCH_SIZE = 20
DEFAULT_LINGER = 0.005
DEFAULT_MAX_LINGER = 0.05

SendBatch = Callable[[list[GraphRequest]], Awaitable[list[GraphResponse]]]
SendSingle = Callable[[GraphRequest], Awaitable[GraphResponse]]
_Pending = tuple[GraphRequest, "asyncio.Future[GraphResponse]"]


class RequestBatcher:
    """Groups concurrently submitted requests into batches."""

    def __init__(
        self,
        send_batch: SendBatch,
        send_single: SendSingle,
        *,
        max_size: int = MAX_BATCH_SIZE,
        linger: float = DEFAULT_LINGER,
        max_linger: float = DEFAULT_MAX_LINGER,
    ) -> None:
        if not 1 <= max_size <= MAX_BATCH_SIZE:
            raise ValueError(f"max_size must be between 1 and {MAX_BATCH_SIZE}")
        self._send_batch = send_batch
        self._send_single = send_single
        self.max_size = max_size
        self.linger = linger
        self.max_linger = max_linger
        self._pending: list[_Pending] = []
        self._first_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def waiting(self) -> int:
        """Requests collected but not yet sent."""
        return len(self._pending)

    async def submit(self, request: GraphRequest) -> GraphResponse:
        """Queue ``request`` for the next batch and wait for its own response."""
        if self._closed:
            raise RuntimeError("the request batcher is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GraphResponse] = loop.create_future()
        if not self._pending:
            self._first_at = loop.time()
        self._pending.append((request, future))
        if len(self._pending) >= self.max_size:
            self._flush()
        else:
            self._arm_timer(loop)
        return await future

    async def close(self) -> None:
        """Stop: fail what is still collected, cancel batches in progress."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(RuntimeError("the Graph client was closed"))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _arm_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        deadline = min(loop.time() + self.linger, self._first_at + self.max_linger)
        self._timer = loop.call_at(deadline, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            group, self._pending = self._pending[: self.max_size], self._pending[self.max_size :]
            task = asyncio.get_running_loop().create_task(self._run(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[_Pending]) -> None:
        requests = [request for request, _ in group]
        try:
            if len(requests) == 1:
                responses = [await self._send_single(requests[0])]
            else:
                responses = await self._send_batch(requests)
        except asyncio.CancelledError:
            for _, future in group:
                if not future.done():
                    future.cancel()
            raise
        except Exception as error:
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), response in zip(group, responses, strict=True):
            if not future.done():
                future.set_result(response)
