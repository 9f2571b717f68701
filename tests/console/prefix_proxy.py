"""A reverse proxy that serves a runtime under a path prefix, HTTP and WebSocket alike."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import aiohttp
from aiohttp import WSMsgType, web

#: Request headers not passed on (hop-by-hop, or rewritten by the client session).
DROPPED = {"host", "connection", "upgrade", "content-length", "transfer-encoding"}
DROPPED_WS = DROPPED | {
    k.lower() for k in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions")
}
START_TIMEOUT = 10.0


def _proxy_app(prefix: str, backend: str) -> web.Application:
    session: dict[str, aiohttp.ClientSession] = {}
    open_sockets: set[web.WebSocketResponse] = set()

    async def forward(request: web.Request) -> web.StreamResponse:
        http = session["http"]
        target = backend + "/" + request.match_info["tail"]
        if request.query_string:
            target += "?" + request.query_string
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(request, http, target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        async with http.request(
            request.method,
            target,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            kept = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in DROPPED | {"content-encoding"}
            }
            return web.Response(status=upstream.status, body=body, headers=kept)

    async def _websocket(
        request: web.Request, http: aiohttp.ClientSession, target: str
    ) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_WS}
        async with http.ws_connect("ws" + target[4:], headers=headers) as upstream:
            downstream = web.WebSocketResponse()
            await downstream.prepare(request)
            open_sockets.add(downstream)

            async def pump(
                source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
            ) -> None:
                async for message in source:
                    if message.type is WSMsgType.TEXT:
                        await sink.send_str(message.data)
                await sink.close()

            await asyncio.gather(
                pump(upstream, downstream), pump(downstream, upstream), return_exceptions=True
            )
            open_sockets.discard(downstream)
            return downstream

    async def on_startup(_app: web.Application) -> None:
        session["http"] = aiohttp.ClientSession(auto_decompress=False)

    async def on_shutdown(_app: web.Application) -> None:
        for socket in list(open_sockets):
            await socket.close()

    async def on_cleanup(_app: web.Application) -> None:
        await session["http"].close()

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", prefix + "/{tail:.*}", forward)
    return app


@contextlib.contextmanager
def prefix_proxy(backend: str, prefix: str = "/runtime") -> Iterator[str]:
    """Serve `backend` at `http://127.0.0.1:<port><prefix>/` from a thread; yields that URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(_proxy_app(prefix, backend))

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}{prefix}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(START_TIMEOUT)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()
