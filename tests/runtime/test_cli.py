"""The command line: serve prints one ready line; exec, watch and interface talk to it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.support.serve_process import ServeProcess, start_serve, write_config

ROOT = Path(__file__).resolve().parents[2]
KEY = "cli-test-admin-key"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RUNTIME_API_KEY": ""}


async def run_cli(*args: str, timeout: float = 20) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


async def start_server(*args: str) -> ServeProcess:
    """`serve ARGS` on a free loopback port, once it has printed its ready line."""
    return await start_serve(*args, env={"RUNTIME_API_KEY": ""})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    config = {
        "auth": {"api_keys": [{"key": KEY, "clearance": "admin"}]},
        "modules": {"mod-1": {"driver": "tests.runtime.sample_drivers:Display"}},
        "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
    }
    served = await start_server("--config", str(write_config(tmp_path / "config.yaml", config)))
    assert len(served.lines) == 1, "serve prints exactly one line when ready"
    try:
        yield served.url
    finally:
        assert await served.stop() == 0


async def test_exec_prints_the_result_and_exits_0(server: str) -> None:
    code, out, _ = await run_cli(
        "exec", "sys-1", "Display_1", "volume", "7", "--url", server, "--api-key", KEY
    )
    assert code == 0
    assert json.loads(out) == {"level": 7, "index": 0}
    code, out, _ = await run_cli(
        "exec", "sys-1", "Display", "switch_to", "hdmi", "--url", server, "--api-key", KEY
    )
    assert (code, json.loads(out)) == (0, "hdmi")


async def test_exec_error_exits_1_and_prints_the_error(server: str) -> None:
    code, out, err = await run_cli(
        "exec", "sys-1", "Display_1", "fail", "--url", server, "--api-key", KEY
    )
    assert code == 1
    assert out == ""
    assert json.loads(err)["msg"] == "module raised: invalid input (ValueError)"


async def test_exec_with_a_bad_key_fails_clearly(server: str) -> None:
    code, _, err = await run_cli(
        "exec", "sys-1", "Display_1", "nothing", "--url", server, "--api-key", "wrong-key-1"
    )
    assert code == 1
    assert "401" in err


async def test_watch_prints_each_notify_as_a_json_line(server: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime",
        "watch",
        "sys-1",
        "Display_1",
        "power",
        "connected",
        "--url",
        server,
        "--api-key",
        KEY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
        cwd=ROOT,
    )
    assert process.stdout is not None
    first = json.loads(await asyncio.wait_for(process.stdout.readline(), 10))
    assert first == {"name": "connected", "value": True}
    await run_cli("exec", "sys-1", "Display_1", "power", "true", "--url", server, "--api-key", KEY)
    second = json.loads(await asyncio.wait_for(process.stdout.readline(), 10))
    assert second == {"name": "power", "value": True}
    process.terminate()
    await process.wait()


async def test_interface_prints_driver_metadata() -> None:
    code, out, _ = await run_cli("interface", "tests.runtime.sample_drivers:Display")
    assert code == 0
    metadata = json.loads(out)
    assert metadata["security"]["administrator"] == ["admin_only"]
    assert "power" in metadata["interface"]


async def test_serve_without_keys_generates_one_and_accepts_only_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "modules": {"mod-1": {"driver": "tests.runtime.sample_drivers:Display"}},
                "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
            }
        )
    )
    served = await start_server("--config", str(path))
    url = served.url
    try:
        key = re.search(r"generated admin key: (\S+)", "\n".join(served.lines))
        assert key, served.lines
        code, _, _ = await run_cli(
            "exec", "sys-1", "Display_1", "volume", "1", "--url", url, "--api-key", key.group(1)
        )
        assert code == 0
        code, _, _ = await run_cli("exec", "sys-1", "Display_1", "volume", "1", "--url", url)
        assert code == 1
    finally:
        await served.stop()


async def test_bad_config_is_refused_with_file_key_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("systems:\n  sys-1:\n    name: One\n    modules: [ghost]\n")
    code, _, err = await run_cli("serve", "--config", str(path), "--port", "0")
    assert code == 2
    assert f"{path}: systems.sys-1.modules[0]: unknown module 'ghost'" in err


async def test_serve_runs_on_uvloop_when_asked(tmp_path: Path) -> None:
    config = {
        "auth": {"api_keys": [{"key": KEY, "clearance": "admin"}]},
        "modules": {"mod-1": {"driver": "tests.runtime.sample_drivers:Display"}},
        "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    served = await start_server("--config", str(path), "--loop", "uvloop")
    url = served.url
    try:
        code, out, _ = await run_cli(
            "exec", "sys-1", "Display_1", "volume", "3", "--url", url, "--api-key", KEY
        )
        assert (code, json.loads(out)) == (0, {"level": 3, "index": 0})
    finally:
        assert await served.stop() == 0
