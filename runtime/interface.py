"""A driver class's commands: discovery, PlaceOS metadata, and argument binding.

Commands are the public functions of the driver class and its mixins. Argument types come from
the type hints; pydantic's `TypeAdapter` validates and converts each argument and produces its
JSON schema, so no coercion rules are written here.
"""

from __future__ import annotations

import inspect
import keyword
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from runtime.security import SECURITY_ATTR, Clearance, Level

RUNTIME_VERSION = "0.1.0"

#: Names that are never commands, whatever the class defines.
RESERVED_NAMES = frozenset(
    {
        "on_load",
        "on_update",
        "on_unload",
        "connected",
        "disconnected",
        "received",
        "setting",
        "setting_or",
        "logger",
        "schedule",
        "status",
        "module_id",
    }
)

#: The class attribute holding a driver class's cached interface.
INTERFACE_ATTR = "__runtime_interface__"
_EMPTY = inspect.Parameter.empty
_FAST_TYPES = (str, int, float, bool)


class ArgumentError(Exception):
    """Arguments that do not fit a command's signature."""


def wire_name(parameter: str) -> str:
    """The name clients use: `from_` is `from`, since Python keywords cannot name parameters."""
    bare = parameter[:-1] if parameter.endswith("_") else parameter
    return bare if bare != parameter and keyword.iskeyword(bare) else parameter


@dataclass(slots=True, frozen=True)
class Param:
    """One command parameter: `name` on the wire, `python_name` in the signature."""

    name: str
    python_name: str
    annotation: Any
    adapter: TypeAdapter[Any] | None
    default: Any
    positional_only: bool
    #: May be passed by position (not keyword-only).
    by_position: bool = True
    #: A plain type whose exact instances pass unconverted (no adapter call).
    exact_type: type | None = field(default=None, compare=False)

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    def convert(self, command: str, value: Any) -> Any:
        """Validate and convert one argument."""
        if self.adapter is None or type(value) is self.exact_type:
            return value
        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            problems = "; ".join(err["msg"] for err in exc.errors(include_url=False))
            raise ArgumentError(
                f"invalid argument {self.name!r} for {command!r}: {problems}"
            ) from None


_NO_KEYWORDS: dict[str, Any] = {}


