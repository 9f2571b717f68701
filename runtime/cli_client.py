"""The client commands of the CLI: `exec`, `watch` and `ls` against a running runtime."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import aiohttp
import orjson
import websockets

from protocol import parse_module_slug
from runtime.cli_output import (
    print_functions,
    print_json,
    print_status,
    print_systems,
    print_table,
)

DEFAULT_URL = "http://127.0.0.1:8080"
SYSTEMS_API = "/api/engine/v2/systems"
CONTROL_PATH = SYSTEMS_API + "/control"
URL_ENV, API_KEY_ENV, TOKEN_ENV = "RUNTIME_URL", "RUNTIME_API_KEY", "RUNTIME_TOKEN"
#: First wait before `watch` reconnects; doubled after each failed attempt up to the maximum.
RECONNECT_INITIAL_DELAY = 0.5
RECONNECT_MAX_DELAY = 10.0
#: How long `watch` keeps trying to reconnect by default before it exits 1.
DEFAULT_RETRY_FOR = 300.0
HTTP_TIMEOUT = 30.0


class CliFailure(Exception):
    """Ends a client command with a message on stderr and exit status 1."""


def _add_connection_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"base URL of the runtime (env {URL_ENV}; default {DEFAULT_URL})",
    )
    sub.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"API key, sent as X-API-Key (env {API_KEY_ENV})",
    )
    sub.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"JWT (or API key) sent as a bearer token (env {TOKEN_ENV})",
    )


def add_client_commands(commands: Any) -> None:
    """Add `exec`, `watch` and `ls` to the CLI's sub-command parsers."""
    run = commands.add_parser("exec", help="run one command and print its JSON result")
    run.add_argument("sys", metavar="SYS", help="system id")
    run.add_argument("module", metavar="MODULE_SLUG", help="module as Name_Index, e.g. Display_1")
    run.add_argument("method", metavar="METHOD", help="the command to run")
    run.add_argument("args", nargs="*", metavar="ARG", help="JSON, else a plain string")
    run.add_argument(
        "--args",
        dest="args_json",
        metavar="JSON",
        help="the request's args as one JSON array or object (instead of ARGs)",
    )
    _add_connection_options(run)

    watch = commands.add_parser("watch", help="print status changes as JSON lines")
    watch.add_argument("sys", metavar="SYS", help="system id")
    watch.add_argument("module", metavar="MODULE_SLUG", help="module as Name_Index, e.g. Display_1")
    watch.add_argument("status", nargs="+", metavar="STATUS", help="status names to bind")
    watch.add_argument(
        "--retry-for",
        type=float,
        default=DEFAULT_RETRY_FOR,
        metavar="SECONDS",
        help="keep reconnecting this long after the server went away, then exit 1 "
        f"(default {DEFAULT_RETRY_FOR:g}; 0 exits at once)",
    )
    _add_connection_options(watch)

    listing = commands.add_parser(
        "ls", help="list systems, a system's modules, or a module's functions and status"
    )
    listing.add_argument("sys", nargs="?", metavar="SYS", help="list this system's modules")
    listing.add_argument(
        "module", nargs="?", metavar="MODULE_SLUG", help="list this module's functions and status"
    )
    listing.add_argument("--json", action="store_true", help="print the REST JSON")
    _add_connection_options(listing)


def credential_headers(options: argparse.Namespace) -> dict[str, str]:
    """`X-API-Key` and/or `Authorization: Bearer` from the options."""
    headers = {}
    if options.api_key:
        headers["X-API-Key"] = options.api_key
    if options.token:
        headers["Authorization"] = f"Bearer {options.token}"
    return headers


