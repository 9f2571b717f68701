"""Abuse limits: failed authentications per client address, connections per key, trusted proxies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import structlog
import websockets
from aiohttp.test_utils import make_mocked_request

from runtime.abuse import (
    ConnectionLimiter,
    FailureLimiter,
    client_address,
    parse_networks,
    retry_after,
)
from runtime.testing import RuntimeHandle, run_runtime
from tests.runtime.conftest import SUPPORT_KEY, USER_KEY, sample_config

API = "/api/engine/v2/systems"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failures_metric(rt: RuntimeHandle) -> float | None:
    registry = rt.runtime.metrics.registry
    return registry.get_sample_value("placeos_runtime_auth_failures_total")


def _config(**auth: Any) -> dict[str, Any]:
    config = sample_config()
    config["auth"].update(auth)
    return config


@pytest.fixture
async def limited() -> AsyncIterator[tuple[RuntimeHandle, FakeClock]]:
    async with run_runtime(_config(max_failures=3, failure_window=60)) as rt:
        clock = FakeClock()
        rt.runtime.gate.failures.clock = clock
        yield rt, clock


async def test_failures_from_an_address_block_it_with_retry_after(
    limited: tuple[RuntimeHandle, FakeClock],
) -> None:
    rt, clock = limited
    for _ in range(3):
        assert (await rt.rest("GET", API, api_key="wrong-key-123"))[0] == 401
        clock.now += 1
    assert _failures_metric(rt) == 3
    # now every request from this address is refused, valid credentials included
    status, body = await rt.rest("GET", API)
    assert status == 429
    assert body == {"error": "too many failed authentications from this address"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with rt.client():
            pass
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "57"  # failures at 1000-1002, now 1003
    assert (await rt.rest("GET", "/auth/authority", authenticate=False))[0] == 429
    clock.now = 1000 + 60  # the first failure has left the window
    assert (await rt.rest("GET", API))[0] == 200
    assert (await rt.rest("GET", API, api_key="wrong-key-123"))[0] == 401
    assert (await rt.rest("GET", API))[0] == 429  # three failures in the window again
    assert _failures_metric(rt) == 4


async def test_missing_credentials_count_as_failures(
    limited: tuple[RuntimeHandle, FakeClock],
) -> None:
    rt, _clock = limited
    for _ in range(3):
        assert (await rt.rest("GET", API, authenticate=False))[0] == 401
    assert (await rt.rest("GET", API))[0] == 429


async def test_health_probes_are_never_blocked(limited: tuple[RuntimeHandle, FakeClock]) -> None:
    rt, _clock = limited
    for _ in range(3):
        await rt.rest("GET", API, authenticate=False)
    assert rt.runtime.gate.failures.blocked_for("127.0.0.1") is not None
    routes = {r.resource.canonical for r in rt.runtime.app.router.routes() if r.resource}
    if "/healthz" in routes:
        assert (await rt.rest("GET", "/healthz", authenticate=False))[0] == 200


async def test_failed_authentications_are_logged_without_the_key(
    limited: tuple[RuntimeHandle, FakeClock],
) -> None:
    rt, _clock = limited
    with structlog.testing.capture_logs() as logs:
        await rt.rest("GET", API, api_key="wrong-key-123")
        await rt.rest("GET", API + "?api-key=wrong-key-456", authenticate=False)
    lines = [line for line in logs if line["event"] == "authentication failed"]
    assert [line["reason"] for line in lines] == ["unknown API key"] * 2
    assert "wrong-key" not in repr(logs)


def test_failure_limiter_window_slides() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(2, 10.0, clock)
    limiter.record("a")
    clock.now += 4
    assert limiter.blocked_for("a") is None
    limiter.record("a")
    assert limiter.blocked_for("a") == pytest.approx(6.0)
    assert limiter.blocked_for("b") is None
    clock.now += 6
    assert limiter.blocked_for("a") is None
    assert retry_after(0.2) == "1"
    assert retry_after(6.0) == "6"


class ObservedLimiter(ConnectionLimiter):
    """The runtime's connection limiter, telling waiters whenever a connection gives back its
    slot (which happens once its handler has returned)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._released = asyncio.Event()

    def release(self, key_id: str) -> None:
        super().release(key_id)
        self._released.set()

    async def released_until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._released.clear()
                await self._released.wait()


