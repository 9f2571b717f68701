"""Graph request/response values and URL building.

URLs inside the client are *relative to the API version root* (``/users/x/calendar/...``), the
form JSON batching wants for its inner requests; the client prefixes
``{graph_base_url}/v1.0`` when it sends a request on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

__all__ = [
    "GraphRequest",
    "GraphResponse",
    "odata_quote",
    "odata_string",
    "path",
    "with_query",
]


@dataclass
class GraphRequest:
    """One Graph call: method, relative URL, optional JSON body and extra headers."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        """Whether sending this request twice is harmless."""
        return self.method.upper() in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")


@dataclass
class GraphResponse:
    """Graph's answer: status, lower-cased headers, parsed body (JSON, text or None).

    ``token`` is the access token the request was sent with (so a 401 can invalidate exactly
    that one); it is excluded from ``repr``.
    """

    status: int
    headers: Mapping[str, str]
    body: Any
    token: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def path(*segments: str) -> str:
    """``/seg1/seg2`` with each segment percent-encoded (``@`` kept readable)."""
    return "".join("/" + quote(str(segment), safe="@") for segment in segments)


def with_query(url: str, params: Mapping[str, Any] | None) -> str:
    """Append query parameters (``None`` values skipped) with RFC 3986 percent-encoding.

    ``$`` of OData system options stays literal, as Graph's documentation writes it.
    """
    if not params:
        return url
    parts = [
        f"{quote(str(key), safe='$')}={quote(str(value), safe='')}"
        for key, value in params.items()
        if value is not None
    ]
    if not parts:
        return url
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(parts)


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled, wrapped in quotes (``O'Neil`` ->
    ``'O''Neil'``)."""
    return "'" + odata_quote(value) + "'"


def odata_quote(value: str) -> str:
    """Escape a value for use inside an OData single-quoted string (``'`` -> ``''``)."""
    return value.replace("'", "''")
