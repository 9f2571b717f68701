"""`$interface`: the status that tells bound clients a module's commands changed after reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from runtime.config import ModuleConfig, load_driver_class
from runtime.interface_signal import INTERFACE_STATUS, interface_digest
from runtime.modules import Module
from runtime.testing import run_runtime
from tests.reload.support import DriverPackage

LAMP_V1 = """
    from runtime import Driver


    class Lamp(Driver):
        generic_name = "Lamp"

        def switch(self, on: bool) -> bool:
            return on
"""

LAMP_V2 = LAMP_V1 + """
        def dim(self, level: int = 50) -> int:
            return level
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DriverPackage]:
    monkeypatch.syspath_prepend(str(tmp_path))
    created = DriverPackage(tmp_path)
    try:
        yield created
    finally:
        created.forget()


def _config(package: DriverPackage) -> dict[str, object]:
    return {
        "modules": {
            "mod-lamp": {"driver": package.driver("lamp", "Lamp")},
            "mod-other": {"driver": package.driver("other", "Other")},
        },
        "systems": {"sys-1": {"name": "Hall", "modules": ["mod-lamp", "mod-other"]}},
    }


OTHER = """
    from runtime import Driver


    class Other(Driver):
        generic_name = "Other"

        def ping(self) -> str:
            return "pong"
"""


async def test_code_reload_notifies_bound_clients_of_the_new_interface(
    package: DriverPackage,
) -> None:
    lamp = package.write("lamp", LAMP_V1)
    package.write("other", OTHER)
    async with run_runtime(_config(package), reload=True) as rt, rt.client() as client:
        assert rt.reloader is not None
        await client.bind("sys-1", "Lamp", INTERFACE_STATUS)
        await client.bind("sys-1", "Other", INTERFACE_STATUS)
        status, functions = await rt.rest("GET", "/api/engine/v2/systems/sys-1/functions/Lamp_1")
        assert status == 200 and set(functions) == {"switch"}

        package.write("lamp", LAMP_V2)
        report = (await rt.reloader.handle_changes([lamp]))[0]
        assert report.ok and report.swapped == ["mod-lamp"]

        notify = await client.next_notify()
        module = rt.runtime.host.modules["mod-lamp"]
        assert notify["meta"]["mod"] == "Lamp"
        assert notify["value"] == interface_digest(module)
        status, functions = await rt.rest("GET", "/api/engine/v2/systems/sys-1/functions/Lamp_1")
        assert set(functions) == {"switch", "dim"}
        status, state = await rt.rest("GET", "/api/engine/v2/systems/sys-1/Lamp_1")
        assert orjson.loads(state[INTERFACE_STATUS]) == notify["value"]
        # the untouched module said nothing
        assert [n["meta"]["mod"] for n in client.notifications] == ["Lamp"]


async def test_an_unchanged_interface_sends_no_second_notify(package: DriverPackage) -> None:
    lamp = package.write("lamp", LAMP_V1)
    package.write("other", OTHER)
    async with run_runtime(_config(package), reload=True) as rt, rt.client() as client:
        assert rt.reloader is not None
        await client.bind("sys-1", "Lamp", INTERFACE_STATUS)
        package.write("lamp", LAMP_V2)
        await rt.reloader.handle_changes([lamp])
        first = await client.next_notify()
        # new code, same commands and metadata: the digest stays, so no notify
        package.write("lamp", LAMP_V2.replace("return level", "return int(level)"))
        report = (await rt.reloader.handle_changes([lamp]))[0]
        assert report.ok and report.swapped == ["mod-lamp"]
        package.write("lamp", LAMP_V1)
        await rt.reloader.handle_changes([lamp])
        second = await client.next_notify()
        assert first["value"] != second["value"]
        assert len(client.notifications) == 2


def test_digest_follows_the_metadata(package: DriverPackage) -> None:
    package.write("lamp", LAMP_V1)
    package.write("other", OTHER)
    first = load_driver_class(package.driver("lamp", "Lamp"))
    other = load_driver_class(package.driver("other", "Other"))
    one = Module("m1", ModuleConfig(driver=package.driver("lamp", "Lamp")), first, {})
    two = Module("m2", ModuleConfig(driver=package.driver("other", "Other")), other, {})
    assert interface_digest(one) == interface_digest(one)
    assert interface_digest(one) != interface_digest(two)
    assert len(interface_digest(one)) == 16


async def test_a_config_reload_that_swaps_the_driver_notifies_too(
    package: DriverPackage, tmp_path: Path
) -> None:
    package.write("lamp", LAMP_V1)
    package.write("other", OTHER)
    config = _config(package)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    async with run_runtime(config_path=config_path, reload=True) as rt, rt.client() as client:
        assert rt.reloader is not None
        await client.bind("sys-1", "Lamp", INTERFACE_STATUS)
        config["modules"]["mod-lamp"]["driver"] = package.driver("lamp", "Lamp").replace(
            "lamp:Lamp", "other:Other"
        )
        config["modules"]["mod-lamp"]["name"] = "Lamp"
        config_path.write_text(yaml.safe_dump(config))
        report = (await rt.reloader.handle_changes([config_path]))[0]
        assert report.ok and report.restarted == ["mod-lamp"]
        notify = await client.next_notify()
        assert notify["value"] == interface_digest(rt.runtime.host.modules["mod-lamp"])
        status, functions = await rt.rest("GET", "/api/engine/v2/systems/sys-1/functions/Lamp_1")
        assert status == 200 and set(functions) == {"ping"}
