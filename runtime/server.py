"""The runtime: modules + status + the aiohttp application serving WebSocket and REST.

Shutdown (`stop`) follows the protocol's rules: stop accepting, let running execs finish for
`server.shutdown_grace` seconds, answer the rest with `error_code` 7 "server shutting down",
close every connection with 1001, then run every module's `on_unload`.
"""

from __future__ import annotations

import asyncio
import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from protocol import MAX_FRAME_BYTES, ErrorCode
from runtime import access_log
from runtime.access import Operation, requires
from runtime.auth import Authenticator, Principal
from runtime.cluster.channel import CHANNEL_PATH
from runtime.cluster.routes import COMMAND_PREFIX, ClusterRoutes
from runtime.config import RuntimeConfig
from runtime.console import add_console_routes
from runtime.errors import ExecFailure
from runtime.gate import Gate
from runtime.health import HealthRoutes
from runtime.interface import RUNTIME_VERSION
from runtime.limits import SHUTTING_DOWN, ExecTracker, OutputBudget
from runtime.logs import DebugTap, get_logger
from runtime.metrics import RuntimeMetrics
from runtime.modules import ExecResult, ModuleHost
from runtime.openapi import add_openapi_route
from runtime.rest import PRINCIPAL_KEY, RestRoutes
from runtime.session import Hub, Session
from runtime.status import StatusStore
from runtime.watchdog import LoopWatchdog
from runtime.wsinbound import DirectWebSocketResponse
from runtime.wsmask import MaskedOnlyWebSocketResponse

if TYPE_CHECKING:
    from runtime.cluster.node import ClusterNode

CONTROL_PATH = "/api/engine/v2/systems/control"
#: Routes under /api/ that need no credential.
#: Frames above this size close the connection (1009); up to MAX_FRAME_BYTES get an error reply.
HARD_FRAME_LIMIT = 4 * MAX_FRAME_BYTES
#: Seconds between the unsolicited text `pong` PlaceOS sends every connection.
PONG_INTERVAL = 80.0

#: Seconds aiohttp may take to finish HTTP requests still open once the sockets are closed.
HTTP_SHUTDOWN_TIMEOUT = 1.0
#: Seconds, once the shutdown grace is over, that cancelled execs get to reply, and then that
#: connections get to take their last frames and the close frame (a client that does not read
#: loses its socket): together they keep the exit within a second of the grace.
SHUTDOWN_STEP_TIMEOUT = 0.4

log = get_logger(component="server")


#: Messages after which a WebSocket has nothing more to read.
_ENDED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


class ControlSocket(MaskedOnlyWebSocketResponse, DirectWebSocketResponse):
    """The control endpoint's WebSocket: unmasked client frames refused, data messages handed
    to the session as they are read."""


