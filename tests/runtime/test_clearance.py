"""The clearance matrix: user / support / admin x every WebSocket command and REST route, on a
normal module (`Display_1`, mod-1) and a protected one (`_Hidden_1`, mod-hidden)."""

from __future__ import annotations

import re

import pytest

from runtime.testing import RuntimeHandle
from tests.runtime.conftest import SUPPORT_KEY, USER_KEY

API = "/api/engine/v2/systems"
ROLES = ("user", "support", "admin")
#: module slug on sys-1 -> module id
MODULES = {"Display": "mod-1", "_Hidden": "mod-hidden"}


def _key(rt: RuntimeHandle, role: str) -> str:
    return {"user": USER_KEY, "support": SUPPORT_KEY, "admin": rt.api_key}[role]


def _ws_allowed(command: str, role: str, module: str) -> bool:
    if command == "unbind":
        return True
    if command in ("debug", "ignore"):
        return role != "user"
    return role != "user" or not module.startswith("_")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("command", ["bind", "unbind", "exec", "debug", "ignore"])
async def test_websocket_commands(rt: RuntimeHandle, role: str, module: str, command: str) -> None:
    frame = {"cmd": command, "sys": "sys-1", "mod": module, "name": "power"}
    if command == "exec":
        frame["args"] = [True]
    elif command in ("debug", "ignore"):
        frame["mod"] = MODULES[module]  # debug addresses a module by its id
    async with rt.client(_key(rt, role)) as client:
        reply = await client.request(frame)
    if _ws_allowed(command, role, module):
        assert reply["type"] == "success", reply
    else:
        assert (reply["type"], reply["error_code"], reply["code"]) == ("error", 2, 401)


@pytest.mark.parametrize("role", ROLES)
async def test_debug_of_a_protected_module_by_id_needs_support(
    rt: RuntimeHandle, role: str
) -> None:
    async with rt.client(_key(rt, role)) as client:
        await client.request({"cmd": "debug", "sys": "sys-1", "mod": "mod-hidden", "name": "d"})
        rt.driver("mod-hidden").logger.info("admin set the pin to 4711")
        rt.driver("mod-hidden")["check"] = 1  # a status write is a debug line too
        # a reply after the lines: anything queued for this client before it has arrived
        await client.request({"cmd": "unbind", "sys": "sys-1", "mod": "x", "name": "y"})
        if role == "user":
            assert client.debug_lines == []
        else:
            line = await client.next_debug()
            assert line["msg"] == "admin set the pin to 4711"


REST_ROUTES = [
    ("POST", "{api}/sys-1/{slug}/power", [True]),
    ("GET", "{api}/sys-1/{slug}", None),
    ("GET", "{api}/sys-1/{slug}/power", None),
    ("GET", "{api}/sys-1/functions/{slug}", None),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize(("method", "path", "body"), REST_ROUTES)
async def test_rest_module_routes(
    rt: RuntimeHandle, role: str, module: str, method: str, path: str, body: object
) -> None:
    url = path.format(api=API, slug=f"{module}_1")
    status, reply = await rt.rest(method, url, json=body, api_key=_key(rt, role))
    if role == "user" and module.startswith("_"):
        assert status == 401
        assert reply["error"] == "access denied"
        assert reply["message"] == "attempted to access protected module"
    else:
        assert status == 200, reply


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["", "/sys-1", "/sys-1/types"])
async def test_rest_listings_are_open_to_every_clearance(
    rt: RuntimeHandle, role: str, path: str
) -> None:
    status, _body = await rt.rest("GET", API + path, api_key=_key(rt, role))
    assert status == 200


@pytest.mark.parametrize("role", ROLES)
async def test_functions_are_filtered_by_clearance(rt: RuntimeHandle, role: str) -> None:
    status, functions = await rt.rest(
        "GET", f"{API}/sys-1/functions/Display_1", api_key=_key(rt, role)
    )
    assert status == 200
    assert ("support_only" in functions) is (role != "user")
    assert ("admin_only" in functions) is (role == "admin")


@pytest.mark.parametrize("role", ROLES)
async def test_rest_backtrace_only_for_support_and_admin(rt: RuntimeHandle, role: str) -> None:
    status, envelope = await rt.rest(
        "POST", f"{API}/sys-1/Display_1/fail", json=["boom"], api_key=_key(rt, role)
    )
    assert status == 500
    assert envelope["message"] == "module raised: boom (ValueError)"
    if role == "user":
        assert envelope["backtrace"] is None
    else:
        assert any("raise ValueError(message)" in line for line in envelope["backtrace"])


def _fill(canonical: str, slug: str) -> str:
    values = {"sys": "sys-1", "slug": slug, "method": "power", "key": "power"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), canonical)


async def test_every_module_route_refuses_a_user_on_a_protected_module(rt: RuntimeHandle) -> None:
    """Whatever routes exist, each one addressing a module by slug goes through the check."""
    routes = [
        (route.method, route.resource.canonical)
        for route in rt.runtime.app.router.routes()
        if route.resource is not None
        and "{slug}" in route.resource.canonical
        and route.method in ("GET", "POST")
    ]
    assert len(routes) >= 4
    for method, canonical in routes:
        body = [True] if method == "POST" else None
        hidden = _fill(canonical, "_Hidden_1")
        status, _ = await rt.rest(method, hidden, json=body, api_key=USER_KEY)
        assert status == 401, (method, canonical)
        status, _ = await rt.rest(method, hidden, json=body, api_key=SUPPORT_KEY)
        assert status != 401, (method, canonical)


@pytest.mark.parametrize(
    "slug", ["Display_18446744073709551616", "Display_99999999999999999999999", "Display_0"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_out_of_range_slug_index_is_module_not_found(
    rt: RuntimeHandle, slug: str, method: str
) -> None:
    path = f"{API}/sys-1/{slug}" + ("/power" if method == "POST" else "")
    status, body = await rt.rest(method, path, json=[True] if method == "POST" else None)
    assert status == 404
    assert body["error"] == "module not found"
    status, body = await rt.rest("GET", f"{API}/sys-1/functions/{slug}")
    assert (status, body["error"]) == (404, "module not found")


async def test_refused_execs_are_counted_as_access_denied(rt: RuntimeHandle) -> None:
    registry = rt.runtime.metrics.registry

    def denied() -> float:
        sample = registry.get_sample_value(
            "placeos_runtime_execs_total", {"outcome": "access_denied"}
        )
        return sample or 0.0

    async with rt.client(USER_KEY) as client:
        reply = await client.request(
            {"cmd": "exec", "sys": "sys-1", "mod": "_Hidden", "name": "power", "args": [True]}
        )
        assert reply["error_code"] == 2
    assert denied() == 1
    status, _ = await rt.rest("POST", f"{API}/sys-1/_Hidden_1/power", json=[True], api_key=USER_KEY)
    assert (status, denied()) == (401, 2)
