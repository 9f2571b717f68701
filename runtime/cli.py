"""`python -m runtime serve | exec | watch | ls | interface`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import ipaddress
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from runtime.auth import generate_api_key
from runtime.cli_client import add_client_commands, run_client_command
from runtime.cli_output import print_json
from runtime.config import RuntimeConfig, load_config, load_driver_class
from runtime.driver import Driver
from runtime.errors import ConfigError
from runtime.interface import RUNTIME_VERSION, interface_of
from runtime.logs import configure_logging, get_logger
from runtime.loop_runner import run_bounded
from runtime.server import CONTROL_PATH, Runtime

API_KEY_ENV = "RUNTIME_API_KEY"
DEPLOY_DOC = "docs/deploy.md"

#: Package imported by name for `serve` without a config (it wires drivers and emulators).
EMBEDDED_DEFAULT = "embedded"

log = get_logger(component="cli")


def version_text() -> str:
    """`placeos-runtime X.Y.Z` as installed (the source tree's version otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("placeos-runtime")
    except PackageNotFoundError:
        installed = RUNTIME_VERSION
    return f"placeos-runtime {installed}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="host the configured systems")
    serve.add_argument("--config", type=Path, help="YAML config (default: the embedded demo)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        help=f"admin API key (repeatable); also read from env {API_KEY_ENV}",
    )
    serve.add_argument("--reload", action="store_true", help="hot-reload drivers and config")
    serve.add_argument(
        "--check",
        action="store_true",
        help="validate --config (and import its drivers), print the result and exit; "
        "starts nothing",
    )
    serve.add_argument("--log-format", choices=["json", "console"])
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop (uvloop: pip install 'placeos-runtime[uvloop]')",
    )

    add_client_commands(commands)

    interface = commands.add_parser("interface", help="print a driver's metadata JSON")
    interface.add_argument("driver", metavar="DRIVER_IMPORT_PATH")
    return parser


# -- serve ---------------------------------------------------------------------------------


def admin_keys_with_sources(
    options: argparse.Namespace, config: RuntimeConfig
) -> tuple[list[str], str | None]:
    """The extra admin keys, each source logged (never the key); and a generated key if any."""
    for position, entry in enumerate(config.auth.api_keys):
        if entry.clearance == "admin":
            label = f" ({entry.name})" if entry.name else ""
            log.info("admin key accepted", source=f"config auth.api_keys[{position}]{label}")
    admin_keys = list(options.api_key)
    for number, _ in enumerate(options.api_key, 1):
        log.info("admin key accepted", source=f"--api-key option #{number}")
    from_env = os.environ.get(API_KEY_ENV)
    if from_env:
        admin_keys.append(from_env)
        log.warning(
            "admin key accepted",
            source=f"environment variable {API_KEY_ENV}",
            note=f"unset {API_KEY_ENV} in this shell unless it is meant as an admin key",
        )
    if admin_keys or config.auth.api_keys or config.auth.jwt is not None:
        return admin_keys, None
    generated = generate_api_key()
    log.info("admin key accepted", source="generated at start (printed once)")
    return [generated], generated


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, config: RuntimeConfig) -> None:
    """Listening beyond loopback with no proxy configured in front deserves a warning."""
    if not is_loopback(host) and not config.server.trusted_proxies:
        log.warning(
            "listening beyond loopback without a reverse proxy in front",
            host=host,
            advice=f"terminate TLS in a proxy and set server.trusted_proxies; see {DEPLOY_DOC}",
        )


async def serve(options: argparse.Namespace) -> int:
    configure_logging(options.log_format or "console", options.log_level or "info")
    async with AsyncExitStack() as stack:
        server_overrides: dict[str, Any] = {}
        banner: list[str] = []
        if options.config is not None:
            config = load_config(options.config)
            if options.check:
                counts = (
                    _count(len(config.modules), "module"),
                    _count(len(config.systems), "system"),
                )
                print(f"{options.config}: ok ({counts[0]}, {counts[1]})")
                return 0
        else:
            embedded = await importlib.import_module(EMBEDDED_DEFAULT).start_embedded(
                stack, server_overrides
            )
            config, banner = embedded.config, embedded.banner
        server = config.server
        configure_logging(
            options.log_format or server.log_format, options.log_level or server.log_level
        )
        admin_keys, generated = admin_keys_with_sources(options, config)
        runtime = Runtime(config, admin_keys=admin_keys, config_path=options.config)
        host = options.host or server.host
        port = options.port if options.port is not None else server.port
        try:
            url = await runtime.start(host, port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            print(f"error: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
            return 1
        stack.push_async_callback(runtime.stop)
        warn_if_exposed(host, config)
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


def print_interface(options: argparse.Namespace) -> int:
    driver_class = load_driver_class(options.driver)
    metadata = interface_of(driver_class, Driver).metadata
    print_json(metadata)
    return 0


def _print_config_error(exc: ConfigError) -> None:
    if len(exc.problems) > 1:
        print(f"config error: {len(exc.problems)} problems", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
    else:
        print(f"config error: {exc}", file=sys.stderr)


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
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.command == "serve" and options.check and options.config is None:
        parser.error("serve --check needs --config PATH")
    try:
        if options.command == "serve":
            return run_on_loop(serve(options), options.loop)
        if options.command == "interface":
            return print_interface(options)
        return asyncio.run(run_client_command(options))
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
