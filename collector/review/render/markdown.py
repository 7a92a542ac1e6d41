"""The monthly review in Markdown (GitHub-flavoured tables), for chats and wikis.

The same content as the HTML page (collector.review.render.content); charts become characters:
a usage trend is a sparkline (▁▃▇), a daily strip a row of coloured squares. Text from the
catalogue is backslash-escaped so that a name cannot turn into markup, a link or raw HTML.
"""

from __future__ import annotations

import re

from collector.i18n_catalog import Lang
from collector.review.render import content, svg
from collector.review.render.content import (
    Block,
    Cell,
    ChartBlock,
    Document,
    Figures,
    Para,
    Section,
    Table,
)
from collector.review.report import MonthlyReport

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start
# markup inside a line (emphasis, code, links, raw HTML, table cells, strikethrough, entities).
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_markdown(report: MonthlyReport, lang: Lang) -> bytes:
    return _render(content.build(report, lang)).encode("utf-8")


def _render(doc: Document) -> str:
    out = [f"# {md(doc.title)} — {md(doc.month)}", ""]
    out.append("  \n".join(md(line) for line in doc.lines))
    out.append("")
    if doc.warning:
        out.extend([f"> **⚠ {md(doc.warning)}**", ""])
    for s in doc.sections:
        out.extend(_section(s, 2))
    out.extend(["---", "", f"_{md(doc.footer)}_", ""])
    return "\n".join(out)


def _section(s: Section, level: int) -> list[str]:
    badge = f" ({md(s.badge)})" if s.badge else ""
    out = [f"{'#' * level} {md(s.title)}{badge}", ""]
    if s.meta:
        out.extend([" · ".join(md(m) for m in s.meta), ""])
    for b in s.blocks:
        out.extend(_block(b, level))
    return out


def _block(b: Block, level: int) -> list[str]:
    if isinstance(b, Section):
        return _section(b, min(level + 1, 6))
    if isinstance(b, Para):
        text = md(b.text)
        return [f"_{text}_" if b.tone == "note" else f"> {text}" if b.tone == "warn" else text, ""]
    if isinstance(b, Figures):
        return [*(_figure(f) for f in b.items), ""]
    if isinstance(b, Table):
        return _table(b)
    return _chart(b)


def _figure(f: content.Figure) -> str:
    note = f" ({md(f.note)})" if f.note else ""
    return f"- **{md(f.label)}:** {md(f.value)}{note}"


def _table(tb: Table) -> list[str]:
    caption = [f"**{md(tb.caption)}**", ""] if tb.caption else []
    if not tb.rows:
        return [*caption, f"_{md(tb.empty)}_", ""]
    head = "| " + " | ".join(md(c.label) for c in tb.columns) + " |"
    rule = "|" + "|".join(" ---: " if c.numeric else " --- " for c in tb.columns) + "|"
    rows = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in tb.rows]
    return [*caption, head, rule, *rows, ""]


def _cell(c: Cell) -> str:
    if isinstance(c.chart, svg.Trend):
        return f"`{svg.text_sparkline(c.chart.values)}`"
    return md(c.text) if c.text else " "


def _chart(b: ChartBlock) -> list[str]:
    if isinstance(b.chart, svg.DailyStrip):
        legend = " · ".join(f"{svg.text_strip([svg.Day('', tone)])} {md(text)}"
                            for tone, text in b.chart.legend)  # fmt: skip
        return [f"**{md(b.caption)}:** {svg.text_strip(b.chart.days)}", "", legend, ""]
    # the uptime bars repeat the table that follows them, which Markdown shows as well
    return []
