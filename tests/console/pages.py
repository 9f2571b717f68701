"""What the console tests do in the page: sign in, open a module, run a form, check with axe."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

HERE = Path(__file__).resolve().parent
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
#: Where screenshots go; `RUNTIME_CONSOLE_SCREENSHOTS=docs` refreshes the committed ones.
SCREENSHOTS = Path(os.environ.get("RUNTIME_CONSOLE_SCREENSHOTS") or HERE / "screenshots")
#: The impacts an axe violation must not have.
BLOCKING_IMPACTS = {"serious", "critical"}


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Systems")).to_be_visible()
    expect(page.locator("#connection-text")).to_have_text("Connected")


def open_module(page: Page, sys_id: str, slug: str) -> None:
    page.get_by_role("link", name=re.compile(re.escape(sys_id))).click()
    page.get_by_role("link", name=slug, exact=True).click()
    expect(status_table(page)).to_be_visible()


def status_table(page: Page) -> Locator:
    return page.get_by_role("table", name="Status")


def status_value(page: Page, key: str) -> Locator:
    """The value cell of one status row."""
    return status_table(page).locator(f'tr[data-status="{key}"] td').first


def command_form(page: Page, name: str) -> Locator:
    return page.get_by_role("form", name=name, exact=True)


def execute(page: Page, command: str, /, **fields: str) -> Locator:
    """Fill the fields of a command's form (text values) and press Execute; returns the form."""
    form = command_form(page, command)
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name="Execute").click()
    return form


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT.read_text())
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]


def screenshot(page: Page, name: str) -> Path:
    directory = SCREENSHOTS if SCREENSHOTS.is_absolute() else HERE.parents[1] / SCREENSHOTS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"console-{name}.png"
    page.screenshot(path=str(path))
    return path


#: Tab presses a keyboard walk may take to reach one control.
MAX_TABS = 80

_FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return "body||";
    const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
    const form = el.closest("form");
    const formName = form ? (form.dataset.command || "") : "";
    return [el.tagName.toLowerCase(), (label || el.getAttribute("aria-label") ||
            el.textContent || "").trim(), formName].join("|");
}"""


def focused(page: Page) -> str:
    """`tag|name|command` of the focused element (command: the form it is in, if any)."""
    return str(page.evaluate(_FOCUSED))


def tab_to(page: Page, tag: str, name: str, command: str | None = None) -> None:
    """Press Tab until the element `tag` named `name` (inside `command`'s form) has focus."""
    seen = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        seen.append(now)
        f_tag, f_name, f_command = now.split("|")
        if f_tag == tag and f_name == name and (command is None or f_command == command):
            return
    raise AssertionError(f"never reached {tag} {name!r} by Tab; went through {seen}")
