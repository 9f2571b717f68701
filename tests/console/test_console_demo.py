"""The console against the embedded default: sign-in, sys-demo / Calendar_1, commands, errors."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import orjson
from playwright.sync_api import Page, expect

from tests.console.pages import (
    axe_violations,
    command_form,
    execute,
    open_module,
    screenshot,
    sign_in,
    status_value,
)
from tests.console.support import ADMIN_KEY, ROOT, Served

CLI_TIMEOUT = 60


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(page: Page, demo: Served) -> None:
    page.goto(demo.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("API key").fill("not-the-key-at-all")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Refused")
    expect(alert).to_contain_text("unknown API key")
    assert page.evaluate("() => sessionStorage.length") == 0
    screenshot(page, "sign-in")

    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Systems")).to_be_visible()
    expect(page.locator("#connection-text")).to_have_text("Connected")
    expect(page.get_by_role("link", name=re.compile("sys-demo"))).to_be_visible()
    assert axe_violations(page) == []

    # the credential lives in this tab's session storage: a reload stays signed in
    page.reload()
    expect(page.get_by_role("heading", name="Systems")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    expect(page.locator("#connection-text")).to_have_text("Signed out")


def test_calendar_module_shows_status_runs_commands_and_errors(page: Page, demo: Served) -> None:
    sign_in(page, demo.url, ADMIN_KEY)
    modules = page.get_by_role("table", name="Modules of sys-demo")
    expect(modules).to_contain_text("mod-graph")
    expect(modules).to_contain_text("drivers.microsoft.graph_api:GraphAPI")
    expect(modules).to_contain_text("running")
    open_module(page, "sys-demo", "Calendar_1")
    expect(status_value(page, "connected")).to_have_text("true")
    expect(page.get_by_text("mod-graph", exact=True)).to_be_visible()

    form = execute(page, "list_users", query="amelia")
    result = form.get_by_role("status")
    expect(result).to_contain_text("amelia.hartley@emulated.example")
    expect(result).to_contain_text("HTTP 200")

    failing = execute(page, "get_user_manager", user_id="nobody@emulated.example")
    error = failing.get_by_role("alert")
    expect(error).to_contain_text("request failed")
    expect(error).to_contain_text("Request_ResourceNotFound")
    expect(error).to_contain_text("(GraphError)")
    failing.get_by_text(re.compile(r"Backtrace \(\d+ frames\)")).click()
    expect(failing.locator("pre.backtrace")).to_contain_text("get_user_manager")
    failing.get_by_text(re.compile(r"Backtrace \(\d+ frames\)")).click()
    expect(failing.get_by_role("status")).to_be_empty()

    form.get_by_text("Command line").click()
    page.get_by_role("searchbox", name="Filter commands").fill("user")
    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    screenshot(page, "module")
    assert axe_violations(page) == []
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page) == []
    screenshot(page, "module-dark")
    page.emulate_media(color_scheme="light")
    page.get_by_role("searchbox", name="Filter commands").fill("")

    # both copied command lines run the same command and print the same users
    cli = form.locator("pre.cli")
    curl_line, exec_line = cli.nth(0).inner_text(), cli.nth(1).inner_text()
    assert ADMIN_KEY not in curl_line + exec_line
    assert exec_line.startswith(".venv/bin/python -m runtime exec --url " + demo.url)
    env = {**os.environ, "RUNTIME_API_KEY": ADMIN_KEY}
    if not (ROOT / ".venv" / "bin" / "python").exists():  # not run from the project's virtualenv
        exec_line = exec_line.replace(".venv/bin/python", shlex.quote(sys.executable), 1)
    ran = subprocess.run(
        ["bash", "-c", exec_line], cwd=ROOT, env=env, capture_output=True, timeout=CLI_TIMEOUT
    )
    assert ran.returncode == 0, ran.stderr
    users = orjson.loads(ran.stdout)
    assert [u["email"] for u in users] == ["amelia.hartley@emulated.example"]
    curl = subprocess.run(
        ["bash", "-c", curl_line], env=env, capture_output=True, timeout=CLI_TIMEOUT
    )
    assert curl.returncode == 0, curl.stderr
    assert orjson.loads(curl.stdout) == users
    # the key travelled in headers and the WebSocket's query string, never into the log
    log = demo.stderr.text()
    assert "path=/api/engine/v2/systems" in log and ADMIN_KEY not in log


def test_form_fields_check_their_values_before_sending(page: Page, demo: Served) -> None:
    sign_in(page, demo.url, ADMIN_KEY)
    open_module(page, "sys-demo", "Calendar_1")
    form = execute(page, "list_users", limit="1.5")
    expect(form.get_by_role("alert")).to_contain_text("limit: must be a whole number")
    expect(form.get_by_label("limit", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_role("status")).to_be_empty()
    execute(page, "list_users", limit="1")
    expect(form.get_by_role("alert")).to_be_empty()
    expect(form.get_by_role("status")).to_contain_text('"email"')
    assert command_form(page, "list_users").get_by_label("query", exact=True).input_value() == ""
