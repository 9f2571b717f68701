"""Exceptions of the LINE WORKS client; their messages are what a command's error reply shows.

No message ever contains a credential: the private key, client secret, JWT assertion and access
tokens stay out of every exception built here.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from drivers.vendor_client import VendorUnreachable

__all__ = [
    "LineWorksAuthError",
    "LineWorksConfigError",
    "LineWorksConnectionError",
    "LineWorksError",
    "LineWorksValidationError",
]


class LineWorksError(Exception):
    """An error answer from the LINE WORKS API, carrying its ``{code, description}`` body."""

    def __init__(self, status: int, code: str, description: str, *,
                 context: str = "request") -> None:
        self.status = status
        self.code = code
        self.description = description
        self.context = context
        super().__init__(f"LINE WORKS {context} failed: HTTP {status} {code}: {description}")

    @classmethod
    def from_body(cls, status: int, body: Any, *, context: str = "request",
                  reason: str = "") -> LineWorksError:
        """Build from a response body: ``{code, description}``, or OAuth ``{error, ...}``."""
        code, description = error_fields(body, status, reason)
        return cls(status, code, description, context=context)


class LineWorksAuthError(LineWorksError):
    """The token endpoint refused the credentials, or the API refused a freshly issued token."""


class LineWorksConnectionError(VendorUnreachable):
    """LINE WORKS could not be reached (connection refused or dropped, TLS failure, timeout)."""


class LineWorksValidationError(ValueError):
    """A request body breaks a documented LINE WORKS rule; raised before anything is sent."""


class LineWorksConfigError(ValueError):
    """The ``lineworks`` settings are missing something or hold an unusable value."""


def error_fields(body: Any, status: int, reason: str = "") -> tuple[str, str]:
    """``(code, description)`` of an error body in either documented shape."""
    if isinstance(body, dict):
        code = body.get("code") or body.get("error")
        description = body.get("description") or body.get("error_description")
        if code or description:
            return str(code or f"HTTP_{status}"), str(description or "")
    text = body.strip() if isinstance(body, str) else ""
    return f"HTTP_{status}", (text[:200] or reason or "no error body")


async def read_body(response: aiohttp.ClientResponse) -> Any:
    """A response body as JSON when it parses, else its text; None when empty."""
    text = await response.text()
    if not text:
        return None
    try:
        return await response.json(content_type=None)
    except ValueError:
        return text
