"""HTTP client for LINE WORKS API 2.0: auth header, retries, errors and cursor paging.

* 401: the cached token is dropped and the request is sent once more with a new token.
* 429: the request waits ``rateLimit-reset`` seconds (``Retry-After`` as a fallback) and is
  retried, at most ``max_rate_limit_retries`` times and never for longer than
  ``max_rate_limit_wait`` per wait.
* 5xx: idempotent requests are retried with a short exponential backoff.
* any other error status raises ``LineWorksError`` with the body's ``{code, description}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl

from drivers.lineworks.auth import TokenProvider
from drivers.lineworks.errors import (
    LineWorksAuthError,
    LineWorksConnectionError,
    LineWorksError,
    error_fields,
    read_body,
)
from drivers.lineworks.health import ConnectionHealth
from drivers.lineworks.ratelimit import RequestLimiter

__all__ = ["API_PREFIX", "LineWorksClient", "api_path", "rate_limit_reset"]

API_PREFIX = "/v1.0"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
#: Used when a 429 carries neither rateLimit-reset nor Retry-After.
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Most pages followed for one list before giving up.
MAX_PAGES = 1000


def api_path(*segments: str) -> str:
    """``/v1.0/<segments>``, each segment percent-encoded (``@`` and ``/`` included)."""
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


def rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait per the ``rateLimit-reset`` (or ``Retry-After``) header, if present."""
    for name in ("rateLimit-reset", "Retry-After"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value.strip()))
        except ValueError:
            continue
    return None


class LineWorksClient:
    """Sends API requests with the service account's token and applies the retry rules."""

    def __init__(
        self,
        *,
        api_base_url: str,
        tokens: TokenProvider,
        session: aiohttp.ClientSession,
        limiter: RequestLimiter,
        health: ConnectionHealth,
        logger: Any = None,
        timeout: float = 30.0,
        max_rate_limit_retries: int = 3,
        max_rate_limit_wait: float = 60.0,
        server_error_retries: int = 2,
        server_error_backoff: float = 0.25,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._base = api_base_url.rstrip("/")
        self._tokens = tokens
        self._session = session
        self.limiter = limiter
        self.health = health
        self._logger = logger
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_rate_limit_retries = max_rate_limit_retries
        self._max_rate_limit_wait = max_rate_limit_wait
        self._server_error_retries = server_error_retries
        self._server_error_backoff = server_error_backoff
        self._sleep = sleep

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      json: Any = None) -> Any:
        """Send one API request; returns the parsed JSON body (None for an empty body)."""
        context = f"{method} {path}"
        url = yarl.URL(self._base + path, encoded=True)
        reissued = False
        rate_limit_retries = 0
        server_retries = 0
        while True:
            token = await self._token()
            status, headers, body = await self._send(method, url, token, params, json)
            if status == 401:
                self._tokens.invalidate(token)
                if not reissued:
                    reissued = True
                    self._log("info", "access token refused, re-issuing", request=context)
                    continue
                error = LineWorksAuthError.from_body(status, body, context=context)
                self.health.auth_failed(str(error))
                raise error
            if status == 429:
                wait = rate_limit_reset(headers)
                wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
                if (rate_limit_retries < self._max_rate_limit_retries
                        and wait <= self._max_rate_limit_wait):
                    rate_limit_retries += 1
                    self._log("warning", "rate limited, waiting for the reset", request=context,
                              wait_seconds=wait, attempt=rate_limit_retries)
                    await self._sleep(wait)
                    continue
                code, description = error_fields(body, status)
                raise LineWorksError(
                    status, code,
                    f"{description} (gave up after {rate_limit_retries} retries; "
                    f"rateLimit-reset {wait:g} s)",
                    context=context)
            if status >= 500:
                self.health.server_error(status)
                if method in IDEMPOTENT_METHODS and server_retries < self._server_error_retries:
                    server_retries += 1
                    self._log("warning", "server error, retrying", request=context,
                              status=status, attempt=server_retries)
                    await self._sleep(self._server_error_backoff * 2 ** (server_retries - 1))
                    continue
                raise LineWorksError.from_body(status, body, context=context)
            self.health.succeeded()
            if status >= 400:
                raise LineWorksError.from_body(status, body, context=context)
            return body

    async def paginate(self, path: str, items_key: str, *,
                       params: Mapping[str, str] | None = None,
                       page_size: int = 50) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list, following ``responseMetaData.nextCursor``."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            query = dict(params or {})
            query["count"] = str(page_size)
            if cursor:
                query["cursor"] = cursor
            body = await self.request("GET", path, params=query)
            body = body if isinstance(body, dict) else {}
            items.extend(body.get(items_key) or [])
            cursor = (body.get("responseMetaData") or {}).get("nextCursor")
            if not cursor:
                return items
            if cursor in seen:
                raise LineWorksError(502, "INVALID_CURSOR",
                                     "the same nextCursor was returned twice",
                                     context=f"GET {path}")
            seen.add(cursor)
        raise LineWorksError(502, "TOO_MANY_PAGES", f"more than {MAX_PAGES} pages",
                             context=f"GET {path}")

    async def _token(self) -> str:
        try:
            return await self._tokens.token()
        except LineWorksConnectionError as exc:
            self.health.unreachable(str(exc))
            raise
        except LineWorksAuthError as exc:
            if exc.status >= 500:
                self.health.server_error(exc.status)
            else:
                self.health.auth_failed(str(exc))
            raise

    async def _send(self, method: str, url: yarl.URL, token: str,
                    params: Mapping[str, str] | None,
                    json: Any) -> tuple[int, Mapping[str, str], Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.limiter.permit():
            try:
                async with self._session.request(method, url, params=params, json=json,
                                                 headers=headers,
                                                 timeout=self._timeout) as response:
                    return response.status, response.headers, await read_body(response)
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = LineWorksConnectionError(
                    f"cannot reach LINE WORKS at {self._base} ({method} {url.path}): "
                    f"{type(exc).__name__}: {exc}".rstrip(": "))
                self.health.unreachable(str(error))
                raise error from None

    def _log(self, level: str, message: str, **fields: Any) -> None:
        if self._logger is not None:
            getattr(self._logger, level)(message, **fields)
