"""Turns request outcomes into the driver's ``connected`` state.

Connected means: a token was obtained and the API answered a call made with it. It goes false
when LINE WORKS cannot be reached, when the credentials are refused, or after
``server_error_threshold`` server errors (5xx) in a row.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ConnectionHealth"]

#: Consecutive 5xx answers after which LINE WORKS is taken to be down.
SERVER_ERROR_THRESHOLD = 3


class ConnectionHealth:
    """Tracks reachability and credential validity; reports each change to ``on_change``."""

    def __init__(self, on_change: Callable[[bool, str], None], *,
                 server_error_threshold: int = SERVER_ERROR_THRESHOLD) -> None:
        self._on_change = on_change
        self._threshold = server_error_threshold
        self._server_errors = 0
        self.connected: bool | None = None
        self.reason = ""

    def succeeded(self) -> None:
        """The API answered a request made with an accepted token."""
        self._server_errors = 0
        self._set(True, "LINE WORKS answered")

    def server_error(self, status: int) -> None:
        """The API answered with a 5xx status."""
        self._server_errors += 1
        if self._server_errors >= self._threshold:
            self._set(False, f"{self._server_errors} server errors in a row (last HTTP {status})")

    def unreachable(self, reason: str) -> None:
        """LINE WORKS (the API or the token endpoint) could not be reached."""
        self._set(False, reason)

    def auth_failed(self, reason: str) -> None:
        """The token endpoint refused the credentials, or the API refused a fresh token."""
        self._set(False, reason)

    def _set(self, connected: bool, reason: str) -> None:
        self.reason = reason
        if connected is not self.connected:
            self.connected = connected
            self._on_change(connected, reason)
