"""Reading a config file: YAML without duplicate keys, `${NAME}` substitution, relative paths.

These steps work on the decoded data before it is validated, and report problems as
`(key path, problem)` pairs so that every mistake of a file is reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: `${NAME}` or `${NAME:-default}`; `$${` stands for a literal `${`.
ENV_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: Settings keys with this ending hold file paths, resolved against the config file's folder.
PATH_KEY_SUFFIX = "_file"

Problem = tuple[str, str]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that records keys given twice in one mapping instead of keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            try:
                key = self.construct_object(key_node, deep=True)
                hash(key)
            except (TypeError, yaml.YAMLError):
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(
                    (f"line {line}", f"duplicate key {key!r} (first given on line {seen[key]})")
                )
            else:
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _UniqueKeyLoader.construct_mapping,
)


class YamlError(Exception):
    """Text that is not YAML; the message gives line, column and problem."""


def parse_yaml(text: str) -> tuple[Any, list[Problem]]:
    """Decode YAML text; returns the data and one problem per duplicated key."""
    loader = _UniqueKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(f"{where}invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    return data, loader.duplicates


def key_path(parts: tuple[int | str, ...] | list[int | str]) -> str:
    """`systems.sys-1.modules[2]` from its parts."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def substitute_env(
    data: Any, environ: Mapping[str, str] | None = None
) -> tuple[Any, list[Problem]]:
    """Replace `${NAME}` / `${NAME:-default}` in every string value (not in keys)."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []

    def replace_in(text: str, where: tuple[int | str, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            value = env.get(name)
            if value:
                return value
            if default is not None:
                return default
            if value is None:
                problems.append((key_path(where), f"environment variable {name} is not set"))
            return ""

        return ENV_REFERENCE.sub(one, text)

    def walk(node: Any, where: tuple[int | str, ...]) -> Any:
        if isinstance(node, str):
            return replace_in(node, where)
        if isinstance(node, dict):
            return {key: walk(value, (*where, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, (*where, position)) for position, item in enumerate(node)]
        return node

    return walk(data, ()), problems


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not value.startswith("~"):
        path = Path(value)
        return value if path.is_absolute() else str(base / path)
    return value


def _resolve_settings(settings: Any, base: Path) -> Any:
    if isinstance(settings, dict):
        return {
            key: _resolve(value, base)
            if isinstance(key, str) and key.endswith(PATH_KEY_SUFFIX) and isinstance(value, str)
            else _resolve_settings(value, base)
            for key, value in settings.items()
        }
    if isinstance(settings, list):
        return [_resolve_settings(item, base) for item in settings]
    return settings


def resolve_paths(data: Any, base: Path) -> Any:
    """Make the config's relative paths absolute against `base` (the config file's folder).

    Resolved: `server.driver_paths`, `auth.jwt.public_key_file`, and every settings key ending
    in `_file` (`ca_file`, `private_key_file`, ...) of modules and systems.
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    server = data.get("server")
    if isinstance(server, dict) and isinstance(server.get("driver_paths"), list):
        server = dict(server)
        server["driver_paths"] = [_resolve(p, base) for p in server["driver_paths"]]
        data["server"] = server
    auth = data.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("jwt"), dict):
        jwt = dict(auth["jwt"])
        jwt["public_key_file"] = _resolve(jwt.get("public_key_file"), base)
        if jwt["public_key_file"] is None:
            del jwt["public_key_file"]
        data["auth"] = {**auth, "jwt": jwt}
    for section in ("modules", "systems"):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        resolved = {}
        for entry_id, entry in entries.items():
            if isinstance(entry, dict) and "settings" in entry:
                entry = {**entry, "settings": _resolve_settings(entry["settings"], base)}
            resolved[entry_id] = entry
        data[section] = resolved
    return data
