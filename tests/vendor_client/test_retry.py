"""The retry loop: which answers are retried, the vendor's wait hints, the bounds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from drivers.vendor_client import (
    ManualClock,
    RetryNote,
    RetryPolicy,
    VendorUnreachable,
    send_with_retries,
    wait_hint,
)


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


class Script:
    """Answers (or failures) in turn, recording the clock time of each attempt."""

    def __init__(self, clock: ManualClock, *outcomes: Reply | VendorUnreachable) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.times: list[float] = []

    async def __call__(self) -> Reply:
        self.times.append(self.clock.now())
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, VendorUnreachable):
            raise outcome
        return outcome


def test_wait_hints_in_seconds_dates_and_rate_limit_reset() -> None:
    now = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)
    assert wait_hint({"Retry-After": "7"}) == 7.0
    assert wait_hint({"retry-after": "Mon, 07 Dec 2026 09:00:30 GMT"}, now) == 30.0
    assert wait_hint({"Retry-After": "Mon, 07 Dec 2026 08:59:00 GMT"}, now) == 0.0
    assert wait_hint({"rateLimit-reset": "12"}) == 12.0
    assert wait_hint({"Retry-After": "later", "rateLimit-reset": "3"}) == 3.0
    assert wait_hint({"Retry-After": "-4"}) == 0.0
    assert wait_hint({}) is None
    # rateLimit-reset comes on every LINE WORKS answer: only a 429 waits for it
    assert wait_hint({"rateLimit-reset": "55"}, status=503) is None
    assert wait_hint({"Retry-After": "2", "rateLimit-reset": "55"}, status=503) == 2.0


async def test_429_waits_for_the_hint_then_returns_the_success() -> None:
    clock = ManualClock(start=0.0)
    script = Script(clock, Reply(429, {"Retry-After": "2"}),
                    Reply(429, {"rateLimit-reset": "5"}), Reply(200))
    notes: list[RetryNote] = []
    answer = await clock.drive(send_with_retries(
        script, policy=RetryPolicy(), idempotent=False, clock=clock, on_retry=notes.append))
    assert answer.status == 200
    assert script.times == [0.0, 2.0, 7.0]
    assert [(n.attempt, n.delay, n.status) for n in notes] == [(1, 2.0, 429), (2, 5.0, 429)]


async def test_backoff_grows_without_a_hint() -> None:
    clock = ManualClock(start=0.0)
    script = Script(clock, Reply(503), Reply(503), Reply(503), Reply(204))
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=3.0)
    answer = await clock.drive(send_with_retries(script, policy=policy, idempotent=True,
                                                 clock=clock))
    assert answer.status == 204
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    for gap, nominal in zip(gaps, (1.0, 2.0, 3.0), strict=True):  # capped at max_delay
        assert nominal / 2 <= gap <= nominal


@pytest.mark.parametrize(("status", "idempotent", "retried"), [
    (429, False, True), (503, False, True), (500, True, True), (502, True, True),
    (504, True, True), (500, False, False), (504, False, False), (404, True, False),
    (401, True, False),
])
async def test_which_statuses_are_retried(status: int, idempotent: bool, retried: bool) -> None:
    clock = ManualClock()
    script = Script(clock, Reply(status), Reply(200))
    answer = await clock.drive(send_with_retries(
        script, policy=RetryPolicy(base_delay=0.1), idempotent=idempotent, clock=clock))
    assert answer.status == (200 if retried else status)


async def test_connection_failures_are_retried_only_when_safe() -> None:
    clock = ManualClock()
    never_left = VendorUnreachable("refused", sent=False)
    may_have_left = VendorUnreachable("reset", sent=True)
    policy = RetryPolicy(base_delay=0.1)
    script = Script(clock, never_left, Reply(201))
    assert (await clock.drive(send_with_retries(script, policy=policy, idempotent=False,
                                                clock=clock))).status == 201
    script = Script(clock, may_have_left, Reply(201))
    with pytest.raises(VendorUnreachable, match="reset"):
        await clock.drive(send_with_retries(script, policy=policy, idempotent=False,
                                            clock=clock))
    script = Script(clock, may_have_left, Reply(200))
    assert (await clock.drive(send_with_retries(script, policy=policy, idempotent=True,
                                                clock=clock))).status == 200


async def test_retries_are_bounded_in_count_and_in_time() -> None:
    clock = ManualClock(start=0.0)
    script = Script(clock, *[Reply(503)] * 10)
    answer = await clock.drive(send_with_retries(
        script, policy=RetryPolicy(max_retries=2, base_delay=0.1), idempotent=True,
        clock=clock))
    assert answer.status == 503 and len(script.times) == 3
    script = Script(clock, Reply(429, {"Retry-After": "600"}), Reply(200))
    answer = await clock.drive(send_with_retries(
        script, policy=RetryPolicy(max_total=60), idempotent=True, clock=clock))
    assert answer.status == 429 and len(script.times) == 1, "a hint beyond the budget gives up"
    failure = VendorUnreachable("down", sent=False)
    script = Script(clock, failure, failure, failure)
    with pytest.raises(VendorUnreachable):
        await clock.drive(send_with_retries(
            script, policy=RetryPolicy(max_retries=2, base_delay=0.1), idempotent=True,
            clock=clock))
    assert len(script.times) == 3
