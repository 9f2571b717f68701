"""The runtime: modules + status + the aiohttp application serving WebSocket and REST."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from protocol import MAX_FRAME_BYTES
from runtime.auth import Authenticator, AuthError, Principal
from runtime.config import RuntimeConfig
from runtime.interface import RUNTIME_VERSION
from runtime.logs import DebugTap, debug_tap, get_logger
from runtime.modules import ModuleHost
from runtime.openapi import OPENAPI_PATH, add_openapi_route
from runtime.rest import PRINCIPAL_KEY, RestRoutes
from runtime.session import Session
from runtime.status import StatusStore

CONTROL_PATH = "/api/engine/v2/systems/control"
#: Routes under /api/ that need no credential.
PUBLIC_PATHS = frozenset({"/auth/authority", OPENAPI_PATH})
#: Frames above this size close the connection (1009); up to MAX_FRAME_BYTES get an error reply.
HARD_FRAME_LIMIT = 4 * MAX_FRAME_BYTES
#: Seconds between the unsolicited text `pong` PlaceOS sends every connection.
PONG_INTERVAL = 80.0

log = get_logger(component="server")


class Runtime:
    """Hosts the configured modules and serves the control protocol on one port."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        admin_keys: list[str] | None = None,
        config_path: Path | None = None,
        tap: DebugTap = debug_tap,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.tap = tap
        self.store = StatusStore()
        self.host = ModuleHost(self.store)
        self.auth = Authenticator(config.auth, admin_keys)
        self.sessions: set[Session] = set()
        self.host.lookup_listeners.append(self._rebind_sessions)
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._pong_task: asyncio.Task[None] | None = None
        self.url = ""

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth_middleware])
        app.router.add_get("/auth/authority", self.authority)
        app.router.add_get(CONTROL_PATH, self.control)
        RestRoutes(self).add_to(app)
        add_openapi_route(app)
        return app

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Listen first, then start every module; returns the base URL.

        The socket is bound before any module starts, so a port in use fails at once with the
        OSError and nothing started (no `on_load` ran, no vendor was contacted).
        """
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        bind_host = host or self.config.server.host
        site = web.TCPSite(
            self._runner, bind_host, self.config.server.port if port is None else port
        )
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        bound_port = self._runner.addresses[0][1]
        shown_host = f"[{bind_host}]" if ":" in bind_host else bind_host
        self.url = f"http://{shown_host}:{bound_port}"
        await self.host.apply(self.config)
        self._pong_task = asyncio.get_running_loop().create_task(self._pong_loop())
        return self.url

    async def stop(self) -> None:
        """Close every connection and stop every module."""
        if self._pong_task is not None:
            self._pong_task.cancel()
        for session in list(self.sessions):
            session.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await session.ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
        await self.host.stop_all()

    async def _pong_loop(self) -> None:
        while True:
            await asyncio.sleep(PONG_INTERVAL)
            for session in list(self.sessions):
                session.send(b"pong")

    def _rebind_sessions(self) -> None:
        for session in list(self.sessions):
            session.rebind_all()

    # -- HTTP --------------------------------------------------------------------------------

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
            return await handler(request)
        try:
            request[PRINCIPAL_KEY] = self.auth.authenticate(request)
        except AuthError as exc:
            return web.Response(
                body=orjson.dumps({"error": str(exc)}),
                status=401,
                content_type="application/json",
            )
        return await handler(request)

    async def authority(self, request: web.Request) -> web.Response:
        """What `@placeos/ts-client` loads first; version 3.x selects the v2 routes."""
        domain = request.host
        body = {
            "id": "authority-runtime",
            "name": domain,
            "description": "PlaceOS-compatible driver runtime",
            "domain": domain,
            "login_url": "/login?continue={{url}}",
            "logout_url": "/logout",
            "session": False,
            "production": False,
            "config": {},
            "version": "3." + RUNTIME_VERSION.split(".", 1)[1],
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def control(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket control endpoint."""
        principal: Principal = request[PRINCIPAL_KEY]
        ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_LIMIT, autoping=True, heartbeat=None)
        await ws.prepare(request)
        session = Session(ws, principal, self.host, self.tap, request.transport)
        self.sessions.add(session)
        writer = asyncio.get_running_loop().create_task(session.run_writer())
        log.info("connection opened", session=session.id, caller=principal.name)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    session.handle(message.data)
                elif message.type is WSMsgType.ERROR:
                    log.warning("connection error", session=session.id, error=str(ws.exception()))
        finally:
            session.close()
            self.sessions.discard(session)
            await writer
            log.info("connection closed", session=session.id, code=ws.close_code)
        return ws
