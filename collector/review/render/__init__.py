"""Renderers of the monthly report, chosen by format: one module each.

`content` decides what the human-readable formats (HTML, Markdown) say, in the words of the
gettext catalogue (collector.i18n_catalog) and the formats of collector.formats; `svg` draws the
charts; the HTML page is the template `templates/review/review.html`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from collector.i18n_catalog import Lang
from collector.review.render.csv_report import render_csv
from collector.review.render.html import render_html
from collector.review.render.markdown import render_markdown
from collector.review.render.pdf import render_pdf
from collector.review.report import MonthlyReport

__all__ = ["RENDERERS", "Lang", "Renderer", "render_json"]

Renderer = Callable[[MonthlyReport, Lang], bytes]


def render_json(report: MonthlyReport, lang: Lang) -> bytes:
    return msgspec.json.encode(report)


# format -> (renderer, content type)
RENDERERS: Final[dict[str, tuple[Renderer, str]]] = {
    "json": (render_json, "application/json"),
    "html": (render_html, "text/html; charset=utf-8"),
    "csv": (render_csv, "text/csv; charset=utf-8"),
    "md": (render_markdown, "text/markdown; charset=utf-8"),
    "pdf": (render_pdf, "application/pdf"),
}
