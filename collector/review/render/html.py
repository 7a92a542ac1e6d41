"""The monthly review as one self-contained HTML page for a head of office.

Inline CSS, inline SVG charts, no scripts and no external resources, so the file can be mailed,
archived or printed as it is; the print styles lay it out on A4 with each agency on a new page.
Every piece of text is escaped here, whatever its origin (the catalogue's names are user input).
"""

from __future__ import annotations

import itertools
from html import escape

from collector.review.render import content, svg
from collector.review.render.content import (
    Block,
    ChartBlock,
    Document,
    Figures,
    Para,
    Section,
    Table,
)
from collector.review.render.i18n import Lang, t
from collector.review.report import MonthlyReport

_C = svg.COLORS
_CSS = f"""
:root {{ --ink: #263238; --muted: #607d8b; --line: #dfe5e8; --bg: #f5f7f8; --accent: #1565c0; }}
* {{ box-sizing: border-box; }}
html {{ background: var(--bg); }}
body {{ margin: 0; color: var(--ink); line-height: 1.45; font-size: 15px;
  font-family: "Segoe UI", "Noto Sans", "Helvetica Neue", Arial, sans-serif; }}
.page {{ max-width: 1000px; margin: 0 auto; padding: 28px 32px 40px; background: #fff; }}
h1 {{ font-size: 1.6rem; margin: 0 0 .2rem; }}
h1 .month {{ display: block; font-size: 2.1rem; color: var(--accent); }}
h2 {{ font-size: 1.35rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem;
  border-bottom: 2px solid var(--accent); }}
h3 {{ font-size: 1.12rem; margin: 1.6rem 0 .4rem; }}
h4 {{ font-size: 1rem; margin: 1.3rem 0 .3rem; }}
.doc-head .meta {{ margin: .1rem 0; color: var(--muted); }}
.banner {{ margin: 1rem 0 0; padding: .7rem 1rem; border-radius: 6px; font-weight: 600;
  background: #fff3e0; border: 2px solid {_C["warn"]}; color: #7a4500; }}
.badge {{ display: inline-block; min-width: 1.6em; padding: 0 .45em; margin-left: .35em;
  border-radius: 1em; background: var(--bg); border: 1px solid var(--line); color: var(--muted);
  font-size: .8em; text-align: center; vertical-align: middle; }}
.sec-meta {{ margin: 0 0 .6rem; color: var(--muted); font-size: .9rem; }}
nav.toc ol {{ margin: .3rem 0 0; padding-left: 1.4rem; columns: 2; }}
nav.toc a {{ color: var(--accent); }}
.figures {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5rem, 1fr));
  gap: .5rem; margin: .6rem 0 1rem; }}
.fig {{ margin: 0; padding: .45rem .65rem; border: 1px solid var(--line);
  border-left: 4px solid var(--line); border-radius: 4px; }}
.fig dt {{ font-size: .78rem; color: var(--muted); }}
.fig dd {{ margin: 0; }}
.fig .value {{ font-size: 1.2rem; font-weight: 650; }}
.fig .note {{ font-size: .78rem; color: var(--muted); }}
.fig-good {{ border-left-color: {_C["good"]}; }}
.fig-bad {{ border-left-color: {_C["bad"]}; }}
.fig-warn {{ border-left-color: {_C["warn"]}; }}
.fig-muted {{ border-left-color: {_C["muted"]}; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; font-size: .9rem; }}
caption {{ text-align: left; font-weight: 650; padding: .2rem 0 .35rem; }}
th, td {{ padding: .3rem .5rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: middle; }}
th {{ background: var(--bg); font-weight: 600; font-size: .82rem; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.tone-good {{ color: {_C["good"]}; }}
.tone-bad {{ color: {_C["bad"]}; font-weight: 600; }}
.tone-warn {{ color: #9a5b00; }}
.tone-muted {{ color: var(--muted); }}
td.tone-plain {{ color: inherit; }}
.empty {{ color: var(--muted); margin: .3rem 0 1rem; }}
.empty .cap {{ font-weight: 650; color: var(--ink); }}
.note {{ color: var(--muted); font-size: .88rem; }}
.warn {{ color: #7a4500; background: #fff3e0; padding: .4rem .7rem; border-radius: 4px; }}
figure {{ margin: .4rem 0 1rem; }}
figcaption {{ font-weight: 650; margin-bottom: .3rem; }}
svg.chart {{ display: block; max-width: 100%; height: auto; }}
.legend {{ margin: .3rem 0 0; font-size: .8rem; color: var(--muted); }}
.legend .key {{ display: inline-block; width: .8em; height: .8em; border-radius: 2px;
  margin: 0 .25em 0 .8em; vertical-align: -.05em; }}
.sec-agency {{ margin-top: 2.5rem; }}
.sec-app {{ margin: 1.2rem 0; padding: .2rem 1rem .4rem; border: 1px solid var(--line);
  border-radius: 6px; }}
.sec-app > h3 {{ margin-top: .8rem; }}
footer {{ margin-top: 2.5rem; padding-top: .6rem; border-top: 1px solid var(--line);
  color: var(--muted); font-size: .82rem; }}
@page {{ size: A4; margin: 18mm 12mm 18mm;
  @top-left {{ content: string(doc-title); font: 8pt sans-serif; color: #607d8b; }}
  @top-right {{ content: string(agency); font: 600 8pt sans-serif; color: #263238; }}
  @bottom-right {{ font: 8pt sans-serif; color: #607d8b; }} }}
.doc-head {{ string-set: doc-title attr(data-head); }}
.sec-agency {{ string-set: agency attr(data-head); }}
@media print {{
  html, body {{ background: #fff; font-size: 9.5pt; }}
  .page {{ max-width: none; padding: 0; }}
  * {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
  a {{ color: inherit; text-decoration: none; }}
  .scroll {{ overflow: visible; }}
  .figures {{ display: flex; flex-wrap: wrap; }}  /* PDF engines lay out grids unevenly */
  .fig {{ flex: 1 0 8.5rem; }}
  thead {{ display: table-header-group; }}
  .sec-insights, .sec-agency {{ break-before: page; }}
  h2, h3, h4, caption, figcaption {{ break-after: avoid; }}
  tr, figure, .fig, .sec-insight, .sec-app {{ break-inside: avoid; }}
}}
"""


