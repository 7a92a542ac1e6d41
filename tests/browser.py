"""Browser tests with Playwright for Python, driving Debian's headless Chromium.

Fixtures, for every test (tests/conftest.py registers this module as a plugin):

- `browser`: one Chromium for the whole test session (Playwright's async API).
- `page`: a new page for one test, in a browser context of its own (no cookies or storage
  shared with other tests), 1360 by 900; closed afterwards.
- `page_log`: what `page` logged: console errors, uncaught exceptions, dialogs (each one is
  dismissed); `page_log.assert_clean()` fails on any.

    async def test_list(page: Page, page_log: PageLog) -> None:
        await page.goto(url)
        assert await page.evaluate("document.title") == "..."
        async with page.expect_navigation():
            await page.select_option("#f-state", "down")
        page_log.assert_clean()

Another size or setting (a phone, no JavaScript): `async with open_page(browser, viewport=...,
java_script_enabled=False) as (page, log)`; the options are Playwright's `new_context` ones.

Chromium is Debian's (`executable_path`), found on PATH or installed by tests/tools.py
`require_tools`: a test fails, never skips, when it cannot be had. Playwright's own browser
builds are never downloaded. The sandbox is off: the tests run as root in CI and in containers,
where Chromium's sandbox refuses to start.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, async_playwright

from tests.tools import require_tools

VIEWPORT = {"width": 1360, "height": 900}
ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--hide-scrollbars",
    "--force-color-profile=srgb",
)


@dataclass
class PageLog:
    """The console errors, uncaught exceptions and dialogs of one page."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt texts

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"[exception] {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):  # Chromium's own errors too (CSP, failed loads)
            url = message.location.get("url")
            self.errors.append(f"[console] {message.text}" + (f" ({url})" if url else ""))

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.dialogs == []


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    chromium = require_tools({"chromium": "chromium"})["chromium"]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=list(ARGS), chromium_sandbox=False, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def open_page(browser: Browser, **context: Any) -> AsyncIterator[tuple[Page, PageLog]]:
    """A page in a new browser context (`context`: Playwright's new_context options)."""
    ctx = await browser.new_context(**{"viewport": VIEWPORT, **context})
    try:
        opened = await ctx.new_page()
        log = PageLog()
        log.watch(opened)
        yield opened, log
    finally:
        await ctx.close()


@pytest.fixture
async def _page_and_log(browser: Browser) -> AsyncIterator[tuple[Page, PageLog]]:
    async with open_page(browser) as opened:
        yield opened


@pytest.fixture
def page(_page_and_log: tuple[Page, PageLog]) -> Page:
    return _page_and_log[0]


@pytest.fixture
def page_log(_page_and_log: tuple[Page, PageLog]) -> PageLog:
    return _page_and_log[1]
