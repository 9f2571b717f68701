"""The owner's side of a host-to-host exec, one function for both ways it arrives (the PlaceOS
`POST /api/core/v1/command/<id>/execute` route and the exec channel).

In order: a host that does not hold the module's lease refuses (`NotHosted`, answered 421)
before anything starts; a module still STARTING is waited for (bounded by its load timeout) and
the lease checked again; the command runs with Admin clearance (the calling host checked the
client's clearance); the reply waits for the module's status writes to reach Redis, so the
caller reads what the command wrote.

Routed execs are counted like WebSocket and REST execs: in the `ExecTracker` (the shutdown drain
waits for them for `server.shutdown_grace`, then they are cancelled and answered with
`error_code` 7) and in the exec metrics. One that arrives while the host is shutting down has
not started, so it is refused as `NotHosted`: the calling host sends it to the new owner.
"""

from __future__ import annotations

import asyncio
import time
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


async def run_routed(
    runtime: Runtime,
    module_id: str,
    method: str,
    args: list[Any] | dict[str, Any],
    credential: str = PEER_CREDENTIAL,
) -> bytes:
    """Run a command sent by another host; its JSON-encoded result.

    Raises NotHosted (refused before it started) or ExecFailure (the error reply).
    """
    node = runtime.cluster
    host = runtime.host
    module = host.modules.get(module_id)
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
    task = asyncio.current_task()
    assert task is not None
    started = time.perf_counter()
    execs.started(credential, task)
    try:
        if module.state is ModuleState.STARTING:
            await _settled(runtime, module_id)
        outcome = host.start_module_exec(module, method, args, Clearance.ADMIN)
        result = outcome if isinstance(outcome, bytes) else await outcome
    except NotHosted:
        execs.finished(task)
        raise
    except ExecFailure as failure:
        execs.finished(task)
        stats.failed(failure.error_code, time.perf_counter() - started)
        await node.store.barrier()
        raise
    except asyncio.CancelledError:
        execs.finished(task)
        if not (execs.stopping and task.cancelling()):
            raise
        task.uncancel()
        stats.refused()
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, SHUTTING_DOWN, 503) from None
    execs.finished(task)
    stats.success(time.perf_counter() - started)
    await node.store.barrier()  # the caller may read what the command wrote at once
    return result


async def _settled(runtime: Runtime, module_id: str) -> None:
    """Wait for a STARTING module (bounded by its load timeout), then check the lease again."""
    module = runtime.host.modules[module_id]
    try:
        async with asyncio.timeout(module.config.load_timeout):
            await runtime.host.settled(module)
    except TimeoutError:
        message = f"module {module_id} did not finish starting in time"
        raise ExecFailure(ErrorCode.UNEXPECTED_FAILURE, message, 503) from None
    node = runtime.cluster
    if node is None or not node.hosts(module_id):
        raise NotHosted(f"module {module_id} is not hosted on {runtime.url}")
