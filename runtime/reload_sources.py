"""Which source files hot reload watches, and what depends on what.

A hosted driver's module is tracked, and so is every *local* module it imports, transitively. A
module is local when its source file lives under the working directory, the config's directory
or the `sys.path` entry the driver was imported from, and not in the standard library, a venv or
site-packages. The runtime's own packages are never reloaded: swapping `Driver` itself would cut
every live instance off from its base class.

Imports are read from the source's syntax tree (including imports inside functions), so the
dependency graph follows what the code says rather than what its globals happen to hold. Each
tracked file keeps the hash of the content that was last loaded: a change event whose content
hashes the same is ignored, and an edit that keeps size and mtime is still seen.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import site
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

#: Top-level packages of the runtime itself, never reloaded.
FRAMEWORK_PACKAGES = frozenset({"runtime", "protocol"})


def content_hash(source: bytes) -> str:
    """The hash hot reload compares file contents by."""
    return hashlib.sha256(source).hexdigest()


def _excluded_dirs() -> tuple[Path, ...]:
    """Interpreter, standard library and site-packages directories."""
    candidates: set[str] = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = sysconfig.get_paths()
    kinds = ("stdlib", "platstdlib", "purelib", "platlib")
    candidates.update(paths[kind] for kind in kinds if kind in paths)
    candidates.update(site.getsitepackages())
    candidates.add(site.getusersitepackages())
    return tuple(Path(c).resolve() for c in candidates if c)


def module_source_path(module: ModuleType) -> Path | None:
    """The `.py` file a module was loaded from, if it has one."""
    filename = getattr(module, "__file__", None)
    if not filename or not filename.endswith(".py"):
        return None
    path = Path(filename).resolve()
    return path if path.is_file() else None


def import_root(module: ModuleType) -> Path | None:
    """The `sys.path` entry a module was imported from (the parent of its top-level package)."""
    top = sys.modules.get(module.__name__.partition(".")[0])
    if top is None:
        return None
    search = getattr(top, "__path__", None)
    if search is not None:
        locations = list(search)
        return Path(locations[0]).resolve().parent if locations else None
    path = module_source_path(top)
    return path.parent if path is not None else None


def imported_names(source: bytes, module_name: str, is_package: bool) -> set[str]:
    """Absolute names of the modules (or possible submodules) a source imports."""
    tree = ast.parse(source)
    package = module_name if is_package else module_name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            try:
                base = importlib.util.resolve_name(relative, package) if node.level else relative
            except (ImportError, ValueError):
                continue
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


@dataclass(slots=True)
class TrackedSource:
    """A watched module: its file, the hash of the loaded content and what it imports."""

    name: str
    path: Path
    digest: str
    imported: set[str] = field(default_factory=set)  # every name its source imports
    imports: set[str] = field(default_factory=set)  # the local, loaded ones among them


class SourceIndex:
    """The local modules behind the hosted drivers, their files, hashes and dependencies."""

    def __init__(self, roots: Iterable[Path] = ()) -> None:
        self.base_roots = {Path(r).resolve() for r in roots}
        self.roots: set[Path] = set(self.base_roots)
        self.sources: dict[str, TrackedSource] = {}
        self._excluded = _excluded_dirs()

    # -- what is local ---------------------------------------------------------------------

    def _under(self, path: Path, dirs: Iterable[Path]) -> bool:
        return any(path.is_relative_to(d) for d in dirs)

    def is_local(self, name: str) -> bool:
        """Whether module `name` is loaded from a local source file hot reload may re-run."""
        module = sys.modules.get(name)
        if module is None or name.partition(".")[0] in FRAMEWORK_PACKAGES or name == "__main__":
            return False
        path = module_source_path(module)
        return (
            path is not None
            and not self._under(path, self._excluded)
            and self._under(path, self.roots)
        )

    # -- the tracked set -------------------------------------------------------------------

    def refresh(self, driver_modules: Iterable[str]) -> None:
        """Track `driver_modules` and every local module they import, transitively.

        Known files keep their recorded hash (the content that was loaded); newly tracked files
        are hashed now. Modules no longer reachable are dropped.
        """
        entry = [n for n in dict.fromkeys(driver_modules) if n in sys.modules]
        self.roots = set(self.base_roots)
        for name in entry:
            root = import_root(sys.modules[name])
            if root is not None and not self._under(root, self._excluded):
                self.roots.add(root)
        previous, self.sources = self.sources, {}
        pending = [n for n in entry if self.is_local(n)]
        while pending:
            name = pending.pop()
            if name in self.sources:
                continue
            tracked = previous.get(name) or self._track(name)
            if tracked is None:
                continue
            tracked.imports = {n for n in tracked.imported if n != name and self.is_local(n)}
            self.sources[name] = tracked
            pending.extend(d for d in tracked.imports if d not in self.sources)

    def _track(self, name: str) -> TrackedSource | None:
        module = sys.modules[name]
        path = module_source_path(module)
        if path is None:
            return None
        try:
            source = path.read_bytes()
        except OSError:
            return None
        tracked = TrackedSource(name, path, content_hash(source))
        self.set_imports(tracked, source, module)
        return tracked

    def set_imports(self, tracked: TrackedSource, source: bytes, module: ModuleType) -> None:
        """Record what `source` imports (kept as it was if the source does not parse)."""
        try:
            tracked.imported = imported_names(source, tracked.name, hasattr(module, "__path__"))
        except (SyntaxError, ValueError):
            return

    def files(self) -> dict[Path, str]:
        """Tracked file -> module name."""
        return {t.path: t.name for t in self.sources.values()}

    # -- change sets -----------------------------------------------------------------------

    def changed(self, paths: Iterable[Path]) -> dict[str, bytes]:
        """Tracked modules among `paths` whose content differs from what was loaded."""
        by_path = self.files()
        changed: dict[str, bytes] = {}
        for path in paths:
            name = by_path.get(path)
            if name is None:
                continue
            try:
                source = path.read_bytes()
            except OSError:
                continue  # deleted or unreadable: the loaded code stays
            if content_hash(source) != self.sources[name].digest:
                changed[name] = source
        return changed

    def reload_order(self, changed: Iterable[str]) -> list[str]:
        """`changed` plus every tracked module that imports one of them, dependencies first."""
        dependants: dict[str, set[str]] = {name: set() for name in self.sources}
        for tracked in self.sources.values():
            for dep in tracked.imports:
                if dep in dependants:
                    dependants[dep].add(tracked.name)
        selected: set[str] = set()
        pending = [n for n in changed if n in self.sources]
        while pending:
            name = pending.pop()
            if name not in selected:
                selected.add(name)
                pending.extend(dependants[name])
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order or name in visiting:
                return  # already placed, or an import cycle: keep the first-seen order
            visiting.add(name)
            for dep in sorted(self.sources[name].imports & selected):
                visit(dep)
            visiting.discard(name)
            order.append(name)

        for name in sorted(selected):
            visit(name)
        return order
