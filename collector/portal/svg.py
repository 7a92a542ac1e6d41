"""The portal's larger inline SVG charts: a labelled daily bar/line chart and the hourly state strip.

(The list's small usage trend is the monthly review's sparkline, collector/review/render/svg.py.)

Colours come from the page's stylesheet through classes (`st-up`, `st-down`, ...), so one
palette serves the badges and the charts. The charts are markupsafe's Markup, built with
`Markup.format`, which escapes every text put in; the templates take them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from collector.templating import markup


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
) -> Markup:
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
        markup(
            '<svg class="daychart" viewBox="0 0 {w} {h}" role="img" aria-label="{label}"'
            ' width="{w}" height="{h}"><title>{label}</title>',
            w=width,
            h=height,
            label=label,
        ),
        markup(
            '<line class="axis" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>',
            x1=left,
            y=_num(base),
            x2=width - right,
        ),
        markup(
            '<line class="grid" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>',
            x1=left,
            y=top,
            x2=width - right,
        ),
        markup(
            '<text class="tick" x="{x}" y="{y}">{text}</text>', x=left, y=top - 5, text=top_label
        ),
    ]
    points: list[tuple[float, float, str]] = []
    runs: list[list[tuple[float, float]]] = [[]]  # the line breaks at a day without data
    bar = (
        '<rect class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{title}</title></rect>'
    )
    for i, b in enumerate(bars):
        x = left + i * slot
        if b.value is None:
            if runs[-1]:
                runs.append([])
            out.append(
                markup(
                    bar,
                    cls="bar-none",
                    x=_num(x + slot * 0.15),
                    y=_num(base - 2),
                    w=_num(slot * 0.7),
                    h=2,
                    title=b.title,
                )
            )
            continue
        h = max(0.0, b.value) / high * plot_h
        if line:
            points.append((x + slot / 2, base - h, b.title))
            runs[-1].append((x + slot / 2, base - h))
        else:
            out.append(
                markup(
                    bar,
                    cls="bar",
                    x=_num(x + slot * 0.15),
                    y=_num(base - h),
                    w=_num(slot * 0.7),
                    h=_num(max(h, 0.5)),
                    title=b.title,
                )
            )
    for run in runs:
        if len(run) > 1:
            pts = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
            out.append(markup('<polyline class="line" points="{}"/>', pts))
    out.extend(
        markup(
            '<circle class="dot" cx="{x}" cy="{y}" r="3"><title>{title}</title></circle>',
            x=_num(x),
            y=_num(y),
            title=title,
        )
        for x, y, title in points
    )
    for i, text in x_labels:
        x = left + i * slot + slot / 2
        anchor = "start" if i == 0 else "end" if i == len(bars) - 1 else "middle"
        x = left if anchor == "start" else width - right if anchor == "end" else x
        out.append(
            markup(
                '<text class="tick" x="{x}" y="{y}" text-anchor="{anchor}">{text}</text>',
                x=_num(x),
                y=height - 5,
                anchor=anchor,
                text=text,
            )
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


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
) -> Markup:
    """Rows (one per day) of cells (one per hour), coloured by state; runs are merged.

    Each run of equal cells is one rectangle with a tooltip naming the cells it covers.
    """
    label_w, top = 78, 16
    per_row = max((len(cells) for _, cells in rows), default=24)
    width = label_w + per_row * cell
    height = top + len(rows) * (row_h + 4)
    out = [
        markup(
            '<svg class="strip" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
            "<title>{label}</title>",
            w=width,
            h=height,
            label=label,
        )
    ]
    for i, text in hour_labels:
        out.append(
            markup(
                '<text class="tick" x="{x}" y="11">{text}</text>', x=label_w + i * cell, text=text
            )
        )
    for r, (row_label, cells) in enumerate(rows):
        y = top + r * (row_h + 4)
        out.append(
            markup(
                '<text class="row-label" x="0" y="{y}">{text}</text>',
                y=y + row_h - 6,
                text=row_label,
            )
        )
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
            out.append(
                markup(
                    '<rect class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}" rx="2">'
                    "<title>{title}</title></rect>",
                    cls=f"st-{first.state}" if first.state else "st-none",
                    x=label_w + i * cell + 1,
                    y=y,
                    w=(j - i + 1) * cell - 2,
                    h=row_h,
                    title=f"{row_label} {first.start}\u2013{cells[j].end}: {first.detail}",
                )
            )
            i = j + 1
    out.append(Markup("</svg>"))
    return Markup("").join(out)
