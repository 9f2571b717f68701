"""Rendezvous (highest random weight) hashing with PlaceOS's score, so both pick one owner.

PlaceOS scores a node for a key as MurmurHash3 x64 128's first 64-bit half (`h1`) of
`"<node_uri>-<key>"` with seed 0, read unsigned; the highest score wins and a tie goes to the
larger node string (caspiano/rendezvous-hash). `mmh3.hash64(..., signed=False)[0]` is that `h1`.
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3


def score(node: str, key: str) -> int:
    """PlaceOS's weight of `node` for `key`."""
    return int(mmh3.hash64(f"{node}-{key}", 0, signed=False)[0])


def owner(nodes: Iterable[str], key: str) -> str | None:
    """The node that owns `key`, or None when there are no nodes."""
    best: tuple[int, str] | None = None
    for node in nodes:
        candidate = (score(node, key), node)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


def owners(nodes: Iterable[str], keys: Iterable[str]) -> dict[str, str]:
    """key -> owner for every key (empty when there are no nodes)."""
    node_list = sorted(set(nodes))
    if not node_list:
        return {}
    result: dict[str, str] = {}
    for key in keys:
        found = owner(node_list, key)
        if found is not None:
            result[key] = found
    return result
