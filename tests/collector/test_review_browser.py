"""The HTML monthly review in real Chromium: it renders, in both languages, without a console error.

The report comes from the collector's API over the synthetic month (tests/collector/review_month.py)
exactly as a planner opens it from the portal's header link.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page

from collector.review.render import RENDERERS
from collector.web.app import make_app
from tests.browser import PageLog
from tests.collector.conftest import collector_config
from tests.collector.review_month import MONTH


@pytest.fixture(scope="module")
async def collector(month_db: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = make_app(collector_config(), dsn=month_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


def test_html_renderer_is_registered() -> None:
    assert "html" in RENDERERS


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_monthly_review_renders_in_chromium(
    collector: TestClient,  # type: ignore[type-arg]
    page: Page,
    page_log: PageLog,
    tmp_path: Path,
    lang: str,
) -> None:
    path = f"/api/v1/reports/monthly?format=html&month={MONTH.label}&lang={lang}"
    resp = await collector.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"

    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(str(collector.make_url(path)))
    assert await page.evaluate("document.documentElement.lang") == lang
    assert await page.evaluate("document.title")
    text = await page.evaluate("document.body.innerText")
    for name in ("Website", "JDIH", "SIPD"):  # the synthetic month's apps
        assert name in text
    assert await page.evaluate("document.querySelectorAll('svg').length") > 0
    # every chart has a size: nothing collapsed or overflowing to nothing
    sizes = await page.evaluate(
        "[...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect())"
        ".map(r => [r.width, r.height])"
    )
    assert all(w > 0 and h > 0 for w, h in sizes), sizes
    shot = tmp_path / f"review-{lang}.png"
    await page.screenshot(path=shot, full_page=True)
    shutil.copy(shot, f"/tmp/pantau-review-{lang}.png")
    assert shot.stat().st_size > 10_000
    page_log.assert_clean()