def render_html(report: MonthlyReport, lang: Lang) -> bytes:
    return _Page(content.build(report, lang)).render().encode("utf-8")


def _e(text: str) -> str:
    return escape(text, quote=True)


class _Page:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._ids = itertools.count(1)  # chart ids: unique in the page for aria-labelledby

    def render(self) -> str:
        doc = self.doc
        head = [f'<h1>{_e(doc.title)}<span class="month">{_e(doc.month)}</span></h1>']
        head.extend(f'<p class="meta">{_e(line)}</p>' for line in doc.lines)
        if doc.warning:
            head.append(f'<p class="banner" role="alert">⚠ {_e(doc.warning)}</p>')
        toc = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.title)}</a></li>' for s in doc.sections)
        body = "".join(self.section(s, 2) for s in doc.sections)
        # Page numbers in the printed page's footer (PDF, the browser's print), in the review's
        # language; the running headers (title; the agency of the page) come from `string-set`.
        page_of = t("doc.page", doc.lang, page='" counter(page) "', pages='" counter(pages) "')
        page_css = f'@page {{ @bottom-right {{ content: "{page_of}"; }} }}'
        return (
            f'<!DOCTYPE html>\n<html lang="{_e(doc.lang)}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="Pantau">\n'
            f"<title>{_e(doc.title)} — {_e(doc.month)}</title>\n<style>{_CSS}{page_css}</style>\n</head>\n"
            f'<body>\n<div class="page">\n<header class="doc-head" data-head="{_e(doc.title)} — {_e(doc.month)}">{"".join(head)}</header>\n'
            f'<nav class="toc" aria-label="{_e(t("doc.contents", doc.lang))}">'
            f"<strong>{_e(t('doc.contents', doc.lang))}</strong><ol>{toc}</ol></nav>\n"
            f"<main>{body}</main>\n<footer><p>{_e(doc.footer)}</p></footer>\n</div>\n</body>\n</html>\n"
        )

    def section(self, s: Section, level: int) -> str:
        badge = f' <span class="badge">{_e(s.badge)}</span>' if s.badge else ""
        parts = [f'<h{level} id="{_e(s.anchor)}-h">{_e(s.title)}{badge}</h{level}>']
        if s.meta:
            parts.append(f'<p class="sec-meta">{" · ".join(_e(m) for m in s.meta)}</p>')
        parts.extend(self.block(b, level) for b in s.blocks)
        head = f' data-head="{_e(s.title)}"' if s.kind == "agency" else ""  # the running header
        return (
            f'<section class="sec sec-{_e(s.kind)}" id="{_e(s.anchor)}"{head} '
            f'aria-labelledby="{_e(s.anchor)}-h">{"".join(parts)}</section>\n'
        )

    def block(self, b: Block, level: int) -> str:
        if isinstance(b, Section):
            return self.section(b, min(level + 1, 6))
        if isinstance(b, Para):
            return f'<p class="{_e(b.tone)}">{_e(b.text)}</p>'
        if isinstance(b, Figures):
            return self.figures(b)
        if isinstance(b, Table):
            return self.table(b)
        return self.chart_block(b)

    def figures(self, f: Figures) -> str:
        items = []
        for fig in f.items:
            note = f'<dd class="note">{_e(fig.note)}</dd>' if fig.note else ""
            items.append(
                f'<div class="fig fig-{_e(fig.tone)}"><dt>{_e(fig.label)}</dt>'
                f'<dd class="value tone-{_e(fig.tone)}">{_e(fig.value)}</dd>{note}</div>'
            )
        return f'<dl class="figures">{"".join(items)}</dl>'

    def table(self, tb: Table) -> str:
        if not tb.rows:
            cap = f'<span class="cap">{_e(tb.caption)}:</span> ' if tb.caption else ""
            return f'<p class="empty">{cap}{_e(tb.empty)}</p>'
        numeric = [c.numeric for c in tb.columns]
        head = "".join(
            f'<th scope="col" class="{"num" if c.numeric else "text"}">{_e(c.label)}</th>'
            for c in tb.columns
        )
        rows = []
        for row in tb.rows:
            cells = []
            for cell, num in zip(row, numeric, strict=True):
                inner = svg.render(cell.chart, self.ident()) if cell.chart else _e(cell.text)
                cls = f"tone-{cell.tone}" + (" num" if num else "")
                cells.append(f'<td class="{_e(cls)}">{inner}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
        caption = f"<caption>{_e(tb.caption)}</caption>" if tb.caption else ""
        return (
            f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )

    def chart_block(self, b: ChartBlock) -> str:
        legend = ""
        if isinstance(b.chart, svg.DailyStrip):
            keys = "".join(
                f'<span class="key" style="background:{svg.COLORS[tone]}"></span>{_e(text)}'
                for tone, text in b.chart.legend
            )
            legend = f'<p class="legend">{keys}</p>'
        return (
            f"<figure><figcaption>{_e(b.caption)}</figcaption>"
            f"{svg.render(b.chart, self.ident())}{legend}</figure>"
        )

    def ident(self) -> str:
        return f"chart-{next(self._ids)}"
