"""The OpenAPI 3.1 description of the HTTP routes, written from the application's router.

Paths, methods and path parameters are read from the routes the application serves; each
operation's responses come from `openapi_schemas.OPERATIONS`. A served route without a
description still appears, with its handler's docstring and an undocumented `default` response,
so the document never omits a route (the tests require every `/api` route to be described).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
from aiohttp import web

from runtime.interface import RUNTIME_VERSION
from runtime.openapi_schemas import (
    JSON,
    OPERATIONS,
    PARAMETERS,
    SCHEMAS,
    TOO_MANY,
    UNAUTHORIZED,
    WEBSOCKET_ROUTES,
    ref,
)

OPENAPI_PATH = "/api/engine/v2/openapi.json"
OPENAPI_VERSION = "3.1.0"
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS", "*"})

SECURITY_SCHEMES: dict[str, Any] = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api-key"},
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a JWT (when auth.jwt is configured) or an API key",
    },
}


def _summary(handler: Any) -> str:
    doc = (getattr(handler, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].rstrip(".")
    return getattr(handler, "__name__", "route").replace("_", " ")


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _parameters(path: str, own_names: list[str]) -> list[dict[str, Any]]:
    parameters = []
    positions = [i for i, seg in enumerate(_segments(path)) if _is_parameter(seg)]
    for position, own_name in zip(positions, own_names, strict=True):
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        parameters.append(
            {
                "name": _segments(path)[position][1:-1],
                "in": "path",
                "required": True,
                "description": PARAMETERS.get(own_name, own_name),
                "schema": schema,
            }
        )
    return parameters


def _operation(method: str, path: str, own_path: str, handler: Any) -> dict[str, Any]:
    described = copy.deepcopy(OPERATIONS.get((method, own_path)))
    public = own_path == "/auth/authority" or not own_path.startswith("/api/")
    if described is None:
        operation: dict[str, Any] = {
            "summary": _summary(handler),
            "responses": {"default": {"description": "not described"}},
        }
    else:
        public = described.pop("public", public)
        operation = {"summary": described.pop("summary", _summary(handler)), **described}
    operation["operationId"] = f"{method.lower()}_{getattr(handler, '__name__', 'route')}"
    own_names = _PATH_PARAMETER.findall(own_path)
    if own_names:
        operation["parameters"] = _parameters(path, own_names)
    if public:
        operation["security"] = []
    else:
        responses = operation["responses"]
        responses.setdefault("401", UNAUTHORIZED)
        responses.setdefault("429", TOO_MANY)
    return operation


def build_openapi(app: web.Application, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route `app` serves.

    Templates that differ only in their parameters' names (`/{slug}/{key}` for GET and
    `/{slug}/{method}` for POST) are one path in OpenAPI: they share the first one's names.
    WebSocket endpoints are listed under `x-websockets`, since OpenAPI cannot describe them.
    """
    routes: list[tuple[str, str, Any]] = []
    for route in app.router.routes():
        method = route.method.upper()
        if method in _SKIPPED_METHODS or route.resource is None:
            continue
        routes.append((method, _PATH_PARAMETER.sub(r"{\1}", route.resource.canonical), route))
    shapes: dict[str, str] = {}
    for _, own_path, _ in routes:
        shapes.setdefault(_PATH_PARAMETER.sub("{}", own_path), own_path)
    paths: dict[str, dict[str, Any]] = {}
    for method, own_path, route in routes:
        path = shapes[_PATH_PARAMETER.sub("{}", own_path)]
        if (method, own_path) in WEBSOCKET_ROUTES:
            continue
        operation = _operation(method, path, own_path, route.handler)
        paths.setdefault(path, {})[method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "PlaceOS driver runtime",
            "version": RUNTIME_VERSION,
            "description": "HTTP routes of the runtime. The WebSocket control protocol "
            "(x-websockets) is described in the README.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"apiKey": []}, {"apiKeyQuery": []}, {"bearer": []}],
        "x-websockets": {path: summary for (_, path), summary in WEBSOCKET_ROUTES.items()},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def add_openapi_route(app: web.Application) -> None:
    """Serve the document at OPENAPI_PATH (built once, on the first request)."""
    cached: list[bytes] = []

    async def openapi(request: web.Request) -> web.Response:
        """The OpenAPI 3.1 description of these routes."""
        if not cached:
            cached.append(orjson.dumps(build_openapi(request.app)))
        return web.Response(body=cached[0], content_type=JSON)

    app.router.add_get(OPENAPI_PATH, openapi)


__all__ = ["OPENAPI_PATH", "add_openapi_route", "build_openapi", "ref"]
