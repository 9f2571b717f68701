"""`python -m runtime serve --reload` (or `server.reload: true`) applies edits to a live process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import websockets

from runtime.testing import TestClient
from tests.reload.support import DriverPackage, write_and_time_answer
from tests.support.serve_process import start_serve, write_config

KEY = "reload-serve-admin-key"

BELL_V1 = """
    from runtime import Driver


    class Bell(Driver):
        generic_name = "Bell"

        def ring(self) -> str:
            return "ding"
"""


@pytest.mark.parametrize("switch", ["flag", "config"])
async def test_serve_reloads_driver_code_and_config_in_the_running_process(
    package: DriverPackage, tmp_path: Path, switch: str
) -> None:
    package.write("bell", BELL_V1)
    config: dict[str, Any] = {
        "server": {"reload": switch == "config"},
        "auth": {"api_keys": [{"key": KEY, "clearance": "admin"}]},
        "modules": {"mod-bell": {"driver": package.driver("bell", "Bell")}},
        "systems": {"sys-1": {"name": "Hall", "modules": ["mod-bell"]}},
    }
    config_path = write_config(tmp_path / "config.yaml", config)
    args = ["--reload"] if switch == "flag" else []
    served = await start_serve(*args, config=config_path, pythonpath=[str(package.dir.parent)])
    try:
        ws_url = served.ws_url
        async with websockets.connect(ws_url, additional_headers={"X-API-Key": KEY}) as ws:
            client = TestClient(ws)
            assert await client.exec("sys-1", "Bell", "ring") == "ding"

            seconds = await write_and_time_answer(
                client,
                lambda: package.write("bell", BELL_V1.replace('"ding"', '"dong"')),
                ("sys-1", "Bell", "ring"),
                "dong",
            )
            assert seconds < 1.0

            config["modules"]["mod-chime"] = {"driver": package.driver("bell", "Bell")}
            config["systems"]["sys-1"]["modules"].append("mod-chime")
            seconds = await write_and_time_answer(
                client,
                lambda: write_config(config_path, config),
                ("sys-1", "Bell", "ring"),
                "dong",
                index=2,
            )
            assert seconds < 1.0
            await client.close()
    finally:
        assert await served.stop() == 0
    log_text = served.stderr.text()
    assert "hot reload watching" in log_text
    assert "driver code reloaded" in log_text and "config reloaded" in log_text
