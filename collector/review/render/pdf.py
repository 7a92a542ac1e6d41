"""The monthly review as an A4 PDF: the HTML review laid out by WeasyPrint.

Heads of office attach it to official letters. The HTML's print styles decide the layout (A4,
each agency on a new page, the title and the page's agency in the header, "page N of M" in the
footer), so the PDF and a browser's print of the HTML look alike. WeasyPrint needs the Pango
libraries of the operating system (Debian: libpango-1.0-0, libpangoft2-1.0-0, and fonts); it is
imported only when a PDF is asked for, so the other formats work without them. Rendering takes
CPU seconds for a large regency: callers on an event loop run it in a thread.
"""

from __future__ import annotations

import logging

from collector.review.render.html import render_html
from collector.review.render.i18n import Lang
from collector.review.report import MonthlyReport


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries it needs are missing; the message says what to install."""


def render_pdf(report: MonthlyReport, lang: Lang) -> bytes:
    return html_to_pdf(render_html(report, lang))


def html_to_pdf(html: bytes) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango's shared libraries are not found
        raise PdfUnavailable(
            f"PDF needs WeasyPrint and Pango ({exc}); on Debian: apt-get install"
            " libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
        ) from exc
    # WeasyPrint logs every CSS property it does not know (screen-only ones, here) as a warning.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    pdf: bytes = weasyprint.HTML(string=html.decode("utf-8")).write_pdf()
    return pdf
