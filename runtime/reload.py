"""Hot reload: driver code and config changes applied to a running runtime, live state kept.

`Reloader` watches, with watchfiles, the source files of every hosted driver and of the local
modules they import (see `reload_sources`), and the config file. It watches their directories
(not recursively) rather than the files, so editors that save by writing a new file and renaming
it over the old one are seen too, and it keeps only events for the files it tracks.

A change set is handled in one go, code first: changed modules and their local dependants are
loaded from source and swapped under the live instances (`reload_code`), then a changed config is
validated and applied (`reload_config`). A file whose content hashes the same as what is running
is ignored. Each module given new code (or, by the config, another driver) has its reserved status
`$interface` set to a digest of its metadata, so bound clients know to fetch its commands again
(`interface_signal`). Anything that cannot be loaded leaves the running code and configuration
as they were, and says why in the log and to the debug subscribers of the modules concerned.

The watcher's debounce is kept short (`DEBOUNCE_MS` / `STEP_MS`) so that an edit answers with
the new code well within a second.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watchfiles import Change, awatch

from runtime.config import load_config
from runtime.errors import ConfigError
from runtime.interface_signal import publish_interface
from runtime.logs import get_logger, module_logger
from runtime.modules import Module
from runtime.reload_code import (
    NewSource,
    SourceLoad,
    SourceLoadError,
    apply_class,
    prepare_classes,
    uses_modules,
)
from runtime.reload_config import apply_config
from runtime.reload_sources import SourceIndex, content_hash

if TYPE_CHECKING:
    from runtime.server import Runtime

__all__ = ["DEBOUNCE_MS", "STEP_MS", "ReloadReport", "Reloader"]

#: Longest time (ms) watchfiles groups changes into one set.
DEBOUNCE_MS = 100
#: Quiet time (ms) after which watchfiles hands over the changes it has.
STEP_MS = 20
#: How many reports a Reloader keeps.
REPORTS_KEPT = 100
#: Seconds `stop` waits for a watcher thread to notice its stop event.
STOP_TIMEOUT = 2.0

log = get_logger(component="reload")


@dataclass
class ReloadReport:
    """What one reload did: code (`modules` re-executed) or config, and the modules touched."""

    kind: str  # "code" | "config"
    files: list[str]
    modules: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the change was applied."""
        return self.error is None


