"""The monthly review as one self-contained HTML page for a head of office.

Inline CSS, inline SVG charts, no scripts and no external resources, so the file can be mailed,
archived or printed as it is; the print styles lay it out on A4 with each agency on a new page.
The page is the template `templates/review/review.html` (with `review.css`), which escapes every
piece of text whatever its origin (the catalogue's names are user input); the charts come from
collector.review.render.svg as markup it escaped itself.
"""

from __future__ import annotations

import itertools

import jinja2
from markupsafe import Markup

from collector import templating
from collector.i18n_catalog import Lang
from collector.review.render import content, svg
from collector.review.report import MonthlyReport


@templating.extend
def _block_tests(env: jinja2.Environment) -> None:
    """`{% if b is para %}`: which kind of block of the document tree a value is."""
    env.tests["para"] = lambda b: isinstance(b, content.Para)
    env.tests["figures"] = lambda b: isinstance(b, content.Figures)
    env.tests["table"] = lambda b: isinstance(b, content.Table)
    env.tests["section"] = lambda b: isinstance(b, content.Section)
    env.tests["daily_strip"] = lambda c: isinstance(c, svg.DailyStrip)


def render_html(report: MonthlyReport, lang: Lang) -> bytes:
    ids = itertools.count(1)  # chart ids: unique in the page for aria-labelledby

    def chart(c: svg.Chart) -> Markup:
        return svg.render(c, f"chart-{next(ids)}")

    doc = content.build(report, lang)
    page = templating.render(
        "review/review.html", lang, {"doc": doc, "colors": svg.COLORS, "chart": chart}
    )
    return page.encode("utf-8")
