"""Operational log lines, the debug tap of each runtime, and logging put back after a run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import structlog

from runtime.server import CONTROL_PATH
from runtime.testing import ExecError, run_runtime

from .conftest import USER_KEY, lifecycle_config


def _lines(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    text = capsys.readouterr().err
    return text, [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_access_lines_name_the_principal_and_never_a_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with run_runtime(lifecycle_config(), log_format="json", log_level="info") as rt:
        status, _ = await rt.rest(
            "GET", f"/api/engine/v2/systems?api-key={USER_KEY}&x=1", authenticate=False
        )
        assert status == 200
        status, _ = await rt.rest("GET", "/api/engine/v2/systems", api_key="wrong-key-0001")
        assert status == 401
        async with rt.client(USER_KEY) as client:
            await client.ping()
            session = next(iter(rt.runtime.sessions))
        await session.wait_closed()
    text, lines = _lines(capsys)
    assert USER_KEY not in text and "wrong-key-0001" not in text
    requests = [line for line in lines if line["event"] == "http request"]
    assert [(r["method"], r["path"], r["status"], r["principal"]) for r in requests] == [
        ("GET", "/api/engine/v2/systems?x=1", 200, "kiosk"),
        ("GET", "/api/engine/v2/systems", 401, None),
    ]
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    opened = [line for line in lines if line["event"] == "connection opened"]
    closed = [line for line in lines if line["event"] == "connection closed"]
    assert [(line["principal"], line["path"]) for line in opened] == [("kiosk", CONTROL_PATH)]
    assert [(line["principal"], line["code"]) for line in closed] == [("kiosk", 1000)]
    assert "duration_ms" in closed[0]
    failures = [line for line in lines if line["event"] == "authentication failed"]
    assert [(f["path"], f["reason"]) for f in failures] == [
        ("/api/engine/v2/systems", "unknown API key")
    ]


async def test_failed_commands_are_logged_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    config = lifecycle_config()
    config["modules"]["mod-d"] = {"driver": "tests.runtime.sample_drivers:Display"}
    config["systems"]["sys-1"]["modules"].append("mod-d")
    async with (
        run_runtime(config, log_format="json", log_level="info") as rt,
        rt.client() as client,
    ):
        with pytest.raises(ExecError):
            await client.exec("sys-1", "Display", "fail", ["bad input"])
    _text, lines = _lines(capsys)
    failed = [line for line in lines if line["event"] == "command failed"]
    assert [(f["level"], f["module_id"], f["method"], f["error"]) for f in failed] == [
        ("info", "mod-d", "fail", "ValueError")
    ]


async def test_malformed_http_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    async with run_runtime(lifecycle_config(), log_format="json", log_level="info") as rt:
        host, port = rt.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        headers = f"Host: x\r\nX-API-Key: {USER_KEY}\r\nContent-Length: a\r\n"
        writer.write(f"GET / HTTP/1.1\r\n{headers}\r\n".encode())
        assert (await reader.read()).startswith(b"HTTP/1.0 400")
        writer.close()
    text, lines = _lines(capsys)
    assert "Traceback" not in text and USER_KEY not in text
    assert all(line.startswith("{") for line in text.splitlines())
    malformed = [line for line in lines if line["event"] == "malformed http request"]
    assert [(m["status"], m["problem"], m["peer"]) for m in malformed] == [
        (400, "Invalid character in Content-Length:", "127.0.0.1")
    ]


async def test_debug_tap_belongs_to_its_runtime() -> None:
    """Two runtimes with the same module ids: a debug stream sees its own runtime's lines only."""
    async with (
        run_runtime(lifecycle_config()) as one,
        run_runtime(lifecycle_config()) as two,
        one.client() as watcher,
        one.client() as neighbour,
        two.client() as stranger,
    ):
        reply = await watcher.request({"cmd": "debug", "sys": "sys-1", "mod": "mod-w", "name": "x"})
        assert reply["type"] == "success"
        await stranger.exec("sys-1", "Worker", "say", ["from two"])
        await watcher.ping()  # a line routed to this watcher would have arrived before the pong
        await neighbour.exec("sys-1", "Worker", "say", ["from one"])
        line = await watcher.next_debug()
        assert line["msg"] == "from one"
        assert [d["msg"] for d in watcher.debug_lines] == ["from one"]


async def test_run_runtime_puts_the_logging_configuration_back() -> None:
    before = structlog.get_config()
    async with run_runtime(lifecycle_config(), log_format="json", log_level="debug"):
        assert structlog.get_config() != before
    assert structlog.get_config() == before
