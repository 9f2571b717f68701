"""HTTP routes of a cluster host: host-to-host exec (as PlaceOS core serves it) and the view.

`POST /api/core/v1/command/<module_id>/execute` takes the cluster secret as a bearer token (or an
Admin credential). The calling host already checked the client's clearance, so the command runs
with Admin clearance here. A host that does not hold the module's lease answers 421 and never
starts the module.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from protocol import ErrorCode
from runtime.auth import AuthError
from runtime.errors import ExecFailure
from runtime.modules import ModuleState
from runtime.security import Clearance

if TYPE_CHECKING:
    from runtime.cluster.node import ClusterNode
    from runtime.server import Runtime

COMMAND_ROUTE = "/api/core/v1/command/{module_id}/execute"
COMMAND_PREFIX = "/api/core/v1/command/"
CLUSTER_ROUTE = "/api/engine/v2/cluster"
#: Seconds between checks while an exec waits for its module to finish starting.
START_POLL = 0.02


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


class ClusterRoutes:
    """Handlers bound to one runtime (and its cluster node, when there is one)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(COMMAND_ROUTE, self.execute)
        app.router.add_get(CLUSTER_ROUTE, self.describe)

    async def _authorised(self, request: web.Request, node: ClusterNode) -> bool:
        if await node.peer(request) is not None:
            return True
        try:
            principal = self.runtime.auth.authenticate(request)
        except AuthError as exc:
            self.runtime.auth_failed(request, str(exc))  # counts towards the address's limit
            return False
        return principal.clearance >= Clearance.ADMIN

    async def execute(self, request: web.Request) -> web.Response:
        node = self.runtime.cluster
        if node is None:
            return _json({"error": "this host is not part of a cluster"}, 404)
        if not await self._authorised(request, node):
            return _json({"error": "cluster secret or admin credential required"}, 401)
        module_id = request.match_info["module_id"]
        host = self.runtime.host
        module = host.modules.get(module_id)
        if module is None:
            return _json({"error": f"module {module_id} not found", "error_code": 6}, 404)
        try:
            body = orjson.loads(await request.read())
            method = body["__exec__"]
            args = body.get(method, [])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _json({"error": 'body must be {"__exec__": fn, fn: args}', "error_code": 1}, 400)
        if not isinstance(method, str) or not isinstance(args, list | dict):
            return _json({"error": "bad function name or arguments", "error_code": 1}, 400)
        if not node.hosts(module_id):
            return _json({"error": f"module {module_id} is not hosted on {node.uri}"}, 421)
        async with asyncio.timeout(module.config.load_timeout):
            while module.state is ModuleState.STARTING:
                await asyncio.sleep(START_POLL)
        if not node.hosts(module_id):
            return _json({"error": f"module {module_id} is not hosted on {node.uri}"}, 421)
        try:
            outcome = host.start_module_exec(module, method, args, Clearance.ADMIN)
            result = outcome if isinstance(outcome, bytes) else await outcome
        except ExecFailure as failure:
            await node.store.barrier()
            if failure.error_code is ErrorCode.REQUEST_FAILED:
                error = {
                    "error": failure.message,
                    "backtrace": failure.backtrace,
                    "code": failure.http_code,
                }
                return _json(error, 203)
            error = {"error": failure.message, "error_code": int(failure.error_code)}
            return _json(error, failure.http_code if failure.http_code >= 400 else 500)
        await node.store.barrier()  # the caller may read what the command wrote at once
        return web.Response(
            body=result,
            content_type="application/json",
            headers={"Response-Code": "200"},
        )

    async def describe(self, request: web.Request) -> web.Response:
        """`GET /api/engine/v2/cluster` (admin only)."""
        from runtime.rest import PRINCIPAL_KEY

        if request[PRINCIPAL_KEY].clearance < Clearance.ADMIN:
            return _json({"error": "admin clearance required"}, 401)
        node = self.runtime.cluster
        if node is not None:
            return _json(await node.describe())
        url = self.runtime.url
        owners = {m: url for m in self.runtime.host.modules}
        nodes = [{"uri": url, "ready": True}]
        return _json({"node": url, "version": "", "nodes": nodes, "owners": owners})
