"""The console's choice of form field for the JSON schemas the runtime really produces."""

from __future__ import annotations

import datetime
import enum
import subprocess
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from runtime import Driver
from runtime.interface import DriverInterface
from runtime.security import Clearance

HERE = Path(__file__).resolve().parent
NODE_TIMEOUT = 30


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Window(BaseModel):
    start: datetime.datetime
    minutes: int = 30


class Everything(Driver):
    def run(
        self,
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        choice: Literal["a", "b"],
        colour: Colour,
        items: list[int],
        mapping: dict[str, Any],
        window: Window,
        when: datetime.datetime,
        anything,  # unannotated: any JSON
        maybe_text: str | None = None,
        maybe_flag: bool | None = None,
        maybe_colour: Colour | None = None,
        maybe_items: list[str] | None = None,
        union: int | str = 1,
        flag_on: bool = True,
    ) -> None:
        """Every kind of parameter."""


def test_each_schema_gets_the_field_a_user_expects() -> None:
    functions = DriverInterface(Everything, Driver).functions(Clearance.ADMIN)
    ran = subprocess.run(
        ["node", str(HERE / "schema_kinds.mjs")],
        input=orjson.dumps(functions),
        capture_output=True,
        timeout=NODE_TIMEOUT,
        check=True,
    )
    kinds = {
        name: (f["kind"], f["nullable"], f["required"])
        for name, f in orjson.loads(ran.stdout)["run"].items()
    }
    assert kinds == {
        "text": ("text", False, True),
        "count": ("integer", False, True),
        "ratio": ("number", False, True),
        "flag": ("checkbox", False, True),
        "choice": ("select", False, True),
        "colour": ("select", False, True),
        "items": ("json", False, True),
        "mapping": ("json", False, True),
        "window": ("json", False, True),
        "when": ("text", False, True),
        "anything": ("json", False, True),
        "maybe_text": ("text", True, False),
        "maybe_flag": ("tristate", True, False),
        "maybe_colour": ("select", True, False),
        "maybe_items": ("json", True, False),
        "union": ("json", False, False),
        "flag_on": ("checkbox", False, False),
    }
