"""Retrying vendor requests: which answers to retry, how long to wait, and the loop itself.

* 429 and 503 mean the request was refused before it was processed: any request is retried.
* 500, 502 and 504 may come after the work was done: only idempotent requests are retried.
* A connection failure is retried when the request is idempotent or never left.
* The wait is the vendor's hint when it gives one (``Retry-After`` in seconds or as an HTTP date,
  LINE WORKS' ``rateLimit-reset`` in seconds), else a jittered exponential backoff.
* At most ``max_retries`` retries, and none whose wait would end more than ``max_total`` seconds
  after the first attempt: a hint longer than that fails the request at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

from .clock import SYSTEM_CLOCK, Clock
from .errors import VendorUnreachable

__all__ = [
    "RETRY_ALWAYS",
    "RETRY_IF_IDEMPOTENT",
    "Answer",
    "RetryNote",
    "RetryPolicy",
    "send_with_retries",
    "wait_hint",
]

#: Statuses that say the request was not processed: safe to retry whatever its method.
RETRY_ALWAYS = frozenset({429, 503})
#: Statuses retried only for idempotent requests.
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})
#: Headers that carry the vendor's wait hint, in order of preference.
WAIT_HINT_HEADERS = ("retry-after", "ratelimit-reset")
#: LINE WORKS sends ``rateLimit-reset`` on every answer (when its quota window resets); it is a
#: wait hint only on a 429. Any other status waits only for an explicit ``Retry-After``.
THROTTLED = 429


class Answer(Protocol):
    """What the retry loop needs to know of a vendor's answer."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


A = TypeVar("A", bound=Answer)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and timings of retries.

    Backoff for retry ``n`` (0-based) is ``min(max_delay, base_delay * 2**n)``, jittered down to
    half of it at random.
    """

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Jittered exponential delay before retry number ``attempt`` (0-based)."""
        delay = min(self.max_delay, self.base_delay * (2**attempt))
        return delay / 2 + random.uniform(0, delay / 2)

    def delay_for(self, attempt: int, hint: float | None) -> float:
        """The vendor's hint when it gave one, else the backoff for ``attempt``."""
        return max(0.0, hint) if hint is not None else self.backoff(attempt)

    def allows(self, attempt: int, elapsed: float, delay: float) -> bool:
        """Whether retry number ``attempt`` (0-based) may start after waiting ``delay``."""
        return attempt < self.max_retries and elapsed + delay <= self.max_total

    @staticmethod
    def retries_status(status: int, idempotent: bool) -> bool:
        """Whether an answer with ``status`` is worth sending again."""
        return status in RETRY_ALWAYS or (idempotent and status in RETRY_IF_IDEMPOTENT)


@dataclass(frozen=True)
class RetryNote:
    """Why and for how long the loop waits before retry number ``attempt`` (1-based)."""

    attempt: int
    delay: float
    status: int | None
    error: str | None


def wait_hint(
    headers: Mapping[str, str], now: datetime | None = None, status: int = THROTTLED
) -> float | None:
    """Seconds to wait per ``Retry-After`` (delta-seconds or HTTP date) or, on a 429 answer,
    ``rateLimit-reset``."""
    lowered = {str(name).lower(): value for name, value in headers.items()}
    names = WAIT_HINT_HEADERS if status == THROTTLED else WAIT_HINT_HEADERS[:1]
    for name in names:
        seconds = _seconds(lowered.get(name), now)
        if seconds is not None:
            return seconds
    return None


def _seconds(value: str | None, now: datetime | None) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def send_with_retries(
    send: Callable[[], Awaitable[A]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    clock: Clock = SYSTEM_CLOCK,
    on_retry: Callable[[RetryNote], None] | None = None,
) -> A:
    """Call ``send`` until its answer is final; return that answer (which may be an error).

    ``send`` raises ``VendorUnreachable`` when the vendor cannot be reached; the last such
    failure is re-raised when no retry is allowed.
    """
    started = clock.now()
    attempt = 0
    while True:
        try:
            answer = await send()
        except VendorUnreachable as error:
            delay = policy.backoff(attempt)
            if not ((idempotent or not error.sent)
                    and policy.allows(attempt, clock.now() - started, delay)):
                raise
            note = RetryNote(attempt + 1, delay, None, str(error))
        else:
            if not policy.retries_status(answer.status, idempotent):
                return answer
            delay = policy.delay_for(attempt, wait_hint(answer.headers, status=answer.status))
            if not policy.allows(attempt, clock.now() - started, delay):
                return answer
            note = RetryNote(attempt + 1, delay, answer.status, None)
        if on_retry is not None:
            on_retry(note)
        attempt += 1
        await clock.sleep(delay)
