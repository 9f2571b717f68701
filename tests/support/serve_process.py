"""`python -m runtime serve` as a child process of a test.

Started on a loopback port the server picks (``--port 0``) unless told otherwise, ready once it
prints its ready line (read from its stdout as it arrives), with both output streams kept line by
line (`Output`), and stopped by SIGTERM with a bounded kill after it. Usable from async tests
(`start_serve`, `stop`, `wait_exit`) and from synchronous ones such as the Playwright tests
(`start_serve_sync`, `close`). Timeouts only bound a failure; nothing here waits on a timer.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from runtime.server import CONTROL_PATH
from tests.support.output import Output

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"Runtime ready at (http://\S+)")

#: Seconds `serve` may take to print its ready line (the embedded default starts two emulators).
START_TIMEOUT = 60.0
#: Seconds a SIGTERMed `serve` may take to exit before it is killed.
STOP_TIMEOUT = 20.0


def _is_ready_line(text: str) -> bool:
    return READY.search(text) is not None


#: Variables that would hand the developer's credentials or server to the child.
SCRUBBED = ("RUNTIME_API_KEY", "RUNTIME_TOKEN", "RUNTIME_URL")


def serve_env(
    env: Mapping[str, str] | None = None, pythonpath: Sequence[str] = ()
) -> dict[str, str]:
    """The child's environment: this one without credentials, the repository importable, output
    unbuffered (lines arrive as written), then `env` on top."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), *pythonpath])
    base["PYTHONUNBUFFERED"] = "1"
    return {**base, **(env or {})}


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write `config` as YAML to `path`; returns the path."""
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    return path


#: Every child started here, so none outlives the test run (a failed test may skip its stop).
_STARTED: weakref.WeakSet[ServeProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for child in list(_STARTED):
        child.kill()


class ServeProcess:
    """One `serve` child process and what it has written."""

    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.args = list(args)
        self.env = env
        self.cwd = cwd
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "serve", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = Output("stdout of serve")
        self.stderr = Output("stderr of serve")
        self._readers = [
            self.stdout.read_from(self.process.stdout),
            self.stderr.read_from(self.process.stderr),
        ]
        self._exited = threading.Event()
        self._exit_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._watch_exit, name="serve-exit", daemon=True).start()
        _STARTED.add(self)
        self.url = ""
        #: What stdout said up to and including the ready line.
        self.lines: list[str] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + CONTROL_PATH

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self._exited.is_set() else None

    def _watch_exit(self) -> None:
        self.process.wait()
        with self._lock:
            self._exited.set()
            waiters = list(self._exit_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                loop.call_soon_threadsafe(event.set)

    def _became_ready(self, line: str) -> None:
        match = READY.search(line)
        assert match, line
        self.url = match.group(1)
        lines = self.stdout.snapshot()
        self.lines = lines[: lines.index(line) + 1]

    async def ready(self, timeout: float = START_TIMEOUT) -> ServeProcess:
        """Wait for the ready line; the process is killed if it does not come."""
        try:
            line = await self.stdout.wait_for(_is_ready_line, "serve's ready line", timeout)
        except AssertionError as failure:
            self._never_ready(failure)
        self._became_ready(line)
        return self

    def ready_sync(self, timeout: float = START_TIMEOUT) -> ServeProcess:
        """`ready`, blocking (for tests outside a running loop)."""
        try:
            line = self.stdout.wait_for_sync(_is_ready_line, "serve's ready line", timeout)
        except AssertionError as failure:
            self._never_ready(failure)
        self._became_ready(line)
        return self

    def _never_ready(self, failure: AssertionError) -> NoReturn:
        self.kill()
        raise AssertionError(f"{failure}\n{self.stderr.text()[-4000:]}") from None

    def signal(self, number: int = signal.SIGTERM) -> None:
        if not self._exited.is_set():
            self.process.send_signal(number)

    async def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """The exit code, once the process has exited and all it wrote has been read (fails
        after `timeout`)."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._exit_waiters.append(entry)
            if self._exited.is_set():
                event.set()
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            raise AssertionError(f"serve did not exit within {timeout:g} s") from None
        finally:
            with self._lock:
                self._exit_waiters.remove(entry)
        await self.stdout.wait_closed(timeout)
        await self.stderr.wait_closed(timeout)
        return self.process.returncode

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then the exit code; killed (and -9 returned) if it outlives `timeout`."""
        self.signal(signal.SIGTERM)
        try:
            return await self.wait_exit(timeout)
        except AssertionError:
            self.kill()
            return await self.wait_exit(timeout)

    def close(self, timeout: float = STOP_TIMEOUT) -> int:
        """`stop` for code that runs no event loop."""
        self.signal(signal.SIGTERM)
        if not self._exited.wait(timeout):
            self.kill()
        self._exited.wait()
        for reader in self._readers:
            reader.join(timeout)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, in case it was stopped) unless it has exited."""
        if not self._exited.is_set():
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()


def _argv(args: Sequence[str], config: Path | None, port: int | None) -> list[str]:
    argv = list(args)
    if config is not None:
        argv += ["--config", str(config)]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


async def start_serve(
    *args: str,
    config: Path | None = None,
    port: int | None = 0,
    env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str] = (),
    cwd: Path = ROOT,
    timeout: float = START_TIMEOUT,
) -> ServeProcess:
    """Start `serve ARGS` (with `--config CONFIG` and `--port PORT` unless None) and wait for its
    ready line."""
    process = ServeProcess(_argv(args, config, port), serve_env(env, pythonpath), cwd)
    return await process.ready(timeout)


def start_serve_sync(
    *args: str,
    config: Path | None = None,
    port: int | None = 0,
    env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str] = (),
    cwd: Path = ROOT,
    timeout: float = START_TIMEOUT,
) -> ServeProcess:
    """`start_serve` for code that runs no event loop."""
    process = ServeProcess(_argv(args, config, port), serve_env(env, pythonpath), cwd)
    return process.ready_sync(timeout)
