"""The shared emulator modules export only what they define: a name is imported from the module
that defines it, never from one that happens to import it too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Modules (not package ``__init__`` files, whose job is to gather) checked for re-exports.
MODULES = sorted((ROOT / "fixtures").glob("*.py"))


def _exported(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                assert node.value is not None
                return list(ast.literal_eval(node.value))
    return []


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "__init__.py"],
                         ids=lambda p: p.name)
def test_fixture_modules_do_not_re_export_imported_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert sorted(set(_exported(tree)) & _imported(tree)) == []


def test_the_check_sees_a_re_export() -> None:
    tree = ast.parse("from a import B\nclass C: ...\n__all__ = ['B', 'C']\n")
    assert sorted(set(_exported(tree)) & _imported(tree)) == ["B"]
