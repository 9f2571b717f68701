"""The console against a runtime hosting a small test driver: forms, live status, clearance,
debug stream and keyboard-only use."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request

import orjson
from playwright.sync_api import Page, expect

from tests.console.pages import (
    axe_violations,
    command_form,
    execute,
    focused,
    open_module,
    screenshot,
    sign_in,
    status_table,
    status_value,
    tab_to,
)
from tests.console.prefix_proxy import prefix_proxy
from tests.console.support import ADMIN_KEY, ROOT, USER_KEY, Served, bearer_token

HTTP_TIMEOUT = 10
CLI_TIMEOUT = 60
#: The console looks for new status names every 10 s; allow for a busy machine.
STATUS_REFRESH_WAIT_MS = 25000


def rest_exec(served: Served, method: str, body: str = "[]") -> bytes:
    request = urllib.request.Request(
        f"{served.url}/api/engine/v2/systems/sys-probe/Probe_1/{method}",
        data=body.encode(),
        headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
        return bytes(response.read())


def test_a_failed_module_shows_its_load_error(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, ADMIN_KEY)
    row = page.get_by_role("table", name="Modules of sys-probe").locator(
        'tr[data-module="mod-broken"]'
    )
    expect(row).to_contain_text("Broken_1")
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("on_load raised: probe hardware missing (RuntimeError)")
    page.get_by_role("link", name=re.compile("sys-probe")).click()
    expect(page.get_by_role("heading", name=re.compile("sys-probe"))).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Broken_1", exact=True).click()
    expect(page.locator(".module-info")).to_contain_text("probe hardware missing")


def test_forms_follow_the_parameter_schemas(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    form = command_form(page, "configure")
    mode = form.get_by_label("mode", exact=True)
    assert mode.evaluate("el => [...el.options].map(o => o.textContent)") == [
        "idle",
        "busy",
        "away",
    ]
    enabled = form.get_by_label("enabled", exact=True)
    assert enabled.get_attribute("type") == "checkbox" and not enabled.is_checked()
    count = form.get_by_label("count", exact=True)
    assert count.get_attribute("type") == "number" and count.get_attribute("step") == "1"
    assert count.get_attribute("placeholder") == "3"
    assert form.get_by_label("ratio", exact=True).get_attribute("step") == "any"
    tags = form.get_by_label("tags", exact=True)
    assert tags.evaluate("el => el.tagName") == "TEXTAREA"
    expect(form).to_contain_text("list[str], as JSON array · default []")
    expect(form).to_contain_text("Literal['idle', 'busy', 'away'] · required")

    # arrays and objects are checked before anything is sent
    tags.fill('{"not": "a list"}')
    form.get_by_label("options", exact=True).fill("{broken")
    form.get_by_role("button", name="Execute").click()
    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("tags: must be a JSON array")
    expect(alert).to_contain_text("options: not valid JSON")
    expect(tags).to_be_focused()
    expect(status_value(page, "mode")).to_have_text('"idle"')

    mode.select_option("busy")
    enabled.check()
    count.fill("7")
    tags.fill('["a", "b"]')
    form.get_by_label("options", exact=True).fill('{"x": 1}')
    form.get_by_role("button", name="Execute").click()
    result = form.get_by_role("status")
    expect(result).to_contain_text('"mode": "busy"')
    expect(alert).to_be_empty()
    text = result.locator("pre").inner_text()
    assert '"enabled": true' in text and '"count": 7' in text and '"ratio": 0.5' in text
    assert '"options": {\n    "x": 1\n  }' in text and '"label": null' in text
    expect(status_value(page, "mode")).to_have_text('"busy"')

    # the copied exec command survives shell quoting, negative numbers and skipped defaults
    mode.select_option("away")
    count.fill("-5")
    form.get_by_label("options", exact=True).fill("")
    form.get_by_label("label", exact=True).fill("""it's a "test" $HOME `x` \\ done""")
    form.get_by_role("button", name="Execute").click()
    expect(result).to_contain_text('"mode": "away"')
    shown = orjson.loads(result.locator("pre").inner_text())
    assert shown["label"] == """it's a "test" $HOME `x` \\ done""" and shown["count"] == -5
    form.get_by_role("button", name="Copy as exec").click()
    exec_line = page.evaluate("() => navigator.clipboard.readText()")
    assert exec_line == form.locator("pre.cli").nth(1).inner_text()
    env = {**os.environ, "RUNTIME_API_KEY": ADMIN_KEY}
    ran = subprocess.run(
        ["bash", "-c", exec_line], cwd=ROOT, env=env, capture_output=True, timeout=CLI_TIMEOUT
    )
    assert ran.returncode == 0, ran.stderr
    assert orjson.loads(ran.stdout) == shown

    failing = execute(page, "fail", reason="the probe says no")
    expect(failing.get_by_role("alert")).to_contain_text("request failed")
    expect(failing.get_by_role("alert")).to_contain_text(
        "module raised: the probe says no (ValueError)"
    )


