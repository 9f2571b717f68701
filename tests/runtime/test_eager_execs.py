"""Async execs start eagerly: their first step runs at once, in the task that will continue them.

What a driver may rely on, however the exec is started (runtime/tasks.py): `asyncio.timeout()`
entered before the first await cancels the command, never the connection; `current_task()` is
the same task before and after the first suspension; context variables stay within one exec;
the runtime's cancellations (exec timeout, shutdown) reach suspended execs; and the pool of
runner tasks behind it grows with the execs in flight and shrinks to its bound afterwards.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from runtime import Driver
from runtime.testing import ExecError, RuntimeHandle, run_runtime

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("eager_tag", default="unset")


class Eager(Driver):
    generic_name = "Eager"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0
        self.reached = asyncio.Event()

    async def timeout_then_wait(self, seconds: float) -> str:
        async with asyncio.timeout(seconds):  # entered in the first step, before any await
            await asyncio.Event().wait()
        return "not reached"

    async def wait_gate(self) -> str:
        self.waiting += 1
        self.reached.set()
        await self.gate.wait()
        return "released"

    def open_gate(self) -> int:
        self.gate.set()
        return self.waiting

    async def task_group(self) -> str:
        async def fails() -> None:
            await asyncio.sleep(0)
            raise ValueError("child failed")

        try:
            async with asyncio.TaskGroup() as group:  # captures the current task at once
                group.create_task(fails())
                await asyncio.Event().wait()  # cancelled by the group when the child fails
        except ExceptionGroup as raised:
            assert raised.subgroup(ValueError) is not None
            return "the group cancelled its parent and raised"
        return "not reached"

    async def same_task(self) -> list[Any]:
        before = asyncio.current_task()
        await asyncio.sleep(0)
        after = asyncio.current_task()
        await asyncio.sleep(0.001)  # a suspension on a future, not only a bare yield
        last = asyncio.current_task()
        return [before is not None, before is after, after is last]

    async def set_tag(self, tag: str) -> str:
        seen = TAG.get()
        TAG.set(tag)
        return seen

    async def set_tag_and_wait(self, tag: str) -> list[str]:
        seen = TAG.get()
        TAG.set(tag)
        self.waiting += 1
        self.reached.set()
        await self.gate.wait()
        return [seen, TAG.get()]

    def read_tag(self) -> str:
        """A sync command runs in the connection's own context."""
        return TAG.get()

    async def hang(self) -> None:
        await asyncio.Event().wait()

    async def cancel_itself_then_wait(self) -> str:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # before the first suspension: delivered at the first await
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            task.uncancel()
            return "cancelled at the first await"
        return "not reached"

    async def raise_at_once(self, name: str) -> None:
        raise {"SystemExit": SystemExit, "KeyboardInterrupt": KeyboardInterrupt}.get(
            name, asyncio.CancelledError
        )("driver says stop")

    async def state(self) -> list[Any]:
        task = asyncio.current_task()
        assert task is not None
        return [task.cancelling(), TAG.get()]


@pytest.fixture
async def rt() -> AsyncIterator[RuntimeHandle]:
    config = {
        "modules": {
            "mod-e": {"driver": f"{__name__}:Eager", "exec_timeout": 5},
            "mod-t": {"driver": f"{__name__}:Eager", "name": "Short", "exec_timeout": 0.05},
        },
        "systems": {"sys-e": {"name": "Eager room", "modules": ["mod-e", "mod-t"]}},
    }
    async with run_runtime(config) as handle:
        yield handle


def _driver(rt: RuntimeHandle, module_id: str = "mod-e") -> Any:
    return rt.runtime.host.modules[module_id].instance


@pytest.mark.parametrize("seconds", [0.0, 0.02])
async def test_a_timeout_entered_before_the_first_await_fails_only_that_exec(
    rt: RuntimeHandle, seconds: float
) -> None:
    async with rt.client() as client:
        gated = asyncio.create_task(client.exec("sys-e", "Eager", "wait_gate"))
        await _driver(rt).reached.wait()
        with pytest.raises(ExecError) as raised:
            await client.exec("sys-e", "Eager", "timeout_then_wait", [seconds])
        assert (raised.value.error_code, raised.value.msg) == (3, "module raised:  (TimeoutError)")
        # the connection and its other exec are untouched
        assert await client.exec("sys-e", "Eager", "open_gate") == 1
        assert await gated == "released"
        assert await client.exec("sys-e", "Eager", "state") == [0, "unset"]
    assert rt.runtime.execs.in_flight == 0


