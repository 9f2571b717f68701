"""Host-to-host execs: over the exec channel to our own hosts, by PlaceOS's POST route otherwise.

`ExecClient.execute` is the one entry point. To a peer offering it, an exec travels over the
multiplexed exec channel (`runtime.cluster.channel`: one WebSocket per peer, many execs in flight,
replies carrying the owner's raw JSON). A peer that does not offer it (a PlaceOS core node) gets
`POST {owner}/api/core/v1/command/<id>/execute`: body `{"__exec__": fn, fn: args}`; 200 carries
the raw JSON result and a `Response-Code` header, 203 a driver error `{"error", "backtrace"}`.
POST connections are kept alive in one pool.

At most once: an exec is sent again only when it cannot have reached the owner — the connection
or channel could not be opened (or broke before the request left this host), or the host
answered 421 / "not hosted here" (it does not own the module, as happens while a rebalance
settles; it answers so before starting anything) — and then to whoever owns the module by then.
Anything after the request went out (a reset, a broken channel, a timeout) ends the exec with
one error reply rather than a second attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from protocol import ErrorCode
from runtime.cluster import frames
from runtime.cluster.channel import ChannelPool, NeverRan, NoChannel
from runtime.cluster.frames import ReplyKind
from runtime.errors import ExecFailure
from runtime.logs import get_logger

COMMAND_PATH = "/api/core/v1/command/{module_id}/execute"
#: Attempts for a request that never reached an owner (connect failure or 421).
MAX_ROUTE_ATTEMPTS = 5
#: Seconds between such attempts (grows linearly): enough for a rebalance to settle.
ROUTE_RETRY_DELAY = 0.25
#: Seconds allowed beyond the module's exec timeout for the hop between hosts.
HOP_MARGIN = 5.0
#: Keep-alive connections per owner host.
POOL_PER_HOST = 64

log = get_logger(component="cluster.client")

OwnerLookup = Callable[[str], str | None]


class ExecClient:
    """Sends execs to the hosts that own their modules."""

    def __init__(
        self, owner_of: OwnerLookup, secret: Callable[[], str], use_channel: bool = True
    ) -> None:
        self.owner_of = owner_of
        self.secret = secret
        self.use_channel = use_channel
        self._session: aiohttp.ClientSession | None = None
        self.channels = ChannelPool(self._http, secret)
        self.by_channel = 0
        self.by_post = 0

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=POOL_PER_HOST)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        await self.channels.close()
        if self._session is not None:
            await self._session.close()

    async def execute(
        self, module_id: str, method: str, args: list[Any] | dict[str, Any], timeout: float
    ) -> tuple[bytes, int]:
        """Run a command on the module's owner; (raw JSON result, response code)."""
        last_problem = "no host owns it"
        for attempt in range(MAX_ROUTE_ATTEMPTS):
            if attempt:
                await asyncio.sleep(ROUTE_RETRY_DELAY * attempt)
            owner = self.owner_of(module_id)
            if owner is None:
                last_problem = "no host owns it"
                continue
            try:
                if self.use_channel and self.channels.offered_by(owner):
                    try:
                        return await self._by_channel(owner, module_id, method, args, timeout)
                    except NoChannel:
                        pass  # a PlaceOS node: its POST route
                return await self._by_post(owner, module_id, method, args, timeout)
            except NeverRan as exc:
                last_problem = str(exc)
                continue  # never reached the owner, or refused before it ran: try again
        message = f"module {module_id} is unavailable: {last_problem}"
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503)

    async def _by_channel(
        self,
        owner: str,
        module_id: str,
        method: str,
        args: list[Any] | dict[str, Any],
        timeout: float,
    ) -> tuple[bytes, int]:
        channel = self.channels.channels.get(owner)
        if channel is None or channel.closed:
            channel = await self.channels.get(owner)
        reply = await channel.call(module_id, method, args, timeout + HOP_MARGIN)
        self.by_channel += 1
        if reply.kind is ReplyKind.RESULT:
            return reply.body, reply.code
        if reply.kind is ReplyKind.NOT_HOSTED:
            raise NeverRan(f"{owner} does not host it")
        error_code, message, http_code, backtrace = frames.decode_error(reply.body)
        raise ExecFailure(error_code, message, http_code, backtrace)

    async def _by_post(
        self,
        owner: str,
        module_id: str,
        method: str,
        args: list[Any] | dict[str, Any],
        timeout: float,
    ) -> tuple[bytes, int]:
        body = orjson.dumps({"__exec__": method, method: args})
        headers = {
            "Authorization": f"Bearer {self.secret()}",
            "Content-Type": "application/json",
        }
        url = owner + COMMAND_PATH.format(module_id=module_id)
        try:
            async with (
                asyncio.timeout(timeout + HOP_MARGIN),
                self._http().post(url, data=body, headers=headers) as response,
            ):
                raw = await response.read()
                status = response.status
                code = response.headers.get("Response-Code")
        except aiohttp.ClientConnectorError as exc:
            raise NeverRan(f"cannot reach {owner}: {exc.os_error or exc}") from None
        except TimeoutError:
            message = f"module raised: {method} timed out on {owner} (TimeoutError)"
            raise ExecFailure(ErrorCode.REQUEST_FAILED, message, 500) from None
        except aiohttp.ClientError as exc:
            message = f"connection to {owner} lost during {method}: {exc or type(exc).__name__}"
            raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503) from None
        self.by_post += 1
        if status == 421:
            raise NeverRan(f"{owner} does not host it")
        return _outcome(status, raw, code, owner)

    def describe(self) -> dict[str, Any]:
        """Counters of `GET /api/engine/v2/cluster` (`exec_routes`)."""
        return {
            "channel": self.use_channel,
            "by_channel": self.by_channel,
            "by_post": self.by_post,
            "channels": self.channels.describe(),
        }


def _outcome(status: int, raw: bytes, code: str | None, owner: str) -> tuple[bytes, int]:
    if status == 200:
        return raw, int(code) if code and code.isdigit() else 200
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("error") or f"{owner} answered {status}")
    backtrace = body.get("backtrace") if isinstance(body.get("backtrace"), list) else None
    if status == 203:
        code_value = body.get("code")
        http_code = code_value if isinstance(code_value, int) else 500
        raise ExecFailure(ErrorCode.REQUEST_FAILED, message, http_code, backtrace)
    try:
        error_code = ErrorCode(body.get("error_code", ErrorCode.UNEXPECTED_FAILURE))
    except ValueError:
        error_code = ErrorCode.UNEXPECTED_FAILURE
    raise ExecFailure(error_code, message, status, backtrace)
