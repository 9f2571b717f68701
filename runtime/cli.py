"""`python -m runtime serve | exec | watch | interface`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson
import websockets

from runtime.auth import generate_api_key
from runtime.config import load_config, load_driver_class
from runtime.driver import Driver
from runtime.errors import ConfigError
from runtime.interface import interface_of
from runtime.logs import configure_logging, get_logger
from runtime.loop_runner import run_bounded
from runtime.server import CONTROL_PATH, Runtime

DEFAULT_URL = "http://127.0.0.1:8080"
#: Package imported by name for `serve` without a config (it wires drivers and emulators).
EMBEDDED_DEFAULT = "embedded"

log = get_logger(component="cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="host the configured systems")
    serve.add_argument("--config", type=Path, help="YAML config (default: the embedded demo)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--api-key", action="append", default=[], help="admin API key (repeatable)")
    serve.add_argument("--reload", action="store_true", help="hot-reload drivers and config")
    serve.add_argument("--log-format", choices=["json", "console"])
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop (uvloop: pip install 'placeos-runtime[uvloop]')",
    )

    for name, help_text in (("exec", "run one command"), ("watch", "print status changes")):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("sys")
        sub.add_argument("module", metavar="MODULE_SLUG")
        if name == "exec":
            sub.add_argument("method")
            sub.add_argument("args", nargs="*", metavar="ARG", help="JSON, else a plain string")
        else:
            sub.add_argument("status", nargs="+", metavar="STATUS")
        sub.add_argument("--url", default=os.environ.get("RUNTIME_URL", DEFAULT_URL))
        sub.add_argument("--api-key", default=os.environ.get("RUNTIME_API_KEY"))

    interface = commands.add_parser("interface", help="print a driver's metadata JSON")
    interface.add_argument("driver", metavar="DRIVER_IMPORT_PATH")
    return parser


def parse_arg(text: str) -> Any:
    """A command-line argument as JSON, falling back to the plain string."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


# -- serve ---------------------------------------------------------------------------------


async def serve(options: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        server_overrides: dict[str, Any] = {}
        banner: list[str] = []
        if options.config is not None:
            config = load_config(options.config)
        else:
            configure_logging(options.log_format or "console", options.log_level or "info")
            embedded = await importlib.import_module(EMBEDDED_DEFAULT).start_embedded(
                stack, server_overrides)
            config, banner = embedded.config, embedded.banner
        server = config.server
        configure_logging(
            options.log_format or server.log_format, options.log_level or server.log_level
        )
        admin_keys = list(options.api_key)
        if os.environ.get("RUNTIME_API_KEY"):
            admin_keys.append(os.environ["RUNTIME_API_KEY"])
        generated = None
        if not admin_keys and not config.auth.api_keys and config.auth.jwt is None:
            generated = generate_api_key()
            admin_keys.append(generated)
        runtime = Runtime(config, admin_keys=admin_keys, config_path=options.config)
        url = await runtime.start(
            options.host or server.host, options.port if options.port is not None else server.port
        )
        stack.push_async_callback(runtime.stop)
        if options.reload or server.reload:
            await _start_reloader(runtime, stack)
        if generated is not None:
            print(f"No API key configured; generated admin key: {generated}", flush=True)
        print(
            f"Runtime ready at {url} (WebSocket {url.replace('http', 'ws', 1)}{CONTROL_PATH})",
            flush=True,
        )
        for line in banner:
            print(line, flush=True)
        await _wait_for_signal()
        grace = server.shutdown_grace
        log.info("shutting down on signal; a second signal ends the grace", grace_s=grace)
        _on_signal(runtime.execs.end_grace)
    return 0


async def _start_reloader(runtime: Runtime, stack: AsyncExitStack) -> None:
    from runtime.reload import Reloader

    reloader = Reloader(runtime)
    await reloader.start()
    stack.push_async_callback(reloader.stop)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    _on_signal(stop.set)
    await stop.wait()


def _on_signal(handler: Callable[[], None]) -> None:
    """Call `handler` on SIGINT and SIGTERM (replacing what they did before)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, handler)


# -- exec / watch ----------------------------------------------------------------------------


def _control_url(base: str) -> str:
    base = base.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base + CONTROL_PATH


async def _connect(options: argparse.Namespace) -> websockets.ClientConnection:
    headers = {"X-API-Key": options.api_key} if options.api_key else {}
    return await websockets.connect(_control_url(options.url), additional_headers=headers)


def _address(slug: str) -> tuple[str, int]:
    from protocol import parse_module_slug

    return parse_module_slug(slug)


async def run_exec(options: argparse.Namespace) -> int:
    name, index = _address(options.module)
    request = {
        "id": 1,
        "cmd": "exec",
        "sys": options.sys,
        "mod": name,
        "index": index,
        "name": options.method,
        "args": [parse_arg(a) for a in options.args],
    }
    async with await _connect(options) as ws:
        await ws.send(orjson.dumps(request).decode())
        async for message in ws:
            frame = orjson.loads(message) if message != "pong" else None
            if not frame or frame.get("id") != 1 or frame.get("type") == "notify":
                continue
            if frame["type"] == "error":
                print(orjson.dumps(frame).decode(), file=sys.stderr)
                return 1
            print(orjson.dumps(frame.get("value"), option=orjson.OPT_INDENT_2).decode())
            return 0
    print("connection closed before a reply", file=sys.stderr)
    return 1


async def run_watch(options: argparse.Namespace) -> int:
    name, index = _address(options.module)
    async with await _connect(options) as ws:
        for number, status in enumerate(options.status, 1):
            request = {
                "id": number,
                "cmd": "bind",
                "sys": options.sys,
                "mod": name,
                "index": index,
                "name": status,
            }
            await ws.send(orjson.dumps(request).decode())
        async for message in ws:
            if message == "pong":
                continue
            frame = orjson.loads(message)
            if frame.get("type") == "error":
                print(orjson.dumps(frame).decode(), file=sys.stderr)
                return 1
            if frame.get("type") == "notify":
                line = {"name": frame["meta"]["name"], "value": frame.get("value")}
                print(orjson.dumps(line).decode(), flush=True)
    return 0


def print_interface(options: argparse.Namespace) -> int:
    driver_class = load_driver_class(options.driver)
    metadata = interface_of(driver_class, Driver).metadata
    print(orjson.dumps(metadata, option=orjson.OPT_INDENT_2).decode())
    return 0


def run_on_loop(coro: Coroutine[Any, Any, int], loop: str) -> int:
    """Run `coro` on asyncio's own event loop or on uvloop's (its end bounded, see
    `run_bounded`)."""
    if loop != "uvloop":
        return run_bounded(coro)
    try:
        import uvloop
    except ImportError:
        coro.close()
        print("error: --loop uvloop needs uvloop installed", file=sys.stderr)
        return 2
    return run_bounded(coro, uvloop.new_event_loop)


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    try:
        if options.command == "serve":
            return run_on_loop(serve(options), options.loop)
        if options.command == "exec":
            return asyncio.run(run_exec(options))
        if options.command == "watch":
            return asyncio.run(run_watch(options))
        return print_interface(options)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (OSError, websockets.InvalidStatus) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
