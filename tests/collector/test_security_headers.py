"""The monthly review gets a Content-Security-Policy as strict as its inline CSS and SVG allow."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.collector.review_month import MONTH


def _directives(policy: str) -> dict[str, str]:
    return dict((part.strip() + " ").split(" ", 1) for part in policy.split(";"))


async def test_review_html_has_a_strict_csp(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get(f"/api/v1/reports/monthly?format=html&month={MONTH.label}")
    assert resp.status == 200, await resp.text()
    policy = _directives(resp.headers["Content-Security-Policy"])
    assert policy["default-src"].strip() == "'none'"
    assert policy["script-src"].strip() == "'none'"  # the review runs no script at all
    assert policy["style-src"].strip() == "'unsafe-inline'"  # its one <style> and SVG styles
    assert policy["img-src"].strip() == "data:"
    assert policy["form-action"].strip() == "'none'"
    assert policy["base-uri"].strip() == "'none'"
    assert policy["frame-ancestors"].strip() == "'none'"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "<svg" in await resp.text()


@pytest.mark.parametrize("fmt", ["csv", "md", "json"])
async def test_review_downloads_are_not_sniffed(client: TestClient, fmt: str) -> None:  # type: ignore[type-arg]
    resp = await client.get(f"/api/v1/reports/monthly?format={fmt}&month={MONTH.label}")
    assert resp.status == 200, await resp.text()
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_portal_and_review_share_one_policy_source(client: TestClient) -> None:  # type: ignore[type-arg]
    from collector.web.security import html_security_headers

    portal = await client.get("/")
    review = await client.get(f"/api/v1/reports/monthly?format=html&month={MONTH.label}")
    for resp, own in ((portal, True), (review, False)):
        for name, value in html_security_headers(own_assets=own).items():
            assert resp.headers[name] == value, (resp.url, name)
