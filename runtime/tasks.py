"""Starting an async exec as cheaply as the running Python allows.

Most commands finish without suspending. Python 3.12 runs a task's first step at once
(`asyncio.Task(..., eager_start=True)`), so such a command costs no task step through the event
loop. Python 3.11 has no eager start; `ExecStarter` does the same with a pool of long-lived
runner tasks: the exec's first step runs at once, inside a fresh copy of the caller's context and
with an idle runner made the loop's current task; an exec that finishes there costs neither a
task nor a trip through the loop. One that suspends is handed to that runner, which drives the
rest of it (each step inside the exec's own context) and then goes back to the pool.

The runner is current from the first step on because `asyncio.timeout()`, `TaskGroup`, aiohttp's
timers and anyio capture `asyncio.current_task()` there: it must be the task that continues the
command, never the task of the connection that asked for it. A runner serves one exec at a time;
a cancellation of the runner while it serves an exec is delivered into that exec (also one that
arrives between the hand-off and the runner's first step); an idle runner that is cancelled ends,
and so does one whose exec left a cancellation pending (the loop or the runtime is ending).
Unlike a task of its own, a runner outlives the exec: something that keeps a reference to
`current_task()` past the command's end and cancels it later would reach the runner's next exec.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context, copy_context
from typing import Any, TypeVar

T = TypeVar("T")

#: Idle runner tasks one loop keeps for the next suspending exec; more end when their exec ends.
#: As many as one credential may have in flight: a burst of that size, repeated, creates no new
#: tasks (about 1.5 KB each while idle, 3 MB in all).
MAX_IDLE_RUNNERS = 2048

#: An exec coroutine as the starter takes it: its result is not used (it replies by itself).
ExecCoroutine = Coroutine[Any, Any, None]

#: `_drive`'s "yielded" for a coroutine handed over before its first step (`adopt`).
_START = object()


class Suspended:
    """A command whose first step `ExecStarter.step` ran and which suspended there: its runner
    (reserved for it), its context, what it yielded, and (set by the module host) `rest`, the
    coroutine that awaits the rest of it. Pass it to `adopt` at once."""

    __slots__ = ("context", "coro", "rest", "runner", "yielded")

    def __init__(
        self, runner: Any, context: Context, coro: Coroutine[Any, Any, Any], yielded: Any
    ) -> None:
        self.runner = runner
        self.context = context
        self.coro = coro
        self.yielded = yielded
        self.rest: Coroutine[Any, Any, bytes] | None = None


_new = object.__new__


def start_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task of its own for `coro`; its first step runs now on Python 3.12+ (`eager_start`),
    from the loop's next turn before. `ExecStarter` is the cheaper way on 3.11 where the caller
    needs no task object for an exec that finishes at once."""
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, eager_start=True)
    return asyncio.Task(coro, loop=loop)  # (`loop.create_task` adds a Python call per exec)


