"""A LINE WORKS emulator per test, and a plain aiohttp client of its documented API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fixtures import lineworks_emulator
from fixtures.emulator_base import RunningEmulator
from tests.lineworks_emulator.client import LineWorks, lineworks_client


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    async with await lineworks_emulator.start(tmp_path / "certs") as running:
        yield running


@pytest.fixture
async def works(emulator: RunningEmulator) -> AsyncIterator[LineWorks]:
    async with lineworks_client(emulator) as client:
        yield client
