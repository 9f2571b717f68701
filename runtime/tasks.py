"""Starting the task of an async exec as cheaply as the running Python allows."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

if sys.version_info >= (3, 12):

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        """A task whose first step runs now: one that never suspends is done on return,
        without a trip through the event loop (`eager_start`)."""
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        """A task running `coro` from the loop's next turn (Python 3.11 has no eager start).

        `asyncio.Task` directly: `loop.create_task` adds a Python-level call per exec.
        """
        return asyncio.Task(coro, loop=loop)
