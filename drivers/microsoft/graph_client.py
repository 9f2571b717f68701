"""The Microsoft Graph HTTP client: one session, tokens, rate limit, batching, retries, paging.

Every call goes through ``request``:

1. it is handed to the batcher (or sent alone when batching is off): each HTTP request to Graph,
   a ``$batch`` included, first takes a permit from the rate limiter;
2. a 401 drops the token it was sent with and the call is repeated once with a new one
   (``drivers.vendor_client.renewal``);
3. throttled, unavailable and unreachable calls are retried by the toolkit's retry loop
   (``drivers.vendor_client.retry``: ``Retry-After`` or a jittered backoff);
4. a 2xx answer is returned, anything else raises ``GraphError`` carrying Graph's status, error
   code and message.

Every answer and failure is reported to the health monitor behind ``connected``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import structlog
from yarl import URL

from drivers.vendor_client import (
    SYSTEM_CLOCK,
    Clock,
    HealthMonitor,
    RetryNote,
    RetryPolicy,
    SlidingWindowLimiter,
    send_renewing_token,
    send_with_retries,
)

from .batching import RequestBatcher
from .errors import (
    GraphAuthError,
    GraphConfigError,
    GraphConnectionError,
    GraphError,
    graph_error_from_response,
)
from .graph_auth import GraphTokenProvider
from .graph_request import GraphRequest, GraphResponse, with_query

__all__ = ["API_VERSION", "GraphClient"]

API_VERSION = "v1.0"
PREFER_IMMUTABLE_IDS = 'IdType="ImmutableId"'
REQUEST_TIMEOUT = 30.0
PROBE_TIMEOUT = 5.0
PROBE_URL = "/users?$top=1&$select=id"


class GraphClient:
    """Sends Graph requests for one app registration; create with settings, ``close`` at end."""

    def __init__(
        self,
        *,
        tokens: GraphTokenProvider,
        limiter: SlidingWindowLimiter,
        graph_base_url: str = "https://graph.microsoft.com",
        ca_file: str | None = None,
        batch_requests: bool = True,
        retry: RetryPolicy | None = None,
        health: HealthMonitor | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        logger: Any = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.base_url = graph_base_url.rstrip("/")
        self.api_root = f"{self.base_url}/{API_VERSION}"
        self.retry = retry or RetryPolicy()
        self.health = health
        self._ca_file = ca_file
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        self._log = logger or structlog.get_logger("graph")
        self._session: aiohttp.ClientSession | None = None
        self.batcher: RequestBatcher | None = (
            RequestBatcher(self._send_batch, self._send_single) if batch_requests else None
        )

    # -- lifecycle -------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            try:
                context = ssl.create_default_context(cafile=self._ca_file or None)
            except (OSError, ssl.SSLError) as error:
                raise GraphConfigError(
                    f"calendar_config.ca_file: cannot load {self._ca_file}: "
                    f"{getattr(error, 'strerror', None) or error}") from None
            connector = aiohttp.TCPConnector(ssl=context, limit=self.limiter.max_in_flight + 2)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False)
        return self._session

    async def close(self, *, close_tokens: bool = True) -> None:
        """Cancel batches in progress and close the HTTP session (and MSAL's, unless the
        token provider is handed on to another client)."""
        if self.batcher is not None:
            await self.batcher.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if close_tokens:
            await asyncio.to_thread(self.tokens.close)

    # -- public calls ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retries: bool = True,
    ) -> GraphResponse:
        """Send one Graph call (retried as described above); raise unless the answer is 2xx."""
        request = GraphRequest(method.upper(), with_query(url, params), body, dict(headers or {}))

        def renewing(_: GraphResponse) -> None:
            self._log.debug("graph rejected the access token, renewing", url=request.url)

        async def attempt() -> GraphResponse:
            response = await send_renewing_token(
                lambda: self._dispatch(request), self.tokens.invalidate, on_renew=renewing)
            if response.status >= 500 and self.health is not None:
                self.health.server_error(response.status)  # each one, retried or not
            return response

        def note(retry: RetryNote) -> None:
            self._log.debug("graph request retried", url=request.url, status=retry.status,
                            error=retry.error, delay=round(retry.delay, 3),
                            attempt=retry.attempt)

        try:
            response = await send_with_retries(
                attempt, policy=self.retry if retries else RetryPolicy(max_retries=0),
                idempotent=request.idempotent, clock=self._clock, on_retry=note)
        except (GraphConnectionError, GraphAuthError, GraphConfigError) as error:
            self._failed(str(error))
            raise
        self._note_outcome(response)
        if response.ok:
            return response
        raise graph_error_from_response(response.status, response.body)

    async def get(self, url: str, *, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None) -> Any:
        """GET and return the parsed body."""
        return (await self.request("GET", url, params=params, headers=headers)).body

    async def get_all(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """GET a collection and follow ``@odata.nextLink`` to the end (or to ``limit`` items)."""
        items: list[dict[str, Any]] = []
        next_url: str | None = with_query(url, params)
        while next_url is not None:
            body = await self.get(next_url, headers=headers)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise GraphError(502, "UnexpectedResponse", "collection response without 'value'")
            items.extend(body["value"])
            if limit is not None and len(items) >= limit:
                return items[:limit]
            link = body.get("@odata.nextLink")
            next_url = self.relative_url(link) if isinstance(link, str) and link else None
        return items

    async def probe(self, timeout: float = PROBE_TIMEOUT) -> None:
        """One cheap call, sent alone, not retried and bounded by ``timeout``: raises unless
        Graph answered with our credentials accepted (any outcome also reaches the health
        monitor through the caller)."""
        request = GraphRequest("GET", PROBE_URL)
        try:
            response = await asyncio.wait_for(self._send_single(request), timeout)
        except TimeoutError:
            raise GraphConnectionError(
                f"cannot reach Microsoft Graph: no answer within {timeout:g} s") from None
        if response.status == 401 and response.token:
            self.tokens.invalidate(response.token)
        if response.status == 401 or response.status >= 500:
            raise graph_error_from_response(response.status, response.body)

    def relative_url(self, link: str) -> str:
        """A next-page link as a URL relative to the API root; refuses other hosts, so the
        bearer token is never sent anywhere but Graph."""
        if link.startswith(self.api_root + "/"):
            return link[len(self.api_root):]
        if link.startswith("/"):
            return link
        raise GraphError(502, "UnexpectedNextLink",
                         f"next page link does not point at {self.api_root}")

    @property
    def queue_size(self) -> int:
        """Requests waiting for a rate-limit permit."""
        return self.limiter.queue_size

    @property
    def in_flight_size(self) -> int:
        """Requests being sent."""
        return self.limiter.in_flight_size

    # -- sending ---------------------------------------------------------------------------

    async def _dispatch(self, request: GraphRequest) -> GraphResponse:
        if self.batcher is not None:
            return await self.batcher.submit(request)
        return await self._send_single(request)

    def _headers(self, token: str, extra: Mapping[str, str], has_body: bool) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "Prefer": PREFER_IMMUTABLE_IDS}
        if has_body:
            headers["Content-Type"] = "application/json"
        headers.update(extra)
        return headers

    async def _send_single(self, request: GraphRequest) -> GraphResponse:
        token = (await self.tokens.token()).token
        headers = self._headers(token, request.headers, request.body is not None)
        data = orjson.dumps(request.body) if request.body is not None else None
        status, response_headers, body = await self._http(
            request.method, self.api_root + request.url, headers, data)
        return GraphResponse(status, response_headers, body, token)

    async def _send_batch(self, requests: list[GraphRequest]) -> list[GraphResponse]:
        token = (await self.tokens.token()).token
        inner = []
        for number, request in enumerate(requests, start=1):
            item: dict[str, Any] = {"id": str(number), "method": request.method,
                                    "url": request.url}
            item_headers = {"Prefer": PREFER_IMMUTABLE_IDS, **request.headers}
            if request.body is not None:
                item["body"] = request.body
                item_headers["Content-Type"] = "application/json"
            item["headers"] = item_headers
            inner.append(item)
        headers = self._headers(token, {}, True)
        status, response_headers, body = await self._http(
            "POST", self.api_root + "/$batch", headers, orjson.dumps({"requests": inner}))
        if not 200 <= status < 300:
            return [GraphResponse(status, response_headers, body, token) for _ in requests]
        return _split_batch_response(body, len(requests), token)

    async def _http(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], Any]:
        session = self._get_session()
        async with self.limiter.permit():
            try:
                async with session.request(method, URL(url, encoded=True), headers=headers,
                                           data=data) as response:
                    raw = await response.read()
                    status = response.status
                    response_headers = {k.lower(): v for k, v in response.headers.items()}
            except aiohttp.ClientConnectorError as error:
                raise _connection_error(error, sent=False) from None
            except (TimeoutError, aiohttp.ClientError) as error:
                raise _connection_error(error, sent=True) from None
        return status, response_headers, _parse_body(raw)

    # -- health ----------------------------------------------------------------------------

    def _note_outcome(self, response: GraphResponse) -> None:
        if self.health is None:
            return
        if response.status == 401:
            self.health.failed("Graph rejected the access token (401)")
        elif response.status < 500:  # 5xx answers were counted as they came
            self.health.succeeded()

    def _failed(self, reason: str) -> None:
        if self.health is not None:
            self.health.failed(reason)


def _connection_error(error: BaseException, *, sent: bool) -> GraphConnectionError:
    detail = str(error) or type(error).__name__
    return GraphConnectionError(f"cannot reach Microsoft Graph: {detail}", sent=sent)


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _split_batch_response(body: Any, count: int, token: str) -> list[GraphResponse]:
    """Each inner response in request order; a missing one becomes a retryable 503."""
    by_id: dict[str, dict[str, Any]] = {}
    if isinstance(body, dict) and isinstance(body.get("responses"), list):
        for item in body["responses"]:
            if isinstance(item, dict) and "id" in item:
                by_id[str(item["id"])] = item
    results = []
    for number in range(1, count + 1):
        item = by_id.get(str(number))
        if item is None:
            missing = {"error": {"code": "BatchItemMissing",
                                 "message": "the batch response had no answer for this request"}}
            results.append(GraphResponse(503, {}, missing, token))
            continue
        item_headers = item.get("headers") or {}
        headers = {str(k).lower(): str(v) for k, v in item_headers.items()}
        results.append(GraphResponse(int(item.get("status", 500)), headers, item.get("body"),
                                     token))
    return results
