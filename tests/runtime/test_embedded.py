"""`python -m runtime serve` with no config: both emulators in-process, system sys-demo."""

from __future__ import annotations

import json
import re
import ssl
import time

import aiohttp
import websockets

from runtime.testing import TestClient
from tests.runtime.test_cli import run_cli, start_server
from tests.support.serve_process import ServeProcess

#: Seconds a calendar module may take to connect to its emulator (bounds a failure only).
CONNECT_TIMEOUT = 30.0


async def wait_connected(served: ServeProcess, key: str, index: int) -> None:
    """Once Calendar_`index` of sys-demo says it is connected (from its binding's notifies)."""
    headers = {"X-API-Key": key}
    async with websockets.connect(served.ws_url, additional_headers=headers) as connection:
        client = TestClient(connection)
        try:
            await client.bind("sys-demo", "Calendar", "connected", index=index)
            while (await client.next_notify(timeout=CONNECT_TIMEOUT))["value"] is not True:
                pass
        finally:
            await client.close()


EMULATOR_LINE = re.compile(r"^(Microsoft Graph|LINE WORKS) emulator at (https://\S+) \(CA (.+)\)$")


async def emulator_lines(served: ServeProcess) -> dict[str, tuple[str, str]]:
    """The two lines printed after the ready line: name -> (base URL, CA path)."""
    after = len(served.lines)
    lines = await served.stdout.wait_until(
        lambda lines: len(lines) >= after + 2, "the two emulator lines"
    )
    found = {}
    for line in lines[after : after + 2]:
        match = EMULATOR_LINE.match(line.strip())
        assert match, line
        found[match.group(1)] = (match.group(2), match.group(3))
    return found


async def test_embedded_default_hosts_both_calendars() -> None:
    served = await start_server()
    url, lines = served.url, served.lines
    try:
        emulators = await emulator_lines(served)
        assert set(emulators) == {"Microsoft Graph", "LINE WORKS"}
        for base_url, ca_path in emulators.values():  # the control API is usable meanwhile
            context = ssl.create_default_context(cafile=ca_path)
            async with aiohttp.ClientSession() as http, \
                    http.get(f"{base_url}/_emulator/seed", ssl=context) as response:
                assert response.status == 200
                assert "credentials" in await response.json()
        key = next(line.split()[-1] for line in lines if "generated admin key" in line)
        await wait_connected(served, key, 1)
        await wait_connected(served, key, 2)
        common = ("--url", url, "--api-key", key)
        code, out, err = await run_cli(
            "exec", "sys-demo", "Calendar_1", "list_users", '"amelia"', *common
        )
        assert code == 0, err
        assert [u["email"] for u in json.loads(out)] == ["amelia.hartley@emulated.example"]
        now = int(time.time())
        code, out, err = await run_cli(
            "exec",
            "sys-demo",
            "Calendar_2",
            "list_events",
            "haruto.sato@works.example",
            str(now - 86400),
            str(now + 7 * 86400),
            *common,
        )
        assert code == 0, err
        events = json.loads(out)
        assert events
        assert all(event["mailbox"] == "haruto.sato@works.example" for event in events)
    finally:
        await served.stop()
