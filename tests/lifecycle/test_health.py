"""`GET /healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.testing import ExecError, RuntimeHandle, run_runtime

from .conftest import USER_KEY, lifecycle_config

FIXED_NAMES = (
    "placeos_runtime_connections",
    "placeos_runtime_bindings",
    "placeos_runtime_execs_in_flight",
    "placeos_runtime_execs",
    "placeos_runtime_exec_seconds",
    "placeos_runtime_auth_failures",
    "placeos_runtime_slow_client_cutoffs",
    "placeos_runtime_modules",
)


async def _scrape(rt: RuntimeHandle, api_key: str | None = USER_KEY) -> tuple[int, str, str]:
    headers = {"X-API-Key": api_key} if api_key else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(rt.url + "/metrics", headers=headers) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_healthz_needs_no_credential(rt: RuntimeHandle) -> None:
    assert await rt.rest("GET", "/healthz", authenticate=False) == (200, {"status": "ok"})


async def test_readyz_counts_modules_by_state_without_names() -> None:
    config = lifecycle_config()
    config["modules"]["mod-broken"] = {"driver": "tests.runtime.sample_drivers:BrokenOnLoad"}
    async with run_runtime(config) as rt:
        status, body = await rt.rest("GET", "/readyz", authenticate=False)
    assert status == 200
    assert body == {"ready": True, "modules": {"running": 2, "failed": 1, "starting": 0}}


async def test_metrics_need_a_credential_unless_public(rt: RuntimeHandle) -> None:
    status, _type, _text = await _scrape(rt, api_key=None)
    assert status == 401
    status, _type, _text = await _scrape(rt, api_key="not-a-key-at-all")
    assert status == 401
    status, content_type, text = await _scrape(rt)
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = _samples(text)
    assert samples[("placeos_runtime_auth_failures_total", ())] == 2
    async with run_runtime(lifecycle_config(public_metrics=True)) as public:
        status, _type, _text = await _scrape(public, api_key=None)
        assert status == 200


async def test_metric_names_and_values(rt: RuntimeHandle) -> None:
    _status, _type, text = await _scrape(rt)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert set(FIXED_NAMES) <= names
    before = _samples(text)
    async with rt.client() as client:
        await client.bind("sys-1", "Worker", "a")
        await client.bind("sys-1", "Worker", "b", index=2)
        await client.exec("sys-1", "Worker", "slow", [0])
        await client.exec("sys-1", "Worker", "set_status", ["a", 1])
        with pytest.raises(ExecError):
            await client.exec("sys-1", "Worker", "no_such_command")
        _status, _type, text = await _scrape(rt)
    during = _samples(text)
    assert during[("placeos_runtime_connections", ())] == 1
    assert during[("placeos_runtime_bindings", ())] == 2
    assert during[("placeos_runtime_execs_in_flight", ())] == 0
    assert during[("placeos_runtime_modules", (("state", "running"),))] == 2
    success = ("placeos_runtime_execs_total", (("outcome", "success"),))
    bad_request = ("placeos_runtime_execs_total", (("outcome", "bad_request"),))
    assert during[success] - before[success] == 2
    assert during[bad_request] - before[bad_request] == 1
    count = ("placeos_runtime_exec_seconds_count", ())
    assert during[count] - before[count] == 3
    inf_bucket = ("placeos_runtime_exec_seconds_bucket", (("le", "+Inf"),))
    assert during[inf_bucket] == during[count]


async def test_each_runtime_has_its_own_registry() -> None:
    from prometheus_client import REGISTRY

    async with (
        run_runtime(lifecycle_config()) as one,
        run_runtime(lifecycle_config()) as two,
        one.client() as client,
    ):
        await client.exec("sys-1", "Worker", "slow", [0])
        success = {"outcome": "success"}
        assert one.runtime.metrics.value("placeos_runtime_execs_total", **success) == 1
        assert two.runtime.metrics.value("placeos_runtime_execs_total", **success) == 0
        assert two.runtime.metrics.value("placeos_runtime_connections") == 0
    assert REGISTRY.get_sample_value("placeos_runtime_connections") is None
