"""Config edits: settings through on_update, modules and systems come and go, bad files refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.testing import ExecError, run_runtime
from tests.reload.support import DriverPackage, live

PANEL = """
    from runtime import Driver


    class Panel(Driver):
        generic_name = "Panel"
        default_settings = {"label": "default"}

        def __init__(self) -> None:
            self.updates: list[tuple[str, str]] = []
            self.unloaded = False

        def on_update(self, reason: str = "load") -> None:
            self.updates.append((reason, self.setting("label")))
            self["label"] = self.setting("label")

        def on_unload(self) -> None:
            self.unloaded = True

        def label(self) -> str:
            return self.setting("label")
"""

SWITCH = """
    from runtime import Driver


    class Switch(Driver):
        generic_name = "Panel"

        def label(self) -> str:
            return "switch"
"""


def base_config(package: DriverPackage) -> dict[str, Any]:
    panel = package.driver("panel", "Panel")
    return {
        "modules": {
            "mod-a": {"driver": panel, "settings": {"label": "a"}},
            "mod-b": {"driver": panel, "settings": {"label": "b"}},
        },
        "systems": {
            "sys-1": {"name": "Room one", "modules": ["mod-a", "mod-b"]},
            "sys-2": {"name": "Room two", "modules": ["mod-b"]},
        },
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(config))


@pytest.fixture
def config_file(tmp_path: Path, package: DriverPackage) -> Path:
    package.write("panel", PANEL)
    path = tmp_path / "config.yaml"
    write_config(path, base_config(package))
    return path


async def test_changed_settings_reach_on_update_with_the_settings_reason(
    config_file: Path, package: DriverPackage
) -> None:
    async with run_runtime(config_path=config_file, reload=True) as rt:
        assert rt.reloader is not None
        a, b = live(rt, "mod-a"), live(rt, "mod-b")
        async with rt.client() as client:
            await client.bind("sys-1", "Panel", "label")
            assert (await client.next_notify())["value"] == "a"

            config = base_config(package)
            config["modules"]["mod-a"]["settings"]["label"] = "renamed"
            write_config(config_file, config)
            report = await rt.reloader.wait_for_report(1)
            assert report.kind == "config" and report.updated == ["mod-a"]

            assert (await client.next_notify())["value"] == "renamed"
            assert await client.exec("sys-1", "Panel", "label") == "renamed"
            assert live(rt, "mod-a") is a
            assert a.updates == [("load", "a"), ("settings", "renamed")]
            assert b.updates == [("load", "b")]

            # system settings merge in too: a change there updates its modules
            config["systems"]["sys-2"]["settings"] = {"label": "from system"}
            config["modules"]["mod-b"]["settings"] = {}
            write_config(config_file, config)
            assert (await rt.reloader.wait_for_report(2)).updated == ["mod-b"]
            assert b.updates[-1] == ("settings", "from system")


async def test_added_modules_and_systems_start_and_removed_ones_stop(
    config_file: Path, package: DriverPackage
) -> None:
    async with run_runtime(config_path=config_file, reload=True) as rt:
        assert rt.reloader is not None
        old_b = live(rt, "mod-b")
        async with rt.client() as client:
            await client.bind("sys-1", "Panel", "label", index=2)  # mod-b through sys-1
            assert (await client.next_notify())["value"] == "b"
            await client.bind("sys-2", "Panel", "label")  # mod-b through sys-2
            assert (await client.next_notify())["value"] == "b"

            config = base_config(package)
            del config["modules"]["mod-b"]
            config["modules"]["mod-c"] = {
                "driver": package.driver("panel", "Panel"),
                "settings": {"label": "c"},
            }
            config["systems"]["sys-1"]["modules"] = ["mod-a"]
            config["systems"]["sys-2"]["modules"] = ["mod-c"]
            config["systems"]["sys-3"] = {"name": "Room three", "modules": ["mod-c", "mod-a"]}
            write_config(config_file, config)
            report = await rt.reloader.wait_for_report(1)
            assert report.removed == ["mod-b"] and report.added == ["mod-c"]

            assert "mod-b" not in rt.runtime.host.modules
            assert old_b.unloaded is True
            seen: list[tuple[str, int, Any]] = []
            while not seen or seen[-1] != ("sys-2", 1, "c"):  # sys-2 now shows mod-c
                notify = await client.next_notify()
                seen.append((notify["meta"]["sys"], notify["meta"]["index"], notify["value"]))
            assert ("sys-1", 2, None) in seen and ("sys-2", 1, None) in seen
            assert await client.exec("sys-2", "Panel", "label") == "c"
            assert await client.exec("sys-3", "Panel", "label", index=2) == "a"
            with pytest.raises(ExecError) as gone:
                await client.exec("sys-1", "Panel", "label", index=2)
            assert gone.value.error_code == 6

            # removing a system: its bindings receive null
            del config["systems"]["sys-2"]
            write_config(config_file, config)
            await rt.reloader.wait_for_report(2)
            notify = await client.next_notify()
            assert notify["meta"]["sys"] == "sys-2" and notify["value"] is None
            status, systems = await rt.rest("GET", "/api/engine/v2/systems")
            assert status == 200
            assert {s["id"] for s in systems} == {"sys-1", "sys-3"}


async def test_a_changed_driver_restarts_the_module_with_the_new_class(
    config_file: Path, package: DriverPackage
) -> None:
    package.write("switch", SWITCH)
    async with run_runtime(config_path=config_file, reload=True) as rt:
        assert rt.reloader is not None
        old_a = live(rt, "mod-a")
        config = base_config(package)
        config["modules"]["mod-a"]["driver"] = package.driver("switch", "Switch")
        write_config(config_file, config)
        report = await rt.reloader.wait_for_report(1)
        assert report.restarted == ["mod-a"]
        assert old_a.unloaded is True
        async with rt.client() as client:
            assert await client.exec("sys-1", "Panel", "label") == "switch"
        # the new driver's source is watched from now on
        assert package.path("switch").resolve() in rt.reloader.watched_files


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        pytest.param(lambda c: "modules: [unclosed\n", "invalid YAML", id="yaml-syntax"),
        pytest.param(
            lambda c: {**c, "systems": {"sys-1": {"name": "x", "modules": ["mod-zzz"]}}},
            "systems.sys-1.modules[0]: unknown module 'mod-zzz'",
            id="unknown-module",
        ),
        pytest.param(
            lambda c: {**c, "modules": {**c["modules"], "mod-x": {"driver": "nowhere.at.all:X"}}},
            "modules.mod-x.driver: cannot import 'nowhere.at.all'",
            id="bad-driver",
        ),
        pytest.param(
            lambda c: {**c, "modules": {"mod-a": {"driver": "x:Y", "colour": "red"}}},
            "modules.mod-a.colour",
            id="unknown-key",
        ),
    ],
)
async def test_an_invalid_config_is_refused_and_the_running_one_stays(
    config_file: Path,
    package: DriverPackage,
    capsys: pytest.CaptureFixture[str],
    mutate: Any,
    problem: str,
) -> None:
    async with run_runtime(config_path=config_file, reload=True) as rt:
        assert rt.reloader is not None
        running_config = rt.runtime.config
        instances = {m: live(rt, m) for m in ("mod-a", "mod-b")}
        bad = mutate(copy.deepcopy(base_config(package)))
        if isinstance(bad, str):
            config_file.write_text(bad)
        else:
            write_config(config_file, bad)
        report = await rt.reloader.wait_for_report(1)
        assert not report.ok and problem in (report.error or "")
        assert str(config_file) in (report.error or "")
        log = capsys.readouterr().err
        assert "config reload refused; the running configuration stays" in log
        assert problem in log

        assert rt.runtime.config is running_config
        assert {m: live(rt, m) for m in ("mod-a", "mod-b")} == instances
        assert set(rt.runtime.host.systems) == {"sys-1", "sys-2"}
        async with rt.client() as client:
            assert await client.exec("sys-1", "Panel", "label", index=2) == "b"

            # a valid file afterwards applies normally
            config = base_config(package)
            config["modules"]["mod-b"]["settings"]["label"] = "fixed"
            write_config(config_file, config)
            assert (await rt.reloader.wait_for_report(2)).updated == ["mod-b"]
            assert await client.exec("sys-1", "Panel", "label", index=2) == "fixed"
