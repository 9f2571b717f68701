"""A plain aiohttp client of the LINE WORKS API 2.0 as its documentation describes it.

It knows only what the emulator publishes: its base URL, its CA, the credentials of
`GET /_emulator/seed` and the private key written beside the CA.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDictProxy

from fixtures.emulator_base import RunningEmulator
from fixtures.lineworks_emulator import PRIVATE_KEY_FILE

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/oauth2/v2.0/token"


@dataclass
class Answer:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]


@dataclass
class LineWorks:
    """Raw calls to the emulated API; `token` is the bearer sent (if any)."""

    emulator: RunningEmulator
    session: aiohttp.ClientSession
    credentials: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    async def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", {}))
        if self.token and path != TOKEN_PATH:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        async with self.session.request(method, self.emulator.url + path, headers=headers,
                                        **kwargs) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw else None
            return Answer(response.status, body, response.headers)

    async def control(self, method: str, route: str, body: Any = None) -> Any:
        async with self.session.request(method, f"{self.emulator.url}/_emulator/{route}",
                                        json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    def assertion(self, **claims: Any) -> str:
        key_file = self.emulator.ca_file.parent / PRIVATE_KEY_FILE
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        now = int(time.time())
        payload = {"iss": self.credentials["client_id"],
                   "sub": self.credentials["service_account"],
                   "iat": now, "exp": now + 3600, **claims}
        return jwt.encode(payload, key, algorithm="RS256")  # type: ignore[arg-type]

    async def token_request(self, **fields: str) -> Answer:
        form = {"client_id": self.credentials["client_id"],
                "client_secret": self.credentials["client_secret"], **fields}
        return await self.call("POST", TOKEN_PATH, data=form)

    async def login(self, scope: str = "calendar") -> dict[str, Any]:
        answer = await self.token_request(assertion=self.assertion(), grant_type=JWT_GRANT,
                                          scope=scope)
        assert answer.status == 200, answer.body
        self.token = answer.body["access_token"]
        return dict(answer.body)


@asynccontextmanager
async def lineworks_client(emulator: RunningEmulator) -> AsyncIterator[LineWorks]:
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        client = LineWorks(emulator, session)
        client.credentials = (await client.control("GET", "seed"))["credentials"]
        yield client
