"""A vendor's 401 answer to a request: renew the access token once and send the request again.

A 401 means the token the request carried is no longer accepted (revoked, expired early, keys
rotated). The token is dropped from the cache, so the repeat fetches a new one; the repeat's
answer is final, whatever it is, so refused credentials cannot loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["UNAUTHORIZED", "SentWithToken", "send_renewing_token"]

#: The status that makes the request go once more with a new token.
UNAUTHORIZED = 401


class SentWithToken(Protocol):
    """An answer that knows the access token its request was sent with."""

    @property
    def status(self) -> int: ...

    @property
    def token(self) -> str | None: ...


T = TypeVar("T", bound=SentWithToken)


async def send_renewing_token(
    send: Callable[[], Awaitable[T]],
    invalidate: Callable[[str], None],
    *,
    on_renew: Callable[[T], None] | None = None,
) -> T:
    """``send()``; on a 401, ``invalidate`` the token it carried, call ``on_renew`` (to log it)
    and ``send()`` once more, returning that second answer."""
    answer = await send()
    if answer.status != UNAUTHORIZED:
        return answer
    if answer.token:
        invalidate(answer.token)
    if on_renew is not None:
        on_renew(answer)
    return await send()
