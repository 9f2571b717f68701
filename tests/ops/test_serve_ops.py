"""`serve` as an operator meets it: start-up order, port in use, key sources, exposure, folders."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import yaml

from tests.ops.cli_support import ROOT, cli_env, run_cli, start_serve

KEY = "ops-serve-admin-key"


def marker_config(folder: Path, marker: Path, **server: object) -> Path:
    config = {
        "server": server,
        "auth": {"api_keys": [{"key": KEY, "clearance": "admin", "name": "ops"}]},
        "modules": {
            "mod-a": {"driver": "tests.ops.ops_drivers:Marker", "settings": {"label": "a"}},
            "mod-b": {"driver": "tests.ops.ops_drivers:Marker", "settings": {"label": "b"}},
        },
        "systems": {"sys-1": {"name": "One", "modules": ["mod-a", "mod-b"]}},
    }
    # substitution and relative paths at work too: the marker file sits beside the config
    config["modules"]["mod-a"]["settings"]["marker_file"] = marker.name
    config["modules"]["mod-b"]["settings"]["marker_file"] = "${OPS_MARKER:-" + marker.name + "}"
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_port_in_use_is_one_line_exit_1_and_nothing_started(tmp_path: Path) -> None:
    marker = tmp_path / "loaded.txt"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = marker_config(tmp_path, marker)
        code, out, err = await run_cli("serve", "--config", str(config), "--port", str(port))
    assert code == 1
    assert out == ""
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "Unclosed" not in err
    assert "Traceback" not in err
    assert not marker.exists(), "a module's on_load ran although the port was taken"


async def test_port_in_use_with_the_embedded_default_contacts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_cli("serve", "--port", str(port), "--log-level", "debug")
    assert (code, out) == (1, "")
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "module started" not in err and "module failed" not in err
    assert "Unclosed" not in err and "Traceback" not in err


async def test_modules_load_once_the_socket_is_bound(tmp_path: Path) -> None:
    marker = tmp_path / "loaded.txt"
    server = await start_serve(
        "--config", str(marker_config(tmp_path, marker)), "--port", "0"
    )
    try:
        # by the ready line every on_load has finished, and the marker sits beside the config
        assert sorted(marker.read_text().split()) == ["a", "b"]
        code, out, _ = await run_cli(
            "exec", "sys-1", "Marker_2", "ping", "--url", server.url, "--api-key", KEY
        )
        assert (code, json.loads(out)) == (0, "pong")
    finally:
        assert await server.stop() == 0


async def test_admin_key_sources_are_logged_never_the_keys(tmp_path: Path) -> None:
    env_key, option_key = "exported-env-admin-key", "option-admin-key-1"
    server = await start_serve(
        "--config",
        str(marker_config(tmp_path, tmp_path / "m.txt")),
        "--port",
        "0",
        "--api-key",
        option_key,
        env=cli_env(RUNTIME_API_KEY=env_key),
    )
    try:
        for key in (env_key, option_key):
            code, _, _ = await run_cli(
                "exec", "sys-1", "Marker_1", "ping", "--url", server.url, "--api-key", key
            )
            assert code == 0
    finally:
        await server.stop()
    err = server.stderr.text()
    accepted = [line for line in err.splitlines() if "admin key accepted" in line]
    assert len(accepted) == 3, err
    assert "source='config auth.api_keys[0] (ops)'" in accepted[0]
    assert "source='--api-key option #1'" in accepted[1]
    assert "[warning" in accepted[2]
    assert "source='environment variable RUNTIME_API_KEY'" in accepted[2]
    for key in (env_key, option_key, KEY):
        assert key not in err


async def test_generated_key_source_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("modules: {}\nsystems: {}\n")
    server = await start_serve("--config", str(path), "--port", "0")
    await server.stop()
    err = server.stderr.text()
    generated = server.lines[0].rsplit(" ", 1)[1].strip()
    assert "source='generated at start (printed once)'" in err
    assert generated not in err
    assert "config defines no modules or systems" in err


async def test_listening_beyond_loopback_warns_unless_a_proxy_is_configured(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "m.txt"
    warning = "listening beyond loopback without a reverse proxy in front"
    exposed = await start_serve(
        "--config",
        str(marker_config(tmp_path, marker)),
        "--host",
        "0.0.0.0",
        "--port",
        "0",
    )
    await exposed.stop()
    err = exposed.stderr.text()
    assert warning in err and "docs/deploy.md" in err
    proxied = await start_serve(
        "--config",
        str(marker_config(tmp_path, marker, trusted_proxies=["127.0.0.1"])),
        "--host",
        "0.0.0.0",
        "--port",
        "0",
    )
    await proxied.stop()
    err = proxied.stderr.text()
    assert warning not in err
    loopback = await start_serve(
        "--config", str(marker_config(tmp_path, marker)), "--port", "0"
    )
    await loopback.stop()
    err = loopback.stderr.text()
    assert warning not in err


async def test_serve_imports_drivers_beside_a_config_in_another_folder(tmp_path: Path) -> None:
    work = tmp_path / "mywork"
    work.mkdir()
    (work / "ops_room_driver.py").write_text(
        textwrap.dedent(
            """\
            from runtime import Driver

            class Room(Driver):
                generic_name = "Room"

                def where(self) -> str:
                    return self.setting("ca_file")
            """
        )
    )
    (work / "config.yaml").write_text(
        textwrap.dedent(
            f"""\
            auth: {{api_keys: [{{key: {KEY}, clearance: admin}}]}}
            modules:
              mod-room: {{driver: "ops_room_driver:Room", settings: {{ca_file: certs/ca.pem}}}}
            systems:
              sys-1: {{name: One, modules: [mod-room]}}
            """
        )
    )
    env = cli_env(PYTHONPATH=str(ROOT))
    server = await start_serve(
        "--config", "mywork/config.yaml", "--port", "0", env=env, cwd=tmp_path
    )
    try:
        code, out, _ = await run_cli(
            "exec", "sys-1", "Room_1", "where", "--url", server.url, "--api-key", KEY
        )
        assert (code, json.loads(out)) == (0, str(work / "certs" / "ca.pem"))
    finally:
        await server.stop()


async def test_config_problems_are_printed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server: {port: x}\nsystems: {s: {name: S, modules: [ghost]}}\n")
    code, out, err = await run_cli("serve", "--config", str(path))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "config error: 2 problems",
        f"  {path}: server.port: Input should be a valid integer, "
        "unable to parse string as an integer",
        f"  {path}: systems.s.modules[0]: unknown module 'ghost'",
    ]


async def test_check_validates_without_starting_anything(tmp_path: Path) -> None:
    marker = tmp_path / "loaded.txt"
    config = marker_config(tmp_path, marker)
    code, out, err = await run_cli("serve", "--config", str(config), "--check")
    assert (code, out) == (0, f"{config}: ok (2 modules, 1 system)\n"), err
    assert not marker.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("modules: {m: {driver: no.such:Driver}}\n")
    code, out, err = await run_cli("serve", "--config", str(bad), "--check")
    assert (code, out) == (2, "")
    assert err.startswith(f"config error: {bad}: modules.m.driver: cannot import 'no.such'")
    code, _, err = await run_cli("serve", "--check")
    assert code == 2
    assert "serve --check needs --config PATH" in err
