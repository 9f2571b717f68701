"""The origin rule for cookie credentials, and opt-in CORS for `server.cors_origins`.

A browser sends its cookies with any request a page makes, whatever site the page came from. So
a request authenticated by a cookie (`api-key` or `bearer_token`) is refused with 403 unless its
`Origin` is the server's own or one of `server.cors_origins`; this covers REST and the WebSocket
upgrade (cross-site WebSocket hijacking). Requests whose credential is in a header or the query
string are not affected: a foreign page cannot set those without the key.

CORS headers are added by aiohttp-cors for the configured origins only; preflights are answered
without a credential.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp_cors
from aiohttp import web

from runtime.abuse import Network, is_trusted

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
#: Route prefixes CORS applies to (the console and health probes are same-origin only).
CORS_PREFIXES = ("/api/", "/auth/authority")
#: Methods the API routes serve; a preflight may ask for any of them on any API path (GET and
#: POST routes of one path are separate resources to the router).
CORS_METHODS = ("GET", "POST")
#: Seconds a browser may cache a preflight's answer.
CORS_MAX_AGE = 600
#: `Sec-Fetch-Site` values that say the request came from a page of another origin.
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port; None if not an origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def own_origin(request: web.BaseRequest, trusted: list[Network]) -> str | None:
    """The origin the client reached this server at (as a trusted proxy reports it, if any)."""
    scheme, host = request.scheme, request.host
    if trusted and is_trusted(request.remote, trusted):
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    return normalize_origin(f"{scheme}://{host}")


class OriginPolicy:
    """Which origins may use cookie credentials: the server's own and `server.cors_origins`."""

    def __init__(self, cors_origins: Iterable[str], trusted: list[Network]) -> None:
        self.cors_origins = [o for o in (normalize_origin(x) for x in cors_origins) if o]
        self._allowed = frozenset(self.cors_origins)
        self._trusted = trusted

    def cookie_allowed(self, request: web.BaseRequest) -> bool:
        """Whether a cookie-authenticated `request` comes from an origin that may use it."""
        origin = request.headers.get("Origin")
        if origin is None:
            # Browsers send Origin with every cross-origin POST and WebSocket upgrade; a plain
            # navigation or sub-resource GET says where it came from in Sec-Fetch-Site.
            return request.headers.get("Sec-Fetch-Site") not in _FOREIGN_FETCH_SITES
        normalized = normalize_origin(origin)
        if normalized is None:  # "null" (sandboxed pages, file:) or garbage
            return False
        if normalized in self._allowed:
            return True
        ws_origin = own_origin(request, self._trusted)
        return normalized == ws_origin or _same_ws_origin(normalized, ws_origin)

    def install_cors(self, app: web.Application) -> None:
        """Answer CORS for the configured origins on the API routes (none configured: nothing).

        Routes are registered at start-up, so routes added after this call are covered too.
        """
        if not self.cors_origins:
            return
        options = aiohttp_cors.ResourceOptions(
            allow_credentials=True,
            expose_headers="*",
            allow_headers="*",
            allow_methods=list(CORS_METHODS),
            max_age=CORS_MAX_AGE,
        )
        cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(self.cors_origins, options))

        async def add_routes(_app: web.Application) -> None:
            for route in list(app.router.routes()):
                path = route.resource.canonical if route.resource is not None else ""
                if route.method != "OPTIONS" and path.startswith(CORS_PREFIXES):
                    cors.add(route)

        app.on_startup.append(add_routes)


def _same_ws_origin(origin: str, own: str | None) -> bool:
    """http(s) and ws(s) name the same origin for a WebSocket page."""
    if own is None:
        return False
    swap = {"ws://": "http://", "wss://": "https://"}
    for ws, http in swap.items():
        if origin.startswith(ws):
            return http + origin[len(ws) :] == own
    return False
