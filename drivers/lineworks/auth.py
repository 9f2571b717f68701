"""Service-account authentication: an RS256 JWT assertion exchanged for an access token.

The assertion carries ``iss`` = Client ID, ``sub`` = service account ID, ``iat`` and ``exp``
(integer Unix seconds, ``exp`` at most 60 minutes after ``iat``), signed with the console-issued
private key. It is posted as a form with ``grant_type`` jwt-bearer, ``client_id``,
``client_secret`` and ``scope``. The token is cached (on a monotonic clock) until shortly
before ``expires_in`` runs out; the HTTP client calls ``invalidate`` when the API answers 401,
so the next call re-issues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from drivers.lineworks.errors import LineWorksAuthError, LineWorksConnectionError, read_body

__all__ = [
    "GRANT_TYPE",
    "JWT_LIFETIME",
    "ServiceAccount",
    "TokenProvider",
    "build_assertion",
]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 3600
#: Longest a cached token is given up before its reported expiry.
REFRESH_MARGIN = 60.0


@dataclass(frozen=True)
class ServiceAccount:
    """The credentials of a Developer Console app's service account (secrets not in repr)."""

    client_id: str
    client_secret: str = field(repr=False)
    service_account: str
    private_key: RSAPrivateKey = field(repr=False)
    scope: str = "calendar"


def build_assertion(account: ServiceAccount, now: float, lifetime: int = JWT_LIFETIME) -> str:
    """The signed JWT for a token request issued at ``now``."""
    if not 0 < lifetime <= JWT_LIFETIME:
        raise ValueError(f"JWT lifetime must be 1..{JWT_LIFETIME} seconds")
    issued_at = int(now)
    claims = {
        "iss": account.client_id,
        "sub": account.service_account,
        "iat": issued_at,
        "exp": issued_at + lifetime,
    }
    return jwt.encode(claims, account.private_key, algorithm="RS256")


@dataclass(frozen=True)
class _CachedToken:
    value: str = field(repr=False)
    expires_at: float
    refresh_at: float


class TokenProvider:
    """Issues, caches and re-issues the access token of one service account."""

    def __init__(
        self,
        account: ServiceAccount,
        auth_url: str,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
    ) -> None:
        self._account = account
        self._auth_url = auth_url
        self._session = session
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._cached: _CachedToken | None = None
        self._lock = asyncio.Lock()
        self.issued_count = 0

    async def token(self, *, fresh: bool = False) -> str:
        """A valid access token: the cached one, or a newly issued one."""
        async with self._lock:
            cached = self._cached
            if not fresh and cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            self._cached = await self._issue()
            return self._cached.value

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is ``token``, when given)."""
        if self._cached is not None and (token is None or self._cached.value == token):
            self._cached = None

    async def _issue(self) -> _CachedToken:
        now = self._clock()
        form = {
            "assertion": build_assertion(self._account, time.time()),
            "grant_type": GRANT_TYPE,
            "client_id": self._account.client_id,
            "client_secret": self._account.client_secret,
            "scope": self._account.scope,
        }
        try:
            async with self._session.post(self._auth_url, data=form,
                                          timeout=self._timeout) as response:
                body = await read_body(response)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LineWorksConnectionError(
                f"cannot reach the LINE WORKS token endpoint {self._auth_url}: "
                f"{type(exc).__name__}: {exc}") from None
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            if status == 200:
                status, body = 502, {"error": "invalid_response",
                                     "error_description": "no access_token in the response"}
            raise LineWorksAuthError.from_body(status, body, context="token request")
        lifetime = _expires_in(body.get("expires_in"))
        margin = min(REFRESH_MARGIN, lifetime / 10)
        self.issued_count += 1
        return _CachedToken(str(body["access_token"]), now + lifetime, now + lifetime - margin)


def _expires_in(value: Any) -> float:
    """``expires_in`` as seconds; LINE WORKS clients see it both as a number and a string."""
    try:
        seconds = float(str(value))
    except ValueError:
        return float(JWT_LIFETIME)
    return seconds if seconds > 0 else float(JWT_LIFETIME)
