"""Modules (driver instances) and systems: start, stop, settings updates, lookup and exec.

One module's failure never touches another: a module whose `on_load` raises or times out is
marked failed (its `load_error` status says why) while the rest keep running, and every exec
runs under its own timeout.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from time import monotonic
from types import CoroutineType
from typing import Any, Protocol, overload

import orjson
from pydantic import ValidationError

from protocol import ErrorCode
from runtime import jsonenc
from runtime.config import (
    ModuleConfig,
    RuntimeConfig,
    SystemConfig,
    load_driver_class,
    validation_problems,
)
from runtime.containment import is_driver_failure
from runtime.deadlines import Deadlines
from runtime.driver import Driver, ModuleContext
from runtime.errors import Abort, ExecFailure
from runtime.interface import INTERFACE_ATTR, ArgumentError, DriverInterface, interface_of
from runtime.logs import DebugTap, get_logger, module_logger
from runtime.redaction import backtrace_lines, exception_message
from runtime.scheduler import Scheduler
from runtime.security import Clearance
from runtime.status import StatusStore
from runtime.tasks import ExecStarter, Suspended, current_task_of, resume

log = get_logger(component="modules")
_dumps = jsonenc.dumps
_orjson_dumps = orjson.dumps
_DEFAULT = jsonenc.default
_OPTIONS = jsonenc.OPTIONS
_running_loop = asyncio.get_running_loop

#: Return types that are surely not awaitable (the common results of sync commands).
_PLAIN_RESULTS = frozenset({type(None), bool, int, float, str, list, dict})


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`, recursing into nested dicts."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


async def call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async hook."""
    result = hook(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


@dataclass(slots=True)
class ExecResult:
    """A command's JSON-encoded return value and response code."""

    value: bytes
    code: int = 200


class ModuleState(StrEnum):
    """Where a module is in its life; only `ModuleHost` changes it."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"
    REMOTE = "remote"  # in a cluster: runs on another host


# Enum members as module constants for the exec path: looking one up on its class runs Python
# code on 3.11 (about 800 instructions each, measured under callgrind).
_RUNNING = ModuleState.RUNNING
_REMOTE = ModuleState.REMOTE


class RemoteExec(Protocol):
    """Runs commands of modules hosted elsewhere (the cluster's exec routing)."""

    def execute(
        self, module: Module, method: str, args: list[Any] | dict[str, Any]
    ) -> Coroutine[Any, Any, bytes]: ...


@dataclass(eq=False)
class Module:
    """A running driver instance and what it was configured with."""

    id: str
    config: ModuleConfig
    driver_class: type[Driver]
    settings: dict[str, Any]
    instance: Driver | None = None
    state: ModuleState = ModuleState.STOPPED
    error: str | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        """The name systems address this module by."""
        return self.config.name or self.driver_class.generic_name or self.driver_class.__name__

    @property
    def interface(self) -> DriverInterface:
        """The command table of the instance's current class (rebuilt after a code swap)."""
        cls = type(self.instance) if self.instance is not None else self.driver_class
        return interface_of(cls, Driver)

    def describe(self) -> dict[str, Any]:
        """The module as the systems REST routes list it."""
        info: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "driver": self.config.driver,
            "running": self.state is ModuleState.RUNNING,
            "state": self.state.value,
        }
        if self.error:
            info["error"] = self.error
        return info


@dataclass(eq=False)
class System:
    """A control system: an ordered list of modules addressed by name + index."""

    id: str
    config: SystemConfig
    lookup: dict[tuple[str, int], str] = field(default_factory=dict)

    def rebuild_lookup(self, modules: dict[str, Module]) -> None:
        """Index each module among same-named modules, 1-based, in configured order."""
        counts: dict[str, int] = {}
        self.lookup = {}
        for module_id in self.config.modules:
            module = modules.get(module_id)
            if module is None:
                continue
            counts[module.name] = counts.get(module.name, 0) + 1
            self.lookup[(module.name, counts[module.name])] = module_id


class ModuleHost:
    """Every module and system of one runtime."""

    def __init__(self, store: StatusStore, tap: DebugTap | None = None) -> None:
        self.store = store
        self.tap = tap if tap is not None else DebugTap()
        self.modules: dict[str, Module] = {}
        self.systems: dict[str, System] = {}
        self.lookup_listeners: list[Callable[[], None]] = []
        #: In a cluster: which modules this host runs (the others are REMOTE) and how their
        #: commands reach them. None on a single host, where every module runs here.
        self.hosted_here: Callable[[str], bool] | None = None
        self.remote: RemoteExec | None = None
        self.deadlines = Deadlines()
        self._start_waiters: dict[str, list[asyncio.Future[None]]] = {}  # see `settled`

    # -- configuration -----------------------------------------------------------------------

    async def apply(self, config: RuntimeConfig) -> None:
        """Start from nothing: create systems, then start every module concurrently."""
        self.systems = {sid: System(sid, sc) for sid, sc in config.systems.items()}
        for module_id, module_config in config.modules.items():
            self.modules[module_id] = self._new_module(module_id, module_config)
        self._rebuild_lookups()
        await asyncio.gather(*(self.start_module(m) for m in self.modules.values()))

    def _new_module(self, module_id: str, config: ModuleConfig) -> Module:
        driver_class = load_driver_class(config.driver)
        return Module(module_id, config, driver_class, self.merged_settings(module_id, config))

    def merged_settings(
        self, module_id: str, config: ModuleConfig, driver_class: type[Driver] | None = None
    ) -> dict[str, Any]:
        """Driver defaults < settings of each system holding the module < module settings."""
        cls = driver_class or load_driver_class(config.driver)
        merged = copy.deepcopy(cls.default_settings)
        for system in self.systems.values():
            if module_id in system.config.modules:
                merged = deep_merge(merged, system.config.settings)
        return deep_merge(merged, config.settings)

    def _rebuild_lookups(self) -> None:
        for system in self.systems.values():
            system.rebuild_lookup(self.modules)
        for listener in list(self.lookup_listeners):
            listener()

    def set_systems(self, systems: dict[str, SystemConfig]) -> None:
        """Replace the systems (used by config reload); bindings are re-resolved."""
        self.systems = {sid: System(sid, sc) for sid, sc in systems.items()}
        self._rebuild_lookups()

    async def add_module(self, module_id: str, config: ModuleConfig) -> Module:
        """Create and start a module."""
        module = self._new_module(module_id, config)
        self.modules[module_id] = module
        await self.start_module(module)
        self._rebuild_lookups()
        return module

    async def remove_module(self, module_id: str) -> None:
        """Stop a module and forget it; bound clients receive null for its status."""
        module = self.modules.pop(module_id, None)
        if module is not None:
            await self.stop_module(module)
            self._rebuild_lookups()  # bindings detach, each sending null once
            self.store.clear(module_id)

    # -- lifecycle ---------------------------------------------------------------------------

    def _instantiate(self, module: Module) -> Driver:
        logger = module_logger(module.id, self.tap)
        instance = module.driver_class.__new__(module.driver_class)
        instance._runtime_context = ModuleContext(
            module.id, self.store, module.settings, logger, Scheduler(logger), self.tap
        )
        instance.__init__()  # type: ignore[misc]
        return instance

    async def start_module(self, module: Module) -> None:
        """Instantiate the driver and run `on_load` under the module's load timeout."""
        try:
            await self._start_module(module)
        finally:
            for waiter in self._start_waiters.pop(module.id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def settled(self, module: Module) -> None:
        """Return once `module` is not STARTING (at once when it is not); callers bound it."""
        while module.state is ModuleState.STARTING:
            waiter = asyncio.get_running_loop().create_future()
            self._start_waiters.setdefault(module.id, []).append(waiter)
            await waiter

    async def _start_module(self, module: Module) -> None:
        if self.hosted_here is not None and not self.hosted_here(module.id):
            module.state = ModuleState.REMOTE  # another host runs it
            return
        if module.state in (ModuleState.STARTING, ModuleState.RUNNING) and module.instance:
            log.warning("module already running: no second instance", module_id=module.id)
            return
        self.store.clear(module.id)
        module.state, module.error = ModuleState.STARTING, None
        module.started_at = time.time()
        try:
            module.instance = self._instantiate(module)
            async with asyncio.timeout(module.config.load_timeout):
                await call_hook(module.instance.on_load)
        except ValidationError as exc:
            problems = [f"{where}: {problem}" for where, problem in validation_problems(exc)]
            for problem in problems:
                get_logger(module_id=module.id).error("invalid setting", problem=problem)
            self._mark_failed(module, f"invalid settings: {'; '.join(problems)}", None)
            return
        except BaseException as exc:
            if not is_driver_failure(exc):
                raise
            reason = (
                f"on_load timed out after {module.config.load_timeout:g} s"
                if isinstance(exc, TimeoutError)
                else f"on_load raised: {exception_message(exc)}"
            )
            self._mark_failed(module, reason, None if isinstance(exc, TimeoutError) else exc)
            return
        module.state = ModuleState.RUNNING
        if not module.driver_class.manages_connected:
            module.instance["connected"] = True
        log.info("module started", module_id=module.id, driver=module.config.driver)

    def _mark_failed(self, module: Module, reason: str, exc: BaseException | None) -> None:
        module.state, module.error = ModuleState.FAILED, reason
        if module.instance is not None:
            module.instance.schedule.clear()
            module.instance["load_error"] = reason
            if not module.driver_class.manages_connected:
                module.instance["connected"] = False
        module_logger(module.id, self.tap).error("module failed", reason=reason, exc_info=exc)

    def fail_module(self, module: Module, reason: str) -> None:
        """Mark a stopped module that cannot run again as failed, with `reason` as `load_error`.

        Its statuses are cleared first, and its instance is dropped so that `on_unload`, which
        already ran, never runs twice; `start_module` creates a new instance.
        """
        self.store.clear(module.id)
        self._mark_failed(module, reason, None)
        module.instance = None

    async def stop_module(self, module: Module) -> None:
        """Cancel its timers and run `on_unload` (bounded by the load timeout)."""
        instance = module.instance
        if instance is None:
            if module.state is not ModuleState.FAILED:
                module.state = ModuleState.STOPPED
            return
        instance.schedule.clear()
        if module.state in (ModuleState.RUNNING, ModuleState.FAILED):
            module.state = ModuleState.STOPPING
            try:
                async with asyncio.timeout(module.config.load_timeout):
                    await call_hook(instance.on_unload)
            except BaseException as exc:
                if not is_driver_failure(exc):
                    raise
                module_logger(module.id, self.tap).error("on_unload failed", exc_info=exc)
        module.state = ModuleState.STOPPED

    async def hand_over(self, module: Module) -> None:
        """Stop a module that now runs on another host (cluster rebalance or lost lease)."""
        await self.stop_module(module)
        module.instance = None
        module.state, module.error = ModuleState.REMOTE, None

    def halt(self, module: Module) -> None:
        """Stop a module at once, without `on_unload` (it lost the right to run here)."""
        if module.instance is not None:
            module.instance.schedule.clear()
        module.instance = None
        module.state, module.error = ModuleState.REMOTE, None

    def replace_class(
        self, module: Module, driver_class: type[Driver], config: ModuleConfig | None = None
    ) -> None:
        """Give a stopped (or code-swapped) module a new driver class and merged settings."""
        if config is not None:
            module.config = config
        module.driver_class = driver_class
        self.set_settings(module, self.merged_settings(module.id, module.config, driver_class))

    def set_settings(self, module: Module, settings: dict[str, Any]) -> None:
        """Store merged settings, handing them to the live instance (no hook runs)."""
        module.settings = settings
        if module.instance is not None:
            module.instance._runtime_context.settings = settings

    async def restart_module(self, module: Module) -> None:
        """Stop and start a module with its current settings."""
        await self.stop_module(module)
        await self.start_module(module)

    async def update_settings(self, module: Module, settings: dict[str, Any]) -> None:
        """Give a module new merged settings and run its `on_update`."""
        module.settings = settings
        if module.instance is None:
            return
        module.instance._runtime_context.settings = settings
        if module.state is ModuleState.FAILED:
            await self.restart_module(module)
            return
        await self.run_on_update(module, "settings")

    async def run_on_update(self, module: Module, reason: str) -> None:
        """Call `on_update`, passing `reason` when the hook takes an argument."""
        instance = module.instance
        if instance is None:
            return
        hook = instance.on_update
        try:
            takes_reason = bool(inspect.signature(hook).parameters)
            async with asyncio.timeout(module.config.load_timeout):
                await (call_hook(hook, reason) if takes_reason else call_hook(hook))
        except BaseException as exc:
            if not is_driver_failure(exc):
                raise
            module_log = module_logger(module.id, self.tap)
            module_log.error("on_update failed", reason=reason, exc_info=exc)

    async def stop_all(self) -> None:
        """Stop every module."""
        await asyncio.gather(*(self.stop_module(m) for m in self.modules.values()))

    # -- lookup and exec ---------------------------------------------------------------------

    def resolve(self, sys_id: str, name: str, index: int) -> Module | None:
        """The module at `name` + `index` in system `sys_id`, if any."""
        system = self.systems.get(sys_id)
        if system is None:
            return None
        module_id = system.lookup.get((name, index))
        return None if module_id is None else self.modules.get(module_id)

    def resolve_id(self, sys_id: str, name: str, index: int) -> str | None:
        """The module id at `name` + `index` in system `sys_id`, if any."""
        system = self.systems.get(sys_id)
        return None if system is None else system.lookup.get((name, index))

    @overload
    def start_exec(
        self,
        sys_id: str,
        name: str,
        index: int,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
    ) -> bytes | Coroutine[Any, Any, bytes]: ...

    @overload
    def start_exec(
        self,
        sys_id: str,
        name: str,
        index: int,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
        starter: ExecStarter,
    ) -> bytes | Coroutine[Any, Any, bytes] | Suspended: ...

    def start_exec(
        self,
        sys_id: str,
        name: str,
        index: int,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
        starter: ExecStarter | None = None,
    ) -> bytes | Coroutine[Any, Any, bytes] | Suspended:
        """Begin a command; raises ExecFailure classified for the reply.

        A sync command runs right here and its JSON-encoded result comes back at once (no task,
        no timer: a timeout could not interrupt it anyway). An async one comes back as a
        coroutine to await, which runs it under the module's exec timeout. With a `starter` whose
        `steps_first` is set, an async command's first step runs here too (runtime/tasks.py): one
        that finishes there comes back as its result, like a sync one; one that suspends comes
        back `Suspended`, its `rest` to be handed to `starter.adopt` at once.
        """
        system = self.systems.get(sys_id)  # (`resolve`, inline: once per exec)
        module_id = None if system is None else system.lookup.get((name, index))
        module = None if module_id is None else self.modules.get(module_id)
        if module is None:
            raise ExecFailure(
                ErrorCode.MODULE_NOT_FOUND, f"could not find module {name}_{index} in {sys_id}"
            )
        return self._start(module, method, args, clearance, starter)

    def start_module_exec(
        self,
        module: Module,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
    ) -> bytes | Coroutine[Any, Any, bytes]:
        """`start_exec` for a module already resolved; a remote module's exec is routed."""
        return self._start(module, method, args, clearance, None)  # type: ignore[return-value]

    def _start(
        self,
        module: Module,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
        starter: ExecStarter | None,
    ) -> bytes | Coroutine[Any, Any, bytes] | Suspended:
        instance = module.instance
        if module.state is _REMOTE and self.remote is not None:
            command = interface_of(module.driver_class, Driver).commands.get(method)
            if command is None:
                raise ExecFailure(ErrorCode.BAD_REQUEST, f"could not find function {method}")
            if not clearance.allows(command.level):
                message = f"attempted to access privileged function {method}"
                raise ExecFailure(ErrorCode.ACCESS_DENIED, message, 401)
            try:
                command.bind(args)
            except ArgumentError as exc:
                raise ExecFailure(ErrorCode.BAD_REQUEST, str(exc), 400) from None
            return self.remote.execute(module, method, args)
        if module.state is not _RUNNING or instance is None:
            raise ExecFailure(
                ErrorCode.UNEXPECTED_FAILURE,
                f"module {module.id} is not running ({module.error or module.state.value})",
            )
        cls = type(instance)
        interface = cls.__dict__.get(INTERFACE_ATTR) or interface_of(cls, Driver)
        command = interface.commands.get(method)
        if command is None:
            raise ExecFailure(ErrorCode.BAD_REQUEST, f"could not find function {method}")
        level = command.level
        if level is not None and clearance < level:  # (`Clearance.allows`, inline)
            raise ExecFailure(
                ErrorCode.ACCESS_DENIED, f"attempted to access privileged function {method}", 401
            )
        try:
            positional, named = command.call_arguments(args)
        except ArgumentError as exc:
            raise ExecFailure(ErrorCode.BAD_REQUEST, str(exc), 400) from None
        try:
            result = command.function(instance, *positional, **named)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... fail this call only
            if not is_driver_failure(exc):
                raise
            raise _driver_failure(module, method, exc) from None
        if command.is_async or (type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result)):
            if starter is None or type(result) is not CoroutineType or not starter.steps_first:
                return self._finish_exec(module, method, result)
            try:
                result = starter.step(_running_loop(), result)
            except BaseException as exc:  # SystemExit, KeyboardInterrupt...: this call's failure
                if not is_driver_failure(exc):
                    raise
                raise _driver_failure(module, method, exc) from None
            if type(result) is Suspended:
                cancelling = result.runner.task.cancelling()
                result.rest = self._await_suspended(
                    module, method, result.coro, result.yielded, monotonic(), cancelling
                )
                return result
        try:
            return _orjson_dumps(result, default=_DEFAULT, option=_OPTIONS)  # (`_dumps`, inline)
        except TypeError as exc:
            raise _driver_failure(module, method, exc) from None

    async def _finish_exec(self, module: Module, method: str, pending: Awaitable[Any]) -> bytes:
        """Run a command's first step here; only one that suspends gets an exec deadline.

        The deadline is due `exec_timeout` seconds after the exec started (one shared timer per
        timeout length, see Deadlines).
        """
        started = monotonic()
        if type(pending) is not CoroutineType:
            pending = _as_coroutine(pending)
        try:
            yielded = pending.send(None)
        except StopIteration as stop:
            return _encode_result(module, method, stop.value)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: this call's failure
            if not is_driver_failure(exc):
                raise
            raise _driver_failure(module, method, exc) from None
        return await self._await_suspended(module, method, pending, yielded, started)

    async def _await_suspended(
        self,
        module: Module,
        method: str,
        pending: Any,
        yielded: Any,
        started: float,
        cancelling: int | None = None,
    ) -> bytes:
        """The rest of a command that suspended, under its exec deadline; `cancelling` is its
        task's count of pending cancellations when the command began (default: now)."""
        timeout = module.config.exec_timeout
        task = current_task_of(asyncio.get_running_loop())
        if task is None:
            raise RuntimeError("a command can only be awaited inside a task")
        if cancelling is None:
            cancelling = task.cancelling()
        deadlines = self.deadlines
        deadlines.add(task, timeout, started)
        try:
            result = await resume(pending, yielded)
        except asyncio.CancelledError as exc:
            expired = deadlines.remove(task, timeout)
            if expired and task.uncancel() <= cancelling:
                log.info("command failed", module_id=module.id, method=method, error="TimeoutError")
                message = f"module raised: {method} timed out after {timeout:g} s (TimeoutError)"
                raise ExecFailure(ErrorCode.REQUEST_FAILED, message, 500, _backtrace(exc)) from None
            if expired or task.cancelling() > cancelling:
                raise  # the runtime's own cancellation (shutdown)
            raise _driver_failure(module, method, exc) from None  # raised by the driver itself
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: this call's failure
            if deadlines.remove(task, timeout):
                task.uncancel()
            raise _driver_failure(module, method, exc) from None
        if deadlines.remove(task, timeout):
            task.uncancel()  # the command swallowed the cancellation and returned anyway
        return _encode_result(module, method, result)

    async def execute(
        self,
        sys_id: str,
        name: str,
        index: int,
        method: str,
        args: list[Any] | dict[str, Any],
        clearance: Clearance,
    ) -> ExecResult:
        """Run a command to the end; raises ExecFailure classified for the reply."""
        outcome = self.start_exec(sys_id, name, index, method, args, clearance)
        return ExecResult(outcome if isinstance(outcome, bytes) else await outcome)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    """A coroutine awaiting an awaitable that is not one (a future a sync command returned)."""
    return await awaitable


def _encode_result(module: Module, method: str, result: Any) -> bytes:
    try:
        return _dumps(result)
    except TypeError as exc:
        raise _driver_failure(module, method, exc) from None


def _driver_failure(module: Module, method: str, exc: BaseException) -> ExecFailure:
    """An exception from a driver as PlaceOS reports it: `module raised: <msg> (<Class>)`."""
    log.info("command failed", module_id=module.id, method=method, error=type(exc).__name__)
    _module_log(module).debug(
        f"executing {method} on {type(module.instance).__name__} ({module.id}) failed",
        exc_info=exc,
    )
    code = exc.code if isinstance(exc, Abort) else 500
    message = f"module raised: {exception_message(exc)}"
    return ExecFailure(ErrorCode.REQUEST_FAILED, message, code, _backtrace(exc))


def _module_log(module: Module) -> Any:
    """The module's own logger (reaching its debug listeners), else a plain one."""
    instance = module.instance
    return instance.logger if instance is not None else get_logger(module_id=module.id)


_backtrace = backtrace_lines
