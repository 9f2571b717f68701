"""The runtime's own CPU cost per exec, without sockets: repeatable, and fit for callgrind.

    python bench/exec_cost.py [--shape sync|async|io|all] [--execs 20000] [--depth 32]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/exec_cost.py --shape async --execs 1000      # then --execs 5000: the
                                                                  # difference / 4000 = Ir/exec

A real `Runtime` (modules, limits, metrics) and a real `Session` handle request frames as the
WebSocket handler hands them over, `depth` per loop turn; the session writes its replies to a
transport that only counts them. What is measured is therefore exactly the runtime's share of an
exec (parse, validate, resolve, call, account, encode, frame, write), without aiohttp's frame
reading and the kernel, which are the same for the raw baseline of bench/exec.py. The process
CPU time per exec is printed; under callgrind the instruction count of two runs with different
`--execs` gives the instructions per exec, which do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from _common import BENCH_CONFIG, SYS_ID, run_main

#: The driver method each command shape calls (bench/bench_driver.py).
METHODS = {"sync": "power", "async": "power_async", "io": "power_io"}
#: Execs run before measuring (caches, the first status change, interpreter warm-up).
WARMUP_EXECS = 2000
#: Loop turns a batch may take to be answered before the run is declared broken.
MAX_TURNS_PER_BATCH = 100


class CountingTransport:
    """A transport that keeps up with everything and counts the success replies written to it."""

    def __init__(self) -> None:
        self.replies = 0

    def write(self, data: bytes) -> None:
        self.replies += data.count(b'"type":"success"')

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


class OpenSocket:
    """The little of `web.WebSocketResponse` a session looks at while it only writes."""

    closed = False


def request_frame(request_id: int, method: str) -> bytes:
    return (
        b'{"id":%d,"cmd":"exec","sys":"%b","mod":"Display","index":1,"name":"%b","args":[true]}'
        % (request_id, SYS_ID.encode(), method.encode())
    )


async def run_shape(
    session: Any, transport: CountingTransport, method: str, execs: int, depth: int
) -> None:
    """`execs` requests, `depth` handed over per loop turn, each batch answered before the next."""
    frames = [request_frame(number, method) for number in range(depth)]
    handle = session.handle
    for _ in range(execs // depth):
        transport.replies = 0
        for frame in frames:
            handle(frame)
        for _ in range(MAX_TURNS_PER_BATCH):
            if transport.replies >= depth:
                break
            await asyncio.sleep(0)
        else:
            raise RuntimeError(f"{transport.replies} of {depth} execs of {method} succeeded")


async def main(options: argparse.Namespace) -> int:
    from runtime.auth import Principal
    from runtime.config import parse_config
    from runtime.logs import configure_logging
    from runtime.security import Clearance
    from runtime.server import Runtime
    from runtime.session import Session

    configure_logging("console", "error")
    runtime = Runtime(parse_config(BENCH_CONFIG, "<bench>"), admin_keys=[])
    await runtime.host.apply(runtime.config)
    transport = CountingTransport()
    principal = Principal("bench", Clearance.ADMIN)
    session = Session(OpenSocket(), principal, runtime.hub, transport)  # type: ignore[arg-type]
    runtime.sessions.add(session)
    shapes = list(METHODS) if options.shape == "all" else [options.shape]
    for shape in shapes:
        method = METHODS[shape]
        await run_shape(session, transport, method, WARMUP_EXECS, options.depth)
        gc.collect()
        started = time.process_time()
        await run_shape(session, transport, method, options.execs, options.depth)
        seconds = time.process_time() - started
        print(
            f"{shape:<6} {seconds / options.execs * 1e6:6.2f} us/exec  ({options.execs} execs)",
            flush=True,
        )
    session.close()
    await runtime.host.stop_all()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=[*METHODS, "all"], default="all")
    parser.add_argument("--execs", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=32, help="requests handed over per turn")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(run_main(main, parse_args()))
