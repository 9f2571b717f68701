"""Logging: structlog set up once, every line carrying its module id, and the debug tap.

Each runtime owns a `DebugTap`. A driver's logger carries its runtime's tap in the bound key
`TAP_KEY`; the `route_to_tap` processor hands every such line (debug and above, before the output
level filter) to the `debug` subscribers of that module in that runtime only, and removes the key
so it is never printed. The printed output keeps its own level.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError

from runtime.redaction import format_exception

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
#: The bound key carrying a driver logger's `DebugTap`.
TAP_KEY = "_debug_tap"
_SKIPPED_KEYS = frozenset(
    {"event", "module_id", "level", "timestamp", "exc_info", "logger", TAP_KEY}
)
#: stdlib loggers whose records are turned into one structured line each.
_STDLIB_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket")

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

    @property
    def listener_count(self) -> int:
        """How many (module, listener) pairs are attached."""
        return sum(len(listeners) for listeners in self._listeners.values())

    def emit(self, module_id: str, level: str, message: str) -> None:
        """Hand one line to every listener of `module_id`."""
        for listener in tuple(self._listeners.get(module_id, ())):
            listener(level, message)


def route_to_tap(
    _logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: a line bound to a tap goes to that tap's listeners of its module."""
    tap = event.pop(TAP_KEY, None)
    if tap is not None:
        module_id = event.get("module_id")
        if module_id is not None and tap.active(module_id):
            tap.emit(module_id, PLACEOS_LEVELS.get(method, method), render_message(event))
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
        if isinstance(exc_info, tuple) and exc_info[1] is not None:
            text += "\n" + format_exception(exc_info[1])
    return text


def render_exception(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Turn `exc_info` into an `exception` text without frame locals or rejected inputs.

    structlog's own formatters show locals (`dict_tracebacks`, rich tracebacks), which may hold
    secrets; this one never does, in either output format.
    """
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        event["exception"] = format_exception(exc_info)
    elif isinstance(exc_info, tuple) and exc_info[1] is not None:
        event["exception"] = format_exception(exc_info[1])
    return event


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
        route_to_tap,
        _LevelFilter(_LEVEL_NUMBERS.get(level.lower(), logging.INFO)),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    processors += [render_exception, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = _StructlogHandler()
    for name in _STDLIB_LOGGERS:
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = [handler]
        stdlib_logger.propagate = False


class _StructlogHandler(logging.Handler):
    """stdlib records (aiohttp's) as structlog lines.

    A malformed HTTP request is one info line naming the problem (its first line only: the
    rest quotes the raw request, which may hold a credential); other errors keep their traceback.
    """

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(component=record.name)
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            problem = (exc.message or "").split("\n", 1)[0].strip()
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
            logger.info("malformed http request", status=exc.code, problem=problem, peer=peer)
            return
        method = _METHOD_OF_LEVEL.get(record.levelno, "error")
        getattr(logger, method)(record.getMessage(), exc_info=record.exc_info or None)


_METHOD_OF_LEVEL = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


@contextmanager
def logging_restored() -> Iterator[None]:
    """Run a block that may reconfigure logging; put the previous configuration back after."""
    saved = structlog.get_config()
    stdlib = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in _STDLIB_LOGGERS
    }
    try:
        yield
    finally:
        structlog.configure(**saved)
        for name, (handlers, propagate) in stdlib.items():
            logging.getLogger(name).handlers = handlers
            logging.getLogger(name).propagate = propagate


def get_logger(**context: Any) -> Any:
    """A logger bound to `context` (drivers get one bound to their `module_id`)."""
    return structlog.get_logger(**context)


def module_logger(module_id: str, tap: DebugTap | None) -> Any:
    """A driver's logger: bound to its module id and, when given, its runtime's debug tap."""
    if tap is None:
        return structlog.get_logger(module_id=module_id)
    return structlog.get_logger(module_id=module_id, **{TAP_KEY: tap})
