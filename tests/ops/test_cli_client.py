"""`ls`, `exec --args`, `--token`, `watch` (unknown targets, reconnecting) and `--version`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
import yaml

from runtime.cli_client import RECONNECT_INITIAL_DELAY
from tests.ops.cli_support import Served, cli_env, free_port, run_cli, spawn_cli, start_serve

KEY = "ops-cli-admin-key"
USER_KEY = "ops-cli-user-key"
JWT_SECRET = "ops-cli-jwt-secret-of-enough-length"
DISPLAY = "tests.runtime.sample_drivers:Display"


def write_config(folder: Path, port: int = 0) -> Path:
    config = {
        "server": {"port": port},
        "auth": {
            "api_keys": [
                {"key": KEY, "clearance": "admin", "name": "ops"},
                {"key": USER_KEY, "clearance": "user", "name": "kiosk"},
            ],
            "jwt": {"secret": JWT_SECRET},
        },
        "modules": {
            "mod-1": {"driver": DISPLAY},
            "mod-2": {"driver": DISPLAY, "name": "Projector"},
        },
        "systems": {
            "sys-1": {"name": "Room one", "modules": ["mod-1", "mod-2"]},
            "sys-2": {"name": "Room two", "modules": ["mod-2"]},
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def token(admin: bool = True) -> str:
    claims = {"sub": "ops-user", "exp": int(time.time()) + 600, "u": {"n": "Ops", "admin": admin}}
    return jwt.encode(claims, JWT_SECRET, "HS256")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    server = await start_serve("--config", str(write_config(tmp_path)))
    try:
        yield server
    finally:
        await server.stop()


def client(served: Served, *args: str, key: str = KEY) -> tuple[str, ...]:
    return (*args, "--url", served.url, "--api-key", key)


async def test_version() -> None:
    code, out, _ = await run_cli("--version")
    assert code == 0
    assert out.strip() == "placeos-runtime 0.1.0"


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        ("exec", ["RUNTIME_URL", "RUNTIME_API_KEY", "RUNTIME_TOKEN"]),
        ("watch", ["RUNTIME_URL", "RUNTIME_API_KEY", "RUNTIME_TOKEN"]),
        ("ls", ["RUNTIME_URL", "RUNTIME_API_KEY", "RUNTIME_TOKEN"]),
        ("serve", ["RUNTIME_API_KEY"]),
    ],
)
async def test_help_names_each_environment_variable(command: str, variables: list[str]) -> None:
    code, out, _ = await run_cli(command, "--help")
    assert code == 0
    for variable in variables:
        assert f"env {variable}" in " ".join(out.split()), (variable, out)


async def test_ls_lists_systems_modules_functions_and_status(served: Served) -> None:
    code, out, _ = await run_cli(*client(served, "ls"))
    assert code == 0
    assert out.splitlines() == [
        "SYSTEM  NAME      MODULES",
        "sys-1   Room one  mod-1, mod-2",
        "sys-2   Room two  mod-2",
    ]
    code, out, _ = await run_cli(*client(served, "ls", "sys-1"))
    assert code == 0
    assert out.splitlines() == [
        "MODULE       ID     DRIVER" + " " * (len(DISPLAY) - 4) + "STATE",
        f"Display_1    mod-1  {DISPLAY}  running",
        f"Projector_1  mod-2  {DISPLAY}  running",
    ]
    await run_cli(*client(served, "exec", "sys-1", "Display_1", "volume", "7"))
    code, out, _ = await run_cli(*client(served, "ls", "sys-1", "Display_1"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["FUNCTION", "PARAMETERS"]
    assert "volume          level: integer, index: integer = 0" in lines
    assert "admin_only" in out  # an admin key sees every function
    status = lines[lines.index("") + 1 :]
    assert status[0].split() == ["STATUS", "VALUE"]
    assert "connected  true" in status
    assert "volume0    7" in status


async def test_ls_json_prints_the_rest_json(served: Served) -> None:
    code, out, _ = await run_cli(*client(served, "ls", "--json"))
    assert (code, json.loads(out)) == (
        0,
        [
            {"id": "sys-1", "name": "Room one", "modules": ["mod-1", "mod-2"]},
            {"id": "sys-2", "name": "Room two", "modules": ["mod-2"]},
        ],
    )
    code, out, _ = await run_cli(*client(served, "ls", "sys-2", "--json"))
    assert [m["id"] for m in json.loads(out)["module_data"]] == ["mod-2"]
    code, out, _ = await run_cli(
        *client(served, "ls", "sys-1", "Display_1", "--json", key=USER_KEY)
    )
    body = json.loads(out)
    assert body["status"]["connected"] == "true"
    assert "power" in body["functions"]
    assert "admin_only" not in body["functions"]  # filtered by the user key's clearance


async def test_ls_unknown_system_or_bad_key_exits_1(served: Served) -> None:
    code, out, err = await run_cli(*client(served, "ls", "sys-ghost"))
    assert (code, out) == (1, "")
    assert (
        err.strip()
        == "error: 404 from /api/engine/v2/systems/sys-ghost: system sys-ghost not found"
    )
    code, _, err = await run_cli(*client(served, "ls", key="wrong-key-123"))
    assert code == 1
    assert err.startswith("error: 401")


async def test_ls_when_nothing_listens_exits_1() -> None:
    code, _, err = await run_cli("ls", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert err.startswith("error: cannot reach http://127.0.0.1:")


async def test_exec_args_sends_an_array_or_named_arguments(served: Served) -> None:
    code, out, _ = await run_cli(
        *client(served, "exec", "sys-1", "Display_1", "volume", "--args", "[3, 1]")
    )
    assert (code, json.loads(out)) == (0, {"level": 3, "index": 1})
    code, out, _ = await run_cli(
        *client(
            served, "exec", "sys-1", "Display_1", "volume", "--args", '{"index": 2, "level": 9}'
        )
    )
    assert (code, json.loads(out)) == (0, {"level": 9, "index": 2})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["5", "--args", "[1]"], "error: give either ARGs or --args, not both"),
        (["--args", "5"], "error: --args must be a JSON array or object"),
        (["--args", "{oops"], "error: --args is not valid JSON"),
    ],
)
async def test_exec_args_mistakes_exit_1(served: Served, extra: list[str], message: str) -> None:
    code, out, err = await run_cli(*client(served, "exec", "sys-1", "Display_1", "volume", *extra))
    assert (code, out) == (1, "")
    assert err.startswith(message)


async def test_token_option_and_environment_send_a_bearer(served: Served) -> None:
    args = ("exec", "sys-1", "Display_1", "admin_only", "--url", served.url)
    code, out, _ = await run_cli(*args, "--token", token())
    assert (code, json.loads(out)) == (0, "admin")
    code, out, _ = await run_cli(*args, env=cli_env(RUNTIME_TOKEN=token()))
    assert (code, json.loads(out)) == (0, "admin")
    code, _, err = await run_cli(*args, "--token", token(admin=False))
    assert code == 1
    assert json.loads(err)["error_code"] == 2  # a user-clearance JWT may not run it
    code, out, _ = await run_cli("ls", "--url", served.url, env=cli_env(RUNTIME_TOKEN=token()))
    assert code == 0 and "sys-1" in out
    # an API key works as a bearer token too
    code, out, _ = await run_cli("ls", "sys-2", "--url", served.url, "--token", KEY)
    assert code == 0 and "Projector_1" in out


async def test_environment_supplies_url_and_key(served: Served) -> None:
    env = cli_env(RUNTIME_URL=served.url, RUNTIME_API_KEY=KEY)
    code, out, _ = await run_cli("exec", "sys-1", "Display_1", "power", "true", env=env)
    assert (code, json.loads(out)) == (0, True)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (["sys-ghost", "Display_1"], "error: system sys-ghost not found"),
        (["sys-2", "Display_1"], "error: module Display_1 not found in system sys-2"),
        (["sys-1", "Display_2"], "error: module Display_2 not found in system sys-1"),
    ],
)
async def test_watch_unknown_target_exits_1(
    served: Served, target: list[str], message: str
) -> None:
    code, out, err = await run_cli(*client(served, "watch", *target, "power"))
    assert (code, out, err.strip()) == (1, "", message)


async def test_watch_when_nothing_listens_exits_1() -> None:
    code, _, err = await run_cli(
        "watch", "sys-1", "Display_1", "power", "--url", f"http://127.0.0.1:{free_port()}"
    )
    assert code == 1
    assert err.startswith("error: cannot connect to http://127.0.0.1:")


async def _line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), 30)).decode().strip()


async def _report(stream: asyncio.StreamReader) -> str:
    """The next stderr line of `watch` that is not a note about a status without a value."""
    while (line := await _line(stream)).startswith("note: "):
        pass
    return line


async def test_watch_reconnects_when_the_server_goes_away(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    server = await start_serve("--config", str(config))
    watcher = await spawn_cli(
        "watch",
        "sys-1",
        "Display_1",
        "power",
        "connected",
        "--url",
        server.url,
        "--api-key",
        KEY,
        "--retry-for",
        "60",
    )
    assert watcher.stdout is not None and watcher.stderr is not None
    try:
        assert json.loads(await _line(watcher.stdout)) == {"name": "connected", "value": True}
        assert await server.stop() == 0
        lost = await _report(watcher.stderr)
        assert lost.startswith("connection lost (")
        assert lost.endswith(f"reconnecting in {RECONNECT_INITIAL_DELAY:g} s")
        server = await start_serve("--config", str(config))
        while (line := await _report(watcher.stderr)) != "reconnected":
            assert line.startswith("connection lost ("), line
        assert json.loads(await _line(watcher.stdout)) == {"name": "connected", "value": True}
        await run_cli(*client(server, "exec", "sys-1", "Display_1", "power", "true"))
        assert json.loads(await _line(watcher.stdout)) == {"name": "power", "value": True}
    finally:
        await server.stop()
        if watcher.returncode is None:
            watcher.terminate()
        await watcher.wait()


async def test_watch_gives_up_after_retry_for(served: Served, tmp_path: Path) -> None:
    watcher = await spawn_cli(
        "watch",
        "sys-1",
        "Display_1",
        "connected",
        "--url",
        served.url,
        "--api-key",
        KEY,
        "--retry-for",
        "0",
    )
    assert watcher.stdout is not None
    assert json.loads(await _line(watcher.stdout)) == {"name": "connected", "value": True}
    await served.stop()
    _, err = await asyncio.wait_for(watcher.communicate(), 30)
    assert watcher.returncode == 1
    assert err.decode().strip().endswith("gave up after 0 s")


async def test_watch_notes_a_status_without_a_value(served: Served) -> None:
    watcher = await spawn_cli(
        "watch",
        "sys-1",
        "Display_1",
        "volume3",
        "connected",
        "--url",
        served.url,
        "--api-key",
        KEY,
    )
    assert watcher.stdout is not None and watcher.stderr is not None
    try:
        assert await _line(watcher.stderr) == "note: volume3 has no value yet; waiting for one"
        assert json.loads(await _line(watcher.stdout)) == {"name": "connected", "value": True}
        await run_cli(*client(served, "exec", "sys-1", "Display_1", "volume", "5", "3"))
        assert json.loads(await _line(watcher.stdout)) == {"name": "volume3", "value": 5}
    finally:
        watcher.terminate()
        await watcher.wait()
