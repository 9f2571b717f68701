"""A blocked event loop is reported with what blocked it and for how long, and counted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from runtime.testing import RuntimeHandle, run_runtime
from runtime.watchdog import BLOCKED_THRESHOLD

from .conftest import lifecycle_config


def _watch_reports(rt: RuntimeHandle) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]]]:
    """Every report the watchdog makes, also handed to a queue the test can await."""
    reports: list[dict[str, Any]] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    watchdog = rt.runtime.watchdog
    original = watchdog.on_blocked

    def on_blocked(seconds: float, running: dict[str, Any]) -> None:
        original(seconds, running)
        report = {"seconds": seconds, **running}
        reports.append(report)
        queue.put_nowait(report)

    watchdog.on_blocked = on_blocked
    return reports, queue


async def _report_matching(queue: asyncio.Queue[dict[str, Any]], **expected: Any) -> dict[str, Any]:
    """The first report with `expected` fields (a loaded machine may stall on other things)."""
    while True:
        report = await asyncio.wait_for(queue.get(), 10)
        if all(report.get(key) == value for key, value in expected.items()):
            return report


async def test_blocking_command_is_named_in_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    async with run_runtime(lifecycle_config(), log_format="json") as rt:
        _reports, queue = _watch_reports(rt)
        async with rt.client() as client:
            assert await client.exec("sys-1", "Worker", "block", [0.4], index=2) == 0.4
        report = await _report_matching(queue, module_id="mod-v", command="block")
        assert report["kind"] == "command"
        assert report["seconds"] >= BLOCKED_THRESHOLD
        blocked = rt.runtime.metrics.value("placeos_runtime_loop_blocked_total")
        assert blocked is not None and blocked >= 1
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    warnings = [
        line
        for line in lines
        if line["event"] == "event loop blocked" and line.get("command") == "block"
    ]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["module_id"] == "mod-v"
    assert warnings[0]["blocked_ms"] >= BLOCKED_THRESHOLD * 1000


async def test_blocking_timer_is_named(rt: RuntimeHandle) -> None:
    _reports, queue = _watch_reports(rt)
    async with rt.client() as client:
        await client.exec("sys-1", "Worker", "block_in_timer", [0.4])
    report = await _report_matching(queue, kind="timer")
    assert (report["module_id"], report["timer"]) == ("mod-w", "stall")


async def test_a_calm_loop_reports_nothing(rt: RuntimeHandle) -> None:
    reports, _queue = _watch_reports(rt)
    async with rt.client() as client:
        for _ in range(20):
            await client.exec("sys-1", "Worker", "slow", [0.01])
    assert not [r for r in reports if r.get("module_id") in ("mod-w", "mod-v")]


async def test_blocking_hook_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    config = lifecycle_config()
    config["modules"]["mod-s"] = {"driver": "tests.lifecycle.drivers:SlowStarter"}
    async with run_runtime(config, log_format="json") as rt:
        await rt.rest("GET", "/healthz")  # start-up, and the beat after it, are over
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    hooks = [
        line
        for line in lines
        if line["event"] == "event loop blocked" and line.get("kind") == "hook"
    ]
    assert [(line["module_id"], line["hook"]) for line in hooks] == [("mod-s", "on_load")]
