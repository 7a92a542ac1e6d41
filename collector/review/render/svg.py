"""Small server-side charts as inline SVG: uptime bars, a daily strip, a trend sparkline.

The charts take their data and their (already translated) words from the caller and return
markupsafe's Markup, built with `Markup.format`, which escapes every value put in (the templates
take it as it is). Each has a <title> and <desc> named by aria-labelledby, so a screen reader says what
it shows, and each mark has its own <title>, which browsers show on hover. Colours are fill
attributes rather than classes so a chart copied out of the page keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from markupsafe import Markup

from collector.templating import markup

Tone = Literal["plain", "good", "ok", "warn", "bad", "muted"]

COLORS: Final[dict[Tone, str]] = {
    "plain": "#37474f",
    "good": "#2e7d32",  # up all the time / target met
    "ok": "#9ccc65",  # some downtime, still on target
    "warn": "#ef8f00",
    "bad": "#c62828",  # below target
    "muted": "#cfd8dc",  # no data
}
_INK = "#263238"
_FAINT = "#eceff1"
_FONT = "font-family:inherit;font-size:11px"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None  # percent; None: nothing monitored
    target: float | None
    value_text: str
    title: str  # the whole sentence, for the hover title
    tone: Tone


@dataclass(frozen=True, slots=True)
class UptimeBars:
    title: str
    desc: str
    bars: list[Bar]
    floor: float  # the scale's left edge; uptime lives between 95 and 100, so 0 would hide it
    ticks: list[tuple[float, str]]
    legend: str  # what the target mark means


@dataclass(frozen=True, slots=True)
class Day:
    title: str
    tone: Tone


@dataclass(frozen=True, slots=True)
class DailyStrip:
    title: str
    desc: str
    days: list[Day]
    ticks: list[tuple[int, str]]  # day index -> label under it
    legend: list[tuple[Tone, str]]  # drawn by the page around the chart


@dataclass(frozen=True, slots=True)
class Trend:
    title: str
    desc: str
    values: list[float | None]  # one a day; None: no data that day
    style: Literal["bars", "line"]  # counters: used per day; gauges: the day's level


Chart = UptimeBars | DailyStrip | Trend


def _join(parts: Iterable[Markup]) -> Markup:
    return Markup("").join(parts)


def _svg(ident: str, chart: Chart, width: float, height: float, body: Markup, kind: str) -> Markup:
    return markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        'viewBox="0 0 {w:g} {h:g}" width="{w:g}" height="{h:g}" role="img" '
        'aria-labelledby="{id}-t {id}-d">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>{body}</svg>',
        kind=kind,
        w=width,
        h=height,
        id=ident,
        title=chart.title,
        desc=chart.desc,
        body=body,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TEXT = '<text x="{x:g}" y="{y:g}" style="{font}" fill="{fill}"{anchor}>{text}</text>'


def _text(x: float, y: float, text: str, *, fill: str = _INK, anchor: str = "") -> Markup:
    end = markup(' text-anchor="{}"', anchor) if anchor else ""
    return markup(_TEXT, x=x, y=y, font=_FONT, fill=fill, anchor=end, text=text)


def uptime_bars(chart: UptimeBars, ident: str) -> Markup:
    label_w, plot_x, plot_w, row_h, bar_h, top = 200.0, 205.0, 400.0, 22.0, 12.0, 38.0
    width = plot_x + plot_w + 95
    height = top + row_h * len(chart.bars) + 6
    span = max(100.0 - chart.floor, 1e-9)

    def x(value: float) -> float:
        return round(
            plot_x + plot_w * (min(max(value, chart.floor), 100.0) - chart.floor) / span, 1
        )

    parts = [_text(width - 4, 10, chart.legend, anchor="end")]
    for value, text in chart.ticks:
        parts.append(
            markup(
                '<line x1="{x:g}" x2="{x:g}" y1="{y1:g}" y2="{y2:g}" stroke="{faint}"/>',
                x=x(value),
                y1=top - 4,
                y2=height - 4,
                faint=_FAINT,
            )
        )
        parts.append(_text(x(value), top - 8, text, anchor="middle"))
    for i, bar in enumerate(chart.bars):
        mid = top + i * row_h + row_h / 2
        rect = '<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}"/>'
        row = [
            markup("<title>{}</title>", bar.title),
            _text(label_w, mid + 4, _clip(bar.label, 32), anchor="end"),
            markup(rect, x=plot_x, y=mid - bar_h / 2, w=plot_w, h=bar_h, fill=_FAINT),
        ]
        if bar.value is not None:
            row.append(
                markup(
                    rect,
                    x=plot_x,
                    y=mid - bar_h / 2,
                    w=round(x(bar.value) - plot_x, 1),
                    h=bar_h,
                    fill=COLORS[bar.tone],
                )
            )
        if bar.target is not None:
            row.append(
                markup(
                    '<line x1="{x:g}" x2="{x:g}" y1="{y1:g}" y2="{y2:g}" stroke="{ink}" '
                    'stroke-width="2"/>',
                    x=x(bar.target),
                    y1=mid - bar_h / 2 - 3,
                    y2=mid + bar_h / 2 + 3,
                    ink=_INK,
                )
            )
        fill = COLORS[bar.tone] if bar.tone != "muted" else _INK
        row.append(_text(plot_x + plot_w + 8, mid + 4, bar.value_text, fill=fill))
        parts.append(markup('<g class="bar">{}</g>', _join(row)))
    return _svg(ident, chart, width, height, _join(parts), "bars")


def daily_strip(chart: DailyStrip, ident: str) -> Markup:
    cell, pitch = 16.0, 19.0
    width = max(pitch * len(chart.days), pitch)
    height = cell + 16
    parts = [
        markup(
            '<rect x="{x:g}" y="0" width="{c:g}" height="{c:g}" rx="2" fill="{fill}">'
            "<title>{title}</title></rect>",
            x=i * pitch,
            c=cell,
            fill=COLORS[day.tone],
            title=day.title,
        )
        for i, day in enumerate(chart.days)
    ]
    parts.extend(
        _text(i * pitch + cell / 2, height - 2, text, anchor="middle") for i, text in chart.ticks
    )
    return _svg(ident, chart, width, height, _join(parts), "strip")


def trend(chart: Trend, ident: str) -> Markup:
    width, height, pad = 160.0, 34.0, 2.0
    n = max(len(chart.values), 1)
    top = max((v for v in chart.values if v is not None), default=0.0)
    scale = (height - 2 * pad) / top if top > 0 else 0.0
    step = width / n
    # Numbers and this module's colours only (the texts go in through _svg): plain f-strings,
    # as a list page draws a sparkline on each of its hundred rows.
    parts = [f'<line x1="0" x2="{width:g}" y1="{height - pad:g}" y2="{height - pad:g}" '
             f'stroke="{_FAINT}"/>']  # fmt: skip
    if chart.style == "bars":
        parts.extend(
            f'<rect x="{i * step + 0.5:.1f}" y="{height - pad - v * scale:.1f}" '
            f'width="{max(step - 1, 0.5):.1f}" height="{v * scale:.1f}" fill="{COLORS["plain"]}"/>'
            for i, v in enumerate(chart.values)
            if v is not None
        )
    else:  # a day without data breaks the line rather than drawing through it
        runs: list[list[str]] = [[]]
        for i, v in enumerate(chart.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{i * step + step / 2:.1f},{height - pad - v * scale:.1f}")
        parts.extend(
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{COLORS["plain"]}" '
            f'stroke-width="1.5"/>'
            for run in runs
            if run
        )
    body = Markup("".join(parts))  # noqa: S704 (numbers and constants: nothing to escape)
    return _svg(ident, chart, width, height, body, "trend")


def render(chart: Chart, ident: str) -> Markup:
    if isinstance(chart, UptimeBars):
        return uptime_bars(chart, ident)
    if isinstance(chart, DailyStrip):
        return daily_strip(chart, ident)
    return trend(chart, ident)


_SPARKS = "▁▂▃▄▅▆▇█"
_SQUARES: Final[dict[Tone, str]] = {
    "good": "🟩", "ok": "🟨", "warn": "🟧", "bad": "🟥", "muted": "⬜", "plain": "⬛",
}  # fmt: skip


def text_sparkline(values: list[float | None]) -> str:
    """The trend in characters, for formats without pictures (Markdown in a chat)."""
    top = max((v for v in values if v is not None), default=0.0)
    return "".join(
        " " if v is None else _SPARKS[round(v / top * (len(_SPARKS) - 1)) if top > 0 else 0]
        for v in values
    )


def text_strip(days: list[Day]) -> str:
    return "".join(_SQUARES[d.tone] for d in days)
