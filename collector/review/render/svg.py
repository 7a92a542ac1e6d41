"""Small server-side charts as inline SVG strings: uptime bars, a daily strip, a trend sparkline.

The charts take their data and their (already translated) words from the caller and escape every
piece of text. Each has a <title> and <desc> named by aria-labelledby, so a screen reader says what
it shows, and each mark has its own <title>, which browsers show on hover. Colours are fill
attributes rather than classes so a chart copied out of the page keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Final, Literal

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


def _svg(ident: str, chart: Chart, width: float, height: float, body: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" role="img" '
        f'aria-labelledby="{escape(ident)}-t {escape(ident)}-d">'
        f'<title id="{escape(ident)}-t">{escape(chart.title)}</title>'
        f'<desc id="{escape(ident)}-d">{escape(chart.desc)}</desc>{body}</svg>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uptime_bars(chart: UptimeBars, ident: str) -> str:
    label_w, plot_x, plot_w, row_h, bar_h, top = 200.0, 205.0, 400.0, 22.0, 12.0, 38.0
    width = plot_x + plot_w + 95
    height = top + row_h * len(chart.bars) + 6
    span = max(100.0 - chart.floor, 1e-9)

    def x(value: float) -> float:
        return plot_x + plot_w * (min(max(value, chart.floor), 100.0) - chart.floor) / span

    parts = [f'<text x="{width - 4:g}" y="10" text-anchor="end" style="{_FONT}" fill="{_INK}">'
             f"{escape(chart.legend)}</text>"]  # fmt: skip
    for value, text in chart.ticks:
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{top - 4:g}" y2="{height - 4:g}" '
            f'stroke="{_FAINT}"/><text x="{x(value):.1f}" y="{top - 8:g}" text-anchor="middle" '
            f'style="{_FONT}" fill="{_INK}">{escape(text)}</text>'
        )
    for i, bar in enumerate(chart.bars):
        y = top + i * row_h
        mid = y + row_h / 2
        row = [
            f"<title>{escape(bar.title)}</title>",
            f'<text x="{label_w:g}" y="{mid + 4:g}" text-anchor="end" style="{_FONT}" '
            f'fill="{_INK}">{escape(_clip(bar.label, 32))}</text>',
            f'<rect x="{plot_x:g}" y="{mid - bar_h / 2:g}" width="{plot_w:g}" height="{bar_h:g}" '
            f'fill="{_FAINT}"/>',
        ]
        if bar.value is not None:
            row.append(
                f'<rect x="{plot_x:g}" y="{mid - bar_h / 2:g}" width="{x(bar.value) - plot_x:.1f}" '
                f'height="{bar_h:g}" fill="{COLORS[bar.tone]}"/>'
            )
        if bar.target is not None:
            row.append(
                f'<line x1="{x(bar.target):.1f}" x2="{x(bar.target):.1f}" y1="{mid - bar_h / 2 - 3:g}" '
                f'y2="{mid + bar_h / 2 + 3:g}" stroke="{_INK}" stroke-width="2"/>'
            )
        row.append(
            f'<text x="{plot_x + plot_w + 8:g}" y="{mid + 4:g}" style="{_FONT}" '
            f'fill="{COLORS[bar.tone] if bar.tone != "muted" else _INK}">{escape(bar.value_text)}</text>'
        )
        parts.append(f'<g class="bar">{"".join(row)}</g>')
    return _svg(ident, chart, width, height, "".join(parts), "bars")


def daily_strip(chart: DailyStrip, ident: str) -> str:
    cell, pitch = 16.0, 19.0
    width = max(pitch * len(chart.days), pitch)
    height = cell + 16
    parts = [
        f'<rect x="{i * pitch:g}" y="0" width="{cell:g}" height="{cell:g}" rx="2" '
        f'fill="{COLORS[day.tone]}"><title>{escape(day.title)}</title></rect>'
        for i, day in enumerate(chart.days)
    ]
    parts.extend(
        f'<text x="{i * pitch + cell / 2:g}" y="{height - 2:g}" text-anchor="middle" '
        f'style="{_FONT}" fill="{_INK}">{escape(text)}</text>'
        for i, text in chart.ticks
    )
    return _svg(ident, chart, width, height, "".join(parts), "strip")


def trend(chart: Trend, ident: str) -> str:
    width, height, pad = 160.0, 34.0, 2.0
    n = max(len(chart.values), 1)
    top = max((v for v in chart.values if v is not None), default=0.0)
    scale = (height - 2 * pad) / top if top > 0 else 0.0
    step = width / n
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
    return _svg(ident, chart, width, height, "".join(parts), "trend")


def render(chart: Chart, ident: str) -> str:
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
