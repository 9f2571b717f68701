"""Function security levels and caller clearance."""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

SECURITY_ATTR = "__runtime_security__"


class Level(IntEnum):
    """The level a command requires. PlaceOS knows two: Support and Administrator."""

    SUPPORT = 1
    ADMIN = 2

    @property
    def metadata_key(self) -> str:
        """The key this level has in the metadata's `security` object."""
        return "support" if self is Level.SUPPORT else "administrator"


class Clearance(IntEnum):
    """What a caller may do: user < support < admin."""

    USER = 0
    SUPPORT = 1
    ADMIN = 2

    @classmethod
    def parse(cls, text: str) -> Clearance:
        """`user`, `support` or `admin` (also `administrator`)."""
        key = text.strip().lower()
        if key == "administrator":
            key = "admin"
        return cls[key.upper()]

    def allows(self, level: Level | None) -> bool:
        """Whether this clearance may call a command at `level` (None: anyone)."""
        return level is None or self >= level


def security(level: Level) -> Callable[[F], F]:
    """Mark a command as requiring `level`: `@security(Level.SUPPORT)`."""

    def mark(fn: F) -> F:
        setattr(fn, SECURITY_ATTR, level)
        return fn

    return mark
