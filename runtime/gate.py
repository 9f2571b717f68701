"""The HTTP gate every request passes: abuse limits, authentication, origins, access, and the
per-key connection cap of the WebSocket endpoint.

In order: an address with too many recent failed authentications gets 429 (`Retry-After`), valid
credentials included; CORS preflights pass without a credential; API routes need a credential
(401, counted as a failure of the client address); a cookie credential from a foreign origin
gets 403; the route's operation goes through `check_access` (401); the WebSocket upgrade of a key
already holding `auth.max_connections_per_key` connections gets 429.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import hdrs, web

from protocol import ErrorCode, failure_envelope, parse_module_slug
from protocol.requests import INT32_MAX
from runtime.abuse import (
    Clock,
    ConnectionLimiter,
    FailureLimiter,
    client_address,
    limit_key,
    parse_networks,
    retry_after,
)
from runtime.access import Operation, check_access, operation_of
from runtime.auth import PRINCIPAL_KEY, AuthError, Principal, Source
from runtime.http_json import json_response as _json
from runtime.openapi import OPENAPI_PATH
from runtime.origins import OriginPolicy

if TYPE_CHECKING:
    from runtime.server import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Another way to know a caller (e.g. a cluster peer's shared secret); None: not this way.
ExtraAuthenticator = Callable[[web.Request], Awaitable[Principal | None]]
#: Probes an orchestrator sends; never refused for what other clients at that address did.
UNGATED_PATHS = frozenset({"/healthz", "/readyz"})
#: API paths served without a credential.
PUBLIC_API_PATHS = frozenset({"/auth/authority", OPENAPI_PATH})


def needs_credential(path: str) -> bool:
    """Whether the gate authenticates requests for `path` (everything under /api/)."""
    return path.startswith("/api/") and path not in PUBLIC_API_PATHS


def _is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


class Gate:
    """The middleware and the counters behind it, for one runtime."""

    def __init__(self, runtime: Runtime, clock: Clock = time.monotonic) -> None:
        server, auth = runtime.config.server, runtime.config.auth
        self.runtime = runtime
        self.trusted = parse_networks(server.trusted_proxies)
        self.failures = FailureLimiter(auth.max_failures, auth.failure_window, clock)
        self.connections = ConnectionLimiter(auth.max_connections_per_key)
        self.origins = OriginPolicy(server.cors_origins, self.trusted)
        #: Tried before the API keys and JWTs.
        self.extra_authenticators: list[ExtraAuthenticator] = []
        #: Path prefixes whose handlers check the credential themselves (abuse limits still
        #: apply; they report failures with `Runtime.auth_failed`).
        self.self_authenticating: list[str] = []

    def install(self, app: web.Application) -> None:
        """Add the middleware and CORS to `app`."""
        app.middlewares.append(self.middleware)
        self.origins.install_cors(app)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNGATED_PATHS:
            return await handler(request)
        address = client_address(request, self.trusted)
        blocked = self.failures.blocked_for(limit_key(address))
        if blocked is not None:
            return _json(
                {"error": "too many failed authentications from this address"},
                429,
                {hdrs.RETRY_AFTER: retry_after(blocked)},
            )
        path = request.path
        if (
            _is_preflight(request)
            or not needs_credential(path)
            or any(path.startswith(prefix) for prefix in self.self_authenticating)
        ):
            return await handler(request)
        principal, source = None, Source.HEADER
        for authenticate in self.extra_authenticators:
            principal = await authenticate(request)
            if principal is not None:
                break
        if principal is None:
            try:
                principal, source = self.runtime.auth.identify(request)
            except AuthError as exc:
                self.runtime.auth_failed(request, str(exc))
                return _json({"error": str(exc)}, 401)
        if source is Source.COOKIE and not self.origins.cookie_allowed(request):
            return _json({"error": "cookie credentials are not accepted from this origin"}, 403)
        request[PRINCIPAL_KEY] = principal
        refused = self._check_route(request, principal)
        if refused is not None:
            return refused
        if request.method == hdrs.METH_GET and request.headers.get(hdrs.UPGRADE, "").lower() == (
            "websocket"
        ):
            return await self._upgrade(request, handler, principal)
        return await handler(request)

    def record_failure(self, request: web.BaseRequest) -> None:
        """Count one failed authentication against the client's address (see `Runtime.auth_failed`,
        which also counts the metric and logs it)."""
        self.failures.record(limit_key(client_address(request, self.trusted)))

    async def _upgrade(
        self, request: web.Request, handler: Handler, principal: Principal
    ) -> web.StreamResponse:
        key_id = principal.credential
        if not self.connections.acquire(key_id):
            limit = self.connections.limit
            return _json({"error": f"too many connections for this key (limit {limit})"}, 429)
        try:
            return await handler(request)
        finally:
            self.connections.release(key_id)

    def _check_route(self, request: web.Request, principal: Principal) -> web.Response | None:
        """Apply `check_access` to the matched route, with the module it addresses."""
        match = request.match_info
        route = match.route
        if route is None or match.http_exception is not None:
            return None  # 404 / 405 follow from the router
        operation = operation_of(route.handler, request.method)
        module_name: str | None = None
        index = 1
        slug = match.get("slug")
        sys_id = match.get("sys", "")
        if slug is not None:
            module_name, index = parse_module_slug(slug)
            if not 1 <= index <= INT32_MAX:
                message = f"could not find module {slug} in {sys_id}"
                status, body = failure_envelope(
                    ErrorCode.MODULE_NOT_FOUND, message, sys_id, module_name, 0
                )
                return web.Response(body=body, status=status, content_type="application/json")
        elif "module_id" in match:
            module = self.runtime.host.modules.get(match["module_id"])
            module_name = module.name if module is not None else None
        denied = check_access(principal.clearance, operation, module_name)
        if denied is None:
            return None
        if operation is Operation.EXEC:
            self.runtime.metrics.execs.failed(ErrorCode.ACCESS_DENIED, 0.0)
        status, body = failure_envelope(
            ErrorCode.ACCESS_DENIED, denied.message, sys_id, module_name or "", index
        )
        return web.Response(body=body, status=status, content_type="application/json")


__all__ = ["PRINCIPAL_KEY", "Gate", "Operation", "needs_credential"]
