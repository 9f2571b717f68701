"""The layers lean one way: protocol is pure, runtime knows neither drivers nor emulators,
drivers use only runtime's public API, emulators know nothing of our code, and only the
embedded default wires them together."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "runtime", "drivers", "fixtures", "embedded")
#: Which of our packages each package may import.
ALLOWED = {
    "protocol": set(),
    "runtime": {"protocol"},
    "drivers": {"runtime"},
    "fixtures": set(),
    "embedded": {"runtime", "drivers", "fixtures"},
}


def imports(package: str) -> Iterator[tuple[Path, str]]:
    """Every module imported anywhere in ``package`` (at any depth, also inside functions)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    crossing = sorted(
        f"{path.relative_to(ROOT)}: {name}" for path, name in imports(package)
        if name.split(".")[0] in PACKAGES and name.split(".")[0] != package
        and name.split(".")[0] not in ALLOWED[package])
    assert crossing == []


def test_drivers_use_only_the_public_runtime_api() -> None:
    private = sorted(f"{path.relative_to(ROOT)}: {name}" for path, name in imports("drivers")
                     if name.startswith("runtime."))
    assert private == []


def test_emulators_know_nothing_of_our_drivers_settings() -> None:
    words = ("calendar_config", "calendar_service_account", "graph_base_url", "api_base_url",
             "driver_settings")
    found = sorted(f"{path.relative_to(ROOT)}: {word}"
                   for path in (ROOT / "fixtures").rglob("*.py")
                   for word in words if word in path.read_text(encoding="utf-8"))
    assert found == []
