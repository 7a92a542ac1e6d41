"""PDF renders are serialized and bounded: anonymous requests cannot pile up WeasyPrint threads.

WeasyPrint and Pango are not safe on several threads at once, and each render takes CPU seconds;
the review is readable without a token. The render is replaced by a stand-in that records how
many run at once and holds until the test lets it go, so the test decides the interleaving.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp.test_utils import TestClient

from collector.review.render import pdf

MONTH = "2026-10"


class Renders:
    """A stand-in for WeasyPrint that counts overlapping renders."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.done = 0

    def __call__(self, html: bytes) -> bytes:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            self.release.wait(timeout=30)
            return b"%PDF-1.7 stand-in"
        finally:
            with self._lock:
                self.active -= 1
                self.done += 1


async def test_concurrent_pdf_requests_are_serialized_and_bounded(
    client: TestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders = Renders()
    monkeypatch.setattr(pdf, "html_to_pdf", renders)
    n = pdf.MAX_PENDING + 6

    async def get() -> tuple[int, str | None]:
        resp = await client.get(
            "/api/v1/reports/monthly", params={"month": MONTH, "format": "pdf"}
        )  # anonymous: the catalogue is public
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")

    # The monthly mail renders in the same thread (held there first), and never gets a 503.
    mail = asyncio.create_task(pdf.html_to_pdf_async(b"<p>x</p>", bounded=False))
    async with asyncio.timeout(20):
        while renders.active == 0:
            await asyncio.sleep(0.01)
    requests = [asyncio.create_task(get()) for _ in range(n)]
    served = pdf.MAX_PENDING - 1  # the mail's render holds one place
    try:
        # While the render is held, MAX_PENDING are queued or running and the rest are refused.
        async with asyncio.timeout(20):
            while sum(t.done() for t in requests) < n - served:
                await asyncio.sleep(0.02)
        refused = [t.result() for t in requests if t.done()]
        assert refused == [(503, "5")] * (n - served)
    finally:
        renders.release.set()
    answers = await asyncio.gather(*requests)
    assert await mail == b"%PDF-1.7 stand-in"
    assert sorted(status for status, _ in answers) == [200] * served + [503] * (n - served)
    assert renders.most == 1  # never two renders at once
    assert renders.done == served + 1
    # Once the queue has drained, a new request is served again.
    assert (await get())[0] == 200
