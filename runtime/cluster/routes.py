"""HTTP routes of a cluster host: host-to-host exec (as PlaceOS core serves it, and the exec
channel our hosts use among themselves) and the cluster view.

`POST /api/core/v1/command/<module_id>/execute` and the channel's upgrade
(`runtime.cluster.channel_server`) take the cluster secret as a bearer token (or an Admin
credential). Both run the command with `runtime.cluster.owner.begin_routed`: Admin clearance (the
calling host checked the client's), 421 / "not hosted here" from a host that does not hold the
module's lease, before anything starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from protocol import ErrorCode
from runtime.auth import AuthError
from runtime.cluster.channel import CHANNEL_PATH
from runtime.cluster.channel_server import ChannelServer
from runtime.cluster.owner import PEER_CREDENTIAL, NotHosted, run_routed
from runtime.errors import ExecFailure
from runtime.http_json import json_response as _json
from runtime.security import Clearance

if TYPE_CHECKING:
    from runtime.cluster.node import ClusterNode
    from runtime.server import Runtime

COMMAND_ROUTE = "/api/core/v1/command/{module_id}/execute"
COMMAND_PREFIX = "/api/core/v1/command/"
CLUSTER_ROUTE = "/api/engine/v2/cluster"


class ClusterRoutes:
    """Handlers bound to one runtime (and its cluster node, when there is one)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.channels = ChannelServer(runtime, self._authorised)

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(COMMAND_ROUTE, self.execute)
        app.router.add_get(CHANNEL_PATH, self.channels.handle)
        app.router.add_get(CLUSTER_ROUTE, self.describe)

    async def _caller(self, request: web.Request, node: ClusterNode) -> str | None:
        """The exec tracker's credential of a peer host or an Admin caller; None: refused."""
        if await node.peer(request) is not None:
            return PEER_CREDENTIAL
        try:
            principal = self.runtime.auth.authenticate(request)
        except AuthError as exc:
            self.runtime.auth_failed(request, str(exc))  # counts towards the address's limit
            return None
        return principal.credential if principal.clearance >= Clearance.ADMIN else None

    async def _authorised(self, request: web.Request) -> bool:
        node = self.runtime.cluster
        return node is not None and await self._caller(request, node) is not None

    async def execute(self, request: web.Request) -> web.Response:
        node = self.runtime.cluster
        if node is None:
            return _json({"error": "this host is not part of a cluster"}, 404)
        principal = await self._caller(request, node)
        if principal is None:
            return _json({"error": "cluster secret or admin credential required"}, 401)
        module_id = request.match_info["module_id"]
        if module_id not in self.runtime.host.modules:
            return _json({"error": f"module {module_id} not found", "error_code": 6}, 404)
        try:
            body = orjson.loads(await request.read())
            method = body["__exec__"]
            args = body.get(method, [])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _json({"error": 'body must be {"__exec__": fn, fn: args}', "error_code": 1}, 400)
        if not isinstance(method, str) or not isinstance(args, list | dict):
            return _json({"error": "bad function name or arguments", "error_code": 1}, 400)
        try:
            result = await run_routed(self.runtime, module_id, method, args, principal)
        except NotHosted as refused:
            return _json({"error": str(refused)}, 421)
        except ExecFailure as failure:
            if failure.error_code is ErrorCode.REQUEST_FAILED:
                error = {
                    "error": failure.message,
                    "backtrace": failure.backtrace,
                    "code": failure.http_code,
                }
                return _json(error, 203)
            error = {"error": failure.message, "error_code": int(failure.error_code)}
            return _json(error, failure.http_code if failure.http_code >= 400 else 500)
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
            view = await node.describe()
            view["exec_routes"] = {**node.client.describe(), "served": self.channels.describe()}
            return _json(view)
        url = self.runtime.url
        owners = {m: url for m in self.runtime.host.modules}
        nodes = [{"uri": url, "ready": True}]
        return _json({"node": url, "version": "", "nodes": nodes, "owners": owners})