async def test_a_task_group_entered_in_the_first_step_cancels_the_command_only(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        gated = asyncio.create_task(client.exec("sys-e", "Eager", "wait_gate"))
        await _driver(rt).reached.wait()
        result = await client.exec("sys-e", "Eager", "task_group")
        assert result == "the group cancelled its parent and raised"
        assert await client.exec("sys-e", "Eager", "open_gate") == 1
        assert await gated == "released"
        assert await client.exec("sys-e", "Eager", "state") == [0, "unset"]


async def test_current_task_is_the_same_before_and_after_the_first_suspension(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        results = await asyncio.gather(
            *(client.exec("sys-e", "Eager", "same_task") for _ in range(20))
        )
    assert results == [[True, True, True]] * 20


async def test_context_variables_stay_within_one_exec(rt: RuntimeHandle) -> None:
    async with rt.client() as first, rt.client() as second:
        # execs that never suspend run one after another, maybe in the same runner task
        assert [await first.exec("sys-e", "Eager", "set_tag", [f"t{n}"]) for n in range(5)] == [
            "unset"
        ] * 5
        waiting = [
            asyncio.create_task(client.exec("sys-e", "Eager", "set_tag_and_wait", [tag]))
            for client, tag in ((first, "a"), (second, "b"), (first, "c"))
        ]
        while _driver(rt).waiting < 3:
            _driver(rt).reached.clear()
            await _driver(rt).reached.wait()
        assert await second.exec("sys-e", "Eager", "set_tag", ["d"]) == "unset"
        assert await first.exec("sys-e", "Eager", "read_tag") == "unset"  # the session's own
        assert await first.exec("sys-e", "Eager", "open_gate") == 3
        assert await asyncio.gather(*waiting) == [["unset", "a"], ["unset", "b"], ["unset", "c"]]
        assert await second.exec("sys-e", "Eager", "state") == [0, "unset"]
    assert TAG.get() == "unset"


async def test_the_exec_timeout_cancels_a_suspended_exec_and_its_runner_serves_on(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        hanging = [client.exec("sys-e", "Short", "hang") for _ in range(10)]
        for outcome in await asyncio.gather(*hanging, return_exceptions=True):
            assert isinstance(outcome, ExecError)
            assert outcome.error_code == 3
            assert outcome.msg == "module raised: hang timed out after 0.05 s (TimeoutError)"
        assert rt.runtime.execs.in_flight == 0
        # the runners go back to the pool uncancelled: the next execs start afresh
        states = await asyncio.gather(
            *(client.exec("sys-e", "Eager", "same_task") for _ in range(10))
        )
        assert states == [[True, True, True]] * 10
        assert await client.exec("sys-e", "Eager", "state") == [0, "unset"]


async def test_a_command_cancelling_its_own_task_in_its_first_step(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        result = await client.exec("sys-e", "Eager", "cancel_itself_then_wait")
        assert result == "cancelled at the first await"
        assert await client.exec("sys-e", "Eager", "state") == [0, "unset"]


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "CancelledError"])
async def test_a_base_exception_in_the_first_step_fails_only_that_call(
    rt: RuntimeHandle, name: str
) -> None:
    async with rt.client() as client:
        with pytest.raises(ExecError) as raised:
            await client.exec("sys-e", "Eager", "raise_at_once", [name])
        assert (raised.value.error_code, raised.value.msg) == (
            3,
            f"module raised: driver says stop ({name})",
        )
        assert await client.exec("sys-e", "Eager", "state") == [0, "unset"]
    status, envelope = await rt.rest(
        "POST", "/api/engine/v2/systems/sys-e/Eager_1/raise_at_once", json=[name]
    )
    assert (status, envelope["message"]) == (500, f"module raised: driver says stop ({name})")


async def test_shutdown_answers_suspended_execs_and_ends_every_runner() -> None:
    config = {
        "modules": {"mod-e": {"driver": f"{__name__}:Eager", "exec_timeout": 30}},
        "systems": {"sys-e": {"name": "Eager room", "modules": ["mod-e"]}},
    }
    async with run_runtime(config) as rt:
        async with rt.client() as client:
            hanging = [asyncio.create_task(client.exec("sys-e", "Eager", "hang")) for _ in range(5)]
            await client.ping()
            assert rt.runtime.execs.in_flight == 5
            starter = rt.runtime.hub.starter
            runners = [t for t in asyncio.all_tasks() if _is_runner(t)]
            assert len(runners) >= 5
            await rt.runtime.stop(grace=0)
            for outcome in await asyncio.gather(*hanging, return_exceptions=True):
                assert isinstance(outcome, ExecError)
                assert (outcome.error_code, outcome.msg) == (7, "server shutting down")
        await asyncio.wait(runners, timeout=10)
        assert all(task.done() for task in runners)
        assert starter.runners == 0


def _is_runner(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", "") == "ExecStarter._serve"


async def test_the_runner_pool_grows_with_suspended_execs_and_shrinks_to_its_bound() -> None:
    from runtime.tasks import ExecStarter

    loop = asyncio.get_running_loop()
    starter = ExecStarter(max_idle=3)
    gate = asyncio.Event()
    finished: list[int] = []

    async def job(number: int) -> None:
        await gate.wait()
        finished.append(number)

    async def at_once() -> None:
        finished.append(-1)

    handles = [starter.start(loop, job(n)) for n in range(20)]
    assert all(handle is not None for handle in handles)
    assert len({id(handle) for handle in handles}) == 20
    assert (starter.runners, starter.idle) == (20, 0)
    gate.set()
    while len(finished) < 20:
        await asyncio.sleep(0)
    for _ in range(3):  # the runners' last steps
        await asyncio.sleep(0)
    assert (starter.runners, starter.idle) == (3, 3)
    assert sum(handle.done() for handle in handles if handle is not None) == 17
    assert starter.start(loop, at_once()) is None  # runs in an idle runner, which stays idle
    assert finished[-1] == -1 and starter.idle == 3
    starter.close()
    await asyncio.sleep(0)
    assert starter.runners == 0


async def test_a_cancel_between_hand_off_and_resumption_reaches_the_exec() -> None:
    from runtime.tasks import ExecStarter

    loop = asyncio.get_running_loop()
    starter = ExecStarter()
    seen: list[str] = []

    async def job() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    runner = starter.start(loop, job())
    assert runner is not None
    runner.cancel()  # before the runner has taken the exec over
    while not seen:
        await asyncio.sleep(0)
    assert seen == ["cancelled"]
    await asyncio.wait([runner], timeout=10)  # a cancellation left pending ends the runner
    assert runner.done()
    assert starter.runners == 0


async def test_an_exception_escaping_an_exec_goes_to_the_loops_handler() -> None:
    from runtime.tasks import ExecStarter

    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    starter = ExecStarter()

    async def at_once() -> None:
        raise ValueError("first step")

    async def later() -> None:
        await asyncio.sleep(0)
        raise ValueError("later step")

    try:
        first: Coroutine[Any, Any, None] = at_once()
        assert starter.start(loop, first) is None
        runner = starter.start(loop, later())
        assert runner is not None
        while len(reported) < 2:
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
        starter.close()
    assert [str(context["exception"]) for context in reported] == ["first step", "later step"]


async def test_step_finishes_a_command_at_once_or_hands_its_rest_to_the_same_runner() -> None:
    from runtime.tasks import ExecStarter, Suspended, resume

    loop = asyncio.get_running_loop()
    starter = ExecStarter()
    gate = asyncio.Event()
    tasks: list[object] = []

    async def at_once() -> str:
        tasks.append(asyncio.current_task())
        return "done"

    async def suspends() -> str:
        tasks.append(asyncio.current_task())
        await gate.wait()
        tasks.append(asyncio.current_task())
        return "later"

    caller = asyncio.current_task()
    assert starter.step(loop, at_once()) == "done"  # no wrapper, no task of its own
    assert asyncio.current_task() is caller and tasks[0] is not caller
    assert (starter.runners, starter.idle) == (1, 1)

    outcome = starter.step(loop, suspends())
    assert isinstance(outcome, Suspended) and starter.idle == 0
    results: list[str] = []

    async def rest(suspended: Suspended) -> None:
        results.append(await resume(suspended.coro, suspended.yielded))

    runner = starter.adopt(outcome, rest(outcome))
    assert runner is tasks[1]  # the task current in the first step continues the command
    gate.set()
    while not results:
        await asyncio.sleep(0)
    assert results == ["later"] and tasks[2] is runner
    await asyncio.sleep(0)
    assert starter.idle == 1  # back in the pool
    starter.close()


async def test_a_cancel_before_the_runner_resumes_a_stepped_command_reaches_it() -> None:
    from runtime.tasks import ExecStarter, Suspended, resume

    loop = asyncio.get_running_loop()
    starter = ExecStarter()
    seen: list[str] = []

    async def command() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("command cancelled")
            raise

    async def rest(suspended: Suspended) -> None:
        try:
            await resume(suspended.coro, suspended.yielded)
        except asyncio.CancelledError:
            seen.append("rest saw it")  # the wrapper began, so it can answer the exec
            raise

    outcome = starter.step(loop, command())
    assert isinstance(outcome, Suspended)
    runner = starter.adopt(outcome, rest(outcome))
    runner.cancel()  # before the runner has taken the exec over
    while len(seen) < 2:
        await asyncio.sleep(0)
    assert seen == ["command cancelled", "rest saw it"]
    await asyncio.wait([runner], timeout=10)
    assert runner.done() and starter.runners == 0
