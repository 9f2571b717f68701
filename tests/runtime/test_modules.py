"""Module lifecycle, settings merge, failure isolation and driver metadata."""

from __future__ import annotations

import orjson
import pytest

from runtime import Driver, SettingNotFound
from runtime.interface import interface_of
from runtime.testing import ExecError, RuntimeHandle
from tests.runtime.sample_drivers import Display


async def test_settings_merge_driver_system_module(rt: RuntimeHandle) -> None:
    driver = rt.driver("mod-1")
    assert driver.setting("input") == "dvi"  # module beats system beats driver default
    assert driver.setting("nested") == {"a": 10, "b": 3}  # deep merge of all three
    assert driver.setting("room") == "one"
    assert driver.setting_or(5, "rate_limit") == 5
    with pytest.raises(SettingNotFound, match="setting not found: nested->c"):
        driver.setting("nested", "c")
    assert rt.driver("mod-2").setting("input") == "hdmi"


async def test_on_load_runs_on_update_by_default(rt: RuntimeHandle) -> None:
    assert rt.driver("mod-1").updates == ["dvi"]  # type: ignore[attr-defined]


async def test_framework_sets_connected_for_drivers_that_do_not_manage_it(
    rt: RuntimeHandle,
) -> None:
    assert rt.driver("mod-1").status["connected"] is True


async def test_failed_on_load_is_visible_and_isolated(rt: RuntimeHandle) -> None:
    broken = rt.runtime.host.modules["mod-broken"]
    assert broken.state == "failed"
    assert rt.driver("mod-broken").status["load_error"] == (
        "on_load raised: cannot reach device (RuntimeError)"
    )
    assert rt.driver("mod-broken").status["connected"] is False
    slow = rt.runtime.host.modules["mod-slow"]
    assert (slow.state, slow.error) == ("failed", "on_load timed out after 0.2 s")
    async with rt.client() as client:
        with pytest.raises(ExecError) as err:
            await client.exec("sys-1", "Broken", "ping")
        assert err.value.error_code == 7
        assert "not running" in err.value.msg
        assert await client.exec("sys-1", "Display", "power", [True]) is True


async def test_removed_module_notifies_null_to_bound_clients(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        rt.driver("mod-2")["power"] = True
        await client.bind("sys-1", "Display", "power", index=2)
        assert (await client.next_notify())["value"] is True
        await rt.runtime.host.remove_module("mod-2")
        assert (await client.next_notify())["value"] is None
        assert await client.ping() == "pong"  # a second null would have come before it
        assert [n["value"] for n in client.notifications] == [True, None]  # exactly one null


def test_metadata_follows_placeos() -> None:
    metadata = interface_of(Display, Driver).metadata
    assert metadata["security"] == {"support": ["support_only"], "administrator": ["admin_only"]}
    assert metadata["interface"]["power"] == {"state": {"type": "boolean", "title": "bool"}}
    assert metadata["interface"]["nothing"] == {}
    assert metadata["functions"]["volume"] == {"level": ["int"], "index": ["int", 0]}
    assert metadata["implements"] == ["Powerable"]
    assert metadata["json_schema"] == Display.settings_schema
    assert metadata["descriptive_name"] == "Test display"
    assert "_private" not in metadata["interface"]
    assert not {"on_load", "on_update", "on_unload", "setting", "status"} & set(
        metadata["interface"]
    )
    orjson.dumps(metadata)


async def test_status_view_is_read_only_and_parsed(rt: RuntimeHandle) -> None:
    driver = rt.driver("mod-1")
    driver["list"] = [1, 2]
    assert driver["list"] == [1, 2]
    assert driver.status["list"] == [1, 2]
    assert "list" in set(driver.status)
    with pytest.raises(TypeError):
        driver.status["list"] = 3  # type: ignore[index]
    with pytest.raises(KeyError):
        driver["absent"]


def test_keyword_parameters_are_named_without_the_trailing_underscore() -> None:
    from tests.runtime.sample_drivers import Mailer

    command = interface_of(Mailer, Driver).commands["send"]
    assert [p.name for p in command.params] == ["to", "from"]
    assert command.bind({"to": "a@x", "from": "b@x"}) == ([], {"to": "a@x", "from_": "b@x"})
    assert command.bind(["a@x", "b@x"]) == ([], {"to": "a@x", "from_": "b@x"})
    assert "from" in interface_of(Mailer, Driver).metadata["interface"]["send"]
