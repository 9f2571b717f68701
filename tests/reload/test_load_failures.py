"""New source that cannot be loaded leaves the old code serving and says why to debug clients."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from runtime.testing import ExecError, TestClient, run_runtime
from tests.reload.support import DriverPackage, live

GOOD_V1 = """
    from runtime import Driver


    class Lamp(Driver):
        generic_name = "Lamp"

        def version(self) -> str:
            return "v1"
"""

GOOD_V2 = """
    from runtime import Driver


    class Lamp(Driver):
        generic_name = "Lamp"

        def version(self) -> str:
            return "v2"

        def dim(self, level: int) -> int:
            return level
"""

SYNTAX_ERROR = GOOD_V2.replace(
    "def dim(self, level: int) -> int:", "def dim(self, level: int) -> int"
)
IMPORT_ERROR = GOOD_V2.replace("from runtime", "import reload_no_such_module\n    from runtime")
RAISES_AT_IMPORT = GOOD_V2 + '\n    raise RuntimeError("lamp exploded at import")\n'
# with postponed annotations the module imports; the command table cannot be built
UNRESOLVABLE_HINT = GOOD_V2.replace(
    "from runtime", "from __future__ import annotations\n    from runtime"
).replace("level: int", "level: NoSuchType")


def lamp_config(package: DriverPackage) -> dict[str, Any]:
    return {
        "modules": {"mod-lamp": {"driver": package.driver("lamp", "Lamp")}},
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-lamp"]}},
    }


async def next_debug_containing(client: TestClient, text: str) -> dict[str, Any]:
    while True:
        frame = await client.next_debug(timeout=5)
        if text in frame["msg"]:
            return frame


async def attach_debugger(client: TestClient, module_id: str) -> None:
    reply = await client.request(
        {"cmd": "debug", "sys": "sys-1", "mod": module_id, "index": 1, "name": "debug"}
    )
    assert reply["type"] == "success"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(SYNTAX_ERROR, "SyntaxError", id="syntax-error"),
        pytest.param(IMPORT_ERROR, "ModuleNotFoundError", id="import-error"),
        pytest.param(RAISES_AT_IMPORT, "lamp exploded at import", id="raises-at-import"),
        pytest.param(UNRESOLVABLE_HINT, "NoSuchType", id="unresolvable-command-hint"),
    ],
)
async def test_broken_source_keeps_the_old_code_serving_and_reports_the_error(
    package: DriverPackage, source: str, expected: str
) -> None:
    path = package.write("lamp", GOOD_V1)
    async with run_runtime(lamp_config(package), reload=True) as rt:
        assert rt.reloader is not None
        loaded_module = package.module("lamp")
        instance = live(rt, "mod-lamp")
        async with rt.client() as client:
            await attach_debugger(client, "mod-lamp")
            package.write("lamp", source)
            report = await rt.reloader.wait_for_report(1)
            assert not report.ok
            assert expected in (report.error or "")

            frame = await next_debug_containing(client, "driver reload failed")
            assert frame["level"] == "error"
            assert expected in frame["msg"]
            assert str(path) in frame["msg"] or "NoSuchType" in frame["msg"]

            # nothing changed: same module object, same class, same commands
            assert sys.modules[f"{package.name}.lamp"] is loaded_module
            assert type(live(rt, "mod-lamp")) is loaded_module.Lamp
            assert live(rt, "mod-lamp") is instance
            assert await client.exec("sys-1", "Lamp", "version") == "v1"
            with pytest.raises(ExecError) as missing:
                await client.exec("sys-1", "Lamp", "dim", [3])
            assert missing.value.error_code == 1

            # fixing the file reloads normally
            package.write("lamp", GOOD_V2)
            fixed = await rt.reloader.wait_for_report(2)
            assert fixed.ok and fixed.swapped == ["mod-lamp"]
            assert await client.exec("sys-1", "Lamp", "version") == "v2"
            assert await client.exec("sys-1", "Lamp", "dim", [3]) == 3
            assert live(rt, "mod-lamp") is instance


async def test_only_the_modules_using_the_broken_source_hear_about_it(
    package: DriverPackage,
) -> None:
    package.write("lamp", GOOD_V1)
    package.write("other", GOOD_V1.replace("Lamp", "Fan"))
    config = {
        "modules": {
            "mod-lamp": {"driver": package.driver("lamp", "Lamp")},
            "mod-fan": {"driver": package.driver("other", "Fan")},
        },
        "systems": {"sys-1": {"name": "Room", "modules": ["mod-lamp", "mod-fan"]}},
    }
    async with run_runtime(config, reload=True) as rt:
        assert rt.reloader is not None
        async with rt.client() as lamp_client, rt.client() as fan_client:
            await attach_debugger(lamp_client, "mod-lamp")
            await attach_debugger(fan_client, "mod-fan")
            package.write("lamp", SYNTAX_ERROR)
            assert not (await rt.reloader.wait_for_report(1)).ok
            await next_debug_containing(lamp_client, "driver reload failed")
            assert not [f for f in fan_client.debug_lines if "reload" in f["msg"]]
            assert await fan_client.exec("sys-1", "Fan", "version") == "v1"
