"""Drivers the runtime tests host."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

from runtime import Abort, Driver, Level, security


class Input(Enum):
    HDMI = "hdmi"
    DISPLAY_PORT = "display_port"


class Powerable:
    """A mixin whose public methods are commands too."""

    def power_toggle(self) -> bool:
        current = bool(self.status.get("power", False))  # type: ignore[attr-defined]
        self["power"] = not current  # type: ignore[index]
        return not current


class Display(Powerable, Driver):
    generic_name = "Display"
    descriptive_name = "Test display"
    default_settings = {"input": "hdmi", "nested": {"a": 1, "b": 2}}
    settings_schema = {"type": "object", "properties": {"input": {"type": "string"}}}

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.gate = asyncio.Event()
        self.arrivals: asyncio.Queue[None] = asyncio.Queue()

    async def on_update(self) -> None:
        self.updates.append(self.setting_or(None, "input"))

    def power(self, state: bool) -> bool:
        self["power"] = state
        return state

    async def volume(self, level: int, index: int = 0) -> dict[str, int]:
        self[f"volume{index}"] = level
        return {"level": level, "index": index}

    def switch_to(self, input: Input) -> str:
        self["input"] = input.value
        return input.value

    def set_status(self, key: str, value: Any = None) -> None:
        self[key] = value

    def nothing(self) -> None:
        return None

    def fail(self, message: str = "invalid input") -> None:
        raise ValueError(message)

    def abort(self) -> None:
        raise Abort("retry limit reached", code=409)

    async def hang(self) -> None:
        await asyncio.sleep(3600)

    async def own_timeout(self) -> None:
        raise TimeoutError("device did not answer")

    async def slow(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def wait_gate(self) -> str:
        """Return once the test opens `gate`; each call is announced on `arrivals`."""
        self.arrivals.put_nowait(None)
        await self.gate.wait()
        return "released"

    def setting_value(self, keys: list[str]) -> Any:
        return self.setting(*keys)

    def log_line(self, text: str) -> None:
        self.logger.info(text)

    def unserialisable(self) -> Any:
        return object()

    @security(Level.SUPPORT)
    def support_only(self) -> str:
        return "support"

    @security(Level.ADMIN)
    def admin_only(self) -> str:
        return "admin"

    def _private(self) -> None:
        raise AssertionError("never callable")


class BrokenOnLoad(Driver):
    generic_name = "Broken"

    def on_load(self) -> None:
        raise RuntimeError("cannot reach device")

    def ping(self) -> str:
        return "pong"


class SlowOnLoad(Driver):
    generic_name = "Slow"

    async def on_load(self) -> None:
        await asyncio.sleep(3600)


class Mailer(Driver):
    generic_name = "Mailer"

    def send(self, to: str, from_: str | None = None) -> dict[str, str | None]:
        return {"to": to, "from": from_}
