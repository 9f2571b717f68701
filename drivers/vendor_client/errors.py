"""Exceptions shared by every vendor client built on this toolkit."""

from __future__ import annotations

__all__ = ["RateLimitExceeded", "VendorUnreachable"]


class RateLimitExceeded(Exception):
    """A request would wait longer for a rate-limit permit than the limiter allows."""


class VendorUnreachable(Exception):
    """The vendor could not be reached (refused, reset, TLS failure, timeout).

    ``sent`` is False when the connection failed before the request left, so even a
    non-idempotent request may safely be sent again.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
