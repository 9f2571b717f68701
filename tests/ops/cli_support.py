"""Running the CLI as a subprocess, and `serve` until its ready line, for the operator tests."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from tests.support import serve_process
from tests.support.serve_process import ServeProcess as Served

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 30.0


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no credential or URL inherited from the developer's shell."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RUNTIME_API_KEY", "RUNTIME_TOKEN", "RUNTIME_URL")
    }
    return {**env, "PYTHONPATH": str(ROOT), **extra}


async def spawn_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> asyncio.subprocess.Process:
    """Start `python -m runtime ARGS` with stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or cli_env(),
        cwd=cwd,
    )


async def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[int, str, str]:
    process = await spawn_cli(*args, env=env, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    return process.returncode or 0, out.decode(), err.decode()


async def start_serve(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Served:
    """`serve ARGS` (which say the port) once it has printed its ready line."""
    return await serve_process.start_serve(*args, port=None, env=env, cwd=cwd)


def free_port() -> int:
    """A loopback port that was free a moment ago (for restarting a server on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