class Reloader:
    """Watches driver sources and the config file of one runtime and applies their changes."""

    def __init__(
        self, runtime: Runtime, *, debounce_ms: int = DEBOUNCE_MS, step_ms: int = STEP_MS
    ) -> None:
        self.runtime = runtime
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        config_path = runtime.config_path
        self.config_path = config_path.resolve() if config_path is not None else None
        roots = [Path.cwd()] + ([self.config_path.parent] if self.config_path else [])
        self.index = SourceIndex(roots)
        self.reports: deque[ReloadReport] = deque(maxlen=REPORTS_KEPT)
        self.report_count = 0
        self._config_digest = self._read_config_digest()
        self._lock = asyncio.Lock()
        self._reported = asyncio.Condition()
        self._watched: set[Path] = set()
        self._dirs: frozenset[Path] = frozenset()
        self._watchers: dict[asyncio.Task[None], asyncio.Event] = {}
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Index the hosted drivers' sources and start watching."""
        self._refresh_index()
        self._sync_watch()
        await asyncio.sleep(0)  # a watcher registers its directories on its first step
        log.info(
            "hot reload watching",
            files=len(self.index.sources),
            config=str(self.config_path) if self.config_path else None,
        )

    async def stop(self) -> None:
        """Stop watching (a reload in progress finishes first)."""
        self._stopped = True
        watchers = dict(self._watchers)
        for stop_event in watchers.values():
            stop_event.set()
        if not watchers:
            return
        _done, pending = await asyncio.wait(watchers, timeout=STOP_TIMEOUT)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    @property
    def watched_files(self) -> set[Path]:
        """The files whose changes are applied: the tracked sources and the config file."""
        return set(self._watched)

    # -- reports -----------------------------------------------------------------------------

    def report(self, number: int) -> ReloadReport:
        """The `number`-th report since start (1-based), while it is still kept."""
        position = number - (self.report_count - len(self.reports)) - 1
        if not 0 <= position < len(self.reports):
            raise LookupError(f"reload report {number} is not kept")
        return self.reports[position]

    async def wait_for_report(self, number: int, timeout: float = 5.0) -> ReloadReport:
        """Wait until there are `number` reports since start, then return that one."""
        async with asyncio.timeout(timeout), self._reported:
            await self._reported.wait_for(lambda: self.report_count >= number)
        return self.report(number)

    async def _publish(self, report: ReloadReport) -> None:
        self.reports.append(report)
        self.report_count += 1
        async with self._reported:
            self._reported.notify_all()

    # -- change handling ---------------------------------------------------------------------

    async def handle_changes(self, paths: Iterable[Path]) -> list[ReloadReport]:
        """Apply the changes of `paths` (code first, then config); returns what was done."""
        changed_paths = {Path(p).resolve() for p in paths}
        reports: list[ReloadReport] = []
        async with self._lock:
            sources = self.index.changed(changed_paths)
            if sources:
                reports.append(await self._reload_code(sources))
            if self.config_path is not None and self.config_path in changed_paths:
                config_report = await self._reload_config()
                if config_report is not None:
                    reports.append(config_report)
            self._sync_watch()
        for report in reports:
            await self._publish(report)
        return reports

    async def _reload_code(self, changed: dict[str, bytes]) -> ReloadReport:
        started = time.perf_counter()
        host = self.runtime.host
        order = self.index.reload_order(changed)
        report = ReloadReport("code", [str(self.index.sources[n].path) for n in changed], order)
        try:
            sources = [
                NewSource(n, self.index.sources[n].path, changed.get(n) or self._read(n))
                for n in order
            ]
        except OSError as exc:
            report.error = f"cannot read source: {exc}"
            log.error("driver reload failed; the running code stays", error=report.error)
            return report
        load = SourceLoad(sources)
        reloaded = set(order)
        affected = [m for m in host.modules.values() if uses_modules(m, reloaded)]
        try:
            load.run()
            targets = prepare_classes(list(host.modules.values()), reloaded)
        except SourceLoadError as exc:
            load.rollback()
            report.error = str(exc)
            self._report_load_error(exc, affected)
            report.seconds = time.perf_counter() - started
            return report
        load.drop_stale_bytecode()
        for new in sources:
            tracked = self.index.sources[new.name]
            tracked.digest = content_hash(new.source)
            self.index.set_imports(tracked, new.source, sys.modules[new.name])
        for module_id, new_class in targets.items():
            module = host.modules.get(module_id)
            if module is None:
                continue
            outcome = await apply_class(host, module, new_class)
            getattr(report, outcome).append(module_id)
            publish_interface(host.store, module)
        self._refresh_index()
        report.seconds = time.perf_counter() - started
        log.info(
            "driver code reloaded",
            modules=order,
            swapped=report.swapped,
            restarted=report.restarted,
            failed=report.failed,
            ms=round(report.seconds * 1000, 1),
        )
        return report

    def _read(self, name: str) -> bytes:
        """The current source of a tracked module that did not change itself."""
        return self.index.sources[name].path.read_bytes()

    def _report_load_error(self, exc: SourceLoadError, affected: list[Module]) -> None:
        message = "driver reload failed; the running code stays"
        log.error(message, error=str(exc), modules=[m.id for m in affected])
        for module in affected:
            module_logger(module.id, self.runtime.host.tap).error(
                message, error=str(exc), exc_info=exc.cause
            )

    async def _reload_config(self) -> ReloadReport | None:
        assert self.config_path is not None
        digest = self._read_config_digest()
        if digest is None:
            log.warning("config file unreadable; the running configuration stays")
            return None
        if digest == self._config_digest:
            return None
        started = time.perf_counter()
        report = ReloadReport("config", [str(self.config_path)])
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            report.error = str(exc)
            log.error("config reload refused; the running configuration stays", error=str(exc))
            return report
        changes = await apply_config(self.runtime, config)
        self._config_digest = digest
        for module_id in changes.replaced:
            publish_interface(self.runtime.host.store, self.runtime.host.modules[module_id])
        report.added, report.removed = changes.added, changes.removed
        report.updated, report.restarted = changes.updated, changes.replaced
        self._refresh_index()
        report.seconds = time.perf_counter() - started
        log.info("config reloaded", **changes.summary(), ms=round(report.seconds * 1000, 1))
        return report

    def _read_config_digest(self) -> str | None:
        if self.config_path is None:
            return None
        try:
            return content_hash(self.config_path.read_bytes())
        except OSError:
            return None

    # -- watching ----------------------------------------------------------------------------

    def _refresh_index(self) -> None:
        drivers: list[str] = []
        for module in self.runtime.host.modules.values():
            drivers += [module.driver_class.__module__, module.config.driver.partition(":")[0]]
        self.index.refresh(drivers)
        self._watched = set(self.index.files())
        if self.config_path is not None:
            self._watched.add(self.config_path)

    def _wants(self, _change: Change, path: str) -> bool:
        return Path(path).resolve() in self._watched

    def _sync_watch(self) -> None:
        """Watch the directories of the tracked files; a new set gets a new watcher first."""
        dirs = frozenset(path.parent for path in self._watched)
        if self._stopped or (dirs == self._dirs and self._watchers):
            return
        old = list(self._watchers.values())
        self._dirs = dirs
        if dirs:
            stop_event = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._watch(dirs, stop_event))
            self._watchers[task] = stop_event
            task.add_done_callback(self._watchers.pop)
        for stop_event in old:
            stop_event.set()

    async def _watch(self, dirs: frozenset[Path], stop_event: asyncio.Event) -> None:
        try:
            async for changes in awatch(
                *sorted(dirs),
                watch_filter=self._wants,
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=stop_event,
                recursive=False,
            ):
                try:
                    await self.handle_changes(Path(path) for _change, path in changes)
                except Exception:
                    log.exception("hot reload failed unexpectedly")
        except Exception:
            log.exception("file watcher stopped", dirs=[str(d) for d in dirs])
