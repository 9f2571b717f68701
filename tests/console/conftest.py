"""Fixtures for the console tests: Debian's Chromium driven by Playwright, and real runtimes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console.support import ADMIN_KEY, ProbeSite, Served, make_probe_site, serve, serve_probe

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 820}
#: Milliseconds Playwright waits for an expectation (the machine may be busy).
EXPECT_TIMEOUT_MS = 15000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium for one test.

    Function scope on purpose: the sync Playwright API keeps an event loop running in this thread
    while it is started, which would break the asyncio tests that run after these.
    """
    assert CHROMIUM.exists(), "the console tests need Debian's chromium at /usr/bin/chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The embedded default (sys-demo over the emulators) with one admin key."""
    served = serve(["--port", "0", "--api-key", ADMIN_KEY])
    yield served
    served.close()


@pytest.fixture(scope="session")
def probe_site(tmp_path_factory: pytest.TempPathFactory) -> ProbeSite:
    return make_probe_site(tmp_path_factory.mktemp("probe"))


@pytest.fixture(scope="session")
def probe(probe_site: ProbeSite) -> Iterator[Served]:
    """A runtime hosting the probe driver (and a module that fails to load)."""
    served = serve_probe(probe_site)
    yield served
    served.close()
