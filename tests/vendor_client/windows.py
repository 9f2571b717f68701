"""Counting request starts per window, for the limiter tests of the toolkit and both drivers."""

from __future__ import annotations

from collections.abc import Sequence


def busiest_window(starts: Sequence[float], window: float = 1.0) -> int:
    """Most starts inside any half-open window ``[t, t + window)``.

    The busiest window can always be slid to begin at a start, so checking those is enough.
    """
    ordered = sorted(starts)
    return max((sum(1 for t in ordered if begin <= t < begin + window) for begin in ordered),
               default=0)