if sys.version_info >= (3, 12):

    def current_task_of(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
        """The task `loop` is running now, if any."""
        return asyncio.current_task(loop)

    class ExecStarter:
        """Starts exec coroutines as tasks whose first step runs at once (`eager_start`)."""

        __slots__ = ()

        #: Whether `step` and `adopt` exist (3.12's own eager start needs neither).
        steps_first = False

        def start(
            self, loop: asyncio.AbstractEventLoop, coro: ExecCoroutine
        ) -> asyncio.Task[Any] | None:
            """Run `coro`'s first step now; None when it finished there, else its task."""
            task = asyncio.Task(coro, loop=loop, eager_start=True)
            return None if task.done() else task

        def close(self) -> None:
            """Nothing to release: every exec has a task of its own."""

else:
    # the C module's dict of each loop's current task (`asyncio.current_task` is Python on 3.11)
    from asyncio.tasks import _current_tasks  # type: ignore[attr-defined]

    #: The task a loop is running now, if any: `asyncio.current_task(loop)` without a Python frame.
    current_task_of: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]
    current_task_of = _current_tasks.get

    class _Runner:
        """A long-lived task and the exec it drives (None while it is idle)."""

        __slots__ = ("job", "task", "wake")

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.job: tuple[ExecCoroutine, Context, Any] | None = None
            self.wake: asyncio.Future[None] = loop.create_future()
            self.task: asyncio.Task[None]

    class ExecStarter:
        """Starts exec coroutines eagerly on Python 3.11, with a pool of runner tasks."""

        __slots__ = ("_idle", "_loop", "_runners", "closed", "max_idle")

        def __init__(self, max_idle: int = MAX_IDLE_RUNNERS) -> None:
            self.max_idle = max_idle
            self.closed = False
            self._loop: asyncio.AbstractEventLoop | None = None
            self._idle: list[_Runner] = []
            self._runners: set[_Runner] = set()

        @property
        def idle(self) -> int:
            """Runners waiting for an exec."""
            return len(self._idle)

        @property
        def runners(self) -> int:
            """Runners alive, idle or driving an exec."""
            return len(self._runners)

        def start(
            self, loop: asyncio.AbstractEventLoop, coro: ExecCoroutine
        ) -> asyncio.Task[Any] | None:
            """Run `coro`'s first step now; None when it finished there, else the runner task
            that drives the rest of it (and that was `asyncio.current_task()` all along)."""
            idle = self._idle
            if not idle or loop is not self._loop or (runner := idle.pop()).wake.done():
                runner = self._take(loop)  # (a runner whose wake is done is ending)
                idle = self._idle
            task = runner.task
            current = _current_tasks
            caller = current.get(loop)
            current[loop] = task
            context = copy_context()
            try:
                yielded = context.run(coro.send, None)
            except StopIteration:
                idle.append(runner)
                return None
            except BaseException as exc:
                idle.append(runner)
                self._failed(loop, coro, exc)
                return None
            finally:
                if caller is None:
                    del current[loop]
                else:
                    current[loop] = caller
            runner.job = (coro, context, yielded)
            wake = runner.wake
            if not wake.done():  # (done: the command cancelled its task; the runner delivers it)
                wake.set_result(None)
            return task

        #: Whether `step` and `adopt` exist.
        steps_first = True

        def step(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
            """Run a command's own first step now, as `start` does, without a wrapper around it:
            its result when it finished there (what it raised propagates), else a `Suspended`,
            whose runner stays reserved until `adopt` hands it the rest."""
            idle = self._idle
            if not idle or loop is not self._loop or (runner := idle[-1]).wake.done():
                runner = self._take(loop)
                idle = self._idle
                idle.append(runner)
            current = _current_tasks
            caller = current.get(loop)
            current[loop] = runner.task
            context = copy_context()
            try:
                yielded = context.run(coro.send, None)
            except StopIteration as stop:
                return stop.value
            finally:
                if caller is None:
                    del current[loop]
                else:
                    current[loop] = caller
            if idle and idle[-1] is runner:
                idle.pop()
            else:
                idle.remove(runner)
            suspended = _new(Suspended)  # (no `__init__` frame: this is every suspending exec)
            suspended.runner = runner
            suspended.context = context
            suspended.coro = coro
            suspended.yielded = yielded
            suspended.rest = None
            return suspended

        def adopt(self, suspended: Suspended, coro: ExecCoroutine) -> asyncio.Task[Any]:
            """Give a suspended command's runner `coro`, which awaits the rest of it
            (`resume(suspended.coro, suspended.yielded)`); it runs there from its first step,
            inside the command's context. Returns the runner's task."""
            runner: _Runner = suspended.runner
            runner.job = (coro, suspended.context, _START)
            wake = runner.wake
            if not wake.done():  # (done: the command cancelled its task; the runner delivers it)
                wake.set_result(None)
            return runner.task

        def _take(self, loop: asyncio.AbstractEventLoop) -> _Runner:
            if self._loop is not loop:  # a starter serves one loop; another one starts afresh
                self._loop = loop
                self._idle = []
                self._runners = set()
            idle = self._idle
            while idle:
                runner = idle.pop()
                if not runner.wake.done():
                    return runner
            runner = _Runner(loop)
            serve = self._serve(loop, runner)
            serve.send(None)  # into its loop: a cancellation before its first step reaches it
            runner.task = asyncio.Task(serve, loop=loop)
            self._runners.add(runner)
            return runner

        async def _serve(self, loop: asyncio.AbstractEventLoop, runner: _Runner) -> None:
            """The runner task's life: wait for an exec, drive it to its end, go back idle.

            Started by hand up to its first (bare) yield before it becomes a task, so that the
            task's first step, whatever it throws, lands inside the loop.
            """
            task: asyncio.Task[None] | None = None
            try:
                while True:
                    cancel: BaseException | None = None
                    try:
                        if task is None:
                            await _bare_yield()
                            task = runner.task
                        await runner.wake
                    except asyncio.CancelledError as exc:
                        task = runner.task
                        if runner.job is None:
                            return  # cancelled while idle: the loop or the runtime is ending
                        cancel = exc  # meant for the exec handed over, not yet resumed
                    coro, context, yielded = runner.job  # type: ignore[misc]
                    try:
                        await _drive(coro, context, yielded, cancel)
                    except asyncio.CancelledError:
                        pass
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._failed(loop, coro, exc)
                    runner.job = None
                    if self.closed or task.cancelling() or len(self._idle) >= self.max_idle:
                        return  # a cancellation left pending means the loop is ending
                    runner.wake = loop.create_future()
                    self._idle.append(runner)
            finally:
                self._runners.discard(runner)
                if runner in self._idle:
                    self._idle.remove(runner)

        @staticmethod
        def _failed(
            loop: asyncio.AbstractEventLoop, coro: ExecCoroutine, exc: BaseException
        ) -> None:
            """What a task does with an exception nobody retrieves: report it to the loop."""
            if isinstance(exc, asyncio.CancelledError):
                return
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                raise exc
            loop.call_exception_handler(
                {"message": "exec raised an exception", "exception": exc, "coroutine": coro}
            )

        def close(self) -> None:
            """End the idle runners now and every busy one once its exec has ended."""
            self.closed = True
            idle, self._idle = self._idle, []
            for runner in idle:
                runner.task.cancel()


@types.coroutine
def _bare_yield() -> Generator[None, None, None]:
    """Suspend once, as `asyncio.sleep(0)` does."""
    yield


@types.coroutine
def _drive(
    coro: ExecCoroutine, context: Context, yielded: Any, cancel: BaseException | None
) -> Generator[Any, Any, None]:
    """Drive a coroutine whose first step has run (and yielded `yielded`) to its end, as a task
    would: each step inside `context`, what the runner is sent or thrown passed on."""
    run = context.run
    if yielded is _START:  # handed over by `adopt`: its first step runs here, in the runner
        try:
            yielded = run(coro.send, None)
        except StopIteration:
            return
    if cancel is not None:
        try:
            yielded = run(coro.throw, cancel)
        except StopIteration:
            return
    elif yielded is None:  # a bare yield: the hand-off was its trip through the loop
        try:
            yielded = run(coro.send, None)
        except StopIteration:
            return
    while True:
        try:
            value = yield yielded
        except GeneratorExit:
            run(coro.close)
            raise
        except BaseException as exc:
            try:
                yielded = run(coro.throw, exc)
            except StopIteration:
                return
        else:
            try:
                yielded = run(coro.send, value)
            except StopIteration:
                return


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Await a coroutine whose first step has run already and yielded `yielded`.

    Used as `await resume(coro, yielded)`: the awaiting task sees `yielded` as if the coroutine
    had just yielded it to it, then the coroutine goes on as under a plain `await`.
    """
    while True:
        try:
            yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        return (yield from coro)
