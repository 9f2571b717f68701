"""JWT clearance and config validation."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import websockets

from runtime.config import load_config, parse_config
from runtime.errors import ConfigError
from runtime.testing import ExecError, run_runtime

SECRET = "jwt-test-secret-long-enough-for-hs256"
DISPLAY = "tests.runtime.sample_drivers:Display"


def token(**claims: object) -> str:
    return jwt.encode({"sub": "user-1", "exp": int(time.time()) + 60, **claims}, SECRET, "HS256")


async def test_jwt_claims_set_clearance() -> None:
    config = {
        "auth": {"jwt": {"secret": SECRET}},
        "modules": {"mod-1": {"driver": DISPLAY}},
        "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
    }
    async with run_runtime(config) as rt:
        url = rt.ws_url
        for claims, allowed in (
            ({}, "user"),
            ({"support": True}, "support"),
            ({"u": {"admin": True}}, "admin"),
        ):
            headers = {"Authorization": f"Bearer {token(**claims)}"}
            async with websockets.connect(url, additional_headers=headers) as ws:
                from runtime.testing import TestClient

                client = TestClient(ws)
                if allowed == "user":
                    with pytest.raises(ExecError):
                        await client.exec("sys-1", "Display", "support_only")
                else:
                    assert await client.exec("sys-1", "Display", "support_only") == "support"
                if allowed == "admin":
                    assert await client.exec("sys-1", "Display", "admin_only") == "admin"
                await client.close()
        expired = jwt.encode({"sub": "u", "exp": int(time.time()) - 5}, SECRET, "HS256")
        status, body = await rt.rest(
            "GET",
            "/api/engine/v2/systems",
            headers={"Authorization": f"Bearer {expired}"},
            authenticate=False,
        )
        assert status == 401
        assert "expired" in body["error"].lower()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"modules": {"m": {}}}, "<t>: modules.m.driver: Field required"),
        (
            {"modules": {"m": {"driver": "nocolon"}}},
            "<t>: modules.m.driver: Value error, expected an import path 'package.module:Class'",
        ),
        (
            {"modules": {"m": {"driver": "no.such.module:X"}}},
            "<t>: modules.m.driver: cannot import 'no.such.module'",
        ),
        (
            {"modules": {"m": {"driver": "runtime.config:load_config"}}},
            "<t>: modules.m.driver: 'runtime.config:load_config' is not a Driver subclass",
        ),
        (
            {"systems": {"s": {"name": "S", "modules": ["ghost"]}}},
            "<t>: systems.s.modules[0]: unknown module 'ghost'",
        ),
        ({"server": {"port": "eighty"}}, "<t>: server.port: Input should be a valid integer"),
        (
            {"auth": {"api_keys": [{"key": "k", "clearance": "user"}]}},
            "<t>: auth.api_keys[0].key: String should have at least 8 characters",
        ),
        (
            {"modules": {"m": {"driver": DISPLAY, "colour": "red"}}},
            "<t>: modules.m.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_config_names_the_key_path_and_problem(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config, "<t>")
    assert str(err.value).startswith(message)


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("modules:\n  m: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+, column \d+: invalid YAML"):
        load_config(path)
    path.write_text("systems:\n  s:\n    name: S\n    modules: [ghost]\n")
    with pytest.raises(
        ConfigError, match=r"bad.yaml: systems.s.modules\[0\]: unknown module 'ghost'"
    ):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


async def test_rs256_jwt_verified_with_the_public_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "jwt.pub").write_bytes(public_pem)
    config = {
        "auth": {"jwt": {"public_key_file": str(tmp_path / "jwt.pub")}},
        "modules": {"mod-1": {"driver": DISPLAY}},
        "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
    }
    claims = {"sub": "ops", "exp": int(time.time()) + 60, "admin": True}
    good = jwt.encode(claims, key, "RS256")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, "RS256")
    async with run_runtime(config) as rt:
        path = "/api/engine/v2/systems/sys-1/Display_1/admin_only"
        ok = await rt.rest(
            "POST", path, json=[], authenticate=False, headers={"Authorization": f"Bearer {good}"}
        )
        assert ok == (200, "admin")
        status, body = await rt.rest(
            "POST", path, json=[], authenticate=False, headers={"Authorization": f"Bearer {forged}"}
        )
        assert status == 401
        assert "signature" in body["error"].lower()


def test_json_log_lines_carry_the_module_id(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from runtime.logs import configure_logging, get_logger

    configure_logging("json", "info")
    get_logger(module_id="mod-7").info("hello", n=1)
    get_logger(module_id="mod-7").debug("below the output level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["module_id"] == "mod-7"
    assert lines[0]["event"] == "hello"
    assert lines[0]["level"] == "info"
    configure_logging("console", "warning")
