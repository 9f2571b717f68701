"""Test helpers: a small Graph client over a real aiohttp session trusting the emulator CA."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator.state import GraphState

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DOMAIN = "emulated.example"


@dataclass
class Graph:
    """A small Graph client for tests: token handling plus raw request helpers."""

    emulator: RunningEmulator
    session: aiohttp.ClientSession
    token: str = ""

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def state(self) -> GraphState:
        state: GraphState = self.emulator.app_state
        return state

    async def token_request(self, **fields: str) -> tuple[int, dict[str, Any]]:
        form = {"client_id": "emulated-client", "client_secret": "emulated-secret",
                "grant_type": "client_credentials", "scope": GRAPH_SCOPE, **fields}
        tenant = form.pop("tenant", "emulated-tenant")
        async with self.session.post(f"{self.url}/{tenant}/oauth2/v2.0/token",
                                     data=form) as response:
            return response.status, await response.json()

    async def login(self) -> str:
        status, body = await self.token_request()
        assert status == 200, body
        self.token = body["access_token"]
        return self.token

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        """One request to `{url}{path}` with the bearer token; returns (status, body, headers)."""
        if not self.token:
            await self.login()
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        target = path if path.startswith("https://") else f"{self.url}{path}"
        async with self.session.request(method, target, json=json, params=params,
                                        headers=all_headers) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return response.status, body, response.headers

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = await self.call("GET", path, **kwargs)
        return status, body

    async def control(self, method: str, path: str, json: Any = None) -> Any:
        async with self.session.request(method, f"{self.url}/_emulator/{path}",
                                        json=json) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def client_session(ca_file: Path) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=str(ca_file))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


def address(local: str) -> str:
    return f"{local}@{DOMAIN}"
