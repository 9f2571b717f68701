"""A driver that fails while secrets sit in its locals and settings (the secrets sweep uses it)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from runtime import Driver


class VendorLogin(BaseModel):
    user: str
    pin: int  # the password is not a number: validating it echoes it in pydantic's message


class Leaky(Driver):
    generic_name = "Leaky"
    default_settings: dict[str, Any] = {"user": "svc"}

    def on_load(self) -> None:
        password = self.setting("password")
        self.schedule.in_(0, self._tick)
        if self.setting_or(False, "fail_on_load"):
            VendorLogin.model_validate({"user": "svc", "pin": password})

    def on_update(self) -> None:
        api_key = self.setting("api_key")
        if self.setting_or(False, "fail_on_update"):
            raise ConnectionRefusedError(f"vendor refused the key ending {len(api_key)}")

    def _tick(self) -> None:
        password = self.setting("password")
        raise RuntimeError(f"tick failed after {len(password)} characters")

    def login(self) -> None:
        password = self.setting("password")
        session = {"password": password, "api_key": self.setting("api_key")}
        raise PermissionError(f"login refused ({len(session)} fields sent)")

    async def login_async(self) -> None:
        password = self.setting("password")
        await asyncio.sleep(0)
        raise SystemExit(f"giving up ({len(password)})")

    def validate(self) -> None:
        VendorLogin.model_validate({"user": "svc", "pin": self.setting("password")})

    def handled(self) -> str:
        password = self.setting("password")
        try:
            if not password.isdigit():
                raise ValueError("the pin is not numeric")
        except ValueError:
            self.logger.exception("parsing the pin failed")  # a driver logging its traceback
        return "ok"


class Validated(Driver):
    """Reads its settings through the runtime's own validation."""

    generic_name = "Validated"

    def on_load(self) -> None:
        self.login = self.settings_as(VendorLogin)

    def pin(self) -> int:
        return self.login.pin
