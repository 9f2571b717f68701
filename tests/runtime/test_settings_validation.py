"""Settings validated by the runtime name the key and the rule, never the value given."""

from __future__ import annotations

from runtime.testing import run_runtime

VALIDATED = "tests.runtime.leaky_driver:Validated"
SECRET = "P1n-secret-value-0009"


async def test_invalid_settings_fail_the_module_without_showing_the_value() -> None:
    config = {
        "modules": {
            "mod-bad": {"driver": VALIDATED, "settings": {"user": "svc", "pin": SECRET}},
            "mod-ok": {"driver": VALIDATED, "name": "Fine", "settings": {"user": "a", "pin": 42}},
        },
        "systems": {"sys-1": {"name": "s", "modules": ["mod-bad", "mod-ok"]}},
    }
    async with run_runtime(config) as rt:
        bad = rt.runtime.host.modules["mod-bad"]
        assert bad.state == "failed"
        assert bad.error == (
            "on_load raised: invalid settings: pin: Input should be a valid integer, unable to "
            "parse string as an integer (SettingsError)"
        )
        status, load_error = await rt.rest(
            "GET", "/api/engine/v2/systems/sys-1/Validated_1/load_error"
        )
        assert (status, load_error) == (200, bad.error)
        async with rt.client() as client:
            assert await client.exec("sys-1", "Fine", "pin") == 42
