"""The console's files: served without a credential, with a strict policy, and nothing else."""

from __future__ import annotations

import aiohttp

from runtime.console import STATIC_DIR
from runtime.testing import run_runtime

SAMPLE = {
    "modules": {"mod-1": {"driver": "tests.runtime.sample_drivers:Display"}},
    "systems": {"sys-1": {"name": "Room", "modules": ["mod-1"]}},
}


async def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, dict(response.headers), await response.read()


async def test_the_page_and_its_modules_are_served_without_a_credential() -> None:
    async with run_runtime(SAMPLE) as rt:
        status, headers, body = await _get(rt.url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<script type="module" src="console/app.js">' in body
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"

        for name in ("app.js", "socket.js", "console.css"):
            status, headers, body = await _get(f"{rt.url}/console/{name}")
            assert status == 200, name
            assert body == (STATIC_DIR / name).read_bytes()
        status, headers, _ = await _get(rt.url + "/console/app.js")
        assert headers["Content-Type"].startswith("text/javascript")
        async with aiohttp.ClientSession() as http:
            async with http.get(rt.url + "/console/", allow_redirects=False) as response:
                assert response.status == 302 and response.headers["Location"] == "../"
            async with http.get(rt.url + "/console/") as response:
                assert response.status == 200 and str(response.url) == rt.url + "/"


async def test_nothing_but_the_console_files_is_served() -> None:
    async with run_runtime(SAMPLE) as rt:
        for path in (
            "/console/__init__.py",
            "/console/missing.js",
            "/console/%2e%2e%2fserver.py",
            "/console/..%2Fauth.py",
        ):
            status, _, _ = await _get(rt.url + path)
            assert status == 404, path
        # the API itself still wants a credential
        status, _, _ = await _get(rt.url + "/api/engine/v2/systems")
        assert status == 401
