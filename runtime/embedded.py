"""The embedded default: the bundled emulators started in-process and system `sys-demo`."""

from __future__ import annotations

import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from runtime.config import RuntimeConfig, parse_config

GRAPH_DRIVER = "drivers.microsoft.graph_api:GraphAPI"
LINEWORKS_DRIVER = "drivers.lineworks.calendar:LineWorksCalendar"


async def start_embedded(stack: AsyncExitStack, server: dict[str, Any]) -> RuntimeConfig:
    """Start both emulators on free loopback ports and return the demo config pointing at them.

    Everything started is registered on `stack`, so closing it stops the emulators.
    """
    from fixtures.graph_emulator import start as start_graph_emulator
    from fixtures.lineworks_emulator import start as start_lineworks_emulator

    cert_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runtime-certs-")))
    graph = await start_graph_emulator(cert_dir / "graph")
    stack.push_async_callback(graph.close)
    lineworks = await start_lineworks_emulator(cert_dir / "lineworks")
    stack.push_async_callback(lineworks.close)
    config = {
        "server": server,
        "modules": {
            "mod-graph": {"driver": GRAPH_DRIVER, "settings": graph.driver_settings()},
            "mod-lineworks": {"driver": LINEWORKS_DRIVER, "settings": lineworks.driver_settings()},
        },
        "systems": {
            "sys-demo": {
                "name": "Demo building",
                "description": "Calendars backed by the bundled Graph and LINE WORKS emulators",
                "modules": ["mod-graph", "mod-lineworks"],
            }
        },
    }
    return parse_config(config, "<embedded default>")
