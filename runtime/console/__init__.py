"""The web console: static assets served at `/` and under `/console/`.

The page is plain ES modules (no build step) that speak only the public WebSocket and REST API,
so it needs no credential to be fetched; it asks for one when it starts.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent
#: URL prefix of the console's assets.
ASSET_PREFIX = "/console/"
#: The files the console serves, by suffix, with their content type.
ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: The page loads nothing but its own files and talks only to its own origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file_response(path: Path) -> web.StreamResponse:
    headers = {**SECURITY_HEADERS, "Content-Type": ASSET_TYPES[path.suffix]}
    return web.FileResponse(path, headers=headers)


async def index(_request: web.Request) -> web.StreamResponse:
    """The console page."""
    return _file_response(STATIC_DIR / "index.html")


async def asset(request: web.Request) -> web.StreamResponse:
    """One of the console's own files; anything else is 404."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if "/" in name or path.suffix not in ASSET_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return _file_response(path)


async def to_index(_request: web.Request) -> web.StreamResponse:
    """`/console/` is the page at `/` (relative, so a proxy's path prefix is kept)."""
    raise web.HTTPFound("../")


def add_console_routes(app: web.Application) -> None:
    """Serve the console at `/` (`/console/` leads there), its assets at `/console/<file>`.

    The page refers to its assets and the API by relative URLs, so it also works when a proxy
    serves the runtime under a path prefix.
    """
    app.router.add_get("/", index)
    app.router.add_get(ASSET_PREFIX, to_index)
    app.router.add_get(ASSET_PREFIX + "{name}", asset)
