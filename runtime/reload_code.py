"""Driver code reload: new source into fresh module objects, then new classes under live instances.

Loading is all or nothing. Every changed module, and every local module importing one, is
executed from its source text (compiled here, so no `__pycache__` file is ever trusted) into a
*fresh* module object, dependencies first. If any of them fails, `sys.modules` and the package
attributes are put back as they were and the running code keeps serving.

Then each hosted module whose driver class was re-created gets the new class under its live
instance (`instance.__class__ = New`): attributes and status stay, the command table and metadata
are rebuilt from the new class, timers are re-bound by name to the new methods, and `on_update`
runs with `"reload"`. Where that cannot work (the class changed its `__slots__`, was renamed or
removed), the module is stopped and started again with its settings instead.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from runtime.driver import Driver
from runtime.interface import interface_of
from runtime.logs import module_logger
from runtime.modules import Module, ModuleHost, ModuleState
from runtime.scheduler import Callback

_MISSING: Any = object()


class SourceLoadError(Exception):
    """New source that could not be loaded; nothing was changed."""

    def __init__(self, module_name: str, path: Path | None, cause: BaseException) -> None:
        where = f"{path}" if path is not None else module_name
        super().__init__(f"{where}: {type(cause).__name__}: {cause}")
        self.module_name = module_name
        self.path = path
        self.cause = cause


@dataclass(slots=True)
class NewSource:
    """The source text of one module to load."""

    name: str
    path: Path
    source: bytes


@dataclass
class SourceLoad:
    """Fresh module objects for `sources`, executed in order; `rollback` undoes everything."""

    sources: list[NewSource]
    modules: dict[str, ModuleType] = field(default_factory=dict)
    _saved_modules: dict[str, ModuleType | None] = field(default_factory=dict)
    _saved_attrs: list[tuple[ModuleType, str, Any]] = field(default_factory=list)

    def run(self) -> dict[str, ModuleType]:
        """Execute every source; on failure roll back and raise SourceLoadError."""
        importlib.invalidate_caches()  # new files a changed module imports must be found
        for new in self.sources:
            try:
                self.modules[new.name] = self._execute(new)
            except (Exception, SystemExit) as exc:
                self.rollback()
                raise SourceLoadError(new.name, new.path, exc) from exc
        return self.modules

    def _execute(self, new: NewSource) -> ModuleType:
        old = sys.modules.get(new.name)
        old_spec = getattr(old, "__spec__", None)
        search = getattr(old_spec, "submodule_search_locations", None)
        spec = importlib.util.spec_from_file_location(
            new.name, new.path, submodule_search_locations=search
        )
        if spec is None:
            raise ImportError(f"cannot build a module spec for {new.path}")
        module = importlib.util.module_from_spec(spec)
        if old is not None and search is not None:
            # a package keeps its already-imported submodules as attributes
            prefix = new.name + "."
            for attr, value in vars(old).items():
                if isinstance(value, ModuleType) and value.__name__ == prefix + attr:
                    setattr(module, attr, value)
        code = compile(new.source, str(new.path), "exec", dont_inherit=True)
        self._saved_modules.setdefault(new.name, old)
        sys.modules[new.name] = module
        parent_name, _, child = new.name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None:
            self._saved_attrs.append((parent, child, vars(parent).get(child, _MISSING)))
            setattr(parent, child, module)
        exec(code, module.__dict__)
        return module

    def rollback(self) -> None:
        """Put `sys.modules` and the parents' attributes back as they were."""
        for parent, child, value in reversed(self._saved_attrs):
            if value is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(parent, child)
            else:
                setattr(parent, child, value)
        for name, old in self._saved_modules.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
        self._saved_attrs.clear()
        self._saved_modules.clear()

    def drop_stale_bytecode(self) -> None:
        """Remove the cached bytecode of the loaded files so no later import can trust it."""
        for new in self.sources:
            with contextlib.suppress(OSError, NotImplementedError, ValueError):
                Path(importlib.util.cache_from_source(str(new.path))).unlink(missing_ok=True)


