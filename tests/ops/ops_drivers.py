"""Drivers for the operator-tool tests: one that leaves a mark when loaded, one with settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from runtime import Driver


class Marker(Driver):
    """Appends a line to `marker_file` in on_load, so a test can tell whether it ran."""

    generic_name = "Marker"

    async def on_load(self) -> None:
        with Path(self.setting("marker_file")).open("a") as marker:
            marker.write(f"{self.setting_or('loaded', 'label')}\n")
        self["loaded"] = True

    def ping(self) -> str:
        return "pong"


class _Account(BaseModel):
    tenant: str = Field(min_length=1)
    client_secret: str = Field(min_length=12)


class _Settings(BaseModel):
    account: _Account
    rate_limit: float = Field(gt=0)
    ca_file: str | None = None


class Strict(Driver):
    """Validates its settings with pydantic in on_load, as the bundled drivers do."""

    generic_name = "Strict"

    async def on_load(self) -> None:
        settings = _Settings.model_validate(dict(self.settings))
        self["ca_file"] = settings.ca_file


class LoadGate:
    """Lets a test hold a module inside on_load: `entered` is set on entry, `release` ends it."""

    def __init__(self) -> None:
        import asyncio

        self.entered = asyncio.Event()
        self.release = asyncio.Event()


#: gate name (the module's `gate` setting) -> its LoadGate, filled by the test.
LOAD_GATES: dict[str, LoadGate] = {}


class Gated(Driver):
    """Waits in on_load until its test releases it."""

    generic_name = "Gated"

    async def on_load(self) -> None:
        gate = LOAD_GATES[self.setting("gate")]
        gate.entered.set()
        await gate.release.wait()