class RuntimeState(enum.Enum):
    """Where a runtime is in its life."""

    CREATED = "created"
    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Runtime:
    """Hosts the configured modules and serves the control protocol on one port."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        admin_keys: list[str] | None = None,
        config_path: Path | None = None,
        tap: DebugTap | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.tap = tap if tap is not None else DebugTap()
        self.cluster: ClusterNode | None = None
        if config.cluster is not None:
            from runtime.cluster.node import ClusterNode

            self.cluster = ClusterNode(config.cluster)
        self.store: StatusStore = self.cluster.store if self.cluster else StatusStore()
        self.host = ModuleHost(self.store, self.tap)
        if self.cluster is not None:
            self.cluster.attach(self.host)
            self.tap = self.cluster.relay_tap(self.tap)  # sessions see remote modules' lines
        self.auth = Authenticator(config.auth, admin_keys)
        self.gate = Gate(self)
        self.gate.self_authenticating.append(COMMAND_PREFIX)  # takes the cluster secret itself
        self.gate.self_authenticating.append(CHANNEL_PATH)  # so does the exec channel
        if self.cluster is not None:
            self.gate.extra_authenticators.append(self.cluster.peer)
        self.sessions: set[Session] = set()
        self.state = RuntimeState.CREATED
        self.execs = ExecTracker()
        self.output = OutputBudget(lambda: self.sessions)
        self.metrics = RuntimeMetrics(
            connections=lambda: len(self.sessions),
            bindings=lambda: sum(len(s.bindings) for s in self.sessions),
            debug_streams=lambda: self.tap.listener_count,
            execs_in_flight=lambda: self.execs.in_flight,
            pending_output=lambda: self.output.pending,
            modules=self.module_counts,
        )
        self.hub = Hub(self.host, self.tap, self.execs, self.output, self.metrics, self._released)
        self.auth_failures = access_log.AuthFailureLog()
        self.watchdog = LoopWatchdog(self._loop_blocked)
        self._sessions_changed = asyncio.Event()
        self.host.lookup_listeners.append(self._rebind_sessions)
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._pong_task: asyncio.Task[None] | None = None
        self.url = ""

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._access_middleware])
        app.router.add_get("/auth/authority", self.authority)
        app.router.add_get(CONTROL_PATH, self.control)
        HealthRoutes(self).add_to(app)
        RestRoutes(self).add_to(app)
        add_openapi_route(app)
        self.cluster_routes = ClusterRoutes(self)
        self.cluster_routes.add_to(app)
        add_console_routes(app)
        self.gate.install(app)
        return app

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether start-up is over and shutdown has not begun (in a cluster: and this host is
        registered, with Redis answering)."""
        serving = self.state is RuntimeState.SERVING
        return serving and (self.cluster is None or self.cluster.ready)

    def module_counts(self) -> dict[str, int]:
        """How many modules are in each state."""
        counts: dict[str, int] = {}
        for module in self.host.modules.values():
            state = str(getattr(module.state, "value", module.state))
            counts[state] = counts.get(state, 0) + 1
        return counts

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Listen first, then start every module; returns the base URL.

        The socket is bound before any module starts, so a port in use fails at once with the
        OSError and nothing started (no `on_load` ran, no vendor was contacted).
        """
        self.state = RuntimeState.STARTING
        self.watchdog.start()
        try:
            return await self._start(host, port)
        except BaseException:
            self.watchdog.stop()
            raise

    async def _start(self, host: str | None, port: int | None) -> str:
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT,
        )
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
        if self.cluster is not None:
            await self.cluster.start()  # places this host's modules; others route here
        self._pong_task = asyncio.get_running_loop().create_task(self._pong_loop())
        self.state = RuntimeState.SERVING
        return self.url

    async def stop(self, grace: float | None = None) -> None:
        """Shut down: stop accepting, let execs finish for `grace` seconds (default
        `server.shutdown_grace`), answer the rest, close connections with 1001, unload modules."""
        if self.state in (RuntimeState.STOPPING, RuntimeState.STOPPED):
            return
        self.state = RuntimeState.STOPPING
        grace = self.config.server.shutdown_grace if grace is None else grace
        if self._pong_task is not None:
            self._pong_task.cancel()
        runner = self._runner
        try:  # whatever fails on the way, the listener, modules and watchdog are given back
            if self.cluster is not None:
                await self.cluster.leave()  # the others place our modules as soon as we let go
            if runner is not None:
                for site in list(runner.sites):
                    await site.stop()
            running = self.execs.in_flight
            finished = await self.execs.drain(grace)
            if not finished:
                log.warning(
                    "execs still running after the shutdown grace",
                    count=self.execs.in_flight,
                    grace_s=grace,
                )
                await self.execs.cancel_all(SHUTDOWN_STEP_TIMEOUT)
                for session in list(self.sessions):
                    session.abandon_execs()
            log.info(
                "shutting down",
                execs_running=running,
                connections=len(self.sessions),
                grace_s=grace,
            )
            if self.cluster is not None:
                await self.cluster_routes.channels.shut(SHUTDOWN_STEP_TIMEOUT)  # replies out
                await self.cluster.stop()  # unload our modules, hand their leases over
            closing = [s.shutdown(timeout=SHUTDOWN_STEP_TIMEOUT) for s in list(self.sessions)]
            await asyncio.gather(*closing)
        finally:
            try:
                if runner is not None:
                    await runner.cleanup()
                await self.host.stop_all()
            finally:
                self.hub.starter.close()
                self.host.deadlines.close()  # (timers of execs cut short by the shutdown)
                self.watchdog.stop()
                self.state = RuntimeState.STOPPED

    async def _pong_loop(self) -> None:
        while True:
            await asyncio.sleep(PONG_INTERVAL)
            for session in list(self.sessions):
                session.send(b"pong")

    def _rebind_sessions(self) -> None:
        for session in list(self.sessions):
            session.rebind_all()

    def _released(self, session: Session) -> None:
        self.sessions.discard(session)
        self._notify_sessions()

    def _notify_sessions(self) -> None:
        event, self._sessions_changed = self._sessions_changed, asyncio.Event()
        event.set()

    async def wait_for_sessions(self, count: int, timeout: float = 10.0) -> None:
        """Wait until exactly `count` connections are open."""
        async with asyncio.timeout(timeout):
            while len(self.sessions) != count:
                await self._sessions_changed.wait()

    def _loop_blocked(self, seconds: float, running: dict[str, Any]) -> None:
        self.metrics.loop_blocked.inc()
        self.metrics.loop_blocked_seconds.inc(seconds)
        log.warning("event loop blocked", blocked_ms=round(seconds * 1000), **running)

    def auth_failed(self, request: web.BaseRequest, reason: str) -> None:
        """Count and log (rate-limited) one request refused for its credentials; it counts
        towards the client address's failure limit."""
        self.gate.record_failure(request)
        self.metrics.auth_failed()
        self.auth_failures.record(request, reason)

    # -- execs from HTTP ---------------------------------------------------------------------

    async def run_exec(
        self,
        principal: Principal,
        sys_id: str,
        name: str,
        index: int,
        method: str,
        args: list[Any] | dict[str, Any],
    ) -> ExecResult:
        """An exec for a REST request, under the same bounds, accounting and shutdown rules as
        WebSocket execs; raises ExecFailure classified for the reply."""
        execs, stats = self.execs, self.metrics.execs
        refusal = execs.refusal(principal.credential)
        if refusal is not None:
            stats.refused()
            raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, refusal, 503)
        task = asyncio.current_task()
        assert task is not None
        started = time.perf_counter()
        execs.started(principal.credential, task)
        try:
            result = await self.host.execute(sys_id, name, index, method, args, principal.clearance)
        except ExecFailure as failure:
            stats.failed(failure.error_code, time.perf_counter() - started)
            raise
        except asyncio.CancelledError:
            if not (execs.stopping and task.cancelling()):
                raise
            task.uncancel()
            stats.refused()
            raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, SHUTTING_DOWN, 503) from None
        finally:
            execs.finished(task)
        stats.success(time.perf_counter() - started)
        return result

    # -- HTTP --------------------------------------------------------------------------------

    @web.middleware
    async def _access_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """One access line per HTTP request (WebSocket connections log their own lines)."""
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            access_log.request_line(request, exc.status, started, request.get(PRINCIPAL_KEY))
            raise
        if not isinstance(response, web.WebSocketResponse):
            access_log.request_line(request, response.status, started, request.get(PRINCIPAL_KEY))
        return response

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

    @requires(Operation.CONNECT)
    async def control(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket control endpoint."""
        principal: Principal = request[PRINCIPAL_KEY]
        if self.state in (RuntimeState.STOPPING, RuntimeState.STOPPED):
            raise web.HTTPServiceUnavailable(reason=SHUTTING_DOWN)
        ws = ControlSocket(max_msg_size=HARD_FRAME_LIMIT, autoping=True, heartbeat=None)
        await ws.prepare(request)
        session = Session(ws, principal, self.hub, request.transport)
        ws.deliver_to(session)  # (the loop below takes control frames, and data frames that
        # came before it parked, while others were queued or while the session's output is held)
        self.sessions.add(session)
        self._notify_sessions()
        path = access_log.safe_path(request)
        log.info("connection opened", session=session.id, principal=principal.name, path=path)
        try:
            while True:
                parked = ws.parked()
                if parked is not None:
                    await parked
                message = await ws.receive()
                kind = message.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    session.handle(message.data)
                    if session.input_held:  # backpressure: the client reads slower than it asks
                        await session.output_drained()
                elif kind is WSMsgType.ERROR:
                    log.info("connection error", session=session.id, error=str(ws.exception()))
                elif kind in _ENDED:
                    break
        finally:
            ws.deliver_to(None)
            await session.finish()
            log.info(
                "connection closed",
                session=session.id,
                principal=principal.name,
                path=path,
                code=session.close_code or ws.close_code,
                duration_ms=round((time.monotonic() - session.opened_at) * 1000, 2),
            )
        return ws
