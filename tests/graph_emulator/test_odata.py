"""OData `$filter` / `$search` parsing as the emulator applies it."""

from __future__ import annotations

import pytest

from fixtures.graph_emulator.errors import GraphError
from fixtures.graph_emulator.odata import parse_filter, parse_search, sort_items

PEOPLE = [
    {"displayName": "Liam O'Connor", "mail": "liam@x.example", "accountEnabled": True, "n": 3},
    {"displayName": "Lia Smith", "mail": "LIA@x.example", "accountEnabled": False, "n": 1},
    {"displayName": "Noah Schmidt", "mail": None, "accountEnabled": True, "n": 2},
]


def _names(expression: str) -> list[str]:
    predicate = parse_filter(expression, lambda name: True)
    return [p["displayName"] for p in PEOPLE if predicate(p)]


@pytest.mark.parametrize(("expression", "expected"), [
    ("startswith(displayName,'liam o''c')", ["Liam O'Connor"]),
    ("mail eq 'lia@X.example'", ["Lia Smith"]),
    ("accountEnabled eq true", ["Liam O'Connor", "Noah Schmidt"]),
    ("accountEnabled eq true and startswith(displayName,'n') or mail eq 'lia@x.example'",
     ["Lia Smith", "Noah Schmidt"]),
    ("accountEnabled eq true and (startswith(displayName,'n') or mail eq 'lia@x.example')",
     ["Noah Schmidt"]),
    ("not (accountEnabled eq true)", ["Lia Smith"]),
    ("mail eq null", ["Noah Schmidt"]),
    ("n ge 2", ["Liam O'Connor", "Noah Schmidt"]),
    ("displayName in ('Lia Smith', 'Noah Schmidt')", ["Lia Smith", "Noah Schmidt"]),
    ("endswith(mail,'X.EXAMPLE')", ["Liam O'Connor", "Lia Smith"]),
])
def test_filter(expression: str, expected: list[str]) -> None:
    assert _names(expression) == expected


@pytest.mark.parametrize("expression", [
    "startswith(displayName,'O'Connor')", "displayName eq", "(mail eq 'a'", "mail eq bare",
    "mail like 'a'", "",
])
def test_filter_syntax_errors(expression: str) -> None:
    with pytest.raises(GraphError) as caught:
        parse_filter(expression, lambda name: True)
    assert caught.value.status == 400


def test_unknown_property() -> None:
    with pytest.raises(GraphError) as caught:
        parse_filter("shoeSize eq 1", lambda name: name == "mail")
    assert caught.value.code == "Request_BadRequest"


def test_search_is_token_prefix() -> None:
    predicate = parse_search('"displayName:schm" OR "displayName:smi"', ["displayName", "mail"])
    assert [p["displayName"] for p in PEOPLE if predicate(p)] == ["Lia Smith", "Noah Schmidt"]
    with pytest.raises(GraphError):
        parse_search("schm", ["displayName"])


def test_sort_items() -> None:
    ordered = sort_items(list(PEOPLE), "displayName desc")
    assert [p["displayName"] for p in ordered] == ["Noah Schmidt", "Liam O'Connor", "Lia Smith"]
