"""The OpenAPI 3.1 description: written from the served routes, and checked by schemathesis."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import aiohttp

from runtime.openapi import OPENAPI_PATH, build_openapi
from runtime.openapi_schemas import WEBSOCKET_ROUTES
from runtime.testing import run_runtime

DISPLAY = "tests.runtime.sample_drivers:Display"
ADMIN_KEY = "openapi-admin-key-01"
#: Bounds of the schemathesis run: examples per operation, and the whole run's time.
MAX_EXAMPLES = 30
RUN_TIMEOUT = 240.0

CONFIG: dict[str, Any] = {
    "auth": {
        "api_keys": [{"key": ADMIN_KEY, "clearance": "admin", "name": "fuzzer"}],
        # the fuzzer sends many requests without a credential on purpose
        "max_failures": 1_000_000,
    },
    "modules": {"mod-1": {"driver": DISPLAY}, "mod-2": {"driver": DISPLAY}},
    "systems": {"sys-1": {"name": "One", "description": "first", "modules": ["mod-1", "mod-2"]}},
}

# Real identifiers drawn often, so that generated requests reach modules and commands, not only
# the 404 paths. Commands listed are the sample driver's ones that neither hang nor raise.
SCHEMATHESIS_TOML = """
[parameters]
"path.sys" = { dictionary = "systems", probability = 0.7 }
"path.slug" = { dictionary = "modules", probability = 0.7 }
"path.key" = { dictionary = "names", probability = 0.7 }

[dictionaries.systems]
values = ["sys-1"]

[dictionaries.modules]
values = ["Display_1", "Display_2", "Display"]

[dictionaries.names]
values = ["volume", "power", "nothing", "switch_to", "power_toggle", "connected", "volume0"]
"""


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_document_is_public_and_describes_every_served_route() -> None:
    async with run_runtime(CONFIG) as rt:
        status, document = await _get(rt.url + OPENAPI_PATH)
        served = {
            (route.method, route.resource.canonical)
            for route in rt.runtime.app.router.routes()
            if route.method != "HEAD" and route.resource is not None
        }
    assert status == 200
    assert document["openapi"] == "3.1.0"
    described = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    # /{sys}/{slug}/{key} (GET) and /{sys}/{slug}/{method} (POST) are one OpenAPI path
    assert ("POST", "/api/engine/v2/systems/{sys}/{slug}/{key}") in described
    served_rest = {
        (m, p.replace("{method}", "{key}"))
        for m, p in served
        if p.startswith(("/api/", "/auth/")) and (m, p) not in WEBSOCKET_ROUTES
    }
    assert served_rest <= described
    assert set(document["x-websockets"]) == {p for _, p in WEBSOCKET_ROUTES}
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            assert "default" not in operation["responses"] or method == "post", (method, path)
            if path.startswith("/api/") and path != OPENAPI_PATH:
                assert "security" not in operation, path  # the global credential applies
                assert "401" in operation["responses"]
    execute = document["paths"]["/api/engine/v2/systems/{sys}/{slug}/{key}"]["post"]
    assert [p["name"] for p in execute["parameters"]] == ["sys", "slug", "key"]
    assert execute["parameters"][2]["description"].startswith("command")


def test_an_undescribed_route_still_appears() -> None:
    from aiohttp import web

    app = web.Application()

    async def extra(_request: web.Request) -> web.Response:
        """Something added later."""
        return web.Response()

    app.router.add_get("/extra/{thing}", extra)
    operation = build_openapi(app)["paths"]["/extra/{thing}"]["get"]
    assert operation["summary"] == "Something added later"
    assert operation["parameters"][0]["name"] == "thing"


async def test_schemathesis_finds_no_server_error_and_no_violation(tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is missing: install the test extra"
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(SCHEMATHESIS_TOML)
    async with run_runtime(CONFIG) as rt:
        _, document = await _get(rt.url + OPENAPI_PATH)
        operations = sum(len(ops) for ops in document["paths"].values())
        process = await asyncio.create_subprocess_exec(
            cli,
            "--config-file",
            str(config_file),
            "run",
            rt.url + OPENAPI_PATH,
            "--header",
            f"X-API-Key: {ADMIN_KEY}",
            "--checks",
            "all",
            # POST /{sys}/{slug}/{method} also matches /{sys}/functions/{slug}, so aiohttp's
            # Allow header there rightly names POST; OpenAPI has no way to say so. And which
            # arguments an exec accepts depends on the command (GET .../functions/... lists
            # them), so a body that fits the generic array-or-object schema may rightly get 400.
            "--exclude-checks",
            "allow_header_conformance,positive_data_acceptance",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "20261201",
            "--workers",
            "1",
            "--report",
            "ndjson",
            "--report-dir",
            str(tmp_path / "report"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
        statuses = {
            (module_id, rt.driver(module_id).status.get("volume0"))
            for module_id in ("mod-1", "mod-2")
        }
    text = out.decode()
    assert process.returncode == 0, text[-6000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", text)
    tested = re.search(r"Tested: (\d+)", text)
    assert selected and tested, text[-3000:]
    # every operation of the document was exercised (schemathesis skips its own schema's route)
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2))
    assert int(tested.group(1)) >= operations - 1
    # the generated requests did reach the driver: some exec of `volume` succeeded
    assert any(value is not None for _, value in statuses), text[-3000:]
    report = next((tmp_path / "report").glob("*.ndjson")).read_text().splitlines()
    assert [json.loads(line) for line in report if line.strip()]


def test_health_routes_are_public_and_metrics_needs_a_credential() -> None:
    from aiohttp import web

    app = web.Application()

    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    for path in ("/healthz", "/readyz", "/metrics"):
        app.router.add_get(path, handler)
    paths = build_openapi(app)["paths"]
    assert paths["/healthz"]["get"]["security"] == []
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    assert "security" not in paths["/metrics"]["get"]
    assert "401" in paths["/metrics"]["get"]["responses"]
