"""The review as an A4 PDF (WeasyPrint), checked the way a reader sees it: pages turned into
images with pdftoppm and into text with pdftotext (Debian's poppler-utils)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.review.render import svg
from collector.review.render.pdf import render_pdf
from collector.review.report import MonthlyReport, build_report
from collector.web.app import make_app
from tests.collector.conftest import collector_config
from tests.collector.review_month import MONTH, NOW, SETTINGS


@pytest.fixture(scope="module")
def tools(pdf_tools: dict[str, str]) -> dict[str, str]:
    return pdf_tools


async def _report(url: str, agency: str | None) -> MonthlyReport:
    conn = await asyncpg.connect(url)
    try:
        return await build_report(
            conn, month=MONTH.label, settings=SETTINGS, agency=agency, now=NOW
        )
    finally:
        await conn.close()


def _pages(pdf: Path, tools: dict[str, str]) -> list[str]:
    info = subprocess.run([tools["pdfinfo"], str(pdf)], capture_output=True, text=True, check=True)
    count = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages:")).split()[1])
    return [
        subprocess.run(
            [tools["pdftotext"], "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True, text=True, check=True,
        ).stdout
        for n in range(1, count + 1)
    ]  # fmt: skip


def _images(pdf: Path, tools: dict[str, str], out: Path) -> list[bytes]:
    """Each page as raw RGB pixels (PPM), at 40 dpi: enough to see the charts' colours."""
    subprocess.run([tools["pdftoppm"], "-r", "40", str(pdf), str(out / "page")], check=True)
    pages = []
    for path in sorted(out.glob("page-*.ppm")):
        data = path.read_bytes()
        # P6 <width> <height> 255 <pixels>: the header is four whitespace-separated fields
        fields = data.split(maxsplit=4)
        assert fields[0] == b"P6"
        pages.append(fields[4])
    return pages


def _has_colour(pixels: bytes, hex_colour: str, tolerance: int = 12) -> bool:
    want = bytes.fromhex(hex_colour.lstrip("#"))
    for i in range(0, len(pixels) - 2, 3):
        if all(abs(pixels[i + k] - want[k]) <= tolerance for k in range(3)):
            return True
    return False


async def test_agency_review_pdf_has_a4_pages_headers_numbers_and_charts(
    month_db: str, tools: dict[str, str], tmp_path: Path
) -> None:
    report = await _report(month_db, "diskominfo")
    pdf = tmp_path / "review.pdf"
    pdf.write_bytes(render_pdf(report, "id"))
    assert pdf.read_bytes().startswith(b"%PDF-")
    info = subprocess.run([tools["pdfinfo"], str(pdf)], capture_output=True, text=True, check=True)
    assert "pts (A4)" in info.stdout, info.stdout
    pages = _pages(pdf, tools)
    assert len(pages) >= 2  # the summary, then the agency on a page of its own
    for n, text in enumerate(pages, start=1):
        assert "Diskominfo" in text.splitlines()[0] or "Diskominfo" in "".join(
            text.splitlines()[:2]
        ), f"page {n} has no agency header:\n{text[:300]}"
        assert f"Halaman {n} dari {len(pages)}" in text, f"page {n} has no page number"
    assert "Tinjauan Bulanan Aplikasi" in pages[0]
    images = _images(pdf, tools, tmp_path)
    assert len(images) == len(pages)
    # the charts are drawn, not lost: the uptime bars and the daily strips are green somewhere
    assert any(_has_colour(img, svg.COLORS["good"]) for img in images)


async def test_regency_review_pdf_names_each_pages_agency_in_english(
    month_db: str, tools: dict[str, str], tmp_path: Path
) -> None:
    report = await _report(month_db, None)
    pdf = tmp_path / "regency.pdf"
    pdf.write_bytes(render_pdf(report, "en"))
    pages = _pages(pdf, tools)
    total = len(pages)
    for n, text in enumerate(pages, start=1):
        assert "Monthly Review of Government Applications" in text.splitlines()[0], n
        assert f"Page {n} of {total}" in text
    # each agency starts a page, and its name heads that page and those after it
    heads = [text.splitlines()[0] for text in pages]
    first_setda = next(i for i, text in enumerate(pages) if "Setda" in heads[i])
    first_kominfo = next(i for i, text in enumerate(pages) if "Diskominfo" in heads[i])
    assert first_kominfo < first_setda  # agencies in the review's order
    assert all("Setda" in h for h in heads[first_setda:])


async def test_pdf_over_http_is_an_attachment(
    month_db: str, tools: dict[str, str], tmp_path: Path
) -> None:
    app = make_app(collector_config(), dsn=month_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        resp = await client.get(
            "/api/v1/reports/monthly",
            params={"month": MONTH.label, "format": "pdf", "agency": "setda", "lang": "en"},
        )
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "application/pdf"
        assert (
            resp.headers["Content-Disposition"]
            == f'attachment; filename="pantau-{MONTH.label}-setda.pdf"'
        )
        pdf = tmp_path / "http.pdf"
        pdf.write_bytes(await resp.read())
    pages = _pages(pdf, tools)
    assert all("Setda" in p.splitlines()[0] for p in pages)


async def test_cli_writes_the_pdf(month_db: str, tools: dict[str, str], tmp_path: Path) -> None:
    from tests.test_cli import run

    out = tmp_path / "cli.pdf"
    code, _, err = await run(
        "-m", "collector", "report", "--month", MONTH.label, "--format", "pdf",
        "--agency", "diskominfo", "-o", str(out), env={"DATABASE_URL": month_db},
    )  # fmt: skip
    assert code == 0, err
    pages = _pages(out, tools)
    assert all("Diskominfo" in p.splitlines()[0] for p in pages)
