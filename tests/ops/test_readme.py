"""The README's shell examples, run as written against the quick start's runtime.

Every ```sh block after the quick start's own install line is run line by line, in order, with
the key `serve` printed; blocks that install, test, benchmark or start servers are left out. The
only change is the port: the examples say 127.0.0.1:8080 (in URLs, or as the CLI's default URL),
the test's runtime listens on a free one, given to the CLI's default as `RUNTIME_URL`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ops.cli_support import ROOT, Served, cli_env, start_serve

README = ROOT / "README.md"
DOCUMENTED_URL = "127.0.0.1:8080"
#: Blocks with any of these install, test, benchmark or start a server: not examples to run here.
NOT_EXAMPLES = ("pip install", "scripts/test", "bench/", "pytest", "runtime serve", "--port ")
PRINTED_KEY = "<the printed key>"
EXEC = ".venv/bin/python -m runtime exec"
LINE_TIMEOUT = 60.0
WS_REQUEST = {
    "id": 1,
    "cmd": "exec",
    "sys": "sys-demo",
    "mod": "Calendar",
    "index": 1,
    "name": "list_users",
    "args": ["amelia"],
}


def shell_blocks() -> list[list[str]]:
    """Each ```sh block as its logical lines (continuations joined, blanks dropped)."""
    blocks = []
    for body in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL):
        if any(marker in body for marker in NOT_EXAMPLES):
            continue
        joined = body.replace("\\\n", " ")
        blocks.append([line.strip() for line in joined.splitlines() if line.strip()])
    return blocks


@pytest.fixture(scope="module")
def examples() -> list[list[str]]:
    return shell_blocks()


@pytest.fixture
async def quick_start(tmp_path: Path) -> AsyncIterator[tuple[Served, str]]:
    server = await start_serve("--port", "0")
    try:
        printed = re.search(r"generated admin key: (\S+)", "\n".join(server.lines))
        assert printed, server.lines
        yield server, printed.group(1)
    finally:
        await server.stop()


def localise(line: str, url: str) -> str:
    line = line.replace(DOCUMENTED_URL, url.removeprefix("http://"))
    if not (ROOT / ".venv" / "bin" / "python").exists():  # the suite runs from another Python
        line = line.replace(".venv/bin/python", shlex.quote(sys.executable))
    return line


async def _spawn(line: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"exec {line}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


async def _first_line_then_stop(line: str, env: dict[str, str], send: str | None) -> str:
    """For commands that run until interrupted: their first meaningful output line."""
    process = await _spawn(line, env)
    assert process.stdout is not None and process.stdin is not None
    try:
        if send is not None:
            process.stdin.write(send.encode() + b"\n")
            await process.stdin.drain()
        while True:
            out = await asyncio.wait_for(process.stdout.readline(), LINE_TIMEOUT)
            assert out, f"{line!r} ended without output"
            text = out.decode()
            if text.startswith("{"):
                return text.strip()
            if "< {" in text:  # the websockets client: "< " before each received frame
                return text[text.index("< {") + 2 :].strip()
    finally:
        process.terminate()
        await process.wait()


def test_the_readme_has_the_examples_this_test_runs(examples: list[list[str]]) -> None:
    lines = [line for block in examples for line in block]
    assert any(line.startswith("export RUNTIME_API_KEY=") for line in lines)
    for fragment in ("runtime ls", "runtime exec", "runtime watch", "curl", "-m websockets"):
        assert any(fragment in line for line in lines), fragment
    assert not any("change-me" in line or line.startswith("python ") for line in lines)


async def test_readme_shell_examples_run_as_written(
    examples: list[list[str]], quick_start: tuple[Served, str]
) -> None:
    server, key = quick_start
    env = cli_env(RUNTIME_URL=server.url)  # where the CLI's default URL would point
    ran = 0
    for block in examples:
        for raw in block:
            line = localise(raw.replace(PRINTED_KEY, key), server.url)
            if line.startswith("export "):
                for assignment in shlex.split(line)[1:]:
                    name, _, value = assignment.partition("=")
                    env[name] = value
                continue
            if " watch " in line:
                first = json.loads(await _first_line_then_stop(line, env, None))
                assert set(first) == {"name", "value"}, line
            elif "-m websockets" in line:
                reply = await _first_line_then_stop(line, env, json.dumps(WS_REQUEST))
                frame = json.loads(reply)
                assert (frame["id"], frame["type"]) == (1, "success"), (line, frame)
            else:
                process = await _spawn(line, env)
                out, err = await asyncio.wait_for(process.communicate(), LINE_TIMEOUT)
                assert process.returncode == 0, (line, err.decode()[-2000:])
                assert out.strip(), line
                piped = "|" in line
                if not piped and ("--json" in line or line.startswith(("curl", EXEC))):
                    json.loads(out)
            ran += 1
    assert ran >= 12


def python_block(marker: str) -> str:
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL) if marker in b
    ]
    assert len(blocks) == 1, f"one README python block with {marker!r}"
    return blocks[0]


async def test_readme_driver_and_its_run_runtime_test_pass_as_written(tmp_path: Path) -> None:
    """The Projector driver and the run_runtime test, with the pytest setup the README names."""
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "projector.py").write_text(python_block("class Projector(Driver)"))
    (tmp_path / "test_projector.py").write_text(python_block("async def test_power()"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_projector.py",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=cli_env(PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}"),
        cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(process.communicate(), LINE_TIMEOUT)
    assert process.returncode == 0, out.decode()[-3000:]
    assert "1 passed" in out.decode()
