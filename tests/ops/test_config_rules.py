"""Config files: substitution, relative paths, all problems at once, duplicates, settings errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import structlog

from runtime.config import load_config, parse_config
from runtime.config_source import substitute_env
from runtime.errors import ConfigError
from runtime.testing import run_runtime

DISPLAY = "tests.runtime.sample_drivers:Display"


def write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_environment_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_ADMIN_KEY", "from-the-environment")
    monkeypatch.setenv("OPS_PORT", "9123")
    monkeypatch.setenv("OPS_EMPTY", "")
    monkeypatch.delenv("OPS_UNSET", raising=False)
    path = write(
        tmp_path,
        f"""
        server: {{port: "${{OPS_PORT}}", host: "${{OPS_UNSET:-127.0.0.2}}"}}
        auth:
          api_keys: [{{key: "${{OPS_ADMIN_KEY}}", clearance: admin, name: "${{OPS_EMPTY:-ops}}"}}]
        modules:
          mod-1:
            driver: {DISPLAY}
            settings:
              url: "https://${{OPS_UNSET:-host}}:${{OPS_PORT}}/x"
              literal: "$${{OPS_PORT}} stays"
              list: ["${{OPS_PORT}}", 5]
              "${{OPS_PORT}}": keys are not substituted
        """,
    )
    config = load_config(path)
    assert (config.server.port, config.server.host) == (9123, "127.0.0.2")
    assert config.auth.api_keys[0].key == "from-the-environment"
    assert config.auth.api_keys[0].name == "ops"  # set but empty takes the default, as in sh
    assert config.modules["mod-1"].settings == {
        "url": "https://host:9123/x",
        "literal": "${OPS_PORT} stays",
        "list": ["9123", 5],
        "${OPS_PORT}": "keys are not substituted",
    }


def test_unset_variables_are_problems_naming_the_key() -> None:
    data, problems = substitute_env(
        {"auth": {"jwt": {"secret": "${NO_SUCH_SECRET}"}}, "l": ["${ALSO_MISSING}"]}, {}
    )
    assert problems == [
        ("auth.jwt.secret", "environment variable NO_SUCH_SECRET is not set"),
        ("l[0]", "environment variable ALSO_MISSING is not set"),
    ]
    assert data["auth"]["jwt"]["secret"] == ""


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        server: {{port: eighty, colour: red}}
        auth: {{jwt: {{secret: "${{OPS_NOT_SET_ANYWHERE}}"}}}}
        modules:
          mod-1: {{driver: {DISPLAY}}}
          mod-2: {{driver: no.such.module:Thing}}
        systems:
          sys-1: {{name: One, modules: [mod-1, ghost]}}
        """,
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert sorted(error.value.problems) == sorted(
        [
            f"{path}: auth.jwt.secret: environment variable OPS_NOT_SET_ANYWHERE is not set",
            f"{path}: server.port: Input should be a valid integer, "
            "unable to parse string as an integer",
            f"{path}: server.colour: Extra inputs are not permitted",
            f"{path}: systems.sys-1.modules[1]: unknown module 'ghost'",
            f"{path}: modules.mod-2.driver: cannot import 'no.such.module': No module named 'no'",
        ]
    )
    assert str(error.value) == "\n".join(error.value.problems)


def test_duplicate_keys_are_refused_with_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        server:
          port: 8080
          port: 8081
        modules: {}
        systems:
          a: {name: A}
          a: {name: B}
        """,
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.problems == [
        f"{path}: line 3: duplicate key 'port' (first given on line 2)",
        f"{path}: line 7: duplicate key 'a' (first given on line 6)",
    ]


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""\
        modules:
          base: &base {{driver: {DISPLAY}, exec_timeout: 5}}
          mod-1: {{<<: *base, exec_timeout: 7}}
        """,
    )
    assert load_config(path).modules["mod-1"].exec_timeout == 7


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "server: {port: 0}\n"])
def test_an_empty_config_is_warned_about(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with structlog.testing.capture_logs() as logs:
        config = load_config(path)
    assert config.modules == {}
    assert [(e["log_level"], e["event"], e["file"]) for e in logs] == [
        ("warning", "config defines no modules or systems: nothing to host", str(path))
    ]


def test_a_config_with_modules_is_not_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, f"modules: {{mod-1: {{driver: {DISPLAY}}}}}\n")
    with structlog.testing.capture_logs() as logs:
        load_config(path)
    assert logs == []


