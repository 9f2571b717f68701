"""The owner's side of a host-to-host exec: `begin_routed`, one function for both ways an exec
arrives (the PlaceOS `POST /api/core/v1/command/<id>/execute` route and the exec channel).

In order: a host that does not hold the module's lease refuses (`NotHosted`, answered 421)
before anything starts; a module still STARTING is waited for (bounded by its load timeout) and
the lease checked again; the command runs with Admin clearance (the calling host checked the
client's clearance); the reply waits for the module's status writes to reach Redis, so the
caller reads what the command wrote. A sync command whose writes are already out is answered
without a task, as local WebSocket execs are.

Routed execs are counted like WebSocket and REST execs: in the `ExecTracker` (the shutdown drain
waits for them for `server.shutdown_grace`, then they are cancelled and answered with
`error_code` 7) and in the exec metrics. One that arrives while the host is shutting down has
not started, so it is refused as `NotHosted`: the calling host sends it to the new owner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from protocol import ErrorCode
from runtime.errors import ExecFailure
from runtime.limits import SHUTTING_DOWN
from runtime.modules import ModuleState
from runtime.security import Clearance

if TYPE_CHECKING:
    from runtime.server import Runtime

#: The tracker's credential for execs sent by other hosts (their clients' credentials were
#: bounded on those hosts; the per-credential limit does not apply to it).
PEER_CREDENTIAL = "cluster-peer"


class NotHosted(Exception):
    """This host does not hold the module's lease; nothing was started (421)."""


def begin_routed(
    runtime: Runtime,
    module_id: str,
    method: str,
    args: list[Any] | dict[str, Any],
    credential: str = PEER_CREDENTIAL,
) -> bytes | Coroutine[Any, Any, bytes]:
    """Begin a command sent by another host: its JSON-encoded result at once (a sync command
    whose status writes, if any, already reached Redis), or a coroutine to await for it.

    Raises NotHosted (refused before it started) or ExecFailure (the error reply); so does the
    coroutine.
    """
    node = runtime.cluster
    module = runtime.host.modules.get(module_id)
    if module is None:
        raise ExecFailure(ErrorCode.MODULE_NOT_FOUND, f"module {module_id} not found", 404)
    execs, stats = runtime.execs, runtime.metrics.execs
    if node is None or not node.hosts(module_id) or execs.stopping:
        raise NotHosted(f"module {module_id} is not hosted on {runtime.url}")
    if credential != PEER_CREDENTIAL:
        refusal = execs.refusal(credential)
        if refusal is not None:
            stats.refused()
            raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, refusal, 503)
    if module.state is ModuleState.STARTING:
        return _run_tracked(runtime, module_id, method, args, credential)
    started = time.perf_counter()
    try:
        outcome = runtime.host.start_module_exec(module, method, args, Clearance.ADMIN)
    except ExecFailure as failure:
        stats.failed(failure.error_code, time.perf_counter() - started)
        if node.store.written:
            raise
        return _after_barrier(runtime, failure)
    if isinstance(outcome, bytes):  # a sync command: it ran to the end right here
        stats.success(time.perf_counter() - started)
        return outcome if node.store.written else _after_barrier(runtime, outcome)
    return _finish_tracked(runtime, outcome, credential, started)


async def run_routed(
    runtime: Runtime,
    module_id: str,
    method: str,
    args: list[Any] | dict[str, Any],
    credential: str = PEER_CREDENTIAL,
) -> bytes:
    """`begin_routed`, awaited to the end."""
    outcome = begin_routed(runtime, module_id, method, args, credential)
    return outcome if isinstance(outcome, bytes) else await outcome


async def _after_barrier(runtime: Runtime, outcome: bytes | ExecFailure) -> bytes:
    """The reply, once the command's status writes reached Redis (the caller may read them)."""
    assert runtime.cluster is not None
    await runtime.cluster.store.barrier()
    if isinstance(outcome, ExecFailure):
        raise outcome
    return outcome


async def _run_tracked(
    runtime: Runtime,
    module_id: str,
    method: str,
    args: list[Any] | dict[str, Any],
    credential: str,
) -> bytes:
    """A command for a module still STARTING: wait for it (bounded by its load timeout), check
    the lease again, then run it (counted in the exec drain from the start of the wait)."""
    host, execs = runtime.host, runtime.execs
    module = host.modules[module_id]
    task = asyncio.current_task()
    assert task is not None
    execs.started(credential, task)
    try:
        async with asyncio.timeout(module.config.load_timeout):
            await host.settled(module)
    except TimeoutError:
        message = f"module {module_id} did not finish starting in time"
        runtime.metrics.execs.failed(ErrorCode.UNEXPECTED_FAILURE, 0.0)
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503) from None
    except asyncio.CancelledError:
        if not (execs.stopping and task.cancelling()):
            raise
        task.uncancel()
        runtime.metrics.execs.refused()
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, SHUTTING_DOWN, 503) from None
    finally:
        execs.finished(task)
    outcome = begin_routed(runtime, module_id, method, args, credential)
    return outcome if isinstance(outcome, bytes) else await outcome


async def _finish_tracked(
    runtime: Runtime, pending: Coroutine[Any, Any, bytes], credential: str, started: float
) -> bytes:
    """Await an async command, counted in the exec drain: cancelled at the end of the shutdown
    grace, it ends with error_code 7."""
    execs, stats = runtime.execs, runtime.metrics.execs
    task = asyncio.current_task()
    assert task is not None
    execs.started(credential, task)
    try:
        result = await pending
    except ExecFailure as failure:
        execs.finished(task)
        stats.failed(failure.error_code, time.perf_counter() - started)
        return await _after_barrier(runtime, failure)
    except asyncio.CancelledError:
        execs.finished(task)
        if not (execs.stopping and task.cancelling()):
            raise
        task.uncancel()
        stats.refused()
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, SHUTTING_DOWN, 503) from None
    execs.finished(task)
    stats.success(time.perf_counter() - started)
    return await _after_barrier(runtime, result)
