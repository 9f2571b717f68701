"""The base class driver authors subclass."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from runtime import jsonenc
from runtime.errors import SettingNotFound, SettingsError
from runtime.logs import DebugTap
from runtime.redaction import validation_problems
from runtime.scheduler import Scheduler
from runtime.status import StatusStore

_orjson_dumps = orjson.dumps  # (`jsonenc.dumps` without its Python frame: once per status set)
_DEFAULT = jsonenc.default
_OPTIONS = jsonenc.OPTIONS

_MISSING = object()
M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class ModuleContext:
    """What the runtime gives a driver instance: identity, status store, settings, logger."""

    module_id: str
    store: StatusStore
    settings: dict[str, Any]
    logger: Any
    schedule: Scheduler
    tap: DebugTap = field(default_factory=DebugTap)


class StatusView(Mapping[str, Any]):
    """A read-only mapping of a module's status, values parsed from JSON."""

    __slots__ = ("_module_id", "_store")

    def __init__(self, store: StatusStore, module_id: str) -> None:
        self._store = store
        self._module_id = module_id

    def __getitem__(self, key: str) -> Any:
        encoded = self._store.get(self._module_id, key)
        if encoded is None:
            raise KeyError(key)
        return orjson.loads(encoded)

    def __iter__(self) -> Iterator[str]:
        return self._store.keys(self._module_id)

    def __len__(self) -> int:
        return len(self._store.snapshot(self._module_id))


class Driver:
    """Subclass this; public methods become commands, `self[key] = value` publishes status.

    Lifecycle hooks may be sync or async. `on_load` calls `on_update` unless overridden;
    `on_update(reason)` may take an optional argument, which the runtime fills with
    `"settings"` or `"reload"` when the signature accepts one.
    """

    generic_name: ClassVar[str] = ""
    descriptive_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_settings: ClassVar[dict[str, Any]] = {}
    settings_schema: ClassVar[dict[str, Any] | None] = None
    manages_connected: ClassVar[bool] = False

    _runtime_context: ModuleContext

    def on_load(self) -> Any:
        """Called once when the module starts; by default runs `on_update`."""
        return self.on_update()

    def on_update(self) -> Any:
        """Called when settings change (and after a code reload)."""
        return None

    def on_unload(self) -> Any:
        """Called when the module stops."""
        return None

    # -- identity, logging, timers ---------------------------------------------------------

    @property
    def module_id(self) -> str:
        """The id of the module this instance runs as."""
        return self._runtime_context.module_id

    @property
    def logger(self) -> Any:
        """A structlog logger bound to the module id."""
        return self._runtime_context.logger

    @property
    def schedule(self) -> Scheduler:
        """Timers cancelled when the module stops."""
        return self._runtime_context.schedule

    # -- status ----------------------------------------------------------------------------

    @property
    def status(self) -> Mapping[str, Any]:
        """A read-only view of this module's status."""
        ctx = self._runtime_context
        return StatusView(ctx.store, ctx.module_id)

    def __getitem__(self, key: str) -> Any:
        encoded = self._runtime_context.store.get(self._runtime_context.module_id, key)
        if encoded is None:
            raise KeyError(key)
        return orjson.loads(encoded)

    def __setitem__(self, key: str, value: Any) -> None:
        ctx = self._runtime_context
        encoded = None if value is None else _orjson_dumps(value, default=_DEFAULT, option=_OPTIONS)
        changed = ctx.store.set(ctx.module_id, key, encoded)
        if ctx.tap.active(ctx.module_id):
            shown = "null" if encoded is None else encoded.decode()
            verb = "status updated" if changed else "no change for"
            ctx.logger.debug(f"{verb}: {key} = {shown}")

    def __delitem__(self, key: str) -> None:
        self[key] = None

    def signal_status(self, key: str) -> None:
        """Publish `key`'s current value to bound clients even though it did not change."""
        self._runtime_context.store.signal(self._runtime_context.module_id, key)

    # -- settings --------------------------------------------------------------------------

    def setting(self, *keys: str | int) -> Any:
        """The setting at `keys` (nested); raises SettingNotFound when absent or null."""
        value = self._dig(keys)
        if value is _MISSING or value is None:
            raise SettingNotFound(keys)
        return value

    def setting_or(self, default: Any, *keys: str | int) -> Any:
        """The setting at `keys`, or `default` when absent or null."""
        value = self._dig(keys)
        return default if value is _MISSING or value is None else value

    def settings_as(self, model: type[M]) -> M:
        """The merged settings validated as the pydantic `model`.

        Raises SettingsError naming each bad key and rule, never the value given (a secret
        written with the wrong type stays out of logs, `load_error` and replies).
        """
        try:
            return model.model_validate(self._runtime_context.settings)
        except ValidationError as exc:
            raise SettingsError(f"invalid settings: {validation_problems(exc)}") from None

    @property
    def settings(self) -> Mapping[str, Any]:
        """All merged settings (driver defaults < system < module)."""
        return self._runtime_context.settings

    def _dig(self, keys: tuple[str | int, ...]) -> Any:
        node: Any = self._runtime_context.settings
        for key in keys:
            if not _has_key(node, key):
                return _MISSING
            node = node[key]
        return node


def _has_key(node: Any, key: str | int) -> bool:
    if isinstance(node, Mapping):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node)
