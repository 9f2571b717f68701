"""The private key, client secret, assertions and tokens never reach errors, logs, status or
metadata."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.lineworks.calendar import LineWorksCalendar
from embedded.settings import lineworks_settings
from fixtures.emulator_base import RunningEmulator
from runtime import Driver
from runtime.interface import interface_of
from runtime.testing import ExecError
from tests.lineworks.helpers import (
    DAY,
    HARUTO,
    MOD,
    SYS,
    control,
    lineworks_runtime,
    wait_status,
)

SECRET = "emulated-secret"


def _leaks(text: str, key_lines: list[str], tokens: list[str]) -> list[str]:
    found = [line for line in key_lines if line in text]
    found += [token for token in tokens if token in text]
    if SECRET in text:
        found.append(SECRET)
    if "eyJ" in text:  # the start of every JWT (base64url of '{"')
        found.append("a JWT assertion")
    return found


async def _exec_error(client: Any, command: str, args: Any) -> dict[str, Any]:
    with pytest.raises(ExecError) as caught:
        await client.exec(SYS, "Calendar", command, args)
    return caught.value.frame


async def test_secrets_stay_out_of_errors_logs_status_and_metadata(
        emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    settings = lineworks_settings(emulator)["lineworks"]
    pem = Path(settings["private_key_file"]).read_text()
    key_lines = [line for line in pem.splitlines() if "-----" not in line]
    assert len(key_lines) > 10
    visible: list[str] = []
    now = int(time.time())
    # the key is given as PEM text (the file setting is left unset)
    lineworks = {"private_key": pem, "private_key_file": None}
    settings = {"lineworks": lineworks, "max_retries": 2}
    async with lineworks_runtime(emulator, settings, log_level="debug") as rt:
        async with rt.client() as client:
            await client.request({"cmd": "debug", "sys": SYS, "mod": MOD, "index": 1,
                                  "name": "debug"})
            await wait_status(client, "connected", True)
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
            await control(emulator, "POST", "faults", {"expire_tokens": True})
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
            await control(emulator, "POST", "faults", {"status": 429, "retry_after": 0.01,
                                                       "count": 1})
            await client.exec(SYS, "Calendar", "get_default_calendar", [HARUTO])
            visible.append(json.dumps(await _exec_error(
                client, "get_default_calendar", ["nobody"])))
            visible.append(json.dumps(await _exec_error(
                client, "create_calendar", [""])))
            await control(emulator, "POST", "faults", {"status": 500, "count": 3})
            visible.append(json.dumps(await _exec_error(
                client, "list_calendars", [HARUTO])))
            await control(emulator, "POST", "faults", {"down": True})
            visible.append(json.dumps(await _exec_error(
                client, "list_events", [HARUTO, now, now + DAY])))
            await control(emulator, "POST", "faults", {"down": False})
            visible.extend(json.dumps(line) for line in client.debug_lines)
            visible.extend(json.dumps(frame) for frame in client.notifications)
            assert client.debug_lines, "debug lines were captured"
        status, envelope = await rt.rest("POST", f"/api/engine/v2/systems/{SYS}/Calendar_1/"
                                                 "get_default_calendar", json=["nobody"])
        assert status != 200
        visible.append(json.dumps(envelope))
        visible.append(json.dumps((await rt.rest("GET", f"/api/engine/v2/systems/{SYS}/"
                                                        "Calendar_1"))[1]))
        visible.append(json.dumps((await rt.rest("GET", f"/api/engine/v2/systems/{SYS}/"
                                                        "functions/Calendar_1"))[1]))
        visible.append(json.dumps((await rt.rest("GET", f"/api/engine/v2/systems/{SYS}"))[1]))
        visible.append(json.dumps(dict(rt.driver(MOD).status)))
    visible.append(json.dumps(interface_of(LineWorksCalendar, Driver).metadata))
    visible.append(capsys.readouterr().err)
    tokens = list(emulator.app_state.token_scopes)
    assert len(tokens) >= 2
    text = "\n".join(visible)
    assert "token refused, re-issuing" in text and "rate limited" in text
    assert _leaks(text, key_lines, tokens) == []


async def test_bad_settings_never_echo_their_values(emulator: RunningEmulator) -> None:
    cases = [  # (lineworks settings, where the problem is reported, what names it)
        ({"client_secret": {"value": "top-secret-xyz"}}, "SettingsError",
         "lineworks.client_secret: Input should be a valid string"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n"
                         "-----END PRIVATE KEY-----"}, "LineWorksConfigError",
         "lineworks.private_key is not an unencrypted PEM RSA private key"),
        ({"client_id": "", "client_secret": ["top-secret-xyz"]}, "SettingsError",
         "lineworks.client_id: String should have at least 1 character; "
         "lineworks.client_secret: Input should be a valid string"),
    ]
    for lineworks, error_class, problem in cases:
        async with lineworks_runtime(emulator, {"lineworks": lineworks}) as rt, \
                rt.client() as client:
            frame = await _exec_error(client, "list_calendars", [HARUTO])
            status = json.dumps(dict(rt.driver(MOD).status))
            error = rt.runtime.host.modules[MOD].error or ""
        text = json.dumps(frame) + status + error
        assert "top-secret-xyz" not in text and "secret-key-material" not in text
        if error_class == "SettingsError":  # the model rejected it: the module failed to load
            assert error == f"on_load raised: invalid settings: {problem} (SettingsError)"
        else:  # a value of the right type that cannot be used: loaded, commands say why
            assert problem in frame["msg"] and frame["msg"].endswith(f"({error_class})")
