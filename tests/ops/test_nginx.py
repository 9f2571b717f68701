"""docs/deploy.md's nginx site, run by Debian's nginx in front of a live runtime.

The site is read from the document (so the document is what is tested), its example ports,
upstream and certificate paths replaced by free loopback ports and a trustme certificate. nginx
runs as this test's own process with its own prefix, config, pid and log files in a temp dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
import websockets

from runtime.testing import RuntimeHandle, run_runtime
from tests.compat.test_ts_client import COMPAT_DIR, RESULT_PREFIX, SCRIPT, _node
from tests.compat.test_ts_client import CONFIG as COMPAT_CONFIG
from tests.ops.cli_support import cli_env, run_cli

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")
START_TIMEOUT = 15.0
NODE_TIMEOUT = 60.0
CONTROL = "/api/engine/v2/systems/control"
SYS = "sys-compat"


def nginx_binary() -> str:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("nginx is not installed: .ci/run installs Debian's nginx package")


def documented_site() -> str:
    """The ```nginx block of docs/deploy.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOY_DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/deploy.md has exactly one nginx site"
    return blocks[0]


def localised_site(site: str, replacements: dict[str, str]) -> str:
    for documented, local in replacements.items():
        assert site.count(documented) == 1, f"the documented site no longer has {documented!r}"
        site = site.replace(documented, local)
    return site


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Proxy:
    https_url: str
    http_url: str
    ca_file: Path
    ssl: ssl.SSLContext
    log_dir: Path


async def _wait_until_listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        if process.returncode is not None:
            pytest.fail(f"nginx exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                pytest.fail(f"nginx did not listen within {START_TIMEOUT:g} s")
            await asyncio.sleep(0.05)  # readiness poll of a foreign process, not a result wait
            continue
        writer.close()
        await writer.wait_closed()
        return


MAIN_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{site}
}}
"""


@asynccontextmanager
async def nginx_in_front(runtime_url: str, folder: Path) -> AsyncIterator[Proxy]:
    """Run the documented site on free loopback ports, proxying to `runtime_url`."""
    runtime_port = int(runtime_url.rsplit(":", 1)[1])
    https_port, http_port = free_ports(2)
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    certificate.private_key_and_cert_chain_pem.write_to_path(str(folder / "chain.pem"))
    certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    (folder / "tmp").mkdir()
    site = localised_site(
        documented_site(),
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "server 127.0.0.1:8080;": f"server 127.0.0.1:{runtime_port};",
            "/etc/ssl/placeos-runtime/fullchain.pem": str(folder / "chain.pem"),
            "/etc/ssl/placeos-runtime/privkey.pem": str(folder / "key.pem"),
        },
    )
    config = folder / "nginx.conf"
    config.write_text(MAIN_CONFIG.format(prefix=folder, site=site))
    log = folder / "error.log"
    process = await asyncio.create_subprocess_exec(
        nginx_binary(),
        "-e",
        str(log),
        "-p",
        str(folder),
        "-c",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_until_listening(https_port, process, log)
        context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        yield Proxy(
            f"https://127.0.0.1:{https_port}",
            f"http://127.0.0.1:{http_port}",
            folder / "ca.pem",
            context,
            folder,
        )
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), START_TIMEOUT)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[RuntimeHandle, Proxy]]:
    config: dict[str, Any] = {
        **COMPAT_CONFIG,
        "server": {"trusted_proxies": ["127.0.0.1"]},
    }
    async with run_runtime(config) as rt, nginx_in_front(rt.url, tmp_path) as proxy:
        yield rt, proxy


async def _request(
    proxy: Proxy, method: str, url: str, key: str | None, body: Any = None
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"X-API-Key": key} if key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, url, json=body, headers=headers, ssl=proxy.ssl, allow_redirects=False
        ) as response,
    ):
        return response.status, await response.read(), dict(response.headers)


async def test_rest_and_console_routes_pass_through_unchanged(
    stack: tuple[RuntimeHandle, Proxy],
) -> None:
    rt, proxy = stack
    key = rt.api_key
    for path in (
        "/auth/authority",
        "/api/engine/v2/systems",
        f"/api/engine/v2/systems/{SYS}",
        f"/api/engine/v2/systems/{SYS}/functions/Display_1",
        "/api/engine/v2/openapi.json",
        "/",
        "/console/",
    ):
        direct = await _request(proxy, "GET", rt.url + path, key)
        proxied = await _request(proxy, "GET", proxy.https_url + path, key)
        if path == "/auth/authority":  # names the host the client used
            body = json.loads(proxied[1])
            assert body["domain"] == proxy.https_url.removeprefix("https://")
            continue
        assert proxied[:2] == direct[:2], path
    status, body, _ = await _request(
        proxy, "POST", f"{proxy.https_url}/api/engine/v2/systems/{SYS}/Display_1/volume", key, [4]
    )
    assert (status, json.loads(body)) == (200, {"level": 4, "index": 0})
    status, body, _ = await _request(proxy, "GET", proxy.https_url + "/api/engine/v2/systems", None)
    assert status == 401
    status, _, headers = await _request(proxy, "GET", proxy.http_url + "/anything", None)
    assert status == 301
    assert headers["Location"].startswith("https://127.0.0.1")


async def test_websocket_bind_and_exec_through_tls(stack: tuple[RuntimeHandle, Proxy]) -> None:
    rt, proxy = stack
    url = proxy.https_url.replace("https", "wss", 1) + CONTROL
    headers = {"X-API-Key": rt.api_key}
    async with websockets.connect(url, additional_headers=headers, ssl=proxy.ssl) as ws:
        meta = {"sys": SYS, "mod": "Display", "index": 1}
        await ws.send(json.dumps({"id": 1, "cmd": "bind", **meta, "name": "power"}))
        assert json.loads(await ws.recv()) == {
            "id": 1,
            "type": "success",
            "meta": {**meta, "name": "power"},
        }
        await ws.send(json.dumps({"id": 2, "cmd": "exec", **meta, "name": "power", "args": [True]}))
        frames = [json.loads(await ws.recv()) for _ in range(2)]
        by_type = {f["type"]: f for f in frames}
        assert by_type["success"]["value"] is True and by_type["success"]["id"] == 2
        assert by_type["notify"] == {
            "id": 1,
            "type": "notify",
            "value": True,
            "meta": {**meta, "name": "power"},
        }
        await ws.send("ping")
        assert await ws.recv() == "pong"
    assert rt.driver("mod-display-1").status["power"] is True


async def test_cli_through_the_proxy(stack: tuple[RuntimeHandle, Proxy]) -> None:
    rt, proxy = stack
    env = cli_env(
        RUNTIME_URL=proxy.https_url, RUNTIME_API_KEY=rt.api_key, SSL_CERT_FILE=str(proxy.ca_file)
    )
    code, out, err = await run_cli("exec", SYS, "Display_2", "volume", "--args", "[6]", env=env)
    assert (code, json.loads(out)) == (0, {"level": 6, "index": 0}), err
    code, out, err = await run_cli("ls", SYS, env=env)
    assert code == 0, err
    assert "Display_2  mod-display-2" in out


async def test_ts_client_through_the_proxy(stack: tuple[RuntimeHandle, Proxy]) -> None:
    rt, proxy = stack
    node = await _node()
    rt.driver("mod-display-1")["power"] = False
    env = {
        **os.environ,
        "COMPAT_HOST": proxy.https_url.removeprefix("https://"),
        "COMPAT_SECURE": "1",
        "COMPAT_API_KEY": rt.api_key,
        "COMPAT_AUTH": "api-key",
        "COMPAT_SYS": SYS,
        "COMPAT_MODULE": "Display",
        "NODE_EXTRA_CA_CERTS": str(proxy.ca_file),
    }
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        cwd=COMPAT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT)
    lines = [ln for ln in out.decode().splitlines() if ln.startswith(RESULT_PREFIX)]
    assert lines, f"no result from node (exit {process.returncode}): {err.decode()[-2000:]}"
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    assert result["failure"] is None, result["failure"]
    host = proxy.https_url.removeprefix("https://")
    assert result["urls"] == [f"wss://{host}{CONTROL}?fixed_device=true&api-key=<api-key>"]
    steps = result["steps"]
    assert steps["exec_power"] == {"ok": True, "value": True}
    assert steps["power_values_after_exec"] == ["<undefined>", False, True]
    assert steps["http_execute"] == {"ok": True, "value": {"level": 7, "index": 0}}
    assert all(h["url"].startswith(f"https://{host}/") for h in result["http"])
