"""A runtime hosting the lifecycle test drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.testing import RuntimeHandle, run_runtime

WORKER = "tests.lifecycle.drivers:Worker"
USER_KEY, OTHER_KEY = "user-key-0001", "other-key-0001"


def lifecycle_config(**server: Any) -> dict[str, Any]:
    return {
        "server": server,
        "auth": {
            "api_keys": [
                {"key": USER_KEY, "clearance": "user", "name": "kiosk"},
                {"key": OTHER_KEY, "clearance": "user", "name": "panel"},
            ]
        },
        "modules": {
            "mod-w": {"driver": WORKER},
            "mod-v": {"driver": WORKER},
        },
        "systems": {"sys-1": {"name": "Room one", "modules": ["mod-w", "mod-v"]}},
    }


@pytest.fixture
async def rt() -> AsyncIterator[RuntimeHandle]:
    async with run_runtime(lifecycle_config()) as handle:
        yield handle
