"""REST routes: exec, status, functions listing, systems.

Each handler declares its `Operation`; the gate (`runtime.gate`) applies the access check before
it runs, with the module its slug addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from protocol import ErrorCode, failure_envelope, parse_module_slug
from runtime.access import Operation, requires
from runtime.auth import PRINCIPAL_KEY, Principal
from runtime.errors import ExecFailure
from runtime.http_json import json_response as _json
from runtime.security import Clearance

if TYPE_CHECKING:
    from runtime.server import Runtime

API = "/api/engine/v2/systems"
__all__ = ["API", "PRINCIPAL_KEY", "RestRoutes"]


def _raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _principal(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL_KEY]
    return principal


class RestRoutes:
    """Handlers bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(API, self.list_systems)
        app.router.add_get(API + "/{sys}/functions/{slug}", self.functions)
        app.router.add_get(API + "/{sys}/types", self.types)
        app.router.add_get(API + "/{sys}", self.get_system)
        app.router.add_get(API + "/{sys}/{slug}", self.module_state)
        app.router.add_get(API + "/{sys}/{slug}/{key}", self.state_lookup)
        app.router.add_post(API + "/{sys}/{slug}/{method}", self.execute)

    @requires(Operation.EXEC)
    async def execute(self, request: web.Request) -> web.Response:
        sys_id, slug, method = (request.match_info[k] for k in ("sys", "slug", "method"))
        name, index = parse_module_slug(slug)
        raw = await request.read()
        try:
            args = orjson.loads(raw) if raw.strip() else []
        except orjson.JSONDecodeError as exc:
            status, body = failure_envelope(
                ErrorCode.PARSE_ERROR, f"body is not valid JSON: {exc}", sys_id, name, index
            )
            return _raw_json(body, status)
        if not isinstance(args, list | dict):
            message = "body must be a JSON array of arguments or an object of named arguments"
            status, body = failure_envelope(ErrorCode.BAD_REQUEST, message, sys_id, name, index)
            return _raw_json(body, status)
        clearance = _principal(request).clearance
        try:
            result = await self.runtime.run_exec(
                _principal(request), sys_id, name, index, method, args
            )
        except ExecFailure as failure:
            status, body = failure_envelope(
                failure.error_code,
                failure.message,
                sys_id,
                name,
                index,
                failure.backtrace if clearance >= Clearance.SUPPORT else None,
                failure.http_code,
            )
            return _raw_json(body, status)
        return _raw_json(result.value, result.code)

    @requires(Operation.STATE)
    async def module_state(self, request: web.Request) -> web.Response:
        module_id = self._module_id(request)
        if module_id is None:
            return _json({})
        snapshot = await self.runtime.store.fetch_snapshot(module_id)
        return _json({key: value.decode() for key, value in snapshot.items()})

    @requires(Operation.STATE)
    async def state_lookup(self, request: web.Request) -> web.Response:
        module_id = self._module_id(request)
        value = None
        if module_id is not None:
            value = await self.runtime.store.fetch(module_id, request.match_info["key"])
        return _raw_json(value if value is not None else b"null")

    @requires(Operation.FUNCTIONS)
    async def functions(self, request: web.Request) -> web.Response:
        module_id = self._module_id(request)
        module = self.runtime.host.modules.get(module_id) if module_id else None
        if module is None:
            sys_id, slug = request.match_info["sys"], request.match_info["slug"]
            return _json({"error": f"metadata not found for {slug} on {sys_id}"}, 404)
        return _json(module.interface.functions(_principal(request).clearance))

    @requires(Operation.LIST)
    async def types(self, request: web.Request) -> web.Response:
        system = self.runtime.host.systems.get(request.match_info["sys"])
        if system is None:
            return _json({"error": f"system {request.match_info['sys']} not found"}, 404)
        counts: dict[str, int] = {}
        for name, _index in system.lookup:
            counts[name] = counts.get(name, 0) + 1
        return _json(counts)

    @requires(Operation.LIST)
    async def list_systems(self, _request: web.Request) -> web.Response:
        return _json([self._system_summary(sys_id) for sys_id in self.runtime.host.systems])

    @requires(Operation.LIST)
    async def get_system(self, request: web.Request) -> web.Response:
        sys_id = request.match_info["sys"]
        system = self.runtime.host.systems.get(sys_id)
        if system is None:
            return _json({"error": f"system {sys_id} not found"}, 404)
        body = self._system_summary(sys_id)
        index_of = {module_id: key[1] for key, module_id in system.lookup.items()}
        body["module_data"] = [
            {**self.runtime.host.modules[m].describe(), "index": index_of.get(m)}
            for m in system.config.modules
            if m in self.runtime.host.modules
        ]
        return _json(body)

    def _system_summary(self, sys_id: str) -> dict[str, Any]:
        system = self.runtime.host.systems[sys_id]
        summary: dict[str, Any] = {"id": sys_id, "name": system.config.name}
        if system.config.description:
            summary["description"] = system.config.description
        summary["modules"] = list(system.config.modules)
        return summary

    def _module_id(self, request: web.Request) -> str | None:
        name, index = parse_module_slug(request.match_info["slug"])
        return self.runtime.host.resolve_id(request.match_info["sys"], name, index)
