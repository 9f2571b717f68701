"""A WebSocket's data messages handed to their consumer as aiohttp's frame reader produces them.

aiohttp's reader puts every message in a queue; the connection's task wakes up and takes each
one through `receive()` and the `async for` protocol, a few thousand instructions per message
before the runtime sees it. `DirectDataQueue` calls the consumer (`Session.handle`, which never
suspends) with a text or binary message at once, inside the read callback, whenever the
connection's task is parked waiting for the queue and nothing is queued: no message is then
between the queue and the consumer, so the order of messages is kept. Everything else still
takes aiohttp's way: close, ping and pong frames, errors, the messages that arrived before a
consumer was set or while others were queued, and every message after a close frame, so the
connection's `receive()` loop keeps aiohttp's handling of the closing handshake and autoping.

While the consumer's output is backed up (`input_held`), data messages are queued too: the
connection's loop then waits for the output to drain before it takes the next one, aiohttp's
queue fills and stops reading from the socket, and the client meets TCP's backpressure.
"""

from __future__ import annotations

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
    """aiohttp's per-connection message queue, which hands data messages to `consumer` at once
    while nothing waits in it. Set the consumer with `deliver_to`."""

    __slots__ = ("_consumer", "_parked")

    def __init__(self, protocol: Any, limit: int, *, loop: Any) -> None:
        super().__init__(protocol, limit, loop=loop)
        self._consumer: Consumer | None = None
        #: The connection's task waits in `read` for a queue that was empty.
        self._parked = False

    def deliver_to(self, consumer: Consumer | None) -> None:
        """Hand data messages to `consumer` from now on (None: queue them all again)."""
        self._consumer = consumer

    def feed_data(self, data: Any, size: int) -> None:
        consumer = self._consumer
        if consumer is not None and self._parked and not self._buffer and not consumer.input_held:
            kind = data[0]
            if kind is _TEXT or kind is _BINARY:
                try:
                    consumer.handle(data[1])
                except Exception as exc:  # the consumer's bug ends this connection, not the loop
                    log.error("message handling failed", exc_info=exc)
                    self._consumer = None
                    self.set_exception(exc)
                return
            if kind is _CLOSE:
                self._consumer = None  # what follows a close frame is aiohttp's to drop
        super().feed_data(data, size)

    async def read(self) -> Any:
        """The next queued message, for the connection's `receive()`; while it waits for one,
        data messages go straight to the consumer."""
        self._parked = not self._buffer
        try:
            return await super().read()
        finally:
            self._parked = False


class DirectWebSocketResponse(web.WebSocketResponse):
    """A WebSocketResponse whose data messages can go straight to a consumer (`deliver_to`).

    The direct queue is installed only when the handshake brought no frame bytes along (the
    usual case: a client waits for the 101 before it sends) and this aiohttp's internals are the
    ones expected; otherwise the response keeps aiohttp's own queue and `deliver_to` does
    nothing, which changes no behaviour, only the cost per message.
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
        """Hand data messages to `consumer` while nothing is queued; False when this response
        keeps aiohttp's own queue (every message then comes through `receive()`)."""
        if self._direct is None:
            return False
        self._direct.deliver_to(consumer)
        return True


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
