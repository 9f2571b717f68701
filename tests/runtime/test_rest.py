"""REST routes: exec, status, functions listing, systems, authority."""

from __future__ import annotations

import pytest

from runtime.testing import RuntimeHandle
from tests.runtime.conftest import SUPPORT_KEY, USER_KEY

API = "/api/engine/v2/systems"


async def test_exec_returns_raw_json_with_the_driver_code(rt: RuntimeHandle) -> None:
    assert await rt.rest("POST", f"{API}/sys-1/Display_1/volume", json=[4]) == (
        200,
        {"level": 4, "index": 0},
    )
    assert await rt.rest("POST", f"{API}/sys-1/Display/power", json={"state": True}) == (200, True)
    assert await rt.rest("POST", f"{API}/sys-1/Display_1/nothing") == (200, None)


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "message", "has_backtrace"),
    [
        (
            "Display_1/fail",
            ["boom"],
            500,
            "request failed",
            "module raised: boom (ValueError)",
            True,
        ),
        (
            "Display_1/abort",
            [],
            409,
            "request failed",
            "module raised: retry limit reached (Abort)",
            True,
        ),
        ("Display_1/nope", [], 400, "bad request", "could not find function nope", False),
        (
            "Projector_1/power",
            [True],
            404,
            "module not found",
            "could not find module Projector_1 in sys-1",
            False,
        ),
        (
            "Display_1/power",
            [1, 2],
            400,
            "bad request",
            "wrong number of arguments for 'power' (given 2, expected 1)",
            False,
        ),
        (
            "Display_1/power",
            "on",
            400,
            "bad request",
            "body must be a JSON array of arguments or an object of named arguments",
            False,
        ),
    ],
)
async def test_exec_failures_use_the_placeos_envelope(
    rt: RuntimeHandle,
    path: str,
    body: object,
    status: int,
    error: str,
    message: str,
    has_backtrace: bool,
) -> None:
    got_status, envelope = await rt.rest("POST", f"{API}/sys-1/{path}", json=body)
    assert got_status == status
    assert set(envelope) == {"error", "sys_id", "module_name", "index", "message", "backtrace"}
    assert (envelope["error"], envelope["message"], envelope["sys_id"]) == (error, message, "sys-1")
    assert (envelope["backtrace"] is not None) == has_backtrace


async def test_exec_body_that_is_not_json_is_a_parse_error(rt: RuntimeHandle) -> None:
    status, envelope = await rt.rest(
        "POST",
        f"{API}/sys-1/Display_1/power",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert (status, envelope["error"]) == (400, "parse error")


async def test_access_denied_is_401_with_envelope(rt: RuntimeHandle) -> None:
    status, envelope = await rt.rest(
        "POST", f"{API}/sys-1/Display_1/admin_only", json=[], api_key=SUPPORT_KEY
    )
    assert (status, envelope["error"], envelope["backtrace"]) == (401, "access denied", None)


async def test_status_map_values_are_json_encoded_strings(rt: RuntimeHandle) -> None:
    driver = rt.driver("mod-1")
    driver["power"] = True
    driver["input"] = "hdmi"
    driver["levels"] = {"a": [1]}
    status, body = await rt.rest("GET", f"{API}/sys-1/Display_1")
    assert status == 200
    assert body["power"] == "true"
    assert body["input"] == '"hdmi"'
    assert body["levels"] == '{"a":[1]}'
    assert await rt.rest("GET", f"{API}/sys-1/Projector_1") == (200, {})


async def test_status_lookup_returns_the_parsed_value(rt: RuntimeHandle) -> None:
    rt.driver("mod-1")["levels"] = {"a": [1]}
    assert await rt.rest("GET", f"{API}/sys-1/Display_1/levels") == (200, {"a": [1]})
    assert await rt.rest("GET", f"{API}/sys-1/Display_1/missing") == (200, None)
    assert await rt.rest("GET", f"{API}/sys-1/Nothing_1/levels") == (200, None)


async def test_functions_listing_is_filtered_by_clearance(rt: RuntimeHandle) -> None:
    _, admin = await rt.rest("GET", f"{API}/sys-1/functions/Display_1")
    _, support = await rt.rest("GET", f"{API}/sys-1/functions/Display_1", api_key=SUPPORT_KEY)
    _, user = await rt.rest("GET", f"{API}/sys-1/functions/Display_1", api_key=USER_KEY)
    assert {"admin_only", "support_only"} <= set(admin)
    assert "support_only" in support
    assert "admin_only" not in support
    assert not {"admin_only", "support_only"} & set(user)
    assert admin["volume"] == {
        "arity": 2,
        "params": {
            "level": {"type": "integer", "title": "int"},
            "index": {"type": "integer", "title": "int", "default": 0},
        },
        "order": ["level", "index"],
    }
    assert admin["switch_to"]["params"]["input"]["enum"] == ["hdmi", "display_port"]
    assert "power_toggle" in admin  # from the mixin
    status, body = await rt.rest("GET", f"{API}/sys-1/functions/Nope_1")
    assert status == 404
    assert body == {"error": "metadata not found for Nope_1 on sys-1"}


async def test_systems_listing_and_one_system(rt: RuntimeHandle) -> None:
    status, systems = await rt.rest("GET", API)
    assert status == 200
    assert {"id": "sys-2", "name": "Room two", "modules": ["mod-2", "mod-1"]} in systems
    status, system = await rt.rest("GET", f"{API}/sys-1")
    assert status == 200
    by_id = {m["id"]: m for m in system["module_data"]}
    assert (by_id["mod-2"]["name"], by_id["mod-2"]["index"]) == ("Display", 2)
    assert by_id["mod-broken"]["running"] is False
    assert by_id["mod-broken"]["error"] == "on_load raised: cannot reach device (RuntimeError)"
    assert (await rt.rest("GET", f"{API}/sys-404"))[0] == 404
    assert await rt.rest("GET", f"{API}/sys-1/types") == (
        200,
        {"Display": 2, "Broken": 1, "Slow": 1, "_Hidden": 1},
    )


async def test_rest_requires_credentials(rt: RuntimeHandle) -> None:
    status, body = await rt.rest("GET", API, api_key="wrong-key-000")
    assert status == 401
    assert body == {"error": "unknown API key"}


async def test_authority_is_public_and_selects_v2_routes(rt: RuntimeHandle) -> None:
    status, body = await rt.rest("GET", "/auth/authority", api_key="none-at-all")
    assert status == 200
    assert body["session"] is False
    assert body["version"].startswith("3.")
    assert {
        "id",
        "name",
        "description",
        "domain",
        "login_url",
        "logout_url",
        "production",
        "config",
    } <= set(body)
