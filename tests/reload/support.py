"""Helpers for the hot reload tests: driver packages on disk and timed edits."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.testing import ExecError, RuntimeHandle, TestClient

#: What the write-to-answer measurements of this session found, in seconds.
MEASURED: list[float] = []


class DriverPackage:
    """A uniquely named package of driver modules in a directory on `sys.path`."""

    def __init__(self, root: Path) -> None:
        self.name = f"reload_{uuid.uuid4().hex[:10]}"
        self.dir = root / self.name
        self.dir.mkdir(parents=True)
        (self.dir / "__init__.py").write_text("")

    def path(self, module: str) -> Path:
        """The file of `module` (a name inside the package, dots for subpackages)."""
        return self.dir.joinpath(*module.split(".")).with_suffix(".py")

    def write(self, module: str, source: str) -> Path:
        """Write `module`'s source (dedented), in place as most editors save."""
        path = self.path(module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
        return path

    def replace(self, module: str, source: str) -> Path:
        """Write `module`'s source to a temporary file and rename it over the old one."""
        path = self.path(module)
        temporary = path.with_name(f".{path.name}.swp")
        temporary.write_text(textwrap.dedent(source).lstrip())
        os.replace(temporary, path)
        return path

    def driver(self, module: str, cls: str) -> str:
        """The import path of a driver class in this package."""
        return f"{self.name}.{module}:{cls}"

    def module(self, module: str) -> Any:
        """The loaded module object."""
        return sys.modules[f"{self.name}.{module}"]

    def forget(self) -> None:
        """Drop the package's modules from `sys.modules`."""
        for name in [n for n in sys.modules if n == self.name or n.startswith(self.name + ".")]:
            del sys.modules[name]


def live(rt: RuntimeHandle, module_id: str) -> Any:
    """The live driver instance of a module, typed loosely to reach the test drivers' attributes."""
    return rt.driver(module_id)


async def write_and_time_answer(
    client: TestClient,
    write: Callable[[], object],
    target: tuple[str, str, str],
    expected: Any,
    args: list[Any] | None = None,
    *,
    index: int = 1,
    timeout: float = 5.0,
) -> float:
    """Seconds from a file write to the first exec of `target` that returns `expected`.

    The clock starts just before `write()` runs and stops when the reply arrives, so the
    watcher's debounce, the reload and the round trip are all included. It polls every 10 ms.
    """
    sys_id, mod, method = target
    started = time.perf_counter()
    write()
    while True:
        try:
            value = await client.exec(sys_id, mod, method, args or [], index=index)
        except ExecError:
            value = ExecError
        elapsed = time.perf_counter() - started
        if value == expected:
            MEASURED.append(elapsed)
            return elapsed
        if elapsed > timeout:
            raise AssertionError(f"{method} still answered {value!r} after {timeout} s")
        await asyncio.sleep(0.01)


def code_constants(code: Any) -> set[Any]:
    """Every constant in a code object and the code objects nested in it."""
    found: set[Any] = set()
    for const in code.co_consts:
        if hasattr(const, "co_consts"):
            found |= code_constants(const)
        elif isinstance(const, str | int | float):
            found.add(const)
    return found
