"""End to end in Chromium (Playwright): an agency operator signs in and proposes an edit through
the form; an admin signs in with a TOTP code, sees the queue and the diff, approves; the app's
page shows the change and the audit entry naming the proposal. And the same forms without
JavaScript."""

from __future__ import annotations

import re

import pyotp
from playwright.async_api import Browser, Page, expect

from tests.browser import PageLog, open_page
from tests.collector.accounts_kit import PASSWORD, make_account, portal

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def _sign_in(page: Page, base: str, name: str, *, totp: str | None = None) -> None:
    await page.goto(f"{base}/signin?lang=en")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit] >> text=Sign in")
    if totp is not None:
        await page.fill("#code", pyotp.TOTP(totp).now())
        async with page.expect_navigation():
            await page.click("button[type=submit] >> text=Continue")
    await expect(page.locator("header")).to_contain_text(name)


async def test_a_proposal_from_the_form_to_its_approval_and_the_trail(
    browser: Browser, page: Page, page_log: PageLog, seeded_db: str
) -> None:
    await make_account(seeded_db, "op-dinkes", "agency", agency="dinkes")
    await make_account(seeded_db, "boss", "admin", totp_secret=SECRET)
    async with portal(seeded_db) as base:
        await _sign_in(page, base, "op-dinkes")
        await page.goto(f"{base}/apps/simpus?lang=en")
        async with page.expect_navigation():
            await page.click("text=Propose a change")
        await page.fill("#f-target_uptime", "98.5")
        async with page.expect_navigation():
            await page.click("button[type=submit] >> text=Propose")
        assert re.search(r"/proposals/\d+", page.url), page.url
        await expect(page.locator("#proposal-state")).to_have_text("pending")
        page_log.assert_clean()

        async with open_page(browser) as (admin, admin_log):
            await _sign_in(admin, base, "boss", totp=SECRET)
            await admin.goto(f"{base}/proposals?lang=en")
            queued = admin.locator("section.proposal").first
            await expect(queued).to_contain_text("simpus")
            await expect(queued.locator("table.diff")).to_contain_text("target_uptime")
            await expect(queued.locator("table.diff")).to_contain_text("98.5")
            async with admin.expect_navigation():
                await queued.locator("h2 a").click()
            async with admin.expect_navigation():
                await admin.click("#approve")
            await expect(admin.locator("#proposal-state")).to_have_text("approved")

            await admin.goto(f"{base}/apps/simpus?lang=en")
            changes = admin.locator("#changes")
            await expect(changes).to_contain_text("98.5")
            await expect(changes.locator(".trail-proposal").first).to_contain_text(
                "by account:op-dinkes, approved by account:boss"
            )
            admin_log.assert_clean()


async def test_the_forms_work_without_javascript(browser: Browser, seeded_db: str) -> None:
    await make_account(seeded_db, "op-dinkes", "agency", agency="dinkes")
    async with (
        portal(seeded_db) as base,
        open_page(browser, java_script_enabled=False) as (page, log),
    ):
        await _sign_in(page, base, "op-dinkes")
        await page.goto(f"{base}/apps/simpus/edit?lang=en")
        await page.fill("#f-target_uptime", "250")  # refused: shown by its field
        async with page.expect_navigation():
            await page.click("button[type=submit] >> text=Propose")
        await expect(page.locator("#e-target_uptime")).to_contain_text("100")
        await page.fill("#f-target_uptime", "97")
        await page.fill("#f-name", "SIMPUS Kabupaten")
        async with page.expect_navigation():
            await page.click("button[type=submit] >> text=Propose")
        await expect(page.locator("#proposal-state")).to_have_text("pending")
        async with page.expect_navigation():
            await page.click("button[type=submit] >> text=Withdraw")
        await expect(page.locator("#proposal-state")).to_have_text("withdrawn")
        # The refused form answered 400 (Chromium logs the status); nothing else went wrong.
        assert [e for e in log.errors if "status of 400" not in e] == [], log.errors
        assert len(log.errors) == 1
        assert log.dialogs == []
