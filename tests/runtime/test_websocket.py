"""The WebSocket control endpoint, driven by a real websockets client."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

from runtime.testing import ExecError, RuntimeHandle
from tests.runtime.conftest import SUPPORT_KEY, USER_KEY

META = {"sys": "sys-1", "mod": "Display", "index": 1, "name": "power"}


async def test_text_ping_gets_pong(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        assert await client.ping() == "pong"


async def test_bind_replies_success_then_current_value_then_changes(rt: RuntimeHandle) -> None:
    rt.driver("mod-1")["power"] = False
    async with rt.client() as client:
        reply = await client.request({"id": 11, "cmd": "bind", **META})
        assert reply == {"id": 11, "type": "success", "meta": META}
        assert await client.next_notify() == {
            "id": 11,
            "type": "notify",
            "value": False,
            "meta": META,
        }
        assert await client.exec("sys-1", "Display", "power", [True]) is True
        assert await client.next_notify() == {
            "id": 11,
            "type": "notify",
            "value": True,
            "meta": META,
        }


async def test_unchanged_value_sends_no_notify_and_delete_sends_null(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.bind("sys-1", "Display", "power")
        await client.exec("sys-1", "Display", "power", [True])
        assert (await client.next_notify())["value"] is True
        await client.exec("sys-1", "Display", "power", [True])
        await client.exec("sys-1", "Display", "set_status", ["power", None])
        deleted = await client.next_notify()
        assert deleted["value"] is None
        assert "value" in deleted
        assert len(client.notifications) == 2


async def test_bind_without_status_sends_no_initial_notify(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.bind("sys-1", "Display", "never_set")
        assert await client.ping() == "pong"  # an initial notify would have come before it
        assert client.notifications == []


async def test_repeated_bind_is_idempotent(rt: RuntimeHandle) -> None:
    rt.driver("mod-1")["power"] = True
    async with rt.client() as client:
        await client.bind("sys-1", "Display", "power")
        await client.next_notify()
        again = await client.bind("sys-1", "Display", "power")
        assert again["type"] == "success"
        await client.exec("sys-1", "Display", "power", [False])
        await client.next_notify()
        assert await client.ping() == "pong"  # a second notify would have come before it
        assert [n["value"] for n in client.notifications] == [True, False]
    assert rt.runtime.store.subscriber_count("mod-1", "power") == 0


async def test_notify_uses_the_id_of_the_bind(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.request({"id": 500, "cmd": "bind", **META})
        await client.request({"id": 501, "cmd": "bind", **{**META, "mod": "Display", "index": 2}})
        rt.driver("mod-2")["power"] = True
        notify = await client.next_notify()
        assert notify["id"] == 501
        assert notify["meta"]["index"] == 2


async def test_unbind_stops_notifies_and_has_no_meta(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.bind("sys-1", "Display", "power")
        reply = await client.request({"id": 9, "cmd": "unbind", **META})
        assert reply == {"id": 9, "type": "success"}
        rt.driver("mod-1")["power"] = "changed"
        assert await client.ping() == "pong"  # a notify of the change would have come before it
        assert client.notifications == []
        never_bound = await client.unbind("sys-1", "Display", "other")
        assert never_bound["type"] == "success"


async def test_one_module_in_two_systems_resolves_by_index(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        # sys-2 lists mod-2 first, so Display_1 there is mod-2
        await client.exec("sys-2", "Display", "power", [True], index=1)
        assert rt.driver("mod-2").status["power"] is True
        assert "power" not in rt.driver("mod-1").status
        await client.exec("sys-2", "Display", "power", [False], index=2)
        assert rt.driver("mod-1").status["power"] is False


async def test_exec_values_and_named_args(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        reply = await client.request(
            {
                "id": 3,
                "cmd": "exec",
                "sys": "sys-1",
                "mod": "Display",
                "name": "volume",
                "args": [5],
            }
        )
        assert reply == {
            "id": 3,
            "type": "success",
            "value": {"level": 5, "index": 0},
            "meta": {"sys": "sys-1", "mod": "Display", "index": 1, "name": "volume"},
            "code": 200,
        }
        named = await client.exec("sys-1", "Display", "volume", {"index": 2, "level": "7"})
        assert named == {"level": 7, "index": 2}
        assert (
            await client.exec("sys-1", "Display", "switch_to", ["display_port"]) == "display_port"
        )
        nothing = await client.request(
            {"id": 4, "cmd": "exec", "sys": "sys-1", "mod": "Display", "name": "nothing"}
        )
        assert "value" in nothing
        assert nothing["value"] is None


@pytest.mark.parametrize(
    ("name", "args", "error_code", "msg", "code"),
    [
        ("nope", [], 1, "could not find function nope", 500),
        ("_private", [], 1, "could not find function _private", 500),
        ("on_update", [], 1, "could not find function on_update", 500),
        ("fail", ["bad input"], 3, "module raised: bad input (ValueError)", 500),
        ("abort", [], 3, "module raised: retry limit reached (Abort)", 409),
        ("power", [1, 2], 1, "wrong number of arguments for 'power' (given 2, expected 1)", 400),
        ("power", [], 1, "missing argument 'state' for 'power'", 400),
        ("power", {"status": True}, 1, "unknown argument 'status' for 'power'", 400),
        (
            "setting_value",
            [["absent", "key"]],
            3,
            "module raised: setting not found: absent->key (SettingNotFound)",
            500,
        ),
    ],
)
async def test_exec_errors(
    rt: RuntimeHandle, name: str, args: list[object], error_code: int, msg: str, code: int
) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Display", name, args)
    assert (err.value.error_code, err.value.msg, err.value.code) == (error_code, msg, code)


async def test_invalid_argument_type_names_the_parameter(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Display", "volume", ["loud"])
    assert err.value.error_code == 1
    assert err.value.msg.startswith("invalid argument 'level' for 'volume'")


async def test_missing_module_is_error_6(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Projector", "power", [True])
        assert err.value.error_code == 6
        with pytest.raises(ExecError) as err:
            await client.exec("sys-nope", "Display", "power", [True])
        assert err.value.error_code == 6


async def test_exec_timeout_fails_that_call_only(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Display", "hang", index=2)
        assert err.value.error_code == 3
        assert err.value.msg == "module raised: hang timed out after 0.3 s (TimeoutError)"
        assert await client.exec("sys-1", "Display", "power", [True], index=2) is True


async def test_a_drivers_own_timeout_error_is_not_reported_as_the_exec_timeout(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Display", "own_timeout", index=2)
    assert err.value.msg == "module raised: device did not answer (TimeoutError)"


async def test_requests_are_handled_concurrently(rt: RuntimeHandle) -> None:
    display = rt.driver("mod-1")
    async with rt.client() as client:
        held = asyncio.create_task(client.exec("sys-1", "Display", "wait_gate"))
        await asyncio.wait_for(display.arrivals.get(), 10)  # type: ignore[attr-defined]
        assert await client.exec("sys-1", "Display", "power", [True]) is True
        assert not held.done()
        display.gate.set()  # type: ignore[attr-defined]
        assert await held == "released"


async def test_security_levels(rt: RuntimeHandle) -> None:
    async with rt.client(api_key=USER_KEY) as user:
        with pytest.raises(ExecError) as err:
            await user.exec("sys-1", "Display", "support_only")
        assert (err.value.error_code, err.value.msg) == (
            2,
            "attempted to access privileged function support_only",
        )
        assert await user.exec("sys-1", "Display", "power", [True]) is True
    async with rt.client(api_key=SUPPORT_KEY) as support:
        assert await support.exec("sys-1", "Display", "support_only") == "support"
        with pytest.raises(ExecError) as err:
            await support.exec("sys-1", "Display", "admin_only")
        assert err.value.error_code == 2
    async with rt.client() as admin:
        assert await admin.exec("sys-1", "Display", "admin_only") == "admin"


async def test_protected_module_bind_needs_support(rt: RuntimeHandle) -> None:
    async with rt.client(api_key=USER_KEY) as user:
        with pytest.raises(ExecError) as err:
            await user.bind("sys-1", "_Hidden", "power")
        assert (err.value.error_code, err.value.msg) == (2, "attempted to access protected module")
    async with rt.client(api_key=SUPPORT_KEY) as support:
        assert (await support.bind("sys-1", "_Hidden", "power"))["type"] == "success"


@pytest.mark.parametrize(
    ("raw", "reply_id", "error_code", "msg"),
    [
        ("{not json", 0, 0, "parse error: frame is not valid JSON"),
        ('{"id": 42, "cmd": "exec", "sys": "s"}', 42, 1, "bad request: missing key 'mod'"),
        (
            '{"id": "42", "cmd": "exec", "sys": "s", "mod": "m", "name": "n"}',
            0,
            1,
            "bad request: 'id' must be a 64-bit integer, got string",
        ),
        (
            '{"id": 43, "cmd": "launch", "sys": "s", "mod": "m", "name": "n"}',
            43,
            4,
            "unknown command 'launch'",
        ),
        ("[1,2,3]", 0, 1, "bad request: expected a JSON object, got array"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_connection_stays(
    rt: RuntimeHandle, raw: str, reply_id: int, error_code: int, msg: str
) -> None:
    async with rt.client() as client:
        reply = await client.reply_to_raw(raw, reply_id)
        assert (reply["id"], reply["type"], reply["error_code"], reply["msg"]) == (
            reply_id,
            "error",
            error_code,
            msg,
        )
        assert await client.exec("sys-1", "Display", "power", [True]) is True


async def test_oversize_frame_gets_a_clear_error(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        frame = orjson.dumps(
            {
                "id": 77,
                "cmd": "exec",
                "sys": "sys-1",
                "mod": "Display",
                "name": "power",
                "args": ["x" * (1024 * 1024)],
            }
        ).decode()
        reply = await client.reply_to_raw(frame, 77)
        assert reply["error_code"] == 1
        assert "exceeds the 1048576-byte limit" in reply["msg"]
        assert await client.ping() == "pong"


async def test_every_request_gets_exactly_one_reply(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        replies = await asyncio.gather(
            *(client.exec("sys-1", "Display", "volume", [n]) for n in range(200))
        )
        assert [r["level"] for r in replies] == list(range(200))


async def test_debug_streams_module_log_lines_until_ignore(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        request = {"id": 70, "cmd": "debug", "sys": "sys-1", "mod": "mod-1", "name": "debug"}
        assert await client.request(request) == {"id": 70, "type": "success"}
        await client.exec("sys-1", "Display", "log_line", ["hello from the driver"])
        line = await client.next_debug()
        assert line == {
            "id": 70,
            "type": "debug",
            "msg": "hello from the driver",
            "meta": {"sys": "sys-1", "mod": "mod-1", "index": 1, "name": "debug"},
            "mod": "mod-1",
            "level": "info",
        }
        await client.exec("sys-1", "Display", "power", [True])
        status_line = await client.next_debug()
        assert (status_line["msg"], status_line["level"]) == (
            "status updated: power = true",
            "debug",
        )
        ignore = {**request, "id": 71, "cmd": "ignore"}
        assert await client.request(ignore) == {"id": 71, "type": "success"}
        await client.exec("sys-1", "Display", "log_line", ["not streamed"])
        assert await client.ping() == "pong"  # a debug line would have come before it
        assert client.debug_lines == [line, status_line]


async def test_debug_of_unknown_module_is_an_error(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        reply = await client.request(
            {"cmd": "debug", "sys": "sys-1", "mod": "mod-nope", "name": "debug"}
        )
        assert reply["type"] == "error"
        assert reply["error_code"] == 6


async def test_bindings_are_dropped_when_the_connection_closes(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.bind("sys-1", "Display", "power")
        await client.request({"cmd": "debug", "sys": "sys-1", "mod": "mod-1", "name": "debug"})
        assert rt.runtime.store.subscriber_count("mod-1", "power") == 1
    await rt.runtime.wait_for_sessions(0)
    assert rt.runtime.store.subscriber_count("mod-1", "power") == 0
    assert not rt.runtime.tap.active("mod-1")
    assert not rt.runtime.sessions


@pytest.mark.parametrize(
    "credential",
    [
        {"headers": {"X-API-Key": "wrong-key-123"}},
        {"query": "api-key=wrong-key-123"},
        {"headers": {"Authorization": "Bearer not-a-token"}},
        {},
    ],
)
async def test_bad_credentials_get_401_without_upgrade(
    rt: RuntimeHandle, credential: dict[str, object]
) -> None:
    url = rt.ws_url + ("?" + str(credential["query"]) if "query" in credential else "")
    headers = credential.get("headers", {})
    with pytest.raises(websockets.InvalidStatus) as err:
        async with websockets.connect(url, additional_headers=headers):  # type: ignore[arg-type]
            pass
    assert err.value.response.status_code == 401
    assert b'"error"' in err.value.response.body


@pytest.mark.parametrize(
    "how",
    ["header", "query", "cookie", "bearer-header", "bearer-query", "bearer-cookie"],
)
async def test_credentials_are_accepted_where_placeos_looks(rt: RuntimeHandle, how: str) -> None:
    key = rt.api_key
    url, headers = rt.ws_url, {}
    if how == "header":
        headers = {"X-API-Key": key}
    elif how == "query":
        url += f"?fixed_device=true&api-key={key}"
    elif how == "cookie":
        headers = {"Cookie": f"api-key={key}"}
    elif how == "bearer-header":
        headers = {"Authorization": f"Bearer {key}"}
    elif how == "bearer-query":
        url += f"?bearer_token={key}"
    else:
        headers = {"Cookie": f"bearer_token={key}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send("ping")
        assert await ws.recv() == "pong"


async def test_binding_a_module_that_appears_later_starts_notifying(rt: RuntimeHandle) -> None:
    from runtime.config import ModuleConfig, SystemConfig

    async with rt.client() as client:
        reply = await client.bind("sys-new", "Display", "power")
        assert reply["type"] == "success"
        host = rt.runtime.host
        await host.add_module(
            "mod-new", ModuleConfig(driver="tests.runtime.sample_drivers:Display")
        )
        rt.driver("mod-new")["power"] = "on"
        systems = {sid: s.config for sid, s in host.systems.items()}
        host.set_systems({**systems, "sys-new": SystemConfig(name="New", modules=["mod-new"])})
        notify = await client.next_notify()
        assert (notify["value"], notify["meta"]["sys"]) == ("on", "sys-new")
        rt.driver("mod-new")["power"] = "off"
        assert (await client.next_notify())["value"] == "off"
