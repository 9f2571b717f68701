"""The embedded default: both bundled emulators started in-process and system ``sys-demo``.

``python -m runtime serve`` without a config imports this package by name and calls
``start_embedded``; it wires the runtime, our drivers and the emulators together, which is why
it lives outside ``runtime/`` (the runtime knows neither drivers nor emulators).
"""

from __future__ import annotations

import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedded.settings import graph_settings, lineworks_settings
from fixtures.graph_emulator import start as start_graph_emulator
from fixtures.lineworks_emulator import start as start_lineworks_emulator
from runtime.config import RuntimeConfig, parse_config

__all__ = [
    "GRAPH_DRIVER",
    "LINEWORKS_DRIVER",
    "EmbeddedDefault",
    "graph_settings",
    "lineworks_settings",
    "start_embedded",
]

GRAPH_DRIVER = "drivers.microsoft.graph_api:GraphAPI"
LINEWORKS_DRIVER = "drivers.lineworks.calendar:LineWorksCalendar"
SYSTEM_ID = "sys-demo"


@dataclass(frozen=True)
class EmbeddedDefault:
    """The demo's runtime config and the lines to print beside the ready line."""

    config: RuntimeConfig
    banner: list[str]


async def start_embedded(stack: AsyncExitStack, server: dict[str, Any]) -> EmbeddedDefault:
    """Start both emulators on free loopback ports; return the demo config pointing at them.

    Everything started is registered on ``stack``, so closing it stops the emulators and
    removes their certificates.
    """
    cert_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runtime-certs-")))
    graph = await start_graph_emulator(cert_dir / "graph")
    stack.push_async_callback(graph.close)
    lineworks = await start_lineworks_emulator(cert_dir / "lineworks")
    stack.push_async_callback(lineworks.close)
    config = {
        "server": server,
        "modules": {
            "mod-graph": {"driver": GRAPH_DRIVER, "settings": graph_settings(graph)},
            "mod-lineworks": {"driver": LINEWORKS_DRIVER,
                              "settings": lineworks_settings(lineworks)},
        },
        "systems": {
            SYSTEM_ID: {
                "name": "Demo building",
                "description": "Calendars backed by the bundled Graph and LINE WORKS emulators",
                "modules": ["mod-graph", "mod-lineworks"],
            }
        },
    }
    banner = [
        f"Microsoft Graph emulator at {graph.url} (CA {graph.ca_file})",
        f"LINE WORKS emulator at {lineworks.url} (CA {lineworks.ca_file})",
    ]
    return EmbeddedDefault(parse_config(config, "<embedded default>"), banner)
