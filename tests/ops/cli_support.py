"""Running the CLI as a subprocess, and `serve` until its ready line, for the operator tests."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"Runtime ready at (http://\S+)")
CLI_TIMEOUT = 30.0
READY_TIMEOUT = 30.0


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


class Served:
    """A `serve` subprocess that printed its ready line; its stderr goes to a file."""

    def __init__(
        self, process: asyncio.subprocess.Process, url: str, lines: list[str], log: Path
    ) -> None:
        self.process = process
        self.url = url
        self.lines = lines
        self.log = log

    def stderr(self) -> str:
        return self.log.read_text()

    async def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit code and everything it wrote on stderr."""
        if self.process.returncode is None:
            self.process.terminate()
        code = await asyncio.wait_for(self.process.wait(), CLI_TIMEOUT)
        return code, self.stderr()


async def start_serve(
    *args: str, log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Served:
    """Start `serve ARGS` and wait for its ready line; stderr is written to `log`."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime",
            "serve",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env or cli_env(),
            cwd=cwd,
        )
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)).decode()
        if not line:
            await process.wait()
            raise AssertionError(f"serve exited before ready: {lines} {log.read_text()[-3000:]}")
        lines.append(line)
        match = READY.search(line)
        if match:
            return Served(process, match.group(1), lines, log)


def free_port() -> int:
    """A loopback port that was free a moment ago (for restarting a server on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
