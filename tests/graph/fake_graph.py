"""A tiny scriptable Graph server (plain HTTP on 127.0.0.1) and a fake MSAL app, for unit tests
of the Graph client where the full emulator is not needed."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msal
from aiohttp import web

from drivers.microsoft.graph_auth import GraphTokenProvider
from drivers.microsoft.graph_client import GraphClient
from drivers.vendor_client import HealthMonitor, RetryPolicy, SlidingWindowLimiter

Reply = tuple[int, dict[str, str], Any]
Handler = Callable[["Seen"], Reply]


@dataclass
class Seen:
    """One request the fake received (a ``$batch`` part counts as one, flagged ``in_batch``)."""

    t: float
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    in_batch: bool = False


@dataclass
class FakeGraph:
    """Routes ``(method, path)`` -> handler; answers ``$batch`` by running each part."""

    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    http_requests: list[Seen] = field(default_factory=list)
    drop: set[tuple[str, str]] = field(default_factory=set)
    url: str = ""

    def on(self, method: str, path: str, handler: Handler | Reply) -> None:
        if isinstance(handler, tuple):
            reply = handler
            self.handlers[(method, path)] = lambda _seen: reply
        else:
            self.handlers[(method, path)] = handler

    def answer(self, seen: Seen) -> Reply:
        path = seen.url.split("?", 1)[0]
        handler = self.handlers.get((seen.method, path))
        if handler is None:
            return 404, {}, {"error": {"code": "Request_ResourceNotFound",
                                       "message": f"no route {seen.method} {path}"}}
        return handler(seen)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        url = request.path_qs[len("/v1.0"):]
        seen = Seen(time.monotonic(), request.method, url, dict(request.headers), body)
        self.http_requests.append(seen)
        if (request.method, url.split("?", 1)[0]) in self.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if url == "/$batch":
            parts = []
            for part in body["requests"]:
                inner = Seen(time.monotonic(), part["method"], part["url"],
                             part.get("headers", {}), part.get("body"), in_batch=True)
                self.seen.append(inner)
                status, headers, reply = self.answer(inner)
                parts.append({"id": part["id"], "status": status, "headers": headers,
                              "body": reply})
            return web.json_response({"responses": list(reversed(parts))})
        self.seen.append(seen)
        status, headers, reply = self.answer(seen)
        if reply is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(reply, status=status, headers=headers)


class FakeMsalApp:
    """Stands in for ``msal.ConfidentialClientApplication``: numbered tokens, scripted errors."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.calls = 0
        self.error: dict[str, Any] | None = None
        self.raise_error: Exception | None = None
        self.token_cache = msal.TokenCache()
        self._numbers = itertools.count(1)

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        self.calls += 1
        if self.raise_error is not None:
            raise self.raise_error
        if self.error is not None:
            return self.error
        return {"access_token": f"tok-{next(self._numbers)}", "token_type": "Bearer",
                "expires_in": self.expires_in}


def token_provider(app: FakeMsalApp, secret: str = "s3cret-value") -> GraphTokenProvider:
    return GraphTokenProvider(tenant="tenant", client_id="client", client_secret=secret,
                              login_base_url="https://login.example", scope="https://g/.default",
                              app_factory=lambda: app)


FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0.02, max_delay=0.2, max_total=5.0)


def make_client(fake: FakeGraph, *, batch: bool = True, rate: float = 1000,
                retry: RetryPolicy = FAST_RETRY, app: FakeMsalApp | None = None,
                health: list[tuple[bool, str]] | None = None) -> GraphClient:
    """A client of ``fake``; with ``health`` its monitor's changes are appended there as
    ``(connected, reason)`` and ``client.health.probe_once()`` sends the client's probe."""
    client = GraphClient(tokens=token_provider(app or FakeMsalApp()),
                         limiter=SlidingWindowLimiter(rate), graph_base_url=fake.url,
                         batch_requests=batch, retry=retry)
    if health is not None:
        def changed(connected: bool) -> None:
            assert client.health is not None
            health.append((connected, client.health.reason))

        client.health = HealthMonitor("Microsoft Graph", client.probe, changed)
    return client