@dataclass(slots=True)
class Command:
    """A command: the function to call, its parameters and the level it requires."""

    name: str
    function: Callable[..., Any]
    params: tuple[Param, ...]
    level: Level | None
    is_async: bool
    _schemas: dict[str, dict[str, Any]] | None = field(default=None, repr=False)
    #: Every parameter may be passed by position: a JSON array maps straight onto them.
    _by_position: bool = field(init=False, repr=False)
    #: How many leading parameters a JSON array must supply (up to the last required one).
    _min_args: int = field(init=False, repr=False)
    #: Each parameter's `exact_type`: a JSON array whose values have exactly these types
    #: needs no conversion at all.
    _exact_types: tuple[type | None, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_position = all(p.by_position for p in self.params)
        self._exact_types = tuple(p.exact_type for p in self.params)
        required = [i for i, p in enumerate(self.params) if p.required]
        self._min_args = required[-1] + 1 if required else 0

    def call_arguments(self, args: list[Any] | dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """What to call the function with: `bind`, minus the name mapping when it can be skipped.

        A JSON array that fills the parameters in order is passed on by position (converted;
        as it is when every value already has its parameter's exact type), with a shared empty
        keyword dict: pass both on, never change them.
        """
        params = self.params
        if type(args) is list and self._by_position:
            if tuple(map(type, args)) == self._exact_types:
                return args, _NO_KEYWORDS
            given = len(args)
            if self._min_args <= given <= len(params):
                name = self.name
                converted = [p.convert(name, v) for p, v in zip(params, args, strict=False)]
                return converted, _NO_KEYWORDS
        return self.bind(args)

    def bind(self, args: list[Any] | dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Map positional or named JSON arguments onto the signature, converting each."""
        positional: list[Any] = []
        named: dict[str, Any] = {}
        params = self.params
        if type(args) is list:
            if len(args) > len(params):
                raise ArgumentError(
                    f"wrong number of arguments for {self.name!r} "
                    f"(given {len(args)}, expected {len(params)})"
                )
            supplied = dict(zip((p.name for p in params), args, strict=False))
        else:
            unknown = [key for key in args if not any(p.name == key for p in params)]
            if unknown:
                raise ArgumentError(f"unknown argument {unknown[0]!r} for {self.name!r}")
            supplied = args  # type: ignore[assignment]
        for param in params:
            if param.name in supplied:
                value = param.convert(self.name, supplied[param.name])
            elif param.required:
                raise ArgumentError(f"missing argument {param.name!r} for {self.name!r}")
            else:
                continue
            if param.positional_only:
                positional.append(value)
            else:
                named[param.python_name] = value
        return positional, named

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        """JSON schema of each parameter, with PlaceOS's `title` and `default`."""
        if self._schemas is None:
            self._schemas = {p.name: _param_schema(p) for p in self.params}
        return self._schemas


def _type_title(annotation: Any) -> str:
    if annotation is _EMPTY or annotation is Any:
        return "Any"
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _param_schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if param.adapter is not None:
        schema.update(param.adapter.json_schema())
    schema["title"] = _type_title(param.annotation)
    if not param.required:
        schema["default"] = param.default
    return schema


def _is_command_function(name: str, value: Any) -> bool:
    return not name.startswith("_") and name not in RESERVED_NAMES and inspect.isfunction(value)


def _build_command(name: str, function: Callable[..., Any]) -> Command:
    try:
        hints = typing.get_type_hints(function)
    except Exception as exc:  # an unresolvable hint is a driver bug worth naming
        raise TypeError(f"cannot resolve the type hints of command {name!r}: {exc}") from exc
    params: list[Param] = []
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(parameter.name, _EMPTY)
        adapter = None if annotation in (_EMPTY, Any) else TypeAdapter(annotation)
        params.append(
            Param(
                wire_name(parameter.name),
                parameter.name,
                annotation,
                adapter,
                parameter.default,
                parameter.kind is parameter.POSITIONAL_ONLY,
                parameter.kind is not parameter.KEYWORD_ONLY,
                annotation if annotation in _FAST_TYPES else None,
            )
        )
    level = getattr(function, SECURITY_ATTR, None)
    is_async = inspect.iscoroutinefunction(function)
    return Command(name, function, tuple(params), level, is_async)


class DriverInterface:
    """Every command of one driver class, and the metadata PlaceOS exports for it."""

    __slots__ = ("_metadata", "commands", "driver_class")

    def __init__(self, driver_class: type, base: type) -> None:
        self.driver_class = driver_class
        self.commands: dict[str, Command] = {}
        for klass in driver_class.__mro__:
            if klass is base or klass is object or klass in base.__mro__:
                continue
            for name, value in vars(klass).items():
                if name not in self.commands and _is_command_function(name, value):
                    # the most derived definition wins, as attribute lookup does
                    resolved = getattr(driver_class, name, None)
                    if inspect.isfunction(resolved):
                        self.commands[name] = _build_command(name, resolved)
        self._metadata: dict[str, Any] | None = None

    def functions(self, clearance: Clearance) -> dict[str, dict[str, Any]]:
        """The REST functions listing, without the commands above `clearance`."""
        return {
            name: {
                "arity": len(cmd.params),
                "params": cmd.schemas,
                "order": [p.name for p in cmd.params],
            }
            for name, cmd in self.commands.items()
            if clearance.allows(cmd.level)
        }

    @property
    def metadata(self) -> dict[str, Any]:
        """The driver metadata JSON: interface, functions, implements, security, json_schema."""
        if self._metadata is None:
            self._metadata = self._build_metadata()
        return self._metadata

    def _build_metadata(self) -> dict[str, Any]:
        cls = self.driver_class
        security: dict[str, list[str]] = {}
        for name, cmd in self.commands.items():
            if cmd.level is not None:
                security.setdefault(cmd.level.metadata_key, []).append(name)
        functions = {
            name: {
                p.name: [_type_title(p.annotation)] + ([] if p.required else [p.default])
                for p in cmd.params
            }
            for name, cmd in self.commands.items()
        }
        implements = [
            klass.__name__
            for klass in cls.__mro__[1:]
            if klass is not object and getattr(klass, "__module__", "") != "runtime.driver"
        ]
        metadata: dict[str, Any] = {
            "descriptive_name": getattr(cls, "descriptive_name", cls.__name__),
            "generic_name": getattr(cls, "generic_name", cls.__name__),
            "description": getattr(cls, "description", "") or None,
            "interface": {name: cmd.schemas for name, cmd in self.commands.items()},
            "functions": functions,
            "implements": implements,
            "requirements": {},
            "security": security,
            "versions": {"driver": RUNTIME_VERSION},
        }
        schema = getattr(cls, "settings_schema", None)
        if schema is not None:
            metadata["json_schema"] = schema
        return {key: value for key, value in metadata.items() if value is not None}


def interface_of(driver_class: type, base: type) -> DriverInterface:
    """The (cached) interface of a driver class. A redefined class gets its own."""
    cached = driver_class.__dict__.get(INTERFACE_ATTR)
    if cached is None:
        cached = DriverInterface(driver_class, base)
        setattr(driver_class, INTERFACE_ATTR, cached)
    return cached
