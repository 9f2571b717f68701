"""An async command runs in an asyncio Task of its own, with a context of its own.

The exec path is tuned for speed; these tests pin what a driver may rely on whatever it does:
`asyncio.current_task()` is a task running only this exec, `asyncio.timeout()` works inside a
command (and its TimeoutError is the driver's, not the exec timeout), and context variables set by
one command are seen by nothing else.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime import Driver
from runtime.testing import ExecError, RuntimeHandle, run_runtime

REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag", default="unset")


class TaskProbe(Driver):
    generic_name = "Probe"

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[Any] | None] = {}
        self.release = asyncio.Event()

    async def whoami(self, tag: str) -> list[str]:
        """Record the current task, set a context variable, wait, and read it back."""
        task = asyncio.current_task()
        self.tasks[tag] = task
        seen_before = REQUEST_TAG.get()
        REQUEST_TAG.set(tag)
        await self.release.wait()
        return [seen_before, REQUEST_TAG.get()]

    def open(self) -> int:
        self.release.set()
        return len(self.tasks)

    async def own_timeout(self, seconds: float) -> str:
        try:
            async with asyncio.timeout(seconds):
                await asyncio.Event().wait()
        except TimeoutError:
            return "timed out inside the command"
        return "not reached"

    async def own_timeout_raised(self) -> str:
        async with asyncio.timeout(0.01):
            await asyncio.Event().wait()
        return "not reached"

    async def task_name_and_state(self) -> list[Any]:
        task = asyncio.current_task()
        assert task is not None
        return [task.done(), task.cancelling(), REQUEST_TAG.get()]


@pytest.fixture
async def rt() -> AsyncIterator[RuntimeHandle]:
    config = {
        "modules": {"mod-p": {"driver": f"{__name__}:TaskProbe", "exec_timeout": 5}},
        "systems": {"sys-p": {"name": "Probe room", "modules": ["mod-p"]}},
    }
    async with run_runtime(config) as handle:
        yield handle


async def test_each_async_command_runs_in_a_task_of_its_own_with_its_own_context(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as first, rt.client() as second:
        calls = [
            asyncio.create_task(client.exec("sys-p", "Probe", "whoami", [tag]))
            for client, tag in ((first, "a"), (first, "b"), (second, "c"))
        ]
        instance: Any = rt.runtime.host.modules["mod-p"].instance
        while len(instance.tasks) < 3:  # each command has reached its wait
            await asyncio.sleep(0)
        assert await first.exec("sys-p", "Probe", "open", []) == 3
        results = await asyncio.gather(*calls)
    assert results == [["unset", "a"], ["unset", "b"], ["unset", "c"]]
    tasks = list(instance.tasks.values())
    assert all(isinstance(task, asyncio.Task) for task in tasks)
    assert len({id(task) for task in tasks}) == 3
    assert asyncio.current_task() not in tasks
    assert rt.runtime.execs.in_flight == 0
    assert REQUEST_TAG.get() == "unset"  # nothing leaked into the test's context either


async def test_a_new_command_starts_from_a_clean_context_and_an_uncancelled_task(
    rt: RuntimeHandle,
) -> None:
    async with rt.client() as client:
        assert await client.exec("sys-p", "Probe", "task_name_and_state", []) == [
            False,
            0,
            "unset",
        ]


async def test_asyncio_timeout_inside_a_command_is_the_commands_own(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        caught = await client.exec("sys-p", "Probe", "own_timeout", [0.01])
        assert caught == "timed out inside the command"
        with pytest.raises(ExecError) as raised:
            await client.exec("sys-p", "Probe", "own_timeout_raised", [])
        # the driver's TimeoutError, not the runtime's "timed out after 5 s"
        assert raised.value.error_code == 3
        assert raised.value.msg == "module raised:  (TimeoutError)"
        # the task is not left cancelled: the next command on the connection runs normally
        assert await client.exec("sys-p", "Probe", "task_name_and_state", []) == [
            False,
            0,
            "unset",
        ]
