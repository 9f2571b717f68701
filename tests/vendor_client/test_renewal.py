"""A 401 renews the token once: the rejected token is dropped and the request goes once more."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drivers.vendor_client import send_renewing_token


@dataclass(frozen=True)
class Sent:
    status: int
    token: str | None


class Vendor:
    """Answers each send with the next status; hands out numbered tokens until one is dropped."""

    def __init__(self, *statuses: int, token: str | None = "t1") -> None:
        self.statuses = list(statuses)
        self.token = token
        self.sent: list[str | None] = []
        self.invalidated: list[str] = []

    async def send(self) -> Sent:
        self.sent.append(self.token)
        return Sent(self.statuses.pop(0), self.token)

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.token:
            self.token = f"t{len(self.invalidated) + 1}"


async def test_an_accepted_token_is_sent_once() -> None:
    vendor = Vendor(200)
    answer = await send_renewing_token(vendor.send, vendor.invalidate)
    assert answer == Sent(200, "t1") and vendor.sent == ["t1"] and vendor.invalidated == []


@pytest.mark.parametrize("status", [403, 429, 500])
async def test_other_refusals_are_not_renewals(status: int) -> None:
    vendor = Vendor(status)
    assert (await send_renewing_token(vendor.send, vendor.invalidate)).status == status
    assert vendor.sent == ["t1"] and vendor.invalidated == []


async def test_a_401_drops_that_token_and_sends_once_more_with_a_new_one() -> None:
    vendor = Vendor(401, 200)
    renewed: list[Sent] = []
    answer = await send_renewing_token(vendor.send, vendor.invalidate, on_renew=renewed.append)
    assert answer == Sent(200, "t2")
    assert vendor.sent == ["t1", "t2"] and vendor.invalidated == ["t1"]
    assert renewed == [Sent(401, "t1")]


async def test_a_second_401_is_the_final_answer() -> None:
    vendor = Vendor(401, 401, 200)
    answer = await send_renewing_token(vendor.send, vendor.invalidate)
    assert answer == Sent(401, "t2") and vendor.sent == ["t1", "t2"]
    assert vendor.statuses == [200], "never a third send"


async def test_an_answer_without_its_token_is_still_sent_again() -> None:
    vendor = Vendor(401, 200, token=None)
    assert (await send_renewing_token(vendor.send, vendor.invalidate)).status == 200
    assert vendor.sent == [None, None] and vendor.invalidated == []


async def test_a_failed_send_is_not_repeated_here() -> None:
    sends = 0

    async def unreachable() -> Sent:
        nonlocal sends
        sends += 1
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        await send_renewing_token(unreachable, lambda _: None)
    assert sends == 1
