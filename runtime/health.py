"""`GET /healthz`, `GET /readyz` and `GET /metrics`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.auth import PRINCIPAL_KEY, AuthError
from runtime.http_json import json_response as _json

if TYPE_CHECKING:
    from runtime.server import Runtime

#: Module states `/readyz` reports, each with its count.
READY_STATES = ("running", "failed", "starting")


class HealthRoutes:
    """Liveness, readiness and metrics of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)

    async def healthz(self, _request: web.Request) -> web.Response:
        """200 while the process serves."""
        return _json({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        """200 once start-up is over (and until shutdown begins), else 503; counts, no names."""
        counts = self.runtime.module_counts()
        ready = self.runtime.ready
        body = {"ready": ready, "modules": {state: counts.get(state, 0) for state in READY_STATES}}
        return _json(body, 200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text; needs a credential unless `server.public_metrics` is on."""
        runtime = self.runtime
        if not runtime.config.server.public_metrics:
            try:
                request[PRINCIPAL_KEY] = runtime.auth.authenticate(request)
            except AuthError as exc:
                runtime.auth_failed(request, str(exc))
                return _json({"error": str(exc)}, 401)
        return web.Response(
            body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
