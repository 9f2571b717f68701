"""Fixtures for the hot reload tests: a fresh driver package per test, on `sys.path`."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reload.support import MEASURED, DriverPackage


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DriverPackage]:
    source_root = tmp_path / "src"
    source_root.mkdir()
    monkeypatch.syspath_prepend(str(source_root))
    created = DriverPackage(source_root)
    try:
        yield created
    finally:
        created.forget()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report the write-to-answer times the reload tests measured."""
    if not MEASURED:
        return
    ms = sorted(round(s * 1000) for s in MEASURED)
    terminalreporter.write_line(
        f"hot reload write-to-answer: {len(ms)} edits, median {statistics.median(ms):.0f} ms, "
        f"max {ms[-1]} ms (all: {ms})"
    )
