"""Exceptions raised by the Microsoft Graph client.

Their messages are what a PlaceOS caller sees (``module raised: <message> (<ClassName>)``), so
they carry Graph's HTTP status, error code and message, and never a token or client secret.
"""

from __future__ import annotations

from typing import Any

from drivers.vendor_client import RateLimitExceeded, VendorUnreachable

__all__ = [
    "GraphAuthError",
    "GraphConfigError",
    "GraphConnectionError",
    "GraphError",
    "RateLimitExceeded",
    "graph_error_from_response",
]


class GraphError(Exception):
    """Graph answered with an error status: ``<status> <code>: <message>``."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        self.status = status
        self.code = code
        self.graph_message = message
        self.body = body
        super().__init__(f"{status} {code}: {message}" if message else f"{status} {code}")


class GraphAuthError(Exception):
    """The token endpoint refused the client credentials or could not be used."""


class GraphConnectionError(VendorUnreachable):
    """Graph (or its token endpoint) could not be reached (``sent``: see ``VendorUnreachable``)."""


class GraphConfigError(ValueError):
    """A ``calendar_config`` setting holds an unusable value (e.g. a ``ca_file`` that cannot
    be loaded)."""


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def graph_error_from_response(status: int, body: Any) -> GraphError:
    """Build a ``GraphError`` from a Graph error response body.

    Graph error bodies look like ``{"error": {"code": "...", "message": "..."}}``; anything else
    (plain text, empty) falls back to the HTTP reason.
    """
    code = _REASONS.get(status, "HttpError")
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or code)
            message = str(error.get("message") or "")
        elif isinstance(error, str):
            code = error
            message = str(body.get("error_description") or "")
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    return GraphError(status, code, message, body)