async def test_connections_per_key_are_capped_before_the_upgrade() -> None:
    async with run_runtime(_config(max_connections_per_key=2)) as rt:
        gate = rt.runtime.gate
        connections = gate.connections = ObservedLimiter(gate.connections.limit)
        async with rt.client(USER_KEY) as first, rt.client(USER_KEY):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with rt.client(USER_KEY):
                    pass
            assert refused.value.response.status_code == 429
            assert b"limit 2" in refused.value.response.body
            async with rt.client(SUPPORT_KEY) as other:  # another key has its own count
                assert await other.ping() == "pong"
            await first.close()
            user_id = rt.runtime.auth._keys[next(iter(rt.runtime.auth._keys))].key_id
            await connections.released_until(lambda: connections.count(user_id) == 1)
            async with rt.client(USER_KEY) as again:
                assert await again.ping() == "pong"
        await connections.released_until(lambda: not connections._open)


def _request(peer: str, forwarded: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("GET", "/", headers=headers)
    request._transport_peername = (peer, 1234)  # the mocked transport has no peer
    return request


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ([], "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # no proxies trusted: header ignored
        (["10.0.0.0/8"], "192.0.2.1", "203.0.113.5", "192.0.2.1"),  # peer not trusted
        (["10.0.0.0/8"], "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.9, 203.0.113.5", "203.0.113.5"),  # spoofed left
        (["10.0.0.0/8"], "10.0.0.2", "203.0.113.5, 10.0.0.7", "203.0.113.5"),  # proxy chain
        (["10.0.0.0/8"], "10.0.0.2", None, "10.0.0.2"),
        (["10.0.0.0/8"], "10.0.0.2", "not-an-ip", "10.0.0.2"),
        (["::1/128"], "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_address_behind_trusted_proxies(
    trusted: list[str], peer: str, forwarded: str | None, client: str
) -> None:
    request = _request(peer, forwarded)
    assert client_address(request, parse_networks(trusted)) == client


async def test_failures_count_per_forwarded_client_only_behind_a_trusted_proxy() -> None:
    for trusted, other_blocked in ((["127.0.0.1/32"], False), ([], True)):
        config = _config(max_failures=2)
        config["server"] = {"trusted_proxies": trusted}
        async with run_runtime(config) as rt:
            attacker = {"X-Forwarded-For": "203.0.113.5"}
            for _ in range(2):
                await rt.rest("GET", API, api_key="wrong-key-123", headers=attacker)
            assert (await rt.rest("GET", API, headers=attacker))[0] == 429
            status, _ = await rt.rest("GET", API, headers={"X-Forwarded-For": "198.51.100.7"})
            assert (status == 429) is other_blocked


async def test_extra_authenticators_and_self_authenticating_paths(rt: RuntimeHandle) -> None:
    from runtime.auth import Principal
    from runtime.security import Clearance

    async def peer(request: Any) -> Principal | None:
        if request.headers.get("X-Peer") == "shared-peer-secret":
            return Principal("cluster peer", Clearance.ADMIN, "peer")
        return None

    gate = rt.runtime.gate
    gate.extra_authenticators.append(peer)
    peer_headers = {"X-Peer": "shared-peer-secret"}
    status, value = await rt.rest(
        "POST", f"{API}/sys-1/Display_1/admin_only", authenticate=False, headers=peer_headers
    )
    assert (status, value) == (200, "admin")
    types = f"{API}/sys-1/types"
    assert (await rt.rest("GET", types, authenticate=False))[0] == 401
    gate.self_authenticating.append(types)
    assert (await rt.rest("GET", types, authenticate=False))[0] == 200
    before = _failures_metric(rt) or 0
    for _ in range(gate.failures.max_failures):
        rt.runtime.auth_failed(_request("127.0.0.1"), "bad peer secret")
    assert _failures_metric(rt) == before + gate.failures.max_failures
    assert (await rt.rest("GET", types, authenticate=False))[0] == 429  # limits still apply


def test_ipv6_clients_are_limited_per_64_network() -> None:
    from runtime.abuse import limit_key

    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::9")
    assert limit_key("2001:db8:1:2::1") != limit_key("2001:db8:1:3::1")
    assert limit_key("192.0.2.7") == "192.0.2.7"
    assert limit_key("unknown") == "unknown"


async def test_keys_sharing_a_name_are_counted_apart() -> None:
    config = _config(max_connections_per_key=1)
    config["auth"]["api_keys"] = [
        {"key": "kiosk-key-0001", "name": "kiosk"},
        {"key": "kiosk-key-0002", "name": "kiosk"},
    ]
    async with (
        run_runtime(config) as rt,
        rt.client("kiosk-key-0001") as one,
        rt.client("kiosk-key-0002") as two,
    ):
        assert await one.ping() == await two.ping() == "pong"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with rt.client("kiosk-key-0001"):
                pass
        assert refused.value.response.status_code == 429
