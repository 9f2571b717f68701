"""HTTP client for LINE WORKS API 2.0: auth header, retries, errors and cursor paging.

* 401: the cached token is dropped and the request is sent once more with a new token
  (``drivers.vendor_client.renewal``).
* 429, 5xx and connection failures go through the toolkit's retry loop
  (``drivers.vendor_client.retry``): 429 waits ``rateLimit-reset`` seconds (``Retry-After`` as a
  fallback, a backoff without either), 5xx is retried for idempotent requests, all bounded by
  ``max_retries`` and ``max_retry_wait``.
* any other error status raises ``LineWorksError`` with the body's ``{code, description}``.

Every answer and failure is reported to the health monitor behind ``connected``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from drivers.vendor_client import (
    SYSTEM_CLOCK,
    Clock,
    HealthMonitor,
    RetryNote,
    RetryPolicy,
    SlidingWindowLimiter,
    send_renewing_token,
    send_with_retries,
    wait_hint,
)

__all__ = ["API_PREFIX", "ApiAnswer", "LineWorksClient", "api_path"]

API_PREFIX = "/v1.0"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
#: Most pages followed for one list before giving up.
MAX_PAGES = 1000
#: LINE WORKS limits concurrent connections per tenant: requests running at once.
MAX_CONCURRENT_REQUESTS = 5
#: Seconds one request may take unless the caller says otherwise.
REQUEST_TIMEOUT = 30.0


def api_path(*segments: str) -> str:
    """``/v1.0/<segments>``, each segment percent-encoded (``@`` and ``/`` included)."""
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


@dataclass(frozen=True)
class ApiAnswer:
    """One answer of the API: status, headers, parsed body, and the token it was sent with."""

    status: int
    headers: Mapping[str, str]
    body: Any
    token: str = field(repr=False)


class LineWorksClient:
    """Sends API requests with the service account's token and applies the retry rules."""

    def __init__(
        self,
        *,
        api_base_url: str,
        tokens: TokenProvider,
        session: aiohttp.ClientSession,
        limiter: SlidingWindowLimiter,
        health: HealthMonitor | None = None,
        retry: RetryPolicy | None = None,
        logger: Any = None,
        timeout: float = REQUEST_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._base = api_base_url.rstrip("/")
        self._tokens = tokens
        self._session = session
        self.limiter = limiter
        self.health = health
        self.retry = retry or RetryPolicy()
        self._logger = logger
        self._timeout = timeout
        self._clock = clock

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      json: Any = None, retries: bool = True,
                      timeout: float | None = None) -> Any:
        """Send one API request; returns the parsed JSON body (None for an empty body)."""
        context = f"{method} {path}"
        url = yarl.URL(self._base + path, encoded=True)
        limit = aiohttp.ClientTimeout(total=timeout or self._timeout)

        def renewing(_: ApiAnswer) -> None:
            self._log("info", "access token refused, re-issuing", request=context)

        async def attempt() -> ApiAnswer:
            answer = await send_renewing_token(
                lambda: self._send(method, url, params, json, limit), self._tokens.invalidate,
                on_renew=renewing)
            if answer.status >= 500:
                self._health_server_error(answer.status)  # each one, retried or not
            return answer

        retried = 0

        def note(retry: RetryNote) -> None:
            nonlocal retried
            retried = retry.attempt
            if retry.status == 429:
                level, message = "warning", "rate limited, waiting for the reset"
            else:
                level, message = "info", "request failed, retrying"
            self._log(level, message, request=context, status=retry.status,
                      error=retry.error, wait_seconds=round(retry.delay, 3),
                      attempt=retry.attempt)

        try:
            answer = await send_with_retries(
                attempt, policy=self.retry if retries else RetryPolicy(max_retries=0),
                idempotent=method in IDEMPOTENT_METHODS, clock=self._clock, on_retry=note)
        except LineWorksConnectionError as exc:
            self._health_failed(str(exc))
            raise
        except LineWorksAuthError as exc:
            if exc.status >= 500:
                self._health_server_error(exc.status)
            else:
                self._health_failed(str(exc))
            raise
        status, body = answer.status, answer.body
        if status == 401:
            error = LineWorksAuthError.from_body(status, body, context=context)
            self._health_failed(str(error))
            raise error
        if status >= 500:
            raise LineWorksError.from_body(status, body, context=context)
        if self.health is not None:
            self.health.succeeded()
        if status == 429:
            code, description = error_fields(body, status)
            hint = wait_hint(answer.headers)
            reset = "" if hint is None else f"; rateLimit-reset {hint:g} s"
            raise LineWorksError(status, code,
                                 f"{description} (gave up after {retried} retries{reset})",
                                 context=context)
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

    async def _send(self, method: str, url: yarl.URL, params: Mapping[str, str] | None,
                    json: Any, timeout: aiohttp.ClientTimeout) -> ApiAnswer:
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}"}
        async with self.limiter.permit():
            try:
                async with self._session.request(method, url, params=params, json=json,
                                                 headers=headers,
                                                 timeout=timeout) as response:
                    return ApiAnswer(response.status, response.headers,
                                     await read_body(response), token)
            except (aiohttp.ClientError, TimeoutError) as exc:
                sent = not isinstance(exc, aiohttp.ClientConnectorError)
                raise LineWorksConnectionError(
                    f"cannot reach LINE WORKS at {self._base} ({method} {url.path}): "
                    f"{type(exc).__name__}: {exc}".rstrip(": "), sent=sent) from None

    def _health_failed(self, reason: str) -> None:
        if self.health is not None:
            self.health.failed(reason)

    def _health_server_error(self, status: int) -> None:
        if self.health is not None:
            self.health.server_error(status)

    def _log(self, level: str, message: str, **fields: Any) -> None:
        if self._logger is not None:
            getattr(self._logger, level)(message, **fields)
