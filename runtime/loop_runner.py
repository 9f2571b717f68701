"""Run `serve` on a fresh event loop whose end is bounded.

`asyncio.run` (and `uvloop.run`) end by cancelling every task still running and waiting for all
of them without a limit, so one driver command that swallows its cancellation would keep the
process alive after a SIGTERM for ever. Here the tasks left when the main coroutine returns are
cancelled and given `LEFTOVER_TIMEOUT` seconds; those still running then are logged and left
behind, and the process exits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from runtime.logs import get_logger

log = get_logger(component="cli")

T = TypeVar("T")

#: Seconds the tasks still running when the main coroutine returns get to end once cancelled.
LEFTOVER_TIMEOUT = 0.25


def run_bounded(
    main: Coroutine[Any, Any, T],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> T:
    """Like `asyncio.run(main)`, with a bounded wait for the tasks left over at the end."""
    loop = loop_factory()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=LEFTOVER_TIMEOUT))
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
    if pending:
        names = sorted(_describe(task) for task in pending)
        log.warning("tasks ignored cancellation; exiting without them", tasks=names)
        for task in pending:
            # abandoned on purpose: no "Task was destroyed but it is pending" at exit
            task._log_destroy_pending = False  # type: ignore[attr-defined]


def _describe(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()