def test_a_status_change_arrives_live_and_is_marked(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    row = status_table(page).locator('tr[data-status="counter"]')
    before = int(status_value(page, "counter").inner_text())
    changes = int(row.get_attribute("data-changes") or "0")
    rest_exec(probe, "bump", "[5]")  # from outside the page: only the binding can tell it
    expect(status_value(page, "counter")).to_have_text(str(before + 5))
    expect(row).to_have_attribute("data-changes", str(changes + 1))
    expect(row.locator("td.time")).to_have_text(re.compile(r"\d\d:\d\d:\d\d\.\d{3}"))


def test_commands_above_the_clearance_are_not_shown(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, USER_KEY)
    open_module(page, "sys-probe", "Probe_1")
    expect(command_form(page, "bump")).to_be_visible()
    expect(command_form(page, "maintenance")).to_have_count(0)
    # a protected module (name starting with "_") refuses a user everything, and says so
    page.get_by_role("link", name="sys-probe", exact=True).click()
    page.get_by_role("link", name="_Secret_1", exact=True).click()
    refusal = page.locator(".module-view .problem", has_text="The runtime refused")
    expect(refusal).to_contain_text("_Secret_1: attempted to access protected module")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, probe.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    expect(command_form(page, "maintenance")).to_be_visible()


def test_debug_stream_filters_pauses_and_clears(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    region = page.get_by_role("region", name="Debug log")
    region.get_by_role("button", name="Start debug").click()
    expect(region.get_by_role("button", name="Stop debug")).to_be_visible()
    lines = region.get_by_role("list", name="Debug lines").locator("li")

    say = command_form(page, "say")
    say.get_by_label("message", exact=True).fill("hello from the probe")
    say.get_by_label("level", exact=True).select_option("info")
    say.get_by_role("button", name="Execute").click()
    expect(lines.filter(has_text="hello from the probe")).to_have_count(1)
    say.get_by_label("message", exact=True).fill("something broke")
    say.get_by_label("level", exact=True).select_option("error")
    say.get_by_role("button", name="Execute").click()
    broke = lines.filter(has_text="something broke")
    expect(broke).to_have_count(1)
    expect(broke).to_contain_text("error")

    region.get_by_label("Minimum level").select_option("error")
    expect(lines.filter(has_text="hello from the probe")).to_be_hidden()
    expect(broke).to_be_visible()
    region.get_by_label("Minimum level").select_option("debug")

    region.get_by_role("button", name="Pause").click()
    say.get_by_label("message", exact=True).fill("held back")
    say.get_by_label("level", exact=True).select_option("info")
    say.get_by_role("button", name="Execute").click()
    expect(say.get_by_role("status")).to_contain_text("HTTP 200")
    expect(region).to_contain_text("1 held while paused")
    expect(lines.filter(has_text="held back")).to_have_count(0)
    assert axe_violations(page) == []
    screenshot(page, "debug")
    region.get_by_role("button", name="Resume").click()
    expect(lines.filter(has_text="held back")).to_have_count(1)

    region.get_by_role("button", name="Clear").click()
    expect(lines).to_have_count(0)
    region.get_by_role("button", name="Stop debug").click()
    say.get_by_label("message", exact=True).fill("after stop")
    say.get_by_role("button", name="Execute").click()
    expect(say.get_by_role("status")).to_contain_text("HTTP 200")
    rest_exec(probe, "say", '["and another"]')
    expect(lines).to_have_count(0)


def test_the_console_works_with_the_keyboard_alone(page: Page, probe: Served) -> None:
    page.goto(probe.url + "/")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Systems")).to_be_focused()
    tab_to(page, "a", "sys-probe — Probe lab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("sys-probe"))).to_be_focused()
    tab_to(page, "a", "Probe_1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Probe_1")).to_be_focused()

    tab_to(page, "input", "by", "bump")
    before = int(status_value(page, "counter").inner_text())
    page.keyboard.type("2")
    page.keyboard.press("Enter")  # submits the form
    expect(command_form(page, "bump").get_by_role("status")).to_contain_text(str(before + 2))
    expect(status_value(page, "counter")).to_have_text(str(before + 2))

    tab_to(page, "select", "mode", "configure")
    page.keyboard.press("ArrowDown")  # idle -> busy
    page.keyboard.press("Tab")
    assert focused(page) == "input|enabled|configure"
    page.keyboard.press("Space")
    tab_to(page, "button", "Execute", "configure")
    page.keyboard.press("Enter")
    result = command_form(page, "configure").get_by_role("status")
    expect(result).to_contain_text('"mode": "busy"')
    expect(result).to_contain_text('"enabled": true')

    tab_to(page, "button", "Start debug")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Stop debug")).to_be_focused()
    tab_to(page, "button", "Sign out")
    page.keyboard.press("Enter")
    expect(page.get_by_label("API key")).to_be_focused()


def test_sign_in_with_a_bearer_token(page: Page, probe: Served) -> None:
    page.goto(probe.url + "/")
    page.get_by_role("radio", name="Token (JWT)").check()
    page.get_by_label("Bearer token").fill(bearer_token(support=True, lifetime=-60))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused")
    expect(page.get_by_role("alert")).to_contain_text("expired")

    token = bearer_token(support=True)
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#connection-text")).to_have_text("Connected")
    expect(page.get_by_text("Signed in with a bearer token")).to_be_visible()
    open_module(page, "sys-probe", "Probe_1")
    expect(status_value(page, "connected")).to_have_text("true")  # bound over the WebSocket
    expect(command_form(page, "maintenance")).to_be_visible()  # the token's support claim

    form = execute(page, "bump", by="10")
    expect(form.get_by_role("status")).to_contain_text("HTTP 200")
    curl_line, exec_line = (t.text_content() or "" for t in form.locator("pre.cli").all())
    assert '"Authorization: Bearer $RUNTIME_TOKEN"' in curl_line and token not in curl_line
    assert '--token "$RUNTIME_TOKEN"' in exec_line and exec_line.endswith("-- 10")
    env = {**os.environ, "RUNTIME_TOKEN": token}
    ran = subprocess.run(["bash", "-c", curl_line], env=env, capture_output=True, timeout=10)
    assert ran.returncode == 0, ran.stderr
    expect(status_value(page, "counter")).to_have_text(ran.stdout.decode())  # live, from curl
    assert token not in probe.stderr.text()


def test_new_and_deleted_status_names_are_picked_up(page: Page, probe: Served) -> None:
    sign_in(page, probe.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    form = execute(page, "remember", name="from_console", value='{"rooms": [1, 2]}')
    expect(form.get_by_role("status")).to_contain_text("HTTP 200")
    # created by a command run here: bound at once
    pretty = '{\n  "rooms": [\n    1,\n    2\n  ]\n}'
    expect(status_value(page, "from_console")).to_have_text(pretty)
    rest_exec(probe, "remember", '["from_outside", "hello"]')
    # created elsewhere: bound at the next periodic refresh
    outside = status_value(page, "from_outside")
    expect(outside).to_have_text('"hello"', timeout=STATUS_REFRESH_WAIT_MS)
    rest_exec(probe, "remember", '["from_outside", "live now"]')
    expect(status_value(page, "from_outside")).to_have_text('"live now"')
    execute(page, "remember", name="from_console", value="null")
    expect(status_table(page).locator('tr[data-status="from_console"]')).to_have_count(0)
    rest_exec(probe, "remember", '["from_outside", null]')
    expect(status_table(page).locator('tr[data-status="from_outside"]')).to_have_count(0)


def test_the_console_works_behind_a_proxy_path_prefix(page: Page, probe: Served) -> None:
    with prefix_proxy(probe.url) as base:
        sign_in(page, base, ADMIN_KEY)  # the WebSocket goes through the proxy too
        open_module(page, "sys-probe", "Probe_1")
        expect(status_value(page, "connected")).to_have_text("true")
        form = execute(page, "bump", by="1")
        counter = form.get_by_role("status").locator("pre").inner_text()
        expect(status_value(page, "counter")).to_have_text(counter)
        curl_line = form.locator("pre.cli").first.text_content() or ""
        assert f"{base}/api/engine/v2/systems/sys-probe/Probe_1/bump" in curl_line
        env = {**os.environ, "RUNTIME_API_KEY": ADMIN_KEY}
        ran = subprocess.run(["bash", "-c", curl_line], env=env, capture_output=True, timeout=10)
        assert int(ran.stdout) == int(counter) + 1
        expect(status_value(page, "counter")).to_have_text(str(int(counter) + 1))
