"""Settings every vendor client built on this toolkit reads, with their defaults."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .health import (
    DEFAULT_CONNECTED_PROBE_INTERVAL,
    DEFAULT_PROBE_INTERVAL,
    DEFAULT_PROBE_TIMEOUT,
    HealthTimings,
)
from .retry import RetryPolicy

__all__ = ["DEFAULT_PROBE_TIMEOUT", "DEFAULT_REQUEST_TIMEOUT", "ClientSettings"]

#: Seconds one HTTP request may take.
DEFAULT_REQUEST_TIMEOUT = 30.0


class ClientSettings(BaseModel):
    """Rate limit, retries, timeouts and health probing (flat keys of the module settings)."""

    rate_limit: float = Field(
        default=5, ge=0,
        description="requests per second, at most rate_limit in any 1 s window; 0 = off")
    max_retries: int = Field(
        default=4, ge=0, description="retries of a throttled, unavailable or unreachable request")
    retry_base_delay: float = Field(
        default=0.5, gt=0,
        description="seconds before the first retry when the vendor gives no wait hint "
                    "(doubling for each further retry, jittered)")
    max_retry_wait: float = Field(
        default=60.0, ge=0,
        description="seconds after the first attempt by which the last retry must start "
                    "(a longer Retry-After / rateLimit-reset fails the request at once)")
    request_timeout: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT, gt=0, description="seconds per HTTP request")
    probe_interval: float = Field(
        default=DEFAULT_PROBE_INTERVAL, gt=0,
        description="seconds between reachability probes while disconnected")
    connected_probe_interval: float = Field(
        default=DEFAULT_CONNECTED_PROBE_INTERVAL, gt=0,
        description="seconds without any answer after which a connected driver probes")
    probe_timeout: float = Field(
        default=DEFAULT_PROBE_TIMEOUT, gt=0, description="seconds a probe may take")

    def health_timings(self) -> HealthTimings:
        """The probe timings as the health monitor takes them."""
        return HealthTimings(probe_interval=self.probe_interval,
                             connected_probe_interval=self.connected_probe_interval,
                             probe_timeout=self.probe_timeout)

    def retry_policy(self) -> RetryPolicy:
        """The retry bounds as the retry loop takes them."""
        return RetryPolicy(max_retries=self.max_retries, base_delay=self.retry_base_delay,
                           max_total=self.max_retry_wait)
