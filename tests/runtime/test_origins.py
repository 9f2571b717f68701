"""Cookie credentials from a foreign Origin are refused (REST, WebSocket upgrade); opt-in CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import websockets

from runtime.testing import RuntimeHandle, run_runtime
from tests.runtime.conftest import sample_config

API = "/api/engine/v2/systems"
APP = "https://app.example.com"
EVIL = "https://evil.example.net"


async def _get(
    rt: RuntimeHandle, path: str, headers: dict[str, str], method: str = "GET", **kw: Any
) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, rt.url + path, headers=headers, **kw) as response,
    ):
        await response.read()
        return response.status, dict(response.headers)


def _own(rt: RuntimeHandle) -> str:
    return rt.url  # http://127.0.0.1:PORT, the origin a page served by this server has


@pytest.mark.parametrize("cookie", ["api-key", "bearer_token"])
@pytest.mark.parametrize(
    ("origin", "expected"),
    [(EVIL, 403), ("null", 403), ("http://127.0.0.1", 403), (None, 200), ("own", 200)],
)
async def test_cookie_credentials_need_the_servers_own_origin(
    rt: RuntimeHandle, cookie: str, origin: str | None, expected: int
) -> None:
    headers = {"Cookie": f"{cookie}={rt.api_key}"}
    if origin is not None:
        headers["Origin"] = _own(rt) if origin == "own" else origin
    assert (await _get(rt, API, headers))[0] == expected
    status, _ = await _get(
        rt, f"{API}/sys-1/Display_1/power", headers, "POST",
        data=b"[true]", skip_auto_headers=["Content-Type"],
    )
    assert status == expected


async def test_cross_site_fetch_without_origin_is_refused(rt: RuntimeHandle) -> None:
    headers = {"Cookie": f"api-key={rt.api_key}", "Sec-Fetch-Site": "cross-site"}
    assert (await _get(rt, API, headers))[0] == 403
    headers["Sec-Fetch-Site"] = "same-origin"
    assert (await _get(rt, API, headers))[0] == 200


@pytest.mark.parametrize("how", ["header", "query", "bearer"])
async def test_header_and_query_credentials_are_not_affected(rt: RuntimeHandle, how: str) -> None:
    headers = {"Origin": EVIL}
    path = API
    if how == "header":
        headers["X-API-Key"] = rt.api_key
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {rt.api_key}"
    else:
        path += f"?api-key={rt.api_key}"
    assert (await _get(rt, path, headers))[0] == 200


async def test_websocket_upgrade_with_a_cookie_from_a_foreign_origin_is_refused(
    rt: RuntimeHandle,
) -> None:
    cookie = {"Cookie": f"api-key={rt.api_key}"}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(rt.ws_url, additional_headers=cookie, origin=EVIL):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(
        rt.ws_url, additional_headers=cookie, origin=_own(rt)  # type: ignore[arg-type]
    ) as connection:
        await connection.send("ping")
        assert await connection.recv() == "pong"
    # the header credential is not a browser's ambient authority: any origin may use it
    async with websockets.connect(
        rt.ws_url, additional_headers={"X-API-Key": rt.api_key}, origin=EVIL  # type: ignore[arg-type]
    ) as connection:
        await connection.send("ping")
        assert await connection.recv() == "pong"


async def test_forwarded_origin_counts_only_from_a_trusted_proxy() -> None:
    headers = {
        "Cookie": "",
        "Origin": "https://runtime.example.org",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "runtime.example.org",
    }
    for trusted, expected in ((["127.0.0.0/8"], 200), ([], 403), (["10.0.0.0/8"], 403)):
        config = sample_config()
        config["server"] = {"trusted_proxies": trusted}
        async with run_runtime(config) as rt:
            headers["Cookie"] = f"api-key={rt.api_key}"
            assert (await _get(rt, API, headers))[0] == expected, trusted


@pytest.fixture
async def cors_rt() -> AsyncIterator[RuntimeHandle]:
    config = sample_config()
    config["server"] = {"cors_origins": [APP]}
    async with run_runtime(config) as handle:
        yield handle


async def test_cors_preflight_is_answered_without_a_credential(cors_rt: RuntimeHandle) -> None:
    headers = {
        "Origin": APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    status, reply = await _get(cors_rt, f"{API}/sys-1/Display_1/power", headers, "OPTIONS")
    assert status == 200
    assert reply["Access-Control-Allow-Origin"] == APP
    assert reply["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in reply["Access-Control-Allow-Methods"]
    headers["Origin"] = EVIL
    status, reply = await _get(cors_rt, f"{API}/sys-1/Display_1/power", headers, "OPTIONS")
    assert status == 403
    assert "Access-Control-Allow-Origin" not in reply


async def test_cors_origin_may_use_cookies_and_reads_the_response(cors_rt: RuntimeHandle) -> None:
    cookie = f"api-key={cors_rt.api_key}"
    status, reply = await _get(cors_rt, API, {"Origin": APP, "Cookie": cookie})
    assert (status, reply["Access-Control-Allow-Origin"]) == (200, APP)
    status, reply = await _get(cors_rt, API, {"Origin": EVIL, "Cookie": cookie})
    assert status == 403
    assert "Access-Control-Allow-Origin" not in reply
    async with websockets.connect(
        cors_rt.ws_url, additional_headers={"Cookie": cookie}, origin=APP  # type: ignore[arg-type]
    ) as connection:
        await connection.send("ping")
        assert await connection.recv() == "pong"


async def test_without_cors_origins_no_cors_headers_are_sent(rt: RuntimeHandle) -> None:
    status, reply = await _get(rt, API, {"Origin": APP, "X-API-Key": rt.api_key})
    assert status == 200
    assert not any(name.lower().startswith("access-control-") for name in reply)


def test_cors_origins_must_be_origins() -> None:
    from runtime.config import parse_config
    from runtime.errors import ConfigError

    with pytest.raises(ConfigError, match=r"server\.cors_origins"):
        parse_config({"server": {"cors_origins": ["https://app.example.com/path"]}})
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies"):
        parse_config({"server": {"trusted_proxies": ["not-an-address"]}})