def test_a_top_level_list_is_one_clear_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "- server\n")
    with pytest.raises(ConfigError, match=r"config.yaml: \(top level\): expected a mapping"):
        load_config(path)


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mywork"
    write(folder / "lib", "", "placeholder")
    write(
        folder / "lib",
        """\
        from runtime import Driver

        class FromLib(Driver):
            generic_name = "FromLib"
        """,
        "ops_lib_driver.py",
    )
    path = write(
        folder,
        """\
        server: {driver_paths: [lib, /opt/absolute]}
        auth:
          jwt: {public_key_file: keys/jwt.pub}
        modules:
          mod-1:
            driver: ops_lib_driver:FromLib
            settings:
              calendar_config: {ca_file: certs/ca.pem, tenant: t}
              lineworks: {private_key_file: ../keys/lw.pem}
              absolute_file: /etc/ssl/x.pem
              home_file: ~/x.pem
              not_a_path: certs/ca.pem
        systems:
          sys-1: {name: One, modules: [mod-1], settings: {ca_file: sys-ca.pem}}
        """,
    )
    monkeypatch.chdir(tmp_path.parent)  # somewhere else entirely
    monkeypatch.setattr(sys, "path", list(sys.path))
    config = load_config(path)
    settings = config.modules["mod-1"].settings
    assert settings["calendar_config"] == {"ca_file": str(folder / "certs/ca.pem"), "tenant": "t"}
    assert settings["lineworks"]["private_key_file"] == str(folder / "../keys/lw.pem")
    assert settings["absolute_file"] == "/etc/ssl/x.pem"
    assert settings["home_file"] == "~/x.pem"
    assert settings["not_a_path"] == "certs/ca.pem"
    assert config.systems["sys-1"].settings["ca_file"] == str(folder / "sys-ca.pem")
    assert config.auth.jwt is not None
    assert config.auth.jwt.public_key_file == folder / "keys/jwt.pub"
    assert config.server.driver_paths == [folder / "lib", Path("/opt/absolute")]
    assert str(folder) in sys.path and str(folder / "lib") in sys.path


async def test_settings_errors_are_one_line_per_problem_without_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "short-pass"  # too short: the problem must not show the value
    config = parse_config(
        {
            "modules": {
                "mod-1": {
                    "driver": "tests.ops.ops_drivers:Strict",
                    "settings": {
                        "account": {"tenant": "", "client_secret": secret},
                        "rate_limit": 0,
                    },
                }
            },
            "systems": {"sys-1": {"name": "One", "modules": ["mod-1"]}},
        }
    )
    async with run_runtime(config.model_dump(mode="json"), log_level="info") as rt:
        status, body = await rt.rest("GET", "/api/engine/v2/systems/sys-1")
        load_error = rt.runtime.store.get("mod-1", "load_error")
    logs = capsys.readouterr().err
    expected = (
        "invalid settings: account.tenant: String should have at least 1 character; "
        "account.client_secret: String should have at least 12 characters; "
        "rate_limit: Input should be greater than 0"
    )
    assert status == 200
    assert body["module_data"][0]["error"] == expected
    assert load_error is not None and load_error.decode() == f'"{expected}"'
    settings_lines = [line for line in logs.splitlines() if "invalid setting " in line]
    assert [line.split("problem=", 1)[1] for line in settings_lines] == [
        "'account.tenant: String should have at least 1 character'",
        "'account.client_secret: String should have at least 12 characters'",
        "'rate_limit: Input should be greater than 0'",
    ]
    assert "Traceback" not in logs
    assert "pydantic" not in logs
    assert secret not in logs
