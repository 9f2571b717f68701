"""Abuse limits: failed authentications per client address, connections per key, and who the
client is behind a reverse proxy.

Every clock is injectable (a callable returning monotonic seconds), so tests step time instead
of sleeping.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from aiohttp import web

Clock = Callable[[], float]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Client addresses whose failures are remembered at once; the least recently failing are
#: forgotten first, so a flood of spoofed-looking addresses cannot grow memory without bound.
MAX_TRACKED_ADDRESSES = 20_000
#: IPv6 clients are limited per network of this prefix length (one host usually holds a /64).
IPV6_LIMIT_PREFIX = 64
#: What `client_address` answers when the peer address is unknown (a closed transport).
UNKNOWN_ADDRESS = "unknown"


class FailureLimiter:
    """At most `max_failures` failures per address in any `window` seconds; then a block.

    While an address has `max_failures` failures in the last `window` seconds, `blocked_for`
    says how long until the oldest of them leaves the window; every request is refused until
    then, valid credentials included (so guessing runs at no more than the allowed rate).
    """

    def __init__(self, max_failures: int, window: float, clock: Clock = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def blocked_for(self, address: str) -> float | None:
        """Seconds `address` stays refused, or None when it may try."""
        now = self.clock()
        times = self._recent(address, now)
        if times is None or len(times) < self.max_failures:
            return None
        return times[-self.max_failures] + self.window - now

    def record(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        now = self.clock()
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.max_failures)
            while len(self._failures) > MAX_TRACKED_ADDRESSES:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        times.append(now)


def limit_key(address: str) -> str:
    """What failures are counted against: the address, or for IPv6 its /64 network."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_LIMIT_PREFIX), strict=False))
    return address


def retry_after(seconds: float) -> str:
    """A `Retry-After` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class ConnectionLimiter:
    """Open WebSocket connections per key, at most `limit` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, key_id: str) -> bool:
        """Take a slot for `key_id`; False when its connections are at the limit."""
        count = self._open.get(key_id, 0)
        if count >= self.limit:
            return False
        self._open[key_id] = count + 1
        return True

    def release(self, key_id: str) -> None:
        """Give back a slot taken by `acquire`."""
        count = self._open.get(key_id, 0) - 1
        if count > 0:
            self._open[key_id] = count
        else:
            self._open.pop(key_id, None)

    def count(self, key_id: str) -> int:
        """Connections `key_id` holds now."""
        return self._open.get(key_id, 0)


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """`server.trusted_proxies` entries (addresses or CIDR networks) as networks."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: str | None, trusted: list[Network]) -> bool:
    """Whether `address` is one of the trusted proxies."""
    ip = _ip(address) if address else None
    return ip is not None and any(ip in network for network in trusted)


def client_address(request: web.BaseRequest, trusted: list[Network]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the
    right-most address of `X-Forwarded-For` that is not itself a trusted proxy.

    A client can write anything into `X-Forwarded-For`; only what trusted proxies appended
    (the right-hand end) is believed.
    """
    peer = request.remote or UNKNOWN_ADDRESS
    if not trusted or not is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
    ]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            return peer  # a garbled chain: trust nothing of it
        if not any(ip in network for network in trusted):
            return str(ip)
    return str(_ip(hops[0])) if hops else peer
