"""`python -m runtime serve --reload` (or `server.reload: true`) applies edits to a live process."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
import yaml

from runtime.server import CONTROL_PATH
from runtime.testing import TestClient
from tests.reload.support import DriverPackage, write_and_time_answer

ROOT = Path(__file__).resolve().parents[2]
KEY = "reload-serve-admin-key"
READY = re.compile(r"Runtime ready at (http://\S+)")

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
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "serve.log"
    args = ["--config", str(config_path), "--port", "0"] + (
        ["--reload"] if switch == "flag" else []
    )
    source_root = str(package.dir.parent)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime",
            "serve",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{source_root}"},
            cwd=ROOT,
        )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        ready = READY.search(line)
        assert ready, line
        ws_url = ready.group(1).replace("http", "ws", 1) + CONTROL_PATH
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
                lambda: config_path.write_text(yaml.safe_dump(config)),
                ("sys-1", "Bell", "ring"),
                "dong",
                index=2,
            )
            assert seconds < 1.0
            await client.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
    log_text = log_path.read_text()
    assert "hot reload watching" in log_text
    assert "driver code reloaded" in log_text and "config reloaded" in log_text
