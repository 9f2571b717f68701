"""The health monitor behind a driver's ``connected`` status.

Evidence comes from two places: every answer the vendor gives to real traffic (``succeeded``,
``failed``, ``server_error``) and a cheap probe that ``run`` sends only when there has been no
evidence for a while:

* while connected, a probe ``connected_probe_interval`` seconds after the last success (10 s by
  default), so an idle driver notices an outage within that time (plus the probe's own timeout
  when the vendor does not answer at all rather than refusing the connection);
* while disconnected, a probe ``probe_interval`` seconds after the last failure (5 s by default),
  so a recovery is noticed within that time;
* at start, a probe at once.

A change of state is reported to ``on_change``; the first failure (at start, or after being
connected) is logged at warning with its reason, a recovery at info, further failures at debug.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .clock import SYSTEM_CLOCK, Clock
from .errors import RateLimitExceeded

__all__ = [
    "DEFAULT_CONNECTED_PROBE_INTERVAL",
    "DEFAULT_PROBE_INTERVAL",
    "DEFAULT_PROBE_TIMEOUT",
    "SERVER_ERRORS_BEFORE_DOWN",
    "Health",
    "HealthMonitor",
    "HealthTimings",
    "describe_failure",
]

#: Seconds between probes while the vendor is unreachable.
DEFAULT_PROBE_INTERVAL = 5.0
#: Seconds without evidence after which a connected driver probes.
DEFAULT_CONNECTED_PROBE_INTERVAL = 10.0
#: Seconds a probe may take (token request included) before it counts as a failure.
DEFAULT_PROBE_TIMEOUT = 5.0
#: Consecutive 5xx answers to real traffic after which the vendor counts as down.
SERVER_ERRORS_BEFORE_DOWN = 3


class Health(enum.Enum):
    """What is known of the vendor."""

    UNKNOWN = "unknown"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class HealthTimings:
    """Probe intervals and the server-error threshold (all driver settings)."""

    probe_interval: float = DEFAULT_PROBE_INTERVAL
    connected_probe_interval: float = DEFAULT_CONNECTED_PROBE_INTERVAL
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    server_errors_before_down: int = SERVER_ERRORS_BEFORE_DOWN


def describe_failure(error: BaseException) -> str:
    """A one-line reason for a failed probe: the message, or the exception's name."""
    text = str(error).strip()
    return text if text else type(error).__name__


class HealthMonitor:
    """Tracks one vendor's reachability and credential validity."""

    def __init__(
        self,
        vendor: str,
        probe: Callable[[], Awaitable[Any]],
        on_change: Callable[[bool], None],
        *,
        timings: HealthTimings | None = None,
        logger: Any = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.vendor = vendor
        self.timings = timings or HealthTimings()
        self.state = Health.UNKNOWN
        self.reason = ""
        self._probe = probe
        self._on_change = on_change
        self._logger = logger
        self._clock = clock
        self._last_evidence = clock.now()
        self._server_errors = 0
        self._wake = asyncio.Event()

    @property
    def connected(self) -> bool:
        """True only when the vendor answered recently with our credentials accepted."""
        return self.state is Health.CONNECTED

    # -- evidence ----------------------------------------------------------------------------

    def succeeded(self) -> None:
        """The vendor answered a request made with accepted credentials."""
        self._server_errors = 0
        self._last_evidence = self._clock.now()
        self._set(Health.CONNECTED, f"{self.vendor} answered")

    def failed(self, reason: str) -> None:
        """The vendor could not be reached, or refused the credentials."""
        self._last_evidence = self._clock.now()
        self._set(Health.DISCONNECTED, reason)

    def server_error(self, status: int) -> None:
        """The vendor answered real traffic with a 5xx status."""
        self._server_errors += 1
        if self._server_errors >= self.timings.server_errors_before_down:
            self.failed(f"{self._server_errors} server errors in a row (last HTTP {status})")

    # -- probing -----------------------------------------------------------------------------

    def next_probe_in(self) -> float:
        """Seconds until the next probe is due (0 or less: now)."""
        if self.state is Health.UNKNOWN:
            return 0.0
        interval = (self.timings.connected_probe_interval if self.state is Health.CONNECTED
                    else self.timings.probe_interval)
        return self._last_evidence + interval - self._clock.now()

    async def probe_once(self) -> bool:
        """Send one probe and record its outcome; returns whether it succeeded."""
        try:
            await asyncio.wait_for(self._probe(), self.timings.probe_timeout)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.failed(f"no answer within {self.timings.probe_timeout:g} s")
            return False
        except RateLimitExceeded as error:  # our own queue is full: says nothing of the vendor
            self._last_evidence = self._clock.now()
            self._log("debug", f"{self.vendor} probe not sent", reason=describe_failure(error))
            return False
        except Exception as error:  # every failure is evidence; its text is the reason
            self.failed(describe_failure(error))
            return False
        self.succeeded()
        return True

    async def run(self) -> None:
        """Probe whenever evidence is due, until cancelled."""
        while True:
            delay = self.next_probe_in()
            if delay > 0:
                await self._sleep(delay)
                continue
            await self.probe_once()

    async def _sleep(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less when the state changes meanwhile."""
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # -- state -------------------------------------------------------------------------------

    def _set(self, state: Health, reason: str) -> None:
        previous = self.state
        self.reason = reason
        if state is previous:
            if state is Health.DISCONNECTED:
                self._log("debug", f"{self.vendor} still unavailable", reason=reason)
            return
        self.state = state
        self._wake.set()
        if state is Health.CONNECTED:
            self._log("info", f"{self.vendor} connected")
        else:
            self._log("warning", f"{self.vendor} unavailable", reason=reason,
                      probe_every=self.timings.probe_interval)
        self._on_change(state is Health.CONNECTED)

    def _log(self, level: str, message: str, **fields: Any) -> None:
        if self._logger is not None:
            getattr(self._logger, level)(message, **fields)
