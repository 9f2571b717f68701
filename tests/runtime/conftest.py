"""A runtime hosting the sample drivers, shared by the runtime tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.testing import RuntimeHandle, run_runtime

DISPLAY = "tests.runtime.sample_drivers:Display"
USER_KEY, SUPPORT_KEY = "user-key-0001", "support-key-0001"


def sample_config() -> dict[str, Any]:
    return {
        "auth": {
            "api_keys": [
                {"key": USER_KEY, "clearance": "user", "name": "kiosk"},
                {"key": SUPPORT_KEY, "clearance": "support", "name": "helpdesk"},
            ]
        },
        "modules": {
            "mod-1": {"driver": DISPLAY, "settings": {"input": "dvi", "nested": {"b": 3}}},
            "mod-2": {"driver": DISPLAY, "exec_timeout": 0.3},
            "mod-broken": {"driver": "tests.runtime.sample_drivers:BrokenOnLoad"},
            "mod-slow": {"driver": "tests.runtime.sample_drivers:SlowOnLoad", "load_timeout": 0.2},
            "mod-hidden": {"driver": DISPLAY, "name": "_Hidden"},
        },
        "systems": {
            "sys-1": {
                "name": "Room one",
                "settings": {"input": "hdmi", "nested": {"a": 10}, "room": "one"},
                "modules": ["mod-1", "mod-2", "mod-broken", "mod-slow", "mod-hidden"],
            },
            "sys-2": {"name": "Room two", "modules": ["mod-2", "mod-1"]},
        },
    }


@pytest.fixture
async def rt() -> AsyncIterator[RuntimeHandle]:
    async with run_runtime(sample_config()) as handle:
        yield handle
