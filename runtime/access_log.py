"""Operational log lines: one per HTTP request, and failed authentications, rate-limited.

A line names the method, the path (credential query parameters removed), the status, the
duration and the principal's name; never a key or token. WebSocket connections get their own
open/close lines from the control endpoint instead of a request line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from runtime.logs import get_logger

if TYPE_CHECKING:
    from runtime.auth import Principal

#: Query parameters that carry credentials; they are never logged.
CREDENTIAL_PARAMS = ("api-key", "bearer_token")
#: Failed-authentication lines logged per window; the rest are counted and summarised.
AUTH_FAILURE_LINES = 20
#: Seconds of one failed-authentication log window.
AUTH_FAILURE_WINDOW = 60.0

log = get_logger(component="access")


def safe_path(request: web.BaseRequest) -> str:
    """The request's path and query without credential parameters."""
    return str(request.rel_url.without_query_params(*CREDENTIAL_PARAMS))


def principal_name(principal: Principal | None) -> str | None:
    return principal.name if principal is not None else None


class AuthFailureLog:
    """Logs failed authentications, at most `AUTH_FAILURE_LINES` per window."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._window_start = -AUTH_FAILURE_WINDOW
        self._logged = 0
        self._suppressed = 0

    def record(self, request: web.BaseRequest, reason: str) -> None:
        """Log one failed authentication (or count it when the window's lines are used up)."""
        now = self._clock()
        if now - self._window_start >= AUTH_FAILURE_WINDOW:
            if self._suppressed:
                log.warning(
                    "authentication failures not logged",
                    count=self._suppressed,
                    window_s=AUTH_FAILURE_WINDOW,
                )
            self._window_start, self._logged, self._suppressed = now, 0, 0
        if self._logged >= AUTH_FAILURE_LINES:
            self._suppressed += 1
            return
        self._logged += 1
        log.warning(
            "authentication failed",
            method=request.method,
            path=safe_path(request),
            peer=request.remote,
            reason=reason,
        )


def request_line(
    request: web.BaseRequest,
    status: int,
    started: float,
    principal: Principal | None,
) -> None:
    """The access line of one HTTP request."""
    log.info(
        "http request",
        method=request.method,
        path=safe_path(request),
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        principal=principal_name(principal),
    )
