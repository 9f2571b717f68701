"""Plain-text tables for `ls`."""

from __future__ import annotations

from typing import Any

import orjson

#: Status values longer than this are cut in tables (`--json` prints them whole).
MAX_CELL = 60


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_json(value: Any) -> None:
    """`value` as indented JSON (what `--json` and `exec` print)."""
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Columns padded to their widest cell; `(none)` under the headers when there are no rows."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    print(line(headers))
    for row in cells:
        print(line(row))
    if not cells:
        print("(none)")


def print_systems(systems: list[dict[str, Any]]) -> None:
    rows = [[s["id"], s.get("name", ""), ", ".join(s.get("modules", []))] for s in systems]
    print_table(["SYSTEM", "NAME", "MODULES"], rows)


def _parameter(name: str, schema: dict[str, Any]) -> str:
    kind = schema.get("type") or schema.get("title") or "any"
    text = f"{name}: {kind if isinstance(kind, str) else '|'.join(kind)}"
    if "default" in schema:
        text += f" = {orjson.dumps(schema['default']).decode()}"
    return text


def print_functions(functions: dict[str, Any]) -> None:
    rows = []
    for name, spec in sorted(functions.items()):
        params = spec.get("params", {})
        order = spec.get("order", list(params))
        rows.append([name, ", ".join(_parameter(p, params.get(p, {})) for p in order)])
    print_table(["FUNCTION", "PARAMETERS"], rows)


def print_status(status: dict[str, str]) -> None:
    """Status values arrive JSON-encoded and are shown as such."""
    print_table(["STATUS", "VALUE"], [[key, value] for key, value in sorted(status.items())])
