"""What a driver raises stays that call's failure, `BaseException` subclasses included.

`SystemExit`, `KeyboardInterrupt` or `CancelledError` raised by a command, a hook or a timer must
not end the process, stop the module or leave a request unanswered. Only the runtime's own
cancellation (shutdown, a timeout, a module stopping) goes on as a cancellation: it is recognised
by the current task having a cancellation request pending (`Task.cancelling()`).
"""

from __future__ import annotations

import asyncio


def own_cancellation() -> bool:
    """Whether the current task has been asked to cancel (by the runtime, not by a driver)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a sync call outside asyncio
        return False
    return task is not None and task.cancelling() > 0


def is_driver_failure(exc: BaseException) -> bool:
    """Whether `exc`, raised out of driver code, is to be handled as that call's failure.

    Everything is, except a `CancelledError` that is the runtime cancelling the current task.
    """
    if isinstance(exc, asyncio.CancelledError):
        return not own_cancellation()
    return True
