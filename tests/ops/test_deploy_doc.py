"""docs/deploy.md's config and systemd command line, checked with `serve --check`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.ops.cli_support import cli_env, run_cli
from tests.ops.test_nginx import DEPLOY_DOC

VENV_PYTHON = "/srv/placeos-runtime/app/.venv/bin/python"
SITE_CONFIG = "/srv/placeos-runtime/site/config.yaml"


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DEPLOY_DOC.read_text(), re.DOTALL)


async def test_the_documented_unit_starts_the_documented_config(tmp_path: Path) -> None:
    (unit,) = fenced("ini")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[:5] == [VENV_PYTHON, "-m", "runtime", "serve", "--config"]
    assert argv[5] == SITE_CONFIG
    config = tmp_path / "config.yaml"
    config.write_text(fenced("yaml")[0])
    env = cli_env(
        RUNTIME_OPS_KEY="ops-key-from-env-file",
        RUNTIME_KIOSK_KEY="kiosk-key-from-env-file",
        GRAPH_CLIENT_ID="graph-client",
        GRAPH_CLIENT_SECRET="graph-secret",
    )
    # the documented command, run by this interpreter against a copy of the documented config
    code, out, err = await run_cli(*argv[3:5], str(config), *argv[6:], "--check", env=env)
    assert (code, out) == (0, f"{config}: ok (1 module, 1 system)\n"), err


async def test_the_documented_config_names_its_missing_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(fenced("yaml")[0])
    code, _, err = await run_cli("serve", "--config", str(config), "--check")
    assert code == 2
    for where, name in (
        ("auth.api_keys[0].key", "RUNTIME_OPS_KEY"),
        ("auth.api_keys[1].key", "RUNTIME_KIOSK_KEY"),
        ("modules.mod-graph.settings.calendar_config.client_id", "GRAPH_CLIENT_ID"),
        ("modules.mod-graph.settings.calendar_config.client_secret", "GRAPH_CLIENT_SECRET"),
    ):
        assert f"{config}: {where}: environment variable {name} is not set" in err
