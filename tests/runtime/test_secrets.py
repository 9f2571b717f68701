"""The secrets sweep: a full session with secrets everywhere a configuration puts them, and a
driver failing with secrets in its locals and settings. Everything the runtime says (logs at
debug in both formats, every WebSocket frame, every REST body, statuses, metadata, the CLI's
output) is captured, and none of the secrets appears in it."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
import websockets
import yaml

from embedded import start_embedded
from runtime.testing import run_runtime

ROOT = Path(__file__).resolve().parents[2]
API = "/api/engine/v2/systems"
LEAKY = "tests.runtime.leaky_driver:Leaky"

ADMIN_KEY = "adm1n-K3y-secret-0001"
SUPPORT_KEY = "supp0rt-K3y-secret-0002"
USER_KEY = "us3r-K3y-secret-0003"
JWT_SECRET = "jwt-S1gning-secret-0004-long-enough-for-hs256"
GRAPH_SECRET_NUMBER = 918273645501
DRIVER_PASSWORD = "drv-P4ssword-secret-0005"
DRIVER_API_KEY = "drv-ApiKey-secret-0006"
WRONG_KEY = "wr0ng-K3y-secret-0007"
LW_SECRET = "lw-Cl1ent-secret-0008"


def _config(embedded: dict[str, Any]) -> dict[str, Any]:
    graph = embedded["modules"]["mod-graph"]["settings"]
    lineworks = embedded["modules"]["mod-lineworks"]["settings"]
    leaky = {"password": DRIVER_PASSWORD, "api_key": DRIVER_API_KEY}
    modules = {
        **embedded["modules"],
        "mod-graph-number": {
            "driver": embedded["modules"]["mod-graph"]["driver"],
            "name": "Numbered",
            "settings": {
                **graph,
                "calendar_config": {
                    **graph["calendar_config"],
                    "client_secret": GRAPH_SECRET_NUMBER,
                },
            },
        },
        "mod-lineworks-bad": {
            "driver": embedded["modules"]["mod-lineworks"]["driver"],
            "name": "BadKey",
            "settings": {
                "lineworks": {
                    **lineworks["lineworks"],
                    "client_secret": LW_SECRET,
                    "private_key": "-----BEGIN PRIVATE KEY-----\n" + LW_SECRET + "\n",
                }
            },
        },
        "mod-leaky": {"driver": LEAKY, "settings": leaky},
        "mod-leaky-load": {
            "driver": LEAKY,
            "name": "LeakyLoad",
            "settings": {**leaky, "fail_on_load": True},
        },
        "mod-leaky-update": {
            "driver": LEAKY,
            "name": "_LeakyUpdate",
            "settings": {**leaky, "fail_on_update": True},
        },
    }
    systems = dict(embedded["systems"])
    systems["sys-demo"] = {**systems["sys-demo"], "modules": list(modules)}
    return {
        "server": {"log_level": "debug"},
        "auth": {
            "api_keys": [
                {"key": ADMIN_KEY, "clearance": "admin", "name": "ops"},
                {"key": SUPPORT_KEY, "clearance": "support", "name": "helpdesk"},
                {"key": USER_KEY, "clearance": "user"},
            ],
            "jwt": {"secret": JWT_SECRET},
        },
        "modules": modules,
        "systems": systems,
    }


def _secrets(embedded: dict[str, Any], admin_key: str, token: str) -> list[str]:
    lineworks = embedded["modules"]["mod-lineworks"]["settings"]["lineworks"]
    pem = lineworks.get("private_key") or Path(lineworks["private_key_file"]).read_text()
    pem_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [
        ADMIN_KEY,
        SUPPORT_KEY,
        USER_KEY,
        JWT_SECRET,
        str(GRAPH_SECRET_NUMBER),
        DRIVER_PASSWORD,
        DRIVER_API_KEY,
        WRONG_KEY,
        LW_SECRET,
        admin_key,
        token,
        token.rsplit(".", 1)[1],  # the signature alone
        embedded["modules"]["mod-graph"]["settings"]["calendar_config"]["client_secret"],
        lineworks["client_secret"],
        *pem_lines,
    ]


async def _websocket_session(url: str, headers: dict[str, str], seen: list[str]) -> None:
    """Bind, exec, debug every module; every frame received is kept."""
    frames = [
        {"cmd": "debug", "mod": module_id}
        for module_id in (
            "mod-leaky", "mod-leaky-load", "mod-leaky-update", "mod-graph-number",
            "mod-lineworks-bad", "mod-graph", "mod-lineworks",
        )
    ]
    for mod in ("Leaky", "LeakyLoad", "_LeakyUpdate", "Numbered", "BadKey", "Calendar"):
        frames.append({"cmd": "bind", "mod": mod, "name": "load_error"})
        frames.append({"cmd": "bind", "mod": mod, "name": "connected"})
    for name in ("login", "login_async", "validate", "handled", "nope"):
        frames.append({"cmd": "exec", "mod": "Leaky", "name": name, "args": []})
    frames.append({"cmd": "exec", "mod": "Numbered", "name": "list_users", "args": []})
    frames.append({"cmd": "exec", "mod": "BadKey", "name": "list_users", "args": []})
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        for number, frame in enumerate(frames, 1):
            await ws.send(
                orjson.dumps(
                    {"id": number, "sys": "sys-demo", "index": 1, "name": "x", **frame}
                ).decode()
            )
        answered: set[int] = set()
        async with asyncio.timeout(60):
            while len(answered) < len(frames):
                message = await ws.recv()
                seen.append(str(message))
                parsed = orjson.loads(message)
                if parsed.get("type") in ("success", "error"):
                    answered.add(parsed["id"])
        # the timer of each Leaky module has failed by now; its lines came through debug too
        await ws.send("ping")
        while (message := await ws.recv()) != "pong":
            seen.append(str(message))


async def _rest_sweep(base: str, headers: dict[str, str], seen: list[str]) -> None:
    async with aiohttp.ClientSession(headers=headers) as http:

        async def get(path: str, method: str = "GET", **kw: Any) -> Any:
            async with http.request(method, base + path, **kw) as response:
                text = await response.text()
                seen.append(f"{response.status} {dict(response.headers)} {text}")
                return orjson.loads(text) if text else None

        systems = await get(API)
        if not isinstance(systems, list):  # refused: the wrong key
            await get(f"{API}/sys-demo/Leaky_1/login", "POST", json=[])
            return
        for system in systems:
            detail = await get(f"{API}/{system['id']}")
            for module in detail["module_data"]:
                slug = f"{module['name']}_{module['index']}"
                state = await get(f"{API}/{system['id']}/{slug}")
                for key in state or {}:
                    await get(f"{API}/{system['id']}/{slug}/{key}")
                await get(f"{API}/{system['id']}/functions/{slug}")
        for name in ("login", "login_async", "validate", "handled"):
            await get(f"{API}/sys-demo/Leaky_1/{name}", "POST", json=[])
        await get(f"{API}/sys-demo/Numbered_1/list_users", "POST", json=[])
        await get("/auth/authority")


async def _cli(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return output.decode()


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_no_secret_leaves_the_runtime(
    log_format: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    seen: list[str] = []
    token = jwt.encode(
        {"sub": "jwt-user", "exp": int(time.time()) + 600, "u": {"n": "Jo", "support": True}},
        JWT_SECRET,
        algorithm="HS256",
    )
    async with AsyncExitStack() as stack:
        default = await start_embedded(stack, {})
        embedded = default.config.model_dump(mode="json", exclude_none=True)
        seen.extend(default.banner)
        config = _config(embedded)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        assert f"client_secret: {GRAPH_SECRET_NUMBER}\n" in path.read_text()  # a bare number
        async with run_runtime(
            config_path=path, log_format=log_format, log_level="debug"
        ) as rt:
            secrets = _secrets(embedded, rt.api_key, token)
            ws_url = rt.ws_url
            for headers in (
                {"X-API-Key": ADMIN_KEY},
                {"Authorization": f"Bearer {token}"},
                {"X-API-Key": USER_KEY},
            ):
                await _websocket_session(ws_url, headers, seen)
                await _rest_sweep(rt.url, headers, seen)
            await _rest_sweep(rt.url, {"X-API-Key": WRONG_KEY}, seen)
            with pytest.raises(websockets.InvalidStatus):
                await _websocket_session(ws_url, {"X-API-Key": WRONG_KEY}, seen)
            for module_id, module in rt.runtime.host.modules.items():
                snapshot = rt.runtime.store.snapshot(module_id)
                seen.append(f"{module_id} {module.describe()} {snapshot}")
                seen.append(str(module.interface.metadata))
            cli_exec = await _cli("exec", "sys-demo", "Leaky_1", "login",
                                  "--url", rt.url, "--api-key", ADMIN_KEY)
            assert "login refused" in cli_exec
            seen.append(cli_exec)
            seen.append(await _cli("exec", "sys-demo", "Numbered_1", "list_users",
                                   "--url", rt.url, "--api-key", ADMIN_KEY))
            seen.append(await _cli("interface", LEAKY))
            seen.append(await _cli("interface", "drivers.microsoft.graph_api:GraphAPI"))
            # the failures happened and were reported (the sweep is not vacuous)
            modules = rt.runtime.host.modules
            assert "client_secret" in (modules["mod-graph-number"].error or "")
            assert modules["mod-leaky-load"].state == "failed"
    everything = log.getvalue() + "\n".join(seen)
    assert "login refused" in everything
    assert "Traceback" in everything and "PermissionError" in everything
    assert "calendar_config.client_secret: Input should be a valid string" in everything
    assert "tick failed" in everything
    leaked = [secret for secret in secrets if secret and secret in everything]
    assert leaked == []
