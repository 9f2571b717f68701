"""The console over time: forms follow a hot-reloaded driver, and the connection is honest."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.pages import command_form, open_module, screenshot, sign_in, status_value
from tests.console.support import (
    ADMIN_KEY,
    PROBE_SOURCE,
    ProbeSite,
    Served,
    make_probe_site,
    serve_probe,
)
from tests.console.test_console_probe import rest_exec

#: Milliseconds to wait for a reconnect (backoff may have grown while the runtime was down).
RECONNECT_TIMEOUT_MS = 45000

ADDED_COMMAND = '''
    def added_later(self, flavour: Literal["plain", "spicy"] = "plain") -> str:
        """Appears after a hot reload."""
        return f"{flavour} reloaded"
'''


@pytest.fixture
def site(tmp_path: Path) -> ProbeSite:
    return make_probe_site(tmp_path)


@pytest.fixture
def reloading(site: ProbeSite) -> Iterator[Served]:
    served = serve_probe(site, reload=True)
    yield served
    served.close()


def test_forms_change_after_a_driver_edit_without_a_page_reload(
    page: Page, site: ProbeSite, reloading: Served
) -> None:
    sign_in(page, reloading.url, ADMIN_KEY)
    open_module(page, "sys-probe", "Probe_1")
    expect(command_form(page, "added_later")).to_have_count(0)
    command_form(page, "bump").get_by_label("by", exact=True).fill("4")
    page.evaluate("() => { window.consoleTestMarker = 'same page'; }")

    source = textwrap.dedent(PROBE_SOURCE).lstrip()
    source = source.replace("by: int = 1)", "by: int = 1, times: int = 1)")
    added_source = textwrap.indent(textwrap.dedent(ADDED_COMMAND), "    ")
    source = source.replace("\n\nclass Broken", added_source + "\n\nclass Broken")
    site.write_driver(source)

    added = command_form(page, "added_later")
    expect(added).to_be_visible()
    bump = command_form(page, "bump")
    expect(bump.get_by_label("times", exact=True)).to_be_visible()
    expect(bump.get_by_label("by", exact=True)).to_have_value("4")  # typed values survive
    expect(page.locator(".commands .note")).to_contain_text("the driver was reloaded")
    assert page.evaluate("() => window.consoleTestMarker") == "same page"
    expect(status_value(page, "$interface")).to_have_text(re.compile(r'"[0-9a-f]{16}"'))

    added.get_by_label("flavour", exact=True).select_option("spicy")
    added.get_by_role("button", name="Execute").click()
    expect(added.get_by_role("status")).to_contain_text('"spicy reloaded"')
    screenshot(page, "reloaded")


def test_the_connection_indicator_is_honest_and_bindings_come_back(
    page: Page, site: ProbeSite
) -> None:
    served = serve_probe(site)
    try:
        sign_in(page, served.url, ADMIN_KEY)
        open_module(page, "sys-probe", "Probe_1")
        rest_exec(served, "bump", "[2]")
        expect(status_value(page, "counter")).to_have_text("2")
        port = served.port
        served.close()

        indicator = page.locator("#connection-text")
        expect(indicator).to_have_text("Disconnected")
        expect(page.locator("#connection")).to_have_attribute("data-state", "waiting")
        expect(page.locator("#retry-text")).to_contain_text("retrying in")
        expect(page.get_by_role("button", name="Reconnect now")).to_be_visible()
        status = page.get_by_role("region", name="Status")
        expect(status).to_contain_text("the connection is down; values may be out of date")
        screenshot(page, "disconnected")

        served = serve_probe(site, port=port)
        expect(indicator).to_have_text("Connected", timeout=RECONNECT_TIMEOUT_MS)
        expect(page.get_by_role("button", name="Reconnect now")).to_be_hidden()
        expect(status.locator(".stale-note")).to_be_hidden()
        # a new process: the counter started again at 0, and the re-sent binding says so
        expect(status_value(page, "counter")).to_have_text("0")
        rest_exec(served, "bump", "[3]")
        expect(status_value(page, "counter")).to_have_text("3")
    finally:
        served.close()
