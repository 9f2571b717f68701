"""Fixtures: a running Graph emulator and a real aiohttp client trusting its CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator import start
from tests.graph_emulator.helpers import Graph, client_session


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    async with await start(tmp_path / "certs") as running:
        yield running


@pytest.fixture
async def graph(emulator: RunningEmulator) -> AsyncIterator[Graph]:
    async with client_session(emulator.ca_file) as session:
        yield Graph(emulator, session)

