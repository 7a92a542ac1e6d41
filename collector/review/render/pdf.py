"""The monthly review as an A4 PDF: the HTML review laid out by WeasyPrint.

Heads of office attach it to official letters. The HTML's print styles decide the layout (A4,
each agency on a new page, the title and the page's agency in the header, "page N of M" in the
footer), so the PDF and a browser's print of the HTML look alike. WeasyPrint needs Pango, HarfBuzz
and a font from the operating system (Debian: `DEBIAN_PACKAGES` below); it is
imported only when a PDF is asked for, so the other formats work without them. Rendering takes
CPU seconds for a large regency: callers on an event loop run it with `in_pdf_thread`.

WeasyPrint (and Pango under it) is not safe on several threads at once, and the review's PDF
is open to anonymous readers (`public_catalog`). So every render of the collector runs in ONE
thread, one at a time, and a caller that must not wait long (HTTP) is refused with `PdfBusy`
while `MAX_PENDING` renders are already queued or running: a flood of PDF requests costs one
core, never a crash, and the event loop goes on serving everything else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from collector.i18n_catalog import Lang
from collector.review.render.html import render_html
from collector.review.report import MonthlyReport

# What WeasyPrint loads from the operating system, as Debian packages: shared libraries by the
# name ctypes finds them under (harfbuzz-subset: without it WeasyPrint warns at import), and
# the font it lays the review out with. One list for the error below, the tests' set-up and the
# Containerfile's test.
SYSTEM_LIBRARIES: Final = {
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz-subset": "libharfbuzz-subset0",
}
FONT_FILES: Final = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf": "fonts-dejavu-core"}
DEBIAN_PACKAGES: Final = (*SYSTEM_LIBRARIES.values(), *FONT_FILES.values())


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries it needs are missing; the message says what to install."""


class PdfBusy(RuntimeError):
    """`MAX_PENDING` renders are queued or running already: ask again later."""


MAX_PENDING: Final = 4  # renders queued or running at once before a bounded caller is refused
_THREAD: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pantau-pdf")
_pending = 0
_pending_lock = threading.Lock()  # several event loops (one per thread) may share the thread


async def in_pdf_thread(render: Callable[[], bytes], *, bounded: bool) -> bytes:
    """`render()` run in the one PDF thread, after the renders queued before it.

    `bounded`: raise PdfBusy instead of queueing when MAX_PENDING are pending (HTTP requests);
    the monthly mail waits its turn.
    """
    global _pending
    with _pending_lock:
        if bounded and _pending >= MAX_PENDING:
            raise PdfBusy(f"{_pending} PDF renders are in progress; try again in a few seconds")
        _pending += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_THREAD, render)
    finally:
        with _pending_lock:
            _pending -= 1


async def render_pdf_async(report: MonthlyReport, lang: Lang, *, bounded: bool) -> bytes:
    return await in_pdf_thread(functools.partial(render_pdf, report, lang), bounded=bounded)


async def html_to_pdf_async(html: bytes, *, bounded: bool) -> bytes:
    # Looked up at call time, so a test can stand in for WeasyPrint.
    return await in_pdf_thread(lambda: html_to_pdf(html), bounded=bounded)


def render_pdf(report: MonthlyReport, lang: Lang) -> bytes:
    return html_to_pdf(render_html(report, lang))


def html_to_pdf(html: bytes) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango's shared libraries are not found
        raise PdfUnavailable(
            f"PDF needs WeasyPrint and Pango ({exc}); on Debian: apt-get install"
            f" {' '.join(DEBIAN_PACKAGES)}"
        ) from exc
    # WeasyPrint logs every CSS property it does not know (screen-only ones, here) as a warning.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    pdf: bytes = weasyprint.HTML(string=html.decode("utf-8")).write_pdf()
    return pdf
