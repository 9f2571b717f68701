"""`python -m runtime serve` with no config: both emulators in-process, system sys-demo."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time

import aiohttp

from tests.runtime.test_cli import run_cli, start_server


async def wait_connected(url: str, key: str, slug: str) -> None:
    status_url = f"{url}/api/engine/v2/systems/sys-demo/{slug}/connected"
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        for _ in range(50):
            async with http.get(status_url) as response:
                if await response.json() is True:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{slug} never connected to its emulator")


EMULATOR_LINE = re.compile(r"^(Microsoft Graph|LINE WORKS) emulator at (https://\S+) \(CA (.+)\)$")


async def emulator_lines(process: asyncio.subprocess.Process) -> dict[str, tuple[str, str]]:
    """The two lines printed after the ready line: name -> (base URL, CA path)."""
    assert process.stdout is not None
    found = {}
    for _ in range(2):
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        match = EMULATOR_LINE.match(line)
        assert match, line
        found[match.group(1)] = (match.group(2), match.group(3))
    return found


async def test_embedded_default_hosts_both_calendars() -> None:
    process, url, lines = await start_server()
    try:
        emulators = await emulator_lines(process)
        assert set(emulators) == {"Microsoft Graph", "LINE WORKS"}
        for base_url, ca_path in emulators.values():  # the control API is usable meanwhile
            context = ssl.create_default_context(cafile=ca_path)
            async with aiohttp.ClientSession() as http, \
                    http.get(f"{base_url}/_emulator/seed", ssl=context) as response:
                assert response.status == 200
                assert "credentials" in await response.json()
        key = next(line.split()[-1] for line in lines if "generated admin key" in line)
        await wait_connected(url, key, "Calendar_1")
        await wait_connected(url, key, "Calendar_2")
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
        process.terminate()
        await process.wait()