def parse_arg(text: str) -> Any:
    """A command-line argument as JSON, falling back to the plain string."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _control_url(base: str) -> str:
    base = base.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base + CONTROL_PATH


def _connect(options: argparse.Namespace) -> websockets.connect:
    return websockets.connect(
        _control_url(options.url), additional_headers=credential_headers(options)
    )


async def _get(session: aiohttp.ClientSession, options: argparse.Namespace, path: str) -> Any:
    url = options.url.rstrip("/") + path
    try:
        async with session.get(url, headers=credential_headers(options)) as response:
            body = await response.read()
            status = response.status
    except aiohttp.ClientError as exc:
        raise CliFailure(f"cannot reach {options.url}: {exc}") from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if status >= 400:
        detail = data.get("error") if isinstance(data, dict) else None
        raise CliFailure(f"{status} from {path}: {detail or body.decode(errors='replace')[:200]}")
    return data


def _json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body, or {} for anything else (e.g. a proxy's HTML error page)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))


# -- exec ------------------------------------------------------------------------------------


def _exec_args(options: argparse.Namespace) -> list[Any] | dict[str, Any]:
    if options.args_json is None:
        return [parse_arg(a) for a in options.args]
    if options.args:
        raise CliFailure("give either ARGs or --args, not both")
    try:
        args = orjson.loads(options.args_json)
    except orjson.JSONDecodeError as exc:
        raise CliFailure(f"--args is not valid JSON: {exc}") from None
    if not isinstance(args, list | dict):
        raise CliFailure("--args must be a JSON array or object")
    return args


async def run_exec(options: argparse.Namespace) -> int:
    name, index = parse_module_slug(options.module)
    request = {
        "id": 1,
        "cmd": "exec",
        "sys": options.sys,
        "mod": name,
        "index": index,
        "name": options.method,
        "args": _exec_args(options),
    }
    async with _connect(options) as ws:
        await ws.send(orjson.dumps(request).decode())
        async for message in ws:
            frame = orjson.loads(message) if message != "pong" else None
            if not frame or frame.get("id") != 1 or frame.get("type") == "notify":
                continue
            if frame["type"] == "error":
                print(orjson.dumps(frame).decode(), file=sys.stderr)
                return 1
            print_json(frame.get("value"))
            return 0
    raise CliFailure("connection closed before a reply")


# -- watch -----------------------------------------------------------------------------------


async def check_target(session: aiohttp.ClientSession, options: argparse.Namespace) -> None:
    """Raise CliFailure unless the system exists and holds the module."""
    name, index = parse_module_slug(options.module)
    url = options.url.rstrip("/") + f"{SYSTEMS_API}/{options.sys}"
    try:
        async with session.get(url, headers=credential_headers(options)) as response:
            status, body = response.status, await response.read()
    except aiohttp.ClientError as exc:
        raise ConnectionError(str(exc)) from None
    data = _json_object(body)
    if status == 404:
        raise CliFailure(f"system {options.sys} not found")
    if status in (401, 403):
        raise CliFailure(f"{status}: {data.get('error', 'not allowed')}")
    if status >= 500:
        raise ConnectionError(f"HTTP {status}")
    if status >= 400:
        raise CliFailure(f"{status} from {url}")
    modules = data.get("module_data", [])
    if not any(m.get("name") == name and m.get("index") == index for m in modules):
        raise CliFailure(f"module {options.module} not found in system {options.sys}")
    status_url = f"{url}/{options.module}"
    try:
        async with session.get(status_url, headers=credential_headers(options)) as response:
            current = _json_object(await response.read()) if response.status == 200 else {}
    except aiohttp.ClientError as exc:
        raise ConnectionError(str(exc)) from None
    for status in options.status:
        if status not in current:
            print(f"note: {status} has no value yet; waiting for one", file=sys.stderr, flush=True)


async def _watch_once(options: argparse.Namespace, on_connected: Any) -> None:
    """Bind and print notifies until the connection ends (returns) or an error reply."""
    name, index = parse_module_slug(options.module)
    async with _connect(options) as ws:
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
        on_connected()
        async for message in ws:
            if message == "pong":
                continue
            frame = orjson.loads(message)
            if frame.get("type") == "error":
                raise CliFailure(orjson.dumps(frame).decode())
            if frame.get("type") == "notify":
                line = {"name": frame["meta"]["name"], "value": frame.get("value")}
                print(orjson.dumps(line).decode(), flush=True)


async def run_watch(options: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    lost_at: float | None = None
    delay = RECONNECT_INITIAL_DELAY
    connected_before = False

    def on_connected() -> None:
        nonlocal lost_at, delay, connected_before
        if lost_at is not None:
            print("reconnected", file=sys.stderr, flush=True)
        lost_at, delay, connected_before = None, RECONNECT_INITIAL_DELAY, True

    async with _session() as session:
        while True:
            try:
                await check_target(session, options)
                await _watch_once(options, on_connected)
                reason = "the server closed the connection"
            except websockets.InvalidStatus as exc:
                code = exc.response.status_code
                if code in (401, 403):
                    raise CliFailure(f"connection refused: HTTP {code}") from None
                reason = f"HTTP {code}"
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake) as exc:
                reason = str(exc) or type(exc).__name__
            if not connected_before:
                raise CliFailure(f"cannot connect to {options.url}: {reason}")
            now = loop.time()
            lost_at = now if lost_at is None else lost_at
            if now - lost_at >= options.retry_for:
                raise CliFailure(
                    f"connection lost ({reason}); gave up after {options.retry_for:g} s"
                )
            print(
                f"connection lost ({reason}); reconnecting in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)


# -- ls --------------------------------------------------------------------------------------


async def run_ls(options: argparse.Namespace) -> int:
    async with _session() as session:
        if options.sys is None:
            systems = await _get(session, options, SYSTEMS_API)
            if options.json:
                print_json(systems)
            else:
                print_systems(systems)
            return 0
        system = await _get(session, options, f"{SYSTEMS_API}/{options.sys}")
        if options.module is None:
            if options.json:
                print_json(system)
            else:
                rows = [
                    [f"{m['name']}_{m['index']}", m["id"], m["driver"], m["state"]]
                    for m in system.get("module_data", [])
                ]
                print_table(["MODULE", "ID", "DRIVER", "STATE"], rows)
            return 0
        slug = options.module
        functions = await _get(session, options, f"{SYSTEMS_API}/{options.sys}/functions/{slug}")
        status = await _get(session, options, f"{SYSTEMS_API}/{options.sys}/{slug}")
        if options.json:
            body = {"functions": functions, "status": status}
            print_json(body)
        else:
            print_functions(functions)
            print()
            print_status(status)
    return 0


async def run_client_command(options: argparse.Namespace) -> int:
    """Run `exec`, `watch` or `ls`; failures print one line on stderr and give 1."""
    runner = {"exec": run_exec, "watch": run_watch, "ls": run_ls}[options.command]
    try:
        result: int = await runner(options)
    except CliFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except websockets.InvalidStatus as exc:
        print(f"error: connection refused: HTTP {exc.response.status_code}", file=sys.stderr)
        return 1
    except (OSError, websockets.InvalidHandshake) as exc:
        print(f"error: cannot connect to {options.url}: {exc}", file=sys.stderr)
        return 1
    return result
