"""When and how long to wait before retrying a Graph request.

Graph asks throttled clients to wait for the ``Retry-After`` seconds it sends with a 429 (and
sometimes with 503/504); without one, exponential backoff with jitter is the recommended
fallback. Retries are bounded both in count and in total elapsed time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({429, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and timings of retries.

    ``max_retries`` retries at most; no retry starts once ``max_total`` seconds have passed
    since the first attempt or when its wait would end after that. Backoff for attempt ``n``
    (0-based) is ``min(max_delay, base_delay * 2**n)``, jittered down to half of it at random.
    """

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Jittered exponential delay before retry number ``attempt`` (0-based)."""
        delay = min(self.max_delay, self.base_delay * (2**attempt))
        return delay / 2 + random.uniform(0, delay / 2)

    def delay_for(self, attempt: int, retry_after: float | None) -> float:
        """``Retry-After`` when the server gave one, else the backoff for ``attempt``."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.backoff(attempt)

    def allows(self, attempt: int, elapsed: float, delay: float) -> bool:
        """Whether retry number ``attempt`` (0-based) may start after waiting ``delay``."""
        return attempt < self.max_retries and elapsed + delay <= self.max_total


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
