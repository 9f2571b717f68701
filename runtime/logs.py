"""Logging: structlog set up once, every line carrying its module id, and the debug tap.

The debug tap sees every driver log line at debug and above, before the output level filter, and
hands it to the `debug` subscribers of that module; the printed output keeps its own level.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

#: structlog method names -> PlaceOS severity names.
PLACEOS_LEVELS = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warning": "warn",
    "warn": "warn",
    "error": "error",
    "exception": "error",
    "critical": "fatal",
    "fatal": "fatal",
}
_LEVEL_NUMBERS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_SKIPPED_KEYS = frozenset({"event", "module_id", "level", "timestamp", "exc_info", "logger"})

DebugListener = Callable[[str, str], None]


class DebugTap:
    """Module id -> the listeners that receive its log lines as (level, message)."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: dict[str, set[DebugListener]] = {}

    def add(self, module_id: str, listener: DebugListener) -> None:
        self._listeners.setdefault(module_id, set()).add(listener)

    def remove(self, module_id: str, listener: DebugListener) -> None:
        listeners = self._listeners.get(module_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[module_id]

    def active(self, module_id: str) -> bool:
        """Whether anyone listens to this module (cheap; guards costly debug lines)."""
        return module_id in self._listeners

    def emit(self, module_id: str, level: str, message: str) -> None:
        """Hand one line to every listener of `module_id`."""
        for listener in tuple(self._listeners.get(module_id, ())):
            listener(level, message)

    def __call__(
        self, _logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        module_id = event.get("module_id")
        if module_id is not None and module_id in self._listeners:
            self.emit(module_id, PLACEOS_LEVELS.get(method, method), render_message(event))
        return event


def render_message(event: MutableMapping[str, Any]) -> str:
    """A log event as one line of text: the message, then key=value pairs, then any traceback."""
    text = str(event.get("event", ""))
    extras = " ".join(f"{k}={v}" for k, v in event.items() if k not in _SKIPPED_KEYS)
    if extras:
        text = f"{text} {extras}"
    exc_info = event.get("exc_info")
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        if isinstance(exc_info, tuple) and exc_info[0] is not None:
            text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
    return text


#: The one tap every runtime in this process shares (structlog's configuration is global).
debug_tap = DebugTap()


class _LevelFilter:
    """Drops events below the output level, after the debug tap has seen them."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(
        self, _logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if _LEVEL_NUMBERS.get(method if method != "exception" else "error", 20) < self.level:
            raise structlog.DropEvent
        return event


def configure_logging(log_format: str = "console", level: str = "info") -> None:
    """Set up structlog for the process: `json` or `console` lines on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        # plain tracebacks: the rich formatter (used whenever rich is installed) prints locals,
        # secrets included
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        debug_tap,
        _LevelFilter(_LEVEL_NUMBERS.get(level.lower(), logging.INFO)),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if log_format == "json":
        processors.append(structlog.processors.dict_tracebacks)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    """A logger bound to `context` (drivers get one bound to their `module_id`)."""
    return structlog.get_logger(**context)
