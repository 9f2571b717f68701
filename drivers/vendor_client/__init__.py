"""What every vendor HTTP client needs: a rate limiter, retries and the health monitor.

``SlidingWindowLimiter`` paces requests (at most ``rate`` starts in any 1 s window),
``send_with_retries`` repeats refused or failed requests honouring the vendor's wait hints, and
``HealthMonitor`` turns answers and cheap probes into a driver's ``connected`` status,
``HealthLifecycle`` runs one monitor at a time over the module's life, and
``send_renewing_token`` sends a request once more with a new token after a 401. Everything that
waits does so on a ``Clock``; tests pass a ``ManualClock`` and need no sleeps.
"""

from .clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from .errors import RateLimitExceeded, VendorUnreachable
from .health import Health, HealthMonitor, HealthTimings, describe_failure
from .lifecycle import HealthLifecycle
from .limiter import SlidingWindowLimiter
from .renewal import SentWithToken, send_renewing_token
from .retry import Answer, RetryNote, RetryPolicy, send_with_retries, wait_hint
from .settings import ClientSettings

__all__ = [
    "SYSTEM_CLOCK",
    "Answer",
    "ClientSettings",
    "Clock",
    "Health",
    "HealthLifecycle",
    "HealthMonitor",
    "HealthTimings",
    "ManualClock",
    "RateLimitExceeded",
    "RetryNote",
    "RetryPolicy",
    "SentWithToken",
    "SlidingWindowLimiter",
    "SystemClock",
    "VendorUnreachable",
    "describe_failure",
    "send_renewing_token",
    "send_with_retries",
    "wait_hint",
]
