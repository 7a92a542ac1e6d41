"""The browser fixtures themselves (tests/browser.py): Debian's Chromium, and a log that sees
what a page gets wrong, so that a browser test's `assert_clean()` can fail."""

from __future__ import annotations

import subprocess

import pytest
from playwright.async_api import Browser, Page

from tests.browser import PageLog, open_page
from tests.tools import require_tools

BROKEN = (
    "data:text/html,<title>broken</title><script>"
    "console.error('logged'); alert('hello'); setTimeout(() => { throw new Error('boom') })"
    "</script>"
)


async def test_the_page_log_records_errors_exceptions_and_dialogs(
    page: Page, page_log: PageLog
) -> None:
    await page.goto(BROKEN)
    await page.evaluate("new Promise(r => setTimeout(r, 0))")  # after the throwing timer
    assert any("logged" in e for e in page_log.errors), page_log.errors
    assert any("boom" in e for e in page_log.errors), page_log.errors
    assert page_log.dialogs == ["hello"]  # and dismissed: the page went on
    with pytest.raises(AssertionError):
        page_log.assert_clean()


async def test_pages_are_debians_chromium_in_contexts_of_their_own(browser: Browser) -> None:
    chromium = require_tools({"chromium": "chromium"})["chromium"]
    debian = subprocess.run([chromium, "--version"], capture_output=True, text=True, check=True)
    assert browser.version in debian.stdout  # "Chromium 156.0.8078.114 built on Debian ..."
    async with open_page(browser, java_script_enabled=False) as (first, log):
        await first.goto("data:text/html,<script>document.title = 'ran'</script>")
        assert await first.title() == ""  # no script ran
        await first.context.add_cookies([{"name": "a", "value": "1", "url": "http://127.0.0.1/"}])
        async with open_page(browser) as (second, _):
            assert await second.context.cookies() == []
        log.assert_clean()
