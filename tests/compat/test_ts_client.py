"""The published `@placeos/ts-client` 4.7.7, run in Node 20, against a live runtime.

`ts_client_scenario.mjs` drives the real client (bind, exec, errors, unbind, HTTP helpers) and
reports every frame it sent and received; these tests judge that report. Node and the npm package
are required: CI installs them with `npm ci --prefix tests/compat`, so their absence fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.testing import RuntimeHandle, run_runtime

COMPAT_DIR = Path(__file__).resolve().parent
SCRIPT = COMPAT_DIR / "ts_client_scenario.mjs"
PACKAGE_JSON = COMPAT_DIR / "node_modules" / "@placeos" / "ts-client" / "package.json"
TS_CLIENT_VERSION = "4.7.7"
MIN_NODE_MAJOR = 20
NODE_TIMEOUT = 30.0
RESULT_PREFIX = "COMPAT_RESULT "
UNDEFINED = "<undefined>"
REDACTED_KEY = "<api-key>"

SYS = "sys-compat"
USER_KEY = "compat-user-key-0001"
CONFIG: dict[str, Any] = {
    "auth": {"api_keys": [{"key": USER_KEY, "clearance": "user", "name": "compat user"}]},
    "modules": {
        "mod-display-1": {"driver": "tests.runtime.sample_drivers:Display"},
        "mod-display-2": {"driver": "tests.runtime.sample_drivers:Display"},
    },
    "systems": {"sys-compat": {"name": "Compat", "modules": ["mod-display-1", "mod-display-2"]}},
}


@dataclass(frozen=True)
class Case:
    """One way of connecting: credential kind, clearance and module address."""

    auth: str  # "api-key" (setAPI_Key) or "bearer" (setToken)
    admin: bool  # the runtime's admin key, else the user-clearance key
    module_arg: str  # as passed to getModule
    module_id: str
    index: int


CASES = [
    Case("api-key", admin=True, module_arg="Display", module_id="mod-display-1", index=1),
    Case("bearer", admin=False, module_arg="Display_2", module_id="mod-display-2", index=2),
]


async def _node() -> str:
    """The node executable; fails (never skips) when Node or the package is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: install Node.js >= 20, then `npm ci --prefix tests/compat`"
        )
    proc = await asyncio.create_subprocess_exec(node, "--version", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    version = out.decode().strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        pytest.fail(f"Node.js >= {MIN_NODE_MAJOR} required, found {version}")
    if not PACKAGE_JSON.is_file():
        pytest.fail("@placeos/ts-client is not installed: run `npm ci --prefix tests/compat`")
    installed = json.loads(PACKAGE_JSON.read_text())["version"]
    if installed != TS_CLIENT_VERSION:
        pytest.fail(f"@placeos/ts-client {installed} installed, the lock pins {TS_CLIENT_VERSION}")
    return node


async def _run_scenario(node: str, rt: RuntimeHandle, case: Case, api_key: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "COMPAT_HOST": rt.url.removeprefix("http://"),
        "COMPAT_API_KEY": api_key,
        "COMPAT_AUTH": case.auth,
        "COMPAT_SYS": SYS,
        "COMPAT_MODULE": case.module_arg,
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        cwd=COMPAT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), NODE_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the ts-client scenario did not finish within {NODE_TIMEOUT:g} s")
    lines = [ln for ln in out.decode().splitlines() if ln.startswith(RESULT_PREFIX)]
    assert lines, f"no result from node (exit {proc.returncode}): {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    assert result["failure"] is None, f"{result['failure']}\nstderr: {err.decode()[-2000:]}"
    assert proc.returncode == 0
    assert api_key not in out.decode()
    return result


def _frames(result: dict[str, Any], direction: str) -> list[Any]:
    return [f["frame"] for f in result["frames"] if f["dir"] == direction]


def _requests(result: dict[str, Any], cmd: str, name: str) -> list[dict[str, Any]]:
    return [
        f
        for f in _frames(result, "out")
        if isinstance(f, dict) and f["cmd"] == cmd and f["name"] == name
    ]


def _reply(result: dict[str, Any], request_id: int) -> dict[str, Any]:
    replies = [
        f
        for f in _frames(result, "in")
        if isinstance(f, dict) and f["id"] == request_id and f["type"] in ("success", "error")
    ]
    assert len(replies) == 1, f"request {request_id} got {len(replies)} replies"
    return replies[0]


@pytest.mark.parametrize("case", CASES, ids=[c.auth for c in CASES])
async def test_ts_client_against_runtime(case: Case) -> None:
    node = await _node()
    async with run_runtime(CONFIG) as rt:
        rt.driver(case.module_id)["power"] = False
        api_key = rt.api_key if case.admin else USER_KEY
        result = await _run_scenario(node, rt, case, api_key)
        final_power = rt.driver(case.module_id).status.get("power")
    host = rt.url.removeprefix("http://")
    steps = result["steps"]
    meta = {"sys": SYS, "mod": "Display", "index": case.index}

    # connection: route chosen from /auth/authority, credential in the query string
    assert steps["websocket_route"] == "/api/engine/v2/systems/control"
    query = "fixed_device=true&api-key=" if case.auth == "api-key" else "bearer_token="
    assert result["urls"] == [f"ws://{host}/api/engine/v2/systems/control?{query}{REDACTED_KEY}"]
    assert _frames(result, "out")[0] == "ping"
    assert "pong" in _frames(result, "in")
    assert steps["module"] == {
        "name": "Display",
        "index": case.index,
        "id": f"Display_{case.index}",
    }

    # bind: success (with meta, no value) first, then the current value once
    first_bind = _requests(result, "bind", "power")[0]
    assert first_bind == {"id": first_bind["id"], "cmd": "bind", **meta, "name": "power"}
    bind_reply = _reply(result, first_bind["id"])
    assert bind_reply == {
        "id": first_bind["id"],
        "type": "success",
        "meta": {**meta, "name": "power"},
    }
    assert steps["bind_initial"]["values"] == [UNDEFINED, False]
    power_notifies = [
        f
        for f in _frames(result, "in")
        if isinstance(f, dict) and f["type"] == "notify" and f["meta"]["name"] == "power"
    ]
    assert power_notifies[0] == {
        "id": first_bind["id"],
        "type": "notify",
        "value": False,
        "meta": {**meta, "name": "power"},
    }
    assert steps["power_bind_count"] == 1
    for repeated in _requests(result, "bind", "power")[1:]:  # ts-client re-binds after connecting
        assert _reply(result, repeated["id"])["type"] == "success"

    # exec: return value, and the status change it caused reaches the binding
    assert steps["exec_power"] == {"ok": True, "value": True}
    assert steps["power_values_after_exec"] == [UNDEFINED, False, True]
    assert steps["value_helper"] is True
    assert [n["value"] for n in power_notifies] == [False, True]
    assert all(n["id"] == first_bind["id"] for n in power_notifies)
    exec_power = _requests(result, "exec", "power")[0]
    assert exec_power["args"] == [True]
    exec_reply = _reply(result, exec_power["id"])
    assert exec_reply == {
        "id": exec_power["id"],
        "type": "success",
        "value": True,
        "meta": {**meta, "name": "power"},
        "code": 200,
    }
    assert list(exec_reply) == ["id", "type", "value", "meta", "code"]
    assert steps["exec_volume"] == {"ok": True, "value": {"level": 42, "index": 0}}
    assert steps["exec_no_args"] == {"ok": True, "value": None}
    assert "args" not in _requests(result, "exec", "nothing")[0]

    # errors reject with the whole error frame
    unknown = _requests(result, "exec", "nope")[0]
    assert steps["exec_unknown"] == {
        "ok": False,
        "error": {
            "id": unknown["id"],
            "type": "error",
            "msg": "could not find function nope",
            "error_code": 1,
            "code": 500,
        },
    }
    raised = steps["exec_raises"]["error"]
    assert steps["exec_raises"]["ok"] is False
    assert (raised["error_code"], raised["msg"], raised["code"]) == (
        3,
        "module raised: boom (ValueError)",
        500,
    )
    if case.admin:
        assert steps["exec_admin_only"] == {"ok": True, "value": "admin"}
    else:
        denied = steps["exec_admin_only"]["error"]
        assert (denied["error_code"], denied["msg"], denied["code"]) == (
            2,
            "attempted to access privileged function admin_only",
            401,
        )

    # a bind made while connected gets the value the status already has
    assert steps["volume_bind_values"] == [UNDEFINED, 42]

    # unbind: bare success, then changes to the status no longer arrive
    unbind = _requests(result, "unbind", "power")[-1]
    assert _reply(result, unbind["id"]) == {"id": unbind["id"], "type": "success"}
    assert steps["exec_after_unbind"] == {"ok": True, "value": False}
    assert steps["exec_set_status_after_unbind"] == {"ok": True, "value": None}
    assert final_power == "standby"  # the status did change twice after the unbind
    assert steps["power_notifies_after_unbind"] == []
    assert steps["power_values_final"] == [UNDEFINED, False, True]
    assert steps["power_count_after_unbind"] == 0

    # HTTP helpers over the REST routes, with the same credential
    functions = steps["http_function_list"]["value"]
    assert functions["power"] == {
        "arity": 1,
        "params": {"state": {"type": "boolean", "title": "bool"}},
        "order": ["state"],
    }
    assert ("admin_only" in functions) is case.admin
    assert ("support_only" in functions) is case.admin
    assert steps["http_execute"] == {"ok": True, "value": {"level": 7, "index": 0}}
    assert steps["http_state"] == {"ok": True, "value": 7}
    http_error = steps["http_execute_raises"]["error"]
    assert http_error["http_status"] == 500
    assert {k: http_error["body"][k] for k in ("error", "sys_id", "module_name", "index")} == {
        "error": "request failed",
        "sys_id": SYS,
        "module_name": "Display",
        "index": case.index,
    }
    assert http_error["body"]["message"] == "module raised: http boom (ValueError)"
    api_calls = [h for h in result["http"] if "/api/engine/v2/" in h["url"]]
    assert len(api_calls) == 4
    credential = "X-API-Key" if case.auth == "api-key" else "Authorization: Bearer"
    assert all(h["credential"] == credential and h["credential_is_key"] for h in api_calls)

    # protocol hygiene: every request answered exactly once, no null keys in server frames
    for request in _frames(result, "out"):
        if isinstance(request, dict):
            _reply(result, request["id"])
    for frame in _frames(result, "in"):
        if isinstance(frame, dict):
            assert all(v is not None or k == "value" for k, v in frame.items()), frame
