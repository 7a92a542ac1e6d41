"""The portal's larger inline SVG charts: a labelled daily bar/line chart and the hourly state strip.

(The list's small usage trend is the monthly review's sparkline, collector/review/render/svg.py.)

Colours come from the page's stylesheet through classes (`st-up`, `st-down`, ...), so one
palette serves the badges and the charts. Every text that goes in is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Bar:
    value: float | None  # None: no data that day
    title: str  # tooltip: the day and the value, written out


def daily_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    top_label: str,
    x_labels: Sequence[tuple[int, str]],
    line: bool = False,
    width: int = 440,
    height: int = 150,
) -> str:
    """Bars (counters: the day's increase) or a line with dots (gauges: the day's average).

    `top_label` is the figure at the top of the scale; `x_labels` are (bar index, text) pairs.
    """
    left, right, top, bottom = 6.0, 6.0, 18.0, 20.0
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [b.value for b in bars if b.value is not None]
    high = max(known, default=0.0) or 1.0
    slot = plot_w / max(1, len(bars))
    base = top + plot_h
    out = [
        f'<svg class="daychart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(label)}" width="{width}" height="{height}"><title>{escape(label)}</title>',
        f'<line class="axis" x1="{left}" y1="{_num(base)}" x2="{width - right}" y2="{_num(base)}"/>',
        f'<line class="grid" x1="{left}" y1="{top}" x2="{width - right}" y2="{top}"/>',
        f'<text class="tick" x="{left}" y="{top - 5}">{escape(top_label)}</text>',
    ]
    points: list[tuple[float, float, str]] = []
    runs: list[list[tuple[float, float]]] = [[]]  # the line breaks at a day without data
    for i, b in enumerate(bars):
        x = left + i * slot
        if b.value is None:
            if runs[-1]:
                runs.append([])
            out.append(
                f'<rect class="bar-none" x="{_num(x + slot * 0.15)}" y="{_num(base - 2)}"'
                f' width="{_num(slot * 0.7)}" height="2"><title>{escape(b.title)}</title></rect>'
            )
            continue
        h = max(0.0, b.value) / high * plot_h
        if line:
            points.append((x + slot / 2, base - h, b.title))
            runs[-1].append((x + slot / 2, base - h))
        else:
            out.append(
                f'<rect class="bar" x="{_num(x + slot * 0.15)}" y="{_num(base - h)}"'
                f' width="{_num(slot * 0.7)}" height="{_num(max(h, 0.5))}">'
                f"<title>{escape(b.title)}</title></rect>"
            )
    for run in runs:
        if len(run) > 1:
            pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
            out.append(f'<polyline class="line" points="{pts}"/>')
    out.extend(
        f'<circle class="dot" cx="{_num(x)}" cy="{_num(y)}" r="3">'
        f"<title>{escape(title)}</title></circle>"
        for x, y, title in points
    )
    for i, text in x_labels:
        x = left + i * slot + slot / 2
        anchor = "start" if i == 0 else "end" if i == len(bars) - 1 else "middle"
        x = left if anchor == "start" else width - right if anchor == "end" else x
        out.append(
            f'<text class="tick" x="{_num(x)}" y="{height - 5}" text-anchor="{anchor}">'
            f"{escape(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Cell:
    state: str | None  # up, degraded, down, maintenance, unknown; None: no data
    start: str  # "08:00"
    end: str  # "09:00"
    detail: str  # the state in words, and figures; equal neighbours are drawn as one


def state_strip(
    rows: Sequence[tuple[str, Sequence[Cell]]],
    *,
    label: str,
    hour_labels: Sequence[tuple[int, str]],
    cell: int = 32,
    row_h: int = 20,
) -> str:
    """Rows (one per day) of cells (one per hour), coloured by state; runs are merged.

    Each run of equal cells is one rectangle with a tooltip naming the cells it covers.
    """
    label_w, top = 78, 16
    per_row = max((len(cells) for _, cells in rows), default=24)
    width = label_w + per_row * cell
    height = top + len(rows) * (row_h + 4)
    out = [
        f'<svg class="strip" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(label)}"><title>{escape(label)}</title>'
    ]
    for i, text in hour_labels:
        out.append(f'<text class="tick" x="{label_w + i * cell}" y="11">{escape(text)}</text>')
    for r, (row_label, cells) in enumerate(rows):
        y = top + r * (row_h + 4)
        out.append(f'<text class="row-label" x="0" y="{y + row_h - 6}">{escape(row_label)}</text>')
        i = 0
        while i < len(cells):
            j = i
            first = cells[i]
            while (
                j + 1 < len(cells)
                and cells[j + 1].state == first.state
                and cells[j + 1].detail == first.detail
            ):
                j += 1
            cls = f"st-{first.state}" if first.state else "st-none"
            titles = f"{row_label} {first.start}\u2013{cells[j].end}: {first.detail}"
            out.append(
                f'<rect class="{cls}" x="{label_w + i * cell + 1}" y="{y}"'
                f' width="{(j - i + 1) * cell - 2}" height="{row_h}" rx="2">'
                f"<title>{escape(titles)}</title></rect>"
            )
            i = j + 1
    out.append("</svg>")
    return "".join(out)
