"""The Microsoft Graph HTTP client: one session, tokens, rate limit, batching, retries, paging.

Every call goes through ``request``:

1. it is handed to the batcher (or sent alone when batching is off): each HTTP request to Graph,
   a ``$batch`` included, first takes a permit from the rate limiter;
2. a 401 drops the token it was sent with and the call is repeated once with a new one;
3. 429, 503 and 504 are retried after ``Retry-After`` or a jittered exponential backoff,
   connection failures likewise (a non-idempotent request only when it never left);
4. a 2xx answer is returned, anything else raises ``GraphError`` carrying Graph's status, error
   code and message.

The client reports Graph's health to a listener: healthy after any answer that proves both
reachability and valid credentials, unhealthy after connection failures, credential errors or
repeated server errors.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
import structlog
from yarl import URL

from .batching import RequestBatcher
from .errors import GraphAuthError, GraphConnectionError, GraphError, graph_error_from_response
from .graph_auth import GraphTokenProvider
from .graph_request import GraphRequest, GraphResponse, with_query
from .rate_limiter import RateLimiter
from .retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

__all__ = ["API_VERSION", "GraphClient", "HealthListener"]

API_VERSION = "v1.0"
PREFER_IMMUTABLE_IDS = 'IdType="ImmutableId"'
REQUEST_TIMEOUT = 30.0
SERVER_ERRORS_BEFORE_UNHEALTHY = 3
PROBE_URL = "/users?$top=1&$select=id"

HealthListener = Callable[[bool, str], None]


class GraphClient:
    """Sends Graph requests for one app registration; create with settings, ``close`` at end."""

    def __init__(
        self,
        *,
        tokens: GraphTokenProvider,
        limiter: RateLimiter,
        graph_base_url: str = "https://graph.microsoft.com",
        ca_file: str | None = None,
        batch_requests: bool = True,
        retry: RetryPolicy | None = None,
        on_health: HealthListener | None = None,
        logger: Any = None,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.base_url = graph_base_url.rstrip("/")
        self.api_root = f"{self.base_url}/{API_VERSION}"
        self.retry = retry or RetryPolicy()
        self._ca_file = ca_file
        self._on_health = on_health
        self._log = logger or structlog.get_logger("graph")
        self._session: aiohttp.ClientSession | None = None
        self._server_errors = 0
        self.batcher: RequestBatcher | None = (
            RequestBatcher(self._send_batch, self._send_single) if batch_requests else None
        )

    # -- lifecycle -------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=self._ca_file or None)
            connector = aiohttp.TCPConnector(ssl=context, limit=self.limiter.max_in_flight + 2)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                trust_env=False,
            )
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
        started = time.monotonic()
        attempt = 0
        renewed_token = False
        while True:
            try:
                response = await self._dispatch(request)
            except GraphConnectionError as error:
                delay = self.retry.backoff(attempt)
                may_retry = retries and (request.idempotent or not error.sent)
                if may_retry and self.retry.allows(attempt, time.monotonic() - started, delay):
                    self._log.debug("graph connection failed, retrying", url=request.url,
                                    error=str(error), delay=round(delay, 3))
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                self._report(False, str(error))
                raise
            except GraphAuthError as error:
                self._report(False, str(error))
                raise
            if response.status == 401 and not renewed_token:
                renewed_token = True
                if response.token:
                    self.tokens.invalidate(response.token)
                self._log.debug("graph rejected the access token, renewing", url=request.url)
                continue
            if retries and response.status in RETRYABLE_STATUSES:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                delay = self.retry.delay_for(attempt, retry_after)
                if self.retry.allows(attempt, time.monotonic() - started, delay):
                    self._log.debug("graph asked to retry", url=request.url,
                                    status=response.status, delay=round(delay, 3))
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
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

    async def probe(self) -> None:
        """One cheap call, sent alone and not retried, to check reachability and credentials."""
        request = GraphRequest("GET", PROBE_URL)
        try:
            response = await self._send_single(request)
        except (GraphConnectionError, GraphAuthError) as error:
            self._report(False, str(error))
            raise
        if response.status == 401 and response.token:
            self.tokens.invalidate(response.token)
        self._note_outcome(response)
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
        if response.status == 401:
            self._report(False, "Graph rejected the access token (401)")
        elif response.status >= 500:
            self._server_errors += 1
            if (response.status in RETRYABLE_STATUSES
                    or self._server_errors >= SERVER_ERRORS_BEFORE_UNHEALTHY):
                self._report(False, f"Graph answered {response.status}")
        else:
            self._server_errors = 0
            self._report(True, f"Graph answered {response.status}")

    def _report(self, healthy: bool, reason: str) -> None:
        if self._on_health is not None:
            self._on_health(healthy, reason)


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