def resolve_driver(import_path: str) -> type[Driver] | None:
    """The class `package.module:Class` names in the loaded modules (no import)."""
    module_name, _, attr = import_path.partition(":")
    candidate = getattr(sys.modules.get(module_name), attr, None)
    if isinstance(candidate, type) and issubclass(candidate, Driver):
        return candidate
    return None


def uses_modules(module: Module, names: set[str]) -> bool:
    """Whether `module`'s driver class comes from (or is exported by) one of `names`."""
    return (
        module.driver_class.__module__ in names or module.config.driver.partition(":")[0] in names
    )


def prepare_classes(modules: list[Module], reloaded: set[str]) -> dict[str, type[Driver] | None]:
    """Module id -> the reloaded driver class (None when gone), for modules `reloaded` touches.

    Building each new class's command table here means a command whose type hints cannot be
    resolved fails the reload before anything is swapped.
    """
    targets: dict[str, type[Driver] | None] = {}
    for module in modules:
        if not uses_modules(module, reloaded):
            continue
        new_class = resolve_driver(module.config.driver)
        if new_class is not None:
            try:
                interface_of(new_class, Driver)
            except Exception as exc:
                raise SourceLoadError(new_class.__module__, None, exc) from exc
        targets[module.id] = new_class
    return targets


def _slot_layout(cls: type) -> tuple[Any, ...]:
    declared = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__")
        if slots is not None:
            declared.append((slots,) if isinstance(slots, str) else tuple(slots))
    return tuple(declared), cls.__basicsize__, cls.__dictoffset__ != 0


def swap_blocker(old: type, new: type) -> str | None:
    """Why an instance of `old` cannot simply become a `new`, or None when it can."""
    if old.__name__ != new.__name__:
        return f"class renamed from {old.__name__} to {new.__name__}"
    if _slot_layout(old) != _slot_layout(new):
        return f"{new.__name__}.__slots__ changed"
    return None


def rebind_callback(instance: Driver, callback: Callback) -> Callback:
    """A bound method of `instance` looked up again by name (so it runs the new class's code)."""
    if getattr(callback, "__self__", None) is not instance:
        return callback
    name = getattr(getattr(callback, "__func__", None), "__name__", None)
    replacement = getattr(instance, name, None) if name else None
    if replacement is None or not callable(replacement):
        instance.logger.warning(
            "timer callback no longer exists in the reloaded class; it keeps the old code",
            callback=name,
        )
        return callback
    return replacement


async def apply_class(host: ModuleHost, module: Module, new_class: type[Driver] | None) -> str:
    """Give `module` its reloaded class; returns "swapped", "restarted" or "failed"."""
    module_log = module_logger(module.id, host.tap)
    if new_class is None:
        if module.instance is None:  # stopped and failed by an earlier reload already
            return "failed"
        reason = f"driver class {module.config.driver} no longer exists after reload"
        module_log.error(f"stopping module: {reason}", hint="renamed or removed?")
        await host.stop_module(module)
        host.fail_module(module, reason)
        return "failed"
    instance = module.instance
    blocker: str | None
    if instance is None or module.state not in (ModuleState.RUNNING, ModuleState.STARTING):
        blocker = f"module was {module.state.value}"
    else:
        blocker = swap_blocker(type(instance), new_class)
        if blocker is None:
            try:
                instance.__class__ = new_class
            except TypeError as exc:
                blocker = str(exc)
    old_settings = module.settings
    host.replace_class(module, new_class)
    if blocker is not None or instance is None:
        module_log.warning(
            "driver code reloaded; stopping and starting the module with its settings",
            driver=module.config.driver,
            reason=blocker,
        )
        await host.restart_module(module)
        return "restarted"
    timers = instance.schedule.rebind(lambda callback: rebind_callback(instance, callback))
    if module.settings != old_settings:  # default_settings may have changed in the new code
        module_log.info("settings changed with the new driver defaults")
    module_log.info("driver code reloaded", driver=module.config.driver, timers=timers)
    if module.state is ModuleState.RUNNING:
        await host.run_on_update(module, "reload")
    return "swapped"
