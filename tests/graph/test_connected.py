"""`connected` of the Graph driver: an idle outage within 10 s, a recovery within 5 s, and a
warning with its reason whenever Graph cannot be used, also right at start."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.microsoft.graph_auth import GraphTokenProvider
from drivers.microsoft.graph_client import GraphClient
from drivers.vendor_client import HealthMonitor, ManualClock, SlidingWindowLimiter
from embedded.settings import graph_settings
from fixtures.emulator_base import RunningEmulator
from runtime.testing import TestClient, run_runtime
from tests.graph.emulator_helpers import SYSTEM, api_log, fault, graph_config, log_length, seed
from tests.support.output import Output, OutputWriter, json_objects
from tests.vendor_client.outage import StateChanges, idle_outage
from tests.vendor_client.windows import busiest_window


@asynccontextmanager
async def graph_client(emulator: RunningEmulator, **options: Any) -> AsyncIterator[GraphClient]:
    """The driver's Graph client for the emulator's tenant (``options`` go to GraphClient)."""
    config = graph_settings(emulator)["calendar_config"]
    tokens = GraphTokenProvider(
        tenant=config["tenant"], client_id=config["client_id"],
        client_secret=config["client_secret"], login_base_url=config["login_base_url"],
        scope=f"{config['graph_base_url']}/.default", ca_file=config["ca_file"])
    options.setdefault("limiter", SlidingWindowLimiter(5))
    client = GraphClient(tokens=tokens, graph_base_url=config["graph_base_url"],
                         ca_file=config["ca_file"], **options)
    try:
        yield client
    finally:
        await client.close()


async def test_idle_outage_and_recovery_are_noticed_within_the_default_times(
    emulator: RunningEmulator,
) -> None:
    clock = ManualClock()
    changes = StateChanges()
    async with graph_client(emulator, batch_requests=False) as client:
        monitor = HealthMonitor("Microsoft Graph", client.probe, changes, clock=clock)
        client.health = monitor
        mark = await log_length(emulator)
        times = await idle_outage(monitor, clock, changes,
                                  lambda down: fault(emulator, down=down))
        probes = await api_log(emulator, mark)
    assert times.to_disconnected <= 10.0
    assert times.to_connected <= 5.0
    assert changes.values == [True, False, True]
    assert changes.reasons[1].startswith("cannot reach Microsoft Graph")
    assert (times.to_disconnected, times.to_connected) == (10.0, 5.0)  # the defaults, exactly
    assert {entry["path"] for entry in probes} == {"/v1.0/users"}, "only the cheap probe"


async def test_the_graph_client_never_starts_more_than_rate_limit_requests_a_second(
    emulator: RunningEmulator,
) -> None:
    clock = ManualClock()
    starts: list[float] = []
    limiter = SlidingWindowLimiter(5, clock=clock, on_start=starts.append)
    users = [u["id"] for u in (await seed(emulator))["users"]][:23]
    async with graph_client(emulator, limiter=limiter, batch_requests=False,
                            clock=clock) as client:
        await client.get("/users", params={"$top": 1})  # the token, fetched once
        starts.clear()
        mark = await log_length(emulator)
        found = await clock.drive(asyncio.gather(*(client.get(f"/users/{u}") for u in users)))
        sent = [e for e in await api_log(emulator, mark) if e["path"].startswith("/v1.0/users/")]
    assert [user["id"] for user in found] == users
    assert len(starts) == len(sent) == 23
    assert busiest_window(starts) == 5
    assert max(starts) - min(starts) >= 4.0  # 23 starts at 5 a second need five windows


async def wait_connected(client: TestClient, expected: bool) -> None:
    while (await client.next_notify(timeout=10))["value"] is not expected:
        pass


async def test_an_idle_module_follows_the_outage_and_warns_once(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str],
) -> None:
    config = graph_config(emulator, probe_interval=0.1, connected_probe_interval=0.2)
    async with run_runtime(config, log_format="json", log_level="info") as rt, \
            rt.client() as c:
        await c.bind(SYSTEM, "Calendar", "connected")
        await wait_connected(c, True)
        await fault(emulator, down=True)
        await wait_connected(c, False)  # no command sent: the probe found it
        await fault(emulator, down=False)
        await wait_connected(c, True)
    logged = json_objects(capfd.readouterr().err.splitlines())
    warnings = [line for line in logged if line.get("level") == "warning"
                and line.get("module_id") == "mod-graph"]
    assert [w["event"] for w in warnings] == ["Microsoft Graph unavailable"]
    assert "cannot reach Microsoft Graph" in warnings[0]["reason"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("case", ["wrong secret", "closed port", "missing ca_file"])
async def test_a_module_that_cannot_connect_at_start_warns_with_the_reason(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
) -> None:
    unreachable = f"https://127.0.0.1:{closed_port()}"
    calendar_config, expected = {
        "wrong secret": ({"client_secret": "not-the-secret-4711"}, "invalid_client"),
        "closed port": ({"graph_base_url": unreachable, "login_base_url": unreachable},
                        "127.0.0.1"),
        "missing ca_file": ({"ca_file": str(tmp_path / "no-such-ca.pem")},
                            "calendar_config.ca_file: cannot load"),
    }[case]
    config = graph_config(emulator, calendar_config=calendar_config)
    stderr = Output("stderr")
    monkeypatch.setattr(sys, "stderr", OutputWriter(stderr))  # the runtime logs to it
    async with run_runtime(config, log_format="json", log_level="info") as rt, \
            rt.client() as c:
        await c.bind(SYSTEM, "Calendar", "connected")
        probe = await _next_warning(stderr)
        assert rt.driver("mod-graph").status["connected"] is False
    assert probe["event"] == "Microsoft Graph unavailable"
    assert probe["module_id"] == "mod-graph"
    assert expected in probe["reason"]
    assert "not-the-secret-4711" not in probe["reason"]


async def _next_warning(stderr: Output) -> dict[str, Any]:
    """The first warning the module logs (read from stderr as it arrives)."""

    def warning(line: str) -> bool:
        parsed = json_objects([line])
        return bool(parsed) and parsed[0].get("level") == "warning" \
            and parsed[0].get("module_id") == "mod-graph"

    return json_objects([await stderr.wait_for(warning, "the module's warning")])[0]


