"""What the review says, decided once for every human-readable format.

`build(report, lang)` turns a MonthlyReport into a small document tree (sections, key figures,
tables, charts) whose words and numbers are already translated (the gettext catalogue,
collector.i18n_catalog) and formatted (collector.formats). The HTML template and the Markdown
renderer only lay it out, so they cannot drift apart in content. Text here is plain and
unescaped: escaping is the renderers' job.

Order: the summary (period, apps, targets, regency uptime, worst outages, most and least used
apps), the planning insights, then each agency with its apps.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from collector import formats, labels
from collector.formats import NONE
from collector.i18n_catalog import N_, NC_, Lang, translate, translate_in
from collector.review.insights import CERT_DAYS, FALLING_PERCENT, Insight, InsightItem
from collector.review.monthly import AgencyReview, AppReview, UsageFigures
from collector.review.render.svg import Bar, Chart, DailyStrip, Day, Tone, Trend, UptimeBars
from collector.review.report import MonthlyReport

# --- the document tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Para:
    text: str
    tone: Literal["plain", "note", "warn"] = "plain"


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    value: str
    note: str = ""
    tone: Tone = "plain"


@dataclass(frozen=True, slots=True)
class Figures:
    items: list[Figure]


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    tone: Tone = "plain"
    chart: Chart | None = None  # drawn where the format can draw; described in text elsewhere


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    caption: str
    columns: list[Column]
    rows: list[list[Cell]]
    empty: str = ""  # said instead of an empty table


@dataclass(frozen=True, slots=True)
class ChartBlock:
    caption: str
    chart: Chart


SectionKind = Literal["summary", "insights", "insight", "agency", "app"]


@dataclass(frozen=True, slots=True)
class Section:
    kind: SectionKind
    title: str
    anchor: str
    blocks: list[Block]
    meta: list[str] = field(default_factory=list)  # a line of facts under the title
    badge: str = ""  # a count next to the title


Block = Para | Figures | Table | ChartBlock | Section


@dataclass(frozen=True, slots=True)
class Document:
    lang: Lang
    title: str
    month: str
    lines: list[str]
    warning: str  # the month is still running; empty when complete
    sections: list[Section]
    footer: str


# --- building it -------------------------------------------------------------------------------

_TOP = 5
_SCALE_FLOORS: Final = (0.0, 50.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.8, 99.9)


def build(report: MonthlyReport, lang: Lang) -> Document:
    return _Builder(report, lang).document()


class _Builder:
    def __init__(self, report: MonthlyReport, lang: Lang) -> None:
        self.report = report
        self.review = report.review
        self.lang: Lang = lang
        self.tz = self.review.period.timezone
        self.apps = {a.app: a for a in self.review.apps}
        self.agency_names = {ag.agency: ag.name for ag in self.review.agencies}
        zone = zoneinfo.ZoneInfo(self.tz)
        first = self.review.period.start.astimezone(zone).date()
        last = self.review.period.end.astimezone(zone).date()
        self.days = [first + dt.timedelta(days=i) for i in range((last - first).days)]
        # days after this one have not happened yet when the month is still running
        self.today = min(report.generated_at, self.review.period.end).astimezone(zone).date()

    # small helpers

    def _(self, message: str, /, **values: object) -> str:
        """`message` in the review's language (extraction knows `_`; not in f-strings, which it
        does not read)."""
        return translate(self.lang, message, **values)

    def app_name(self, app: str | None) -> str:
        if app is None:
            return NONE
        return self.apps[app].name if app in self.apps else app

    def agency_name(self, agency: str | None) -> str:
        if agency is None:
            return NONE
        return self.agency_names.get(agency, agency)

    def when(self, moment: dt.datetime) -> str:
        return formats.date_time(moment, self.tz, self.lang)

    def status(self, a: AppReview) -> Cell:
        if a.target_met is None:
            return Cell(self._("Not monitored"), "muted")
        return (
            Cell(self._("Target met"), "good")
            if a.target_met
            else Cell(self._("Below target"), "bad")
        )

    def downtime(self, a: AppReview) -> str:
        """No figure rather than "0 min" for an app nobody watched."""
        monitored = a.availability.uptime_percent is not None
        return formats.duration(a.availability.down_seconds if monitored else None, self.lang)

    def target(self, value: float | None) -> str:
        return formats.target(value, self.lang)

    def usage_value(self, u: UsageFigures) -> str:
        if u.kind == "counter":
            return formats.quantity(u.total, self.lang)
        return self._("average %(average)s · peak %(peak)s", average=formats.quantity(u.average, self.lang),
                      peak=formats.quantity(u.peak, self.lang))  # fmt: skip

    def change_cell(self, value: float | None, *, partial: bool = False) -> Cell:
        if partial:  # last month only partly covered: no change is computed, and it says why
            return Cell(self._("— (last month partial)"), "muted")
        tone: Tone = "bad" if value is not None and value <= FALLING_PERCENT else "plain"
        return Cell(formats.change(value, self.lang), tone)

    def causes(self, causes: Sequence[str]) -> str:
        return ", ".join(labels.reason_name(c, self.lang) for c in causes) or NONE

    # the document

    def document(self) -> Document:
        period = self.review.period
        if self.report.agency:
            title = self._(
                "Monthly Application Review: %(agency)s",
                agency=self.agency_name(self.report.agency),
            )
        else:
            title = self._("Monthly Review of Government Applications")
        lines = [
            self._("Period: %(start)s to %(end)s (%(tz)s)", start=formats.date(self.days[0], self.lang),
                   end=formats.date(self.days[-1], self.lang), tz=formats.tz_name(period.start, self.tz)),
            self._("Generated %(at)s by Pantau", at=self.when(self.report.generated_at)),
        ]  # fmt: skip
        warning = "" if period.complete else self._(
            "Month still running: figures up to %(at)s; they will still change.",
            at=self.when(min(self.report.generated_at, period.end)))  # fmt: skip
        return Document(
            lang=self.lang, title=title, month=formats.month_name(period.month, self.lang),
            lines=lines, warning=warning,
            sections=[self.summary(), self.insights(), *self.agencies()],
            footer=self._("Uptime = up time ÷ (up time + downtime). Maintenance and time without fresh results (unknown) count neither up nor down."),
        )  # fmt: skip

    # summary

    def coverage_figures(self, ag: AgencyReview, uptime_label: str) -> list[Block]:
        """Availability in one row, coverage (how much of the catalogue is watched) in another."""
        av = ag.availability
        monitored = av.uptime_percent is not None  # else no figure rather than "0 min"
        met_tone: Tone = "plain"
        if ag.apps_monitored:
            met_tone = "good" if ag.apps_meeting_target == ag.apps_monitored else "bad"
        return [Figures([
            Figure(uptime_label, formats.uptime(av.uptime_percent, self.lang)),
            Figure(self._("Met their target"), self._("%(met)s of %(of)s", met=ag.apps_meeting_target,
                                                 of=ag.apps_monitored), tone=met_tone),
            Figure(translate_in(self.lang, "count", "Incidents"), formats.number(ag.incidents, self.lang),
                   tone="bad" if ag.incidents else "good" if monitored else "plain"),
            Figure(self._("Total downtime"),
                   formats.duration(av.down_seconds if monitored else None, self.lang)),
        ]), Figures([
            Figure(self._("Registered apps"), formats.number(ag.coverage.registered, self.lang)),
            Figure(self._("With checks"), formats.number(ag.coverage.checked, self.lang),
                   tone="warn" if ag.coverage.checked < ag.coverage.registered else "plain"),
            Figure(self._("With usage data"), formats.number(ag.coverage.with_usage, self.lang),
                   tone="warn" if ag.coverage.with_usage < ag.coverage.registered else "plain"),
        ])]  # fmt: skip

    def summary(self) -> Section:
        regency = self.review.regency
        label = self._("Uptime") if self.report.agency else self._("Regency uptime")
        blocks: list[Block] = self.coverage_figures(regency, label)
        blocks.append(self.below_target())
        blocks.append(self.worst_outages())
        blocks.extend(self.usage_ranking())
        return Section("summary", self._("Summary"), "summary", blocks)

    def below_target(self) -> Table:
        missed = sorted((a for a in self.review.apps if a.target_met is False),
                        key=lambda a: (a.availability.uptime_percent or 0.0, a.name))  # fmt: skip
        return Table(
            caption=self._("Below target"),
            columns=[Column(self._("App")), Column(self._("Agency")),
                     Column(self._("Uptime"), True), Column(self._("Target"), True),
                     Column(self._("Downtime"), True), Column(self._("Incidents"), True)],
            rows=[[Cell(a.name), Cell(self.agency_name(a.agency)),
                   Cell(formats.uptime(a.availability.uptime_percent, self.lang), "bad"),
                   Cell(self.target(a.target_uptime)),
                   Cell(formats.duration(a.availability.down_seconds, self.lang)),
                   Cell(formats.number(a.incidents, self.lang))] for a in missed],
            empty=self._("Every monitored app met its target."),
        )  # fmt: skip

    def worst_outages(self) -> Table:
        outages = sorted(((a, o) for a in self.review.apps for o in a.outages),
                         key=lambda ao: (-ao[1].duration_seconds, ao[1].started_at))[:_TOP]  # fmt: skip
        rows = []
        for a, o in outages:
            took = formats.duration(o.duration_seconds, self.lang)
            if o.ended_at is None:
                ongoing = self._("still going on")
                took = f"{took} ({ongoing})"
            rows.append([Cell(a.name), Cell(self.agency_name(a.agency)), Cell(self.when(o.started_at)),
                         Cell(took, "bad"), Cell(self.causes(o.causes))])  # fmt: skip
        return Table(
            caption=self._("Worst outages"),
            columns=[Column(self._("App")), Column(self._("Agency")),
                     Column(self._("Started")), Column(self._("Duration"), True),
                     Column(self._("Causes"))],
            rows=rows, empty=self._("No outages this month."),
        )  # fmt: skip

    def usage_ranking(self) -> list[Block]:
        """Most and least used apps by each app's headline metric (its largest counter).

        Only counters (the month's use) are ranked: a gauge's average is a level, not an amount
        of use, so apps measured only by gauges are named in a note instead. Metrics still differ
        between apps, so the metric is named next to its figure and the reader is told to
        compare with care.
        """
        ranked: list[tuple[AppReview, UsageFigures]] = []
        for a in self.review.apps:
            head = _headline(a)
            if head is not None:
                ranked.append((a, head))
        ranked.sort(key=lambda au: (-_value(au[1]), au[0].name))
        most = ranked[: min(_TOP, (len(ranked) + 1) // 2)]
        least = list(reversed(ranked[len(most) :]))[:_TOP]
        columns = [Column(self._("App")), Column(self._("Agency")),
                   Column(self._("Metric")), Column(self._("This month"), True),
                   Column(self._("Change"), True)]  # fmt: skip

        def rows(items: list[tuple[AppReview, UsageFigures]]) -> list[list[Cell]]:
            return [[Cell(a.name), Cell(self.agency_name(a.agency)),
                     Cell(labels.metric_name(u.metric, self.lang)), Cell(self.usage_value(u)),
                     self.change_cell(u.change_percent, partial=u.previous_partial)]
                    for a, u in items]  # fmt: skip

        none = self._("No usage data this month.")
        blocks: list[Block] = [
            Table(self._("Most used"), columns, rows(most), empty=none),
            Table(
                self._("Least used"),
                columns,
                rows(least),
                empty=self._("Every app with usage data is listed above.") if ranked else none,
            ),
        ]
        notes = (
            [
                self._(
                    "Each app measures its own usage (visits, logins, transactions): compare with care."
                )
            ]
            if ranked
            else []
        )
        levels = [a.name for a in self.review.apps if a.usage and _headline(a) is None]
        if levels:
            notes.append(
                self._(
                    "Measured only as a level (an average, not ranked): %(apps)s.",
                    apps=", ".join(sorted(levels, key=str.casefold)),
                )
            )
        without = [a.name for a in self.review.apps if not a.usage]
        if without:
            notes.append(
                self._(
                    "Without usage data: %(apps)s.",
                    apps=", ".join(sorted(without, key=str.casefold)),
                )
            )
        blocks.extend(Para(n, "note") for n in notes)
        return blocks

    # insights

    def insights(self) -> Section:
        order = {kind: i for i, kind in enumerate(_INSIGHT_COLUMNS)}
        parts: list[Block] = [self.insight(i) for i in sorted(self.report.insights,
                                                              key=lambda i: order.get(i.kind, 99))]  # fmt: skip
        return Section("insights", self._("Planning insights"), "insights", parts)

    def insight(self, insight: Insight) -> Section:
        spec = list(_INSIGHT_COLUMNS.get(insight.kind, []))
        known = {key for key, _, _ in spec}
        for item in insight.items:  # figures added later still show, under their own name
            for key in item.figures:
                if key not in known:
                    known.add(key)
                    spec.append((key, "", "text"))
        title, why = _INSIGHTS.get(insight.kind, (("", insight.kind), ""))
        why = self._(why, percent=formats.percent(abs(FALLING_PERCENT), self.lang, 0),
                     days=CERT_DAYS) if why else ""  # fmt: skip
        table = Table(
            caption="",
            columns=[Column(self._(label) if label else key, fmt in _NUMERIC) for key, label, fmt in spec],
            rows=[[self.insight_cell(item, key, fmt) for key, _, fmt in spec] for item in insight.items],
            empty=self._("Nothing found."),
        )  # fmt: skip
        blocks: list[Block] = [Para(why, "note"), table] if why else [table]
        return Section("insight", translate_in(self.lang, *title) if title[0] else title[1],
                       f"insight-{insight.kind}", blocks, badge=str(len(insight.items)))  # fmt: skip

    def insight_cell(self, item: InsightItem, key: str, fmt: str) -> Cell:
        if key == "app":
            return Cell(self.app_name(item.app))
        if key == "agency":
            return Cell(self.agency_name(item.agency))
        value = item.figures.get(key)
        if value is None:
            return Cell(NONE, "muted")
        if fmt in _NUMERIC and isinstance(value, str):  # not what the kind promised: show it as is
            return Cell(value)
        return _FORMATS[fmt](self, value, item)

    # agencies and apps

    def agencies(self) -> list[Section]:
        by_agency: dict[str, list[AppReview]] = defaultdict(list)
        for a in self.review.apps:
            by_agency[a.agency].append(a)
        return [self.agency(ag, by_agency[ag.agency]) for ag in self.review.agencies]

    def agency(self, ag: AgencyReview, apps: list[AppReview]) -> Section:
        apps = sorted(apps, key=lambda a: (a.name.casefold(), a.app))
        overview = Table(
            caption=translate_in(self.lang, "section", "Applications"),
            columns=[Column(self._("App")), Column(self._("Uptime"), True),
                     Column(self._("Target"), True), Column(self._("Status")),
                     Column(self._("Downtime"), True), Column(self._("Incidents"), True)],
            rows=[[Cell(a.name), Cell(formats.uptime(a.availability.uptime_percent, self.lang), self.status(a).tone),
                   Cell(self.target(a.target_uptime)), self.status(a),
                   Cell(self.downtime(a)), Cell(formats.number(a.incidents, self.lang))] for a in apps],
        )  # fmt: skip
        blocks: list[Block] = self.coverage_figures(ag, self._("Uptime"))
        if any(a.availability.uptime_percent is not None for a in apps):
            blocks.append(
                ChartBlock(self._("Uptime per app against its target"), self.bars(ag, apps))
            )
        blocks.append(overview)
        blocks.extend(self.app(a) for a in apps)
        return Section("agency", ag.name, f"agency-{ag.agency}", blocks)

    def bars(self, ag: AgencyReview, apps: list[AppReview]) -> UptimeBars:
        points = [v for a in apps for v in (a.availability.uptime_percent, a.target_uptime if a.checked else None)
                  if v is not None]  # fmt: skip
        lowest = min(points, default=100.0)
        # room below the lowest point as wide as above it, so a bar is never a sliver or all
        floor = max((f for f in _SCALE_FLOORS if f <= lowest - (100.0 - lowest)), default=0.0)
        mid = (floor + 100.0) / 2
        bars = []
        uptime, caption = self._("Uptime"), self._("Uptime per app against its target")
        for a in apps:
            status = self.status(a)
            value = formats.uptime(a.availability.uptime_percent, self.lang)
            target = self._("target %(target)s", target=self.target(a.target_uptime))
            bars.append(Bar(
                label=a.name, value=a.availability.uptime_percent,
                target=a.target_uptime if a.checked else None,
                value_text=value if a.availability.uptime_percent is not None else status.text,
                title=f"{a.name}: {uptime} {value}, {target} · {status.text}",
                tone=status.tone,
            ))  # fmt: skip
        return UptimeBars(
            title=f"{caption}: {ag.name}",
            desc="; ".join(b.title for b in bars),
            bars=bars, floor=floor,
            ticks=[(v, formats.percent(v, self.lang, 2, trim=True)) for v in (floor, mid, 100.0)],
            legend=self._("upright line = target"),
        )  # fmt: skip

    def app(self, a: AppReview) -> Section:
        managed = labels.managed_by_name(a.managed_by, self.lang)
        if a.provider:
            managed = self._("%(managed)s: %(provider)s", managed=managed, provider=a.provider)
        meta = [a.app, self._("Agency: %(agency)s", agency=self.agency_name(a.agency)),
                self._("Run by: %(managed)s", managed=managed)]  # fmt: skip
        if a.category:
            meta.append(
                self._(
                    "Category: %(category)s", category=labels.category_name(a.category, self.lang)
                )
            )
        meta.append(
            self._(
                "Lifecycle: %(lifecycle)s", lifecycle=labels.lifecycle_name(a.lifecycle, self.lang)
            )
        )
        if a.owner:
            meta.append(self._("Owner: %(owner)s", owner=a.owner))
        blocks: list[Block] = []
        if a.checked:
            blocks.append(Figures(self.app_figures(a)))
            blocks.append(ChartBlock(self._("Daily availability"), self.strip(a)))
            blocks.append(self.outages(a))
        else:
            blocks.append(
                Para(self._("No checks: this app's availability is not monitored."), "warn")
            )
        blocks.append(self.usage(a))
        return Section("app", a.name, f"app-{a.app}", blocks, meta=meta)

    def app_figures(self, a: AppReview) -> list[Figure]:
        av, status = a.availability, self.status(a)

        def dur(seconds: float | None) -> str:
            return formats.duration(seconds, self.lang)

        return [
            Figure(self._("Uptime"), formats.uptime(av.uptime_percent, self.lang),
                   note=self._("target %(target)s", target=self.target(a.target_uptime)), tone=status.tone),
            Figure(self._("Status"), status.text, tone=status.tone),
            Figure(self._("Downtime"), self.downtime(a), tone="bad" if av.down_seconds else "plain"),
            Figure(self._("Incidents"), formats.number(a.incidents, self.lang)),
            Figure(self._("Longest outage"), dur(a.longest_outage_seconds)),
            Figure(self._("Mean time to recover (MTTR)"), dur(a.mttr_seconds)),
            Figure(self._("Maintenance"), dur(av.maintenance_seconds)),
            Figure(self._("Unknown"), dur(av.unknown_seconds), tone="warn" if av.unknown_seconds else "plain"),
            Figure(self._("Degraded (slow or certificate)"), dur(av.degraded_seconds)),
        ]  # fmt: skip

    def strip(self, a: AppReview) -> DailyStrip:
        by_day = {d.day: d for d in a.daily}
        caption, downtime = self._("Daily availability"), self._("Downtime")
        days = []
        for day in self.days:
            label = formats.short_date(day, self.lang)
            figures = by_day.get(day)
            if figures is None or figures.uptime_percent is None:
                note = self._("not yet") if day > self.today else self._("no data")
                days.append(Day(f"{label}: {note}", "muted"))
                continue
            tone: Tone = ("good" if figures.down_seconds <= 0
                          else "ok" if figures.uptime_percent >= a.target_uptime else "bad")  # fmt: skip
            text = f"{label}: {formats.uptime(figures.uptime_percent, self.lang)}"
            if figures.down_seconds > 0:
                text += f" · {downtime} {formats.duration(figures.down_seconds, self.lang)}"
            days.append(Day(text, tone))
        ticks = [(i, str(day.day)) for i, day in enumerate(self.days)
                 if day.day in (1, 5, 10, 15, 20, 25) or i == len(self.days) - 1]  # fmt: skip
        return DailyStrip(
            title=f"{caption}: {a.name}",
            desc="; ".join(d.title for d in days if d.tone not in ("good", "muted")) or self._("Up"),
            days=days, ticks=ticks,
            legend=[(tone, self._(text)) for tone, text in _LEGEND.items()],
        )  # fmt: skip

    def outages(self, a: AppReview) -> Table:
        return Table(
            caption=self._("Outages"),
            columns=[Column(self._("Started")), Column(self._("Ended")),
                     Column(self._("Duration"), True), Column(self._("Causes"))],
            rows=[[Cell(self.when(o.started_at)),
                   Cell(self.when(o.ended_at) if o.ended_at else self._("still going on"),
                        "plain" if o.ended_at else "bad"),
                   Cell(formats.duration(o.duration_seconds, self.lang)),
                   Cell(self.causes(o.causes))] for o in a.outages],
            empty=self._("No outages this month."),
        )  # fmt: skip

    def usage(self, a: AppReview) -> Table:
        index = {day: i for i, day in enumerate(self.days)}
        trend = self._("Daily trend")
        rows = []
        for u in a.usage:
            values: list[float | None] = [None] * len(self.days)
            for day, v in u.daily:
                if day in index:
                    values[index[day]] = v
            name = labels.metric_name(u.metric, self.lang)
            chart = Trend(title=f"{name}: {trend}",
                          desc=f"{name}: {self.usage_value(u)}",
                          values=values, style="bars" if u.kind == "counter" else "line")  # fmt: skip
            rows.append([Cell(name), Cell(self._(_KINDS[u.kind]) if u.kind in _KINDS else u.kind), Cell(self.usage_value(u)),
                         Cell(formats.quantity(u.previous, self.lang)),
                         self.change_cell(u.change_percent, partial=u.previous_partial),
                         Cell("", chart=chart)])  # fmt: skip
        return Table(
            caption=self._("Usage"),
            columns=[Column(self._("Metric")), Column(self._("Kind")),
                     Column(self._("This month"), True), Column(self._("Last month"), True),
                     Column(self._("Change"), True), Column(self._("Daily trend"))],
            rows=rows, empty=self._("No usage data this month."),
        )  # fmt: skip


def _value(u: UsageFigures) -> float:
    v = u.total if u.kind == "counter" else u.average
    return v if v is not None else 0.0


def _headline(a: AppReview) -> UsageFigures | None:
    """The app's largest counter; None when it has none (gauges are not ranked)."""
    counters = [u for u in a.usage if u.kind == "counter" and u.total is not None]
    return max(counters, key=lambda u: (_value(u), u.metric)) if counters else None


# --- insight tables: which figure goes in which column, formatted how --------------------------

_Format = Callable[[_Builder, float | int | str, InsightItem], Cell]


def _num(value: float | int | str) -> float:
    return float(value)  # insight_cell passes numbers only to the numeric formats


def _yes_no(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    return Cell(b._("Yes"), "good") if v == "yes" else Cell(b._("No"), "bad")


def _uptime(b: _Builder, v: float | int | str, item: InsightItem) -> Cell:
    target = item.figures.get("target_uptime")
    below = isinstance(target, int | float) and _num(v) < target
    return Cell(formats.uptime(_num(v), b.lang), "bad" if below else "plain")


def _days_left(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    # One decimal, as the certificate alerts write it (insights.days_left rounds it so).
    return Cell(formats.number(_num(v), b.lang, 1), "bad" if _num(v) < 7 else "warn")


def _expires(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    try:
        return Cell(formats.date(dt.date.fromisoformat(str(v)), b.lang))
    except ValueError:
        return Cell(str(v))


def _apps(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    return Cell(", ".join(b.app_name(x.strip()) for x in str(v).split(",") if x.strip()))


_FORMATS: Final[dict[str, _Format]] = {
    "text": lambda b, v, _: Cell(str(v)),
    "metric": lambda b, v, _: Cell(labels.metric_name(str(v), b.lang)),
    "category": lambda b, v, _: Cell(labels.category_name(str(v), b.lang)),
    "quantity": lambda b, v, _: Cell(formats.quantity(_num(v), b.lang)),
    "change": lambda b, v, _: b.change_cell(_num(v)),
    "count": lambda b, v, _: Cell(formats.number(_num(v), b.lang)),
    "minutes": lambda b, v, _: Cell(formats.duration(_num(v) * 60, b.lang), "bad"),
    "target": lambda b, v, _: Cell(b.target(_num(v))),
    "uptime": _uptime,
    "yesno": _yes_no,
    "days_left": _days_left,
    "date": _expires,
    "apps": _apps,
}
_NUMERIC: Final = frozenset(
    {"quantity", "change", "count", "minutes", "target", "uptime", "days_left"}
)

# kind -> ((context, title), why): the insight's name and what it looks for
_INSIGHTS: Final[dict[str, tuple[tuple[str, str], str]]] = {
    "falling_usage": (NC_("insight", "Falling usage"),
                      N_("Usage metrics down by %(percent)s or more against last month.")),
    "little_usage": (NC_("insight", "Little usage"), N_("Usage metrics with zero usage this month.")),
    "most_downtime": (NC_("insight", "Most downtime"),
                      N_("The five apps with the most downtime this month.")),
    "certificates_expiring": (NC_("insight", "Certificates expiring"),
                              N_("TLS certificates that expire within %(days)s days of the report.")),
    "not_monitored": (NC_("insight", "Not monitored"),
                      N_("Active apps without an availability check or without a usage source.")),
    "consolidation": (NC_("insight", "Consolidation candidates"),
                      N_("Categories with self-run or vendor apps in two or more agencies: services "
                         "that might be merged.")),
}  # fmt: skip
_KINDS: Final = {"counter": N_("count"), "gauge": N_("level")}
_LEGEND: Final[dict[Tone, str]] = {  # the daily strip's colours
    "good": N_("up all day"),
    "ok": N_("some downtime, within target"),
    "bad": N_("below target"),
    "muted": N_("no data"),
}

_APP, _AGENCY = ("app", N_("App"), "text"), ("agency", N_("Agency"), "text")
# kind -> columns as (figure, header key, format); the order here is the order in the report
_INSIGHT_COLUMNS: Final[dict[str, list[tuple[str, str, str]]]] = {
    "most_downtime": [_APP, _AGENCY, ("down_minutes", N_("Downtime"), "minutes"),
                      ("incidents", N_("Incidents"), "count"), ("uptime_percent", N_("Uptime"), "uptime"),
                      ("target_uptime", N_("Target"), "target")],
    "falling_usage": [_APP, _AGENCY, ("metric", N_("Metric"), "metric"),
                      ("this_month", N_("This month"), "quantity"),
                      ("last_month", N_("Last month"), "quantity"),
                      ("change_percent", N_("Change"), "change")],
    "little_usage": [_APP, _AGENCY, ("metric", N_("Metric"), "metric"),
                     ("this_month", N_("This month"), "quantity")],
    "not_monitored": [_APP, _AGENCY, ("has_check", N_("Has a check"), "yesno"),
                      ("has_usage_source", N_("Has a usage source"), "yesno")],
    "consolidation": [("category", N_("Category"), "category"), ("agencies", N_("Agencies"), "count"),
                      ("apps", N_("Apps"), "apps")],
    "certificates_expiring": [_APP, _AGENCY, ("expires", N_("Expires"), "date"),
                              ("days_left", N_("Days left"), "days_left")],
}  # fmt: skip
