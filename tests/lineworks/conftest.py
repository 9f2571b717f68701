"""Fixtures of the LINE WORKS tests: a fresh emulator per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fixtures import lineworks_emulator
from fixtures.emulator_base import RunningEmulator


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    async with await lineworks_emulator.start(tmp_path / "certs") as running:
        yield running
