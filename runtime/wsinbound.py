"""A WebSocket's data messages handed to their consumer as aiohttp's frame reader produces them.

aiohttp's reader puts every message in a queue; the connection's task wakes up and takes each
one through `receive()` and the `async for` protocol, a few thousand instructions per message
before the runtime sees it. `DirectDataQueue` calls the consumer (`Session.handle`, which never
suspends) with a text or binary message at once, inside the read callback, while the
connection's task is parked: it awaits `parked()` instead of reading (which also holds no
coroutine frames while the connection is idle). Nothing is then queued or between the queue and
the consumer, so the order of messages is kept; the first message queued unparks the task.

Everything else still takes aiohttp's way: close, ping and pong frames, errors, the messages
that arrived before the task first parked, and every message after a close frame, so the
connection's `receive()` loop keeps aiohttp's handling of the closing handshake and autoping.
While the consumer's output is backed up (`input_held`), data messages are queued too: the
connection's loop then waits for the output to drain before it takes the next one, aiohttp's
queue fills and stops reading from the socket, and the client meets TCP's backpressure.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

from runtime.logs import get_logger


class Consumer(Protocol):
    """Where data messages go: `handle` takes a text message's str (bytes when the response does
    not decode text) or a binary message's bytes; while `input_held`, messages are queued."""

    input_held: bool

    def handle(self, frame: Any) -> None: ...


_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE

log = get_logger(component="session")


class DirectDataQueue(WebSocketDataQueue):
    """aiohttp's per-connection message queue, which hands data messages to a consumer at once
    while the connection's task is parked on it (`park`) and nothing is queued."""

    __slots__ = ("_consumer", "_fed")

    def __init__(self, protocol: Any, limit: int, *, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(protocol, limit, loop=loop)
        self._consumer: Consumer | None = None
        #: Set while the connection's task is parked: done once a message is queued.
        self._fed: asyncio.Future[None] | None = None

    def deliver_to(self, consumer: Consumer | None) -> None:
        """Hand data messages to `consumer` from now on (None: queue them all again)."""
        self._consumer = consumer

    def park(self) -> asyncio.Future[None] | None:
        """A future for the connection's task to await instead of reading: done once a message
        is queued or the queue ends (the task then reads it without waiting); meanwhile data
        messages go straight to the consumer. None when a message is queued already."""
        if self._buffer or self.is_eof():
            return None
        fed = self._fed = asyncio.get_running_loop().create_future()
        return fed

    def _unpark(self) -> None:
        fed = self._fed
        self._fed = None
        if fed is not None and not fed.done():
            fed.set_result(None)

    def feed_data(self, data: Any, size: int) -> None:
        if self._fed is not None:  # the task is parked, so nothing is queued or being read
            consumer = self._consumer
            kind = data[0]
            if (kind is _TEXT or kind is _BINARY) and consumer is not None:
                if not consumer.input_held:
                    try:
                        consumer.handle(data[1])
                    except Exception as exc:  # a bug in the consumer ends this connection only
                        log.error("message handling failed", exc_info=exc)
                        self._consumer = None
                        self.set_exception(exc)
                    return
            elif kind is _CLOSE:
                self._consumer = None  # what follows a close frame is aiohttp's to drop
            self._unpark()
        elif data[0] is _CLOSE:
            self._consumer = None
        super().feed_data(data, size)

    def feed_eof(self) -> None:
        super().feed_eof()
        self._unpark()

    def set_exception(self, exc: BaseException, *cause: Any) -> None:
        super().set_exception(exc, *cause)
        self._unpark()


class DirectWebSocketResponse(web.WebSocketResponse):
    """A WebSocketResponse whose data messages can go straight to a consumer (`deliver_to`).

    The direct queue is installed only when the handshake brought no frame bytes along (the
    usual case: a client waits for the 101 before it sends) and this aiohttp's internals are the
    ones expected (those of aiohttp 3.14, the lowest version the project allows); otherwise the
    response keeps aiohttp's own queue and `deliver_to` does nothing, which changes no
    behaviour, only the cost per message.
    """

    _direct: DirectDataQueue | None = None

    def _post_start(self, request: web.BaseRequest, protocol: Any, writer: Any) -> None:
        handler: Any = request.protocol
        tail = getattr(handler, "_message_tail", b"")
        super()._post_start(request, protocol, writer)
        if not tail:
            self._direct = _take_over(self, handler)

    @property
    def delivers_directly(self) -> bool:
        """Whether this response has the direct queue (else aiohttp's own)."""
        return self._direct is not None

    def deliver_to(self, consumer: Consumer | None) -> bool:
        """Hand data messages to `consumer` while the connection's task is parked (`parked`);
        False when this response keeps aiohttp's own queue (every message then comes through
        `receive()`)."""
        if self._direct is None:
            return False
        self._direct.deliver_to(consumer)
        return True

    def parked(self) -> asyncio.Future[None] | None:
        """For the connection's loop before each `receive()`: a future to await while nothing
        is queued (data messages meanwhile go to the consumer); None when `receive()` is to be
        called at once (a message is queued, or this response keeps aiohttp's own queue)."""
        direct = self._direct
        return None if direct is None else direct.park()


def _take_over(response: Any, handler: Any) -> DirectDataQueue | None:
    """Replace a just-started response's queue and frame reader, before they have read anything,
    with a `DirectDataQueue` and a reader feeding it; None (nothing changed) when this aiohttp
    does not look as expected."""
    queue, parser = response._reader, response._parser
    if getattr(handler, "_payload_parser", None) is not parser:
        return None
    if type(queue) is not WebSocketDataQueue:
        return None
    try:
        direct = DirectDataQueue(queue._protocol, queue._limit // 2, loop=response._loop)
        reader = WebSocketReader(
            direct,
            response._max_msg_size,
            compress=bool(response._compress),
            decode_text=response._decode_text,
        )
    except (AttributeError, TypeError):
        return None
    response._reader = direct
    response._parser = handler._payload_parser = reader
    return direct
