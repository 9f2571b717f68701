"""Module status values, kept as their JSON encoding, and the subscriptions on them.

A change is encoded once and the same bytes are handed to every subscriber; subscribers add only
what differs between them (their request id and meta). The interface is small on purpose: a
backplane shared by several hosts (e.g. Redis hashes + pub/sub) can implement the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

NULL = b"null"


class Subscriber(Protocol):
    """Receives the raw JSON of a status whenever it changes (`null` when deleted)."""

    def deliver(self, value: bytes) -> None: ...


class StatusStore:
    """Per-module status values and (module, key) subscriptions, in memory."""

    __slots__ = ("_subscribers", "_values")

    def __init__(self) -> None:
        self._values: dict[str, dict[str, bytes]] = {}
        self._subscribers: dict[tuple[str, str], set[Subscriber]] = {}

    def get(self, module_id: str, key: str) -> bytes | None:
        """The JSON encoding of one status, or None when absent."""
        values = self._values.get(module_id)
        return None if values is None else values.get(key)

    def snapshot(self, module_id: str) -> dict[str, bytes]:
        """A copy of every status of a module."""
        return dict(self._values.get(module_id, {}))

    def keys(self, module_id: str) -> Iterator[str]:
        """The status names a module has."""
        return iter(list(self._values.get(module_id, {})))

    def set(self, module_id: str, key: str, encoded: bytes | None) -> bool:
        """Store a value (None deletes it) and notify subscribers; False when nothing changed."""
        values = self._values.setdefault(module_id, {})
        if encoded is None:
            if values.pop(key, None) is None:
                return False
            encoded = NULL
        else:
            if values.get(key) == encoded:
                return False
            values[key] = encoded
        self._publish(module_id, key, encoded)
        return True

    def signal(self, module_id: str, key: str) -> None:
        """Publish the current value (or `null`) even though it did not change."""
        self._publish(module_id, key, self.get(module_id, key) or NULL)

    def clear(self, module_id: str) -> None:
        """Delete every status of a module, publishing `null` for each."""
        for key in list(self._values.get(module_id, {})):
            self.set(module_id, key, None)
        self._values.pop(module_id, None)

    async def fetch(self, module_id: str, key: str) -> bytes | None:
        """`get` for callers that may be served by a store shared between hosts."""
        return self.get(module_id, key)

    async def fetch_snapshot(self, module_id: str) -> dict[str, bytes]:
        """`snapshot` for callers that may be served by a store shared between hosts."""
        return self.snapshot(module_id)

    def subscribe(self, module_id: str, key: str, subscriber: Subscriber) -> None:
        """Deliver changes of (module, key) to `subscriber`."""
        self._subscribers.setdefault((module_id, key), set()).add(subscriber)

    def unsubscribe(self, module_id: str, key: str, subscriber: Subscriber) -> None:
        """Stop delivering (module, key) changes to `subscriber`."""
        subscribers = self._subscribers.get((module_id, key))
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[(module_id, key)]

    def subscriber_count(self, module_id: str, key: str) -> int:
        """How many subscribers (module, key) has."""
        return len(self._subscribers.get((module_id, key), ()))

    def _publish(self, module_id: str, key: str, encoded: bytes) -> None:
        subscribers = self._subscribers.get((module_id, key))
        if subscribers:
            for subscriber in tuple(subscribers):
                subscriber.deliver(encoded)
