"""The monthly review as CSV: one row per app, for spreadsheets and scripts.

UTF-8 with a byte order mark (so Excel reads the names right), comma-separated, CRLF line ends,
a single header row with stable English ids whatever the language, and machine-readable values:
dot decimals, no thousands separators, `true`/`false`, an empty cell for "none".
`csv.DictReader(io.StringIO(body.decode("utf-8-sig")))` reads it back.

Columns:

- `month` (2026-10), `month_complete` (false while the month is still running)
- `agency`, `agency_name`, `app`, `name`, `managed_by` (self|central|vendor), `provider`,
  `category`, `lifecycle`, `owner`
- `checked`: the app has at least one check
- `target_uptime`, `uptime_percent` (up / (up + down), 4 decimals; empty when nothing was
  monitored), `target_met` (empty when nothing was monitored)
- `up_minutes` (degraded included), `degraded_minutes`, `down_minutes`, `maintenance_minutes`,
  `unknown_minutes`: the month's time in each state, in minutes with up to 2 decimals
- `incidents` (outages that began in the month), `longest_outage_minutes`, `mttr_minutes`
- `usage`: the month's usage per metric, `metric=value` pairs joined by `;` (a counter's total,
  a gauge's average), e.g. `active-users=11.5;visits=89275`
- `usage_last_month`, `usage_change_percent` (change against last month; metrics without one are
  left out), `usage_peak` (gauges only): the same `metric=value;...` form
- `insights`: the planning insights that name the app, `;`-separated kinds (most_downtime,
  falling_usage, little_usage, certificates_expiring, not_monitored, consolidation)

Metric ids are slugs ([a-z0-9_-]), so `=` and `;` never occur inside them:
`dict(p.split("=", 1) for p in row["usage"].split(";") if p)`.

Free text that a spreadsheet would run as a formula gets a leading apostrophe, the usual guard
against CSV injection: text whose first character other than spaces, tabs and line breaks is
= + - @ or their fullwidth forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), and text starting with a tab or a carriage return. Numbers are
written as numbers (a negative change stays -12.5).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from typing import Final

from collector.i18n_catalog import Lang
from collector.review.monthly import AppReview, UsageFigures
from collector.review.report import MonthlyReport

COLUMNS: Final = (
    "month", "month_complete", "agency", "agency_name", "app", "name", "managed_by", "provider",
    "category", "lifecycle", "owner", "checked", "target_uptime", "uptime_percent", "target_met",
    "up_minutes", "degraded_minutes", "down_minutes", "maintenance_minutes", "unknown_minutes",
    "incidents", "longest_outage_minutes", "mttr_minutes", "usage", "usage_last_month",
    "usage_change_percent", "usage_peak", "insights",
)  # fmt: skip


def render_csv(report: MonthlyReport, lang: Lang) -> bytes:
    """`lang` is accepted for the common signature; the CSV's ids and numbers do not vary."""
    review = report.review
    agency_names = {ag.agency: ag.name for ag in review.agencies}
    named = _insights_by_app(report)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for a in review.apps:
        av = a.availability
        writer.writerow({
            "month": review.period.month,
            "month_complete": _bool(review.period.complete),
            "agency": a.agency,
            "agency_name": _text(agency_names.get(a.agency, a.agency)),
            "app": a.app,
            "name": _text(a.name),
            "managed_by": a.managed_by,
            "provider": _text(a.provider),
            "category": a.category or "",
            "lifecycle": a.lifecycle,
            "owner": _text(a.owner),
            "checked": _bool(a.checked),
            "target_uptime": _num(a.target_uptime, 4),
            "uptime_percent": _uptime(av.uptime_percent),
            "target_met": _bool(a.target_met),
            "up_minutes": _minutes(av.up_seconds),
            "degraded_minutes": _minutes(av.degraded_seconds),
            "down_minutes": _minutes(av.down_seconds),
            "maintenance_minutes": _minutes(av.maintenance_seconds),
            "unknown_minutes": _minutes(av.unknown_seconds),
            "incidents": str(a.incidents),
            "longest_outage_minutes": _minutes(a.longest_outage_seconds),
            "mttr_minutes": _minutes(a.mttr_seconds),
            **_usage(a),
            "insights": ";".join(named.get(a.app, [])),
        })  # fmt: skip
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _uptime(value: float | None) -> str:
    """Rounded down, as in the other formats: 99.94996 of a 99.95 target is not shown as 99.95."""
    if value is None:
        return ""
    if value >= 100:
        return "100"
    return _num(min(math.floor(value * 10_000 + 1e-9) / 10_000, 99.9999), 4)


def _num(value: float | None, decimals: int) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else _num(seconds / 60, 2)


def _bool(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


# What a spreadsheet may take as the start of a formula: = + - @ and their fullwidth forms
# (some spreadsheets fold those to ASCII), behind any run of blanks and line breaks, which
# they skip; a leading tab or CR per OWASP's CSV injection guidance.
_FORMULA_START = re.compile(r"[ \t\r\n]*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\t\r]")


def _text(value: str | None) -> str:
    """Free text, with one leading apostrophe when it could start a formula (CSV injection)."""
    if not value:
        return ""
    return "'" + value if _FORMULA_START.match(value) else value


def _pairs(usage: list[UsageFigures], pick: str) -> str:
    values = ((u.metric, getattr(u, pick) if pick != "figure" else _figure(u)) for u in usage)
    return ";".join(f"{metric}={_num(v, 4)}" for metric, v in values if v is not None)


def _figure(u: UsageFigures) -> float | None:
    return u.total if u.kind == "counter" else u.average


def _usage(a: AppReview) -> dict[str, str]:
    return {
        "usage": _pairs(a.usage, "figure"),
        "usage_last_month": _pairs(a.usage, "previous"),
        "usage_change_percent": _pairs(a.usage, "change_percent"),
        "usage_peak": _pairs([u for u in a.usage if u.kind == "gauge"], "peak"),
    }


def _insights_by_app(report: MonthlyReport) -> dict[str, list[str]]:
    named: dict[str, list[str]] = defaultdict(list)
    for insight in report.insights:
        apps = {item.app for item in insight.items if item.app}
        for item in insight.items:  # consolidation names its apps in a figure
            listed = item.figures.get("apps")
            if isinstance(listed, str):
                apps.update(x.strip() for x in listed.split(",") if x.strip())
        for app in sorted(apps):
            named[app].append(insight.kind)
    return named
