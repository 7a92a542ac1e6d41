"""What the review says, decided once for every human-readable format.

`build(report, lang)` turns a MonthlyReport into a small document tree (sections, key figures,
tables, charts) whose words and numbers are already translated and formatted. The HTML and
Markdown renderers only lay it out, so they cannot drift apart in content. Text here is plain and
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

from collector.review.insights import CERT_DAYS, FALLING_PERCENT, Insight, InsightItem
from collector.review.monthly import AgencyReview, AppReview, UsageFigures
from collector.review.render import i18n
from collector.review.render.i18n import Lang, t
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

    def t(self, key: str, /, **values: object) -> str:
        return t(key, self.lang, **values)

    def app_name(self, app: str | None) -> str:
        if app is None:
            return self.t("none")
        return self.apps[app].name if app in self.apps else app

    def agency_name(self, agency: str | None) -> str:
        if agency is None:
            return self.t("none")
        return self.agency_names.get(agency, agency)

    def when(self, moment: dt.datetime) -> str:
        return i18n.date_time(moment, self.tz, self.lang)

    def status(self, a: AppReview) -> Cell:
        if a.target_met is None:
            return Cell(self.t("status.unmonitored"), "muted")
        return (
            Cell(self.t("status.met"), "good")
            if a.target_met
            else Cell(self.t("status.missed"), "bad")
        )

    def downtime(self, a: AppReview) -> str:
        """No figure rather than "0 min" for an app nobody watched."""
        monitored = a.availability.uptime_percent is not None
        return i18n.duration(a.availability.down_seconds if monitored else None, self.lang)

    def target(self, value: float | None) -> str:
        return i18n.percent(value, self.lang, 3, trim=True)  # 99.999 must not read as 100

    def usage_value(self, u: UsageFigures) -> str:
        if u.kind == "counter":
            return i18n.quantity(u.total, self.lang)
        return self.t("usage.gauge_value", average=i18n.quantity(u.average, self.lang),
                      peak=i18n.quantity(u.peak, self.lang))  # fmt: skip

    def change_cell(self, value: float | None, *, partial: bool = False) -> Cell:
        if partial:  # last month only partly covered: no change is computed, and it says why
            return Cell(self.t("usage.previous_partial"), "muted")
        tone: Tone = "bad" if value is not None and value <= FALLING_PERCENT else "plain"
        return Cell(i18n.change(value, self.lang), tone)

    def causes(self, causes: Sequence[str]) -> str:
        return ", ".join(i18n.label("reason", c, self.lang) for c in causes) or self.t("none")

    # the document

    def document(self) -> Document:
        period = self.review.period
        if self.report.agency:
            title = self.t("doc.title_agency", agency=self.agency_name(self.report.agency))
        else:
            title = self.t("doc.title")
        lines = [
            self.t("doc.period", start=i18n.date(self.days[0], self.lang),
                   end=i18n.date(self.days[-1], self.lang), tz=i18n.tz_name(period.start, self.tz)),
            self.t("doc.generated", at=self.when(self.report.generated_at)),
        ]  # fmt: skip
        warning = "" if period.complete else self.t(
            "doc.incomplete", at=self.when(min(self.report.generated_at, period.end)))  # fmt: skip
        return Document(
            lang=self.lang, title=title, month=i18n.month_name(period.month, self.lang),
            lines=lines, warning=warning,
            sections=[self.summary(), self.insights(), *self.agencies()],
            footer=self.t("doc.footer"),
        )  # fmt: skip

    # summary

    def coverage_figures(self, ag: AgencyReview, uptime_key: str) -> list[Block]:
        """Availability in one row, coverage (how much of the catalogue is watched) in another."""
        av = ag.availability
        monitored = av.uptime_percent is not None  # else no figure rather than "0 min"
        met_tone: Tone = "plain"
        if ag.apps_monitored:
            met_tone = "good" if ag.apps_meeting_target == ag.apps_monitored else "bad"
        return [Figures([
            Figure(self.t(uptime_key), i18n.uptime(av.uptime_percent, self.lang)),
            Figure(self.t("summary.met"), self.t("summary.met_value", met=ag.apps_meeting_target,
                                                 of=ag.apps_monitored), tone=met_tone),
            Figure(self.t("summary.incidents"), i18n.number(ag.incidents, self.lang),
                   tone="bad" if ag.incidents else "good" if monitored else "plain"),
            Figure(self.t("summary.downtime"),
                   i18n.duration(av.down_seconds if monitored else None, self.lang)),
        ]), Figures([
            Figure(self.t("summary.apps"), i18n.number(ag.coverage.registered, self.lang)),
            Figure(self.t("summary.checked"), i18n.number(ag.coverage.checked, self.lang),
                   tone="warn" if ag.coverage.checked < ag.coverage.registered else "plain"),
            Figure(self.t("summary.with_usage"), i18n.number(ag.coverage.with_usage, self.lang),
                   tone="warn" if ag.coverage.with_usage < ag.coverage.registered else "plain"),
        ])]  # fmt: skip

    def summary(self) -> Section:
        regency = self.review.regency
        key = "summary.uptime_agency" if self.report.agency else "summary.uptime"
        blocks: list[Block] = self.coverage_figures(regency, key)
        blocks.append(self.below_target())
        blocks.append(self.worst_outages())
        blocks.extend(self.usage_ranking())
        return Section("summary", self.t("summary.title"), "summary", blocks)

    def below_target(self) -> Table:
        missed = sorted((a for a in self.review.apps if a.target_met is False),
                        key=lambda a: (a.availability.uptime_percent or 0.0, a.name))  # fmt: skip
        return Table(
            caption=self.t("summary.below_target"),
            columns=[Column(self.t("col.app")), Column(self.t("col.agency")),
                     Column(self.t("col.uptime"), True), Column(self.t("col.target"), True),
                     Column(self.t("col.downtime"), True), Column(self.t("col.incidents"), True)],
            rows=[[Cell(a.name), Cell(self.agency_name(a.agency)),
                   Cell(i18n.uptime(a.availability.uptime_percent, self.lang), "bad"),
                   Cell(self.target(a.target_uptime)),
                   Cell(i18n.duration(a.availability.down_seconds, self.lang)),
                   Cell(i18n.number(a.incidents, self.lang))] for a in missed],
            empty=self.t("summary.below_target_none"),
        )  # fmt: skip

    def worst_outages(self) -> Table:
        outages = sorted(((a, o) for a in self.review.apps for o in a.outages),
                         key=lambda ao: (-ao[1].duration_seconds, ao[1].started_at))[:_TOP]  # fmt: skip
        rows = []
        for a, o in outages:
            took = i18n.duration(o.duration_seconds, self.lang)
            if o.ended_at is None:
                took = f"{took} ({self.t('app.ongoing')})"
            rows.append([Cell(a.name), Cell(self.agency_name(a.agency)), Cell(self.when(o.started_at)),
                         Cell(took, "bad"), Cell(self.causes(o.causes))])  # fmt: skip
        return Table(
            caption=self.t("summary.worst"),
            columns=[Column(self.t("col.app")), Column(self.t("col.agency")),
                     Column(self.t("col.started")), Column(self.t("col.duration"), True),
                     Column(self.t("col.causes"))],
            rows=rows, empty=self.t("summary.worst_none"),
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
        columns = [Column(self.t("col.app")), Column(self.t("col.agency")),
                   Column(self.t("col.metric")), Column(self.t("col.this_month"), True),
                   Column(self.t("col.change"), True)]  # fmt: skip

        def rows(items: list[tuple[AppReview, UsageFigures]]) -> list[list[Cell]]:
            return [[Cell(a.name), Cell(self.agency_name(a.agency)),
                     Cell(i18n.metric_label(u.metric, self.lang)), Cell(self.usage_value(u)),
                     self.change_cell(u.change_percent, partial=u.previous_partial)]
                    for a, u in items]  # fmt: skip

        none = self.t("summary.used_none")
        blocks: list[Block] = [
            Table(self.t("summary.most_used"), columns, rows(most), empty=none),
            Table(
                self.t("summary.least_used"),
                columns,
                rows(least),
                empty=self.t("summary.least_none") if ranked else none,
            ),
        ]
        notes = [self.t("summary.used_note")] if ranked else []
        levels = [a.name for a in self.review.apps if a.usage and _headline(a) is None]
        if levels:
            notes.append(
                self.t("summary.levels_only", apps=", ".join(sorted(levels, key=str.casefold)))
            )
        without = [a.name for a in self.review.apps if not a.usage]
        if without:
            notes.append(
                self.t("summary.without_usage", apps=", ".join(sorted(without, key=str.casefold)))
            )
        blocks.extend(Para(n, "note") for n in notes)
        return blocks

    # insights

    def insights(self) -> Section:
        order = {kind: i for i, kind in enumerate(_INSIGHT_COLUMNS)}
        parts: list[Block] = [self.insight(i) for i in sorted(self.report.insights,
                                                              key=lambda i: order.get(i.kind, 99))]  # fmt: skip
        return Section("insights", self.t("insights.title"), "insights", parts)

    def insight(self, insight: Insight) -> Section:
        spec = list(_INSIGHT_COLUMNS.get(insight.kind, []))
        known = {key for key, _, _ in spec}
        for item in insight.items:  # figures added later still show, under their own name
            for key in item.figures:
                if key not in known:
                    known.add(key)
                    spec.append((key, "", "text"))
        why = self.t(f"insight.{insight.kind}.why",
                     percent=i18n.percent(abs(FALLING_PERCENT), self.lang, 0), days=CERT_DAYS)  # fmt: skip
        table = Table(
            caption="",
            columns=[Column(self.t(label) if label else key, fmt in _NUMERIC) for key, label, fmt in spec],
            rows=[[self.insight_cell(item, key, fmt) for key, _, fmt in spec] for item in insight.items],
            empty=self.t("insights.none"),
        )  # fmt: skip
        return Section("insight", self.t(f"insight.{insight.kind}"), f"insight-{insight.kind}",
                       [Para(why, "note"), table], badge=str(len(insight.items)))  # fmt: skip

    def insight_cell(self, item: InsightItem, key: str, fmt: str) -> Cell:
        if key == "app":
            return Cell(self.app_name(item.app))
        if key == "agency":
            return Cell(self.agency_name(item.agency))
        value = item.figures.get(key)
        if value is None:
            return Cell(self.t("none"), "muted")
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
            caption=self.t("agency.apps"),
            columns=[Column(self.t("col.app")), Column(self.t("col.uptime"), True),
                     Column(self.t("col.target"), True), Column(self.t("col.status")),
                     Column(self.t("col.downtime"), True), Column(self.t("col.incidents"), True)],
            rows=[[Cell(a.name), Cell(i18n.uptime(a.availability.uptime_percent, self.lang), self.status(a).tone),
                   Cell(self.target(a.target_uptime)), self.status(a),
                   Cell(self.downtime(a)), Cell(i18n.number(a.incidents, self.lang))] for a in apps],
        )  # fmt: skip
        blocks: list[Block] = self.coverage_figures(ag, "summary.uptime_agency")
        if any(a.availability.uptime_percent is not None for a in apps):
            blocks.append(ChartBlock(self.t("agency.bars"), self.bars(ag, apps)))
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
        for a in apps:
            status = self.status(a)
            value = i18n.uptime(a.availability.uptime_percent, self.lang)
            bars.append(Bar(
                label=a.name, value=a.availability.uptime_percent,
                target=a.target_uptime if a.checked else None,
                value_text=value if a.availability.uptime_percent is not None else status.text,
                title=f"{a.name}: {self.t('col.uptime')} {value}, "
                      f"{self.t('app.target_note', target=self.target(a.target_uptime))} · {status.text}",
                tone=status.tone,
            ))  # fmt: skip
        return UptimeBars(
            title=f"{self.t('agency.bars')}: {ag.name}",
            desc="; ".join(b.title for b in bars),
            bars=bars, floor=floor,
            ticks=[(v, i18n.percent(v, self.lang, 2, trim=True)) for v in (floor, mid, 100.0)],
            legend=self.t("legend.target"),
        )  # fmt: skip

    def app(self, a: AppReview) -> Section:
        managed = i18n.label("managed", a.managed_by, self.lang)
        if a.provider:
            managed = self.t("managed.with_provider", managed=managed, provider=a.provider)
        meta = [a.app, self.t("app.meta_agency", agency=self.agency_name(a.agency)),
                self.t("app.meta_managed", managed=managed)]  # fmt: skip
        if a.category:
            meta.append(
                self.t("app.meta_category", category=i18n.label("category", a.category, self.lang))
            )
        meta.append(
            self.t("app.meta_lifecycle", lifecycle=i18n.label("lifecycle", a.lifecycle, self.lang))
        )
        if a.owner:
            meta.append(self.t("app.meta_owner", owner=a.owner))
        blocks: list[Block] = []
        if a.checked:
            blocks.append(Figures(self.app_figures(a)))
            blocks.append(ChartBlock(self.t("app.daily"), self.strip(a)))
            blocks.append(self.outages(a))
        else:
            blocks.append(Para(self.t("app.not_checked"), "warn"))
        blocks.append(self.usage(a))
        return Section("app", a.name, f"app-{a.app}", blocks, meta=meta)

    def app_figures(self, a: AppReview) -> list[Figure]:
        av, status = a.availability, self.status(a)

        def dur(seconds: float | None) -> str:
            return i18n.duration(seconds, self.lang)

        return [
            Figure(self.t("col.uptime"), i18n.uptime(av.uptime_percent, self.lang),
                   note=self.t("app.target_note", target=self.target(a.target_uptime)), tone=status.tone),
            Figure(self.t("col.status"), status.text, tone=status.tone),
            Figure(self.t("col.downtime"), self.downtime(a), tone="bad" if av.down_seconds else "plain"),
            Figure(self.t("col.incidents"), i18n.number(a.incidents, self.lang)),
            Figure(self.t("col.longest"), dur(a.longest_outage_seconds)),
            Figure(self.t("col.mttr"), dur(a.mttr_seconds)),
            Figure(self.t("col.maintenance"), dur(av.maintenance_seconds)),
            Figure(self.t("col.unknown"), dur(av.unknown_seconds), tone="warn" if av.unknown_seconds else "plain"),
            Figure(self.t("col.degraded"), dur(av.degraded_seconds)),
        ]  # fmt: skip

    def strip(self, a: AppReview) -> DailyStrip:
        by_day = {d.day: d for d in a.daily}
        days = []
        for day in self.days:
            label = i18n.short_date(day, self.lang)
            figures = by_day.get(day)
            if figures is None or figures.uptime_percent is None:
                note = self.t("state.not_yet") if day > self.today else self.t("state.no_data")
                days.append(Day(f"{label}: {note}", "muted"))
                continue
            tone: Tone = ("good" if figures.down_seconds <= 0
                          else "ok" if figures.uptime_percent >= a.target_uptime else "bad")  # fmt: skip
            text = f"{label}: {i18n.uptime(figures.uptime_percent, self.lang)}"
            if figures.down_seconds > 0:
                text += (
                    f" · {self.t('col.downtime')} {i18n.duration(figures.down_seconds, self.lang)}"
                )
            days.append(Day(text, tone))
        ticks = [(i, str(day.day)) for i, day in enumerate(self.days)
                 if day.day in (1, 5, 10, 15, 20, 25) or i == len(self.days) - 1]  # fmt: skip
        return DailyStrip(
            title=f"{self.t('app.daily')}: {a.name}",
            desc="; ".join(d.title for d in days if d.tone not in ("good", "muted")) or self.t("state.up"),
            days=days, ticks=ticks,
            legend=[(tone, self.t(f"legend.{tone}")) for tone in ("good", "ok", "bad", "muted")],
        )  # fmt: skip

    def outages(self, a: AppReview) -> Table:
        return Table(
            caption=self.t("app.outages"),
            columns=[Column(self.t("col.started")), Column(self.t("col.ended")),
                     Column(self.t("col.duration"), True), Column(self.t("col.causes"))],
            rows=[[Cell(self.when(o.started_at)),
                   Cell(self.when(o.ended_at) if o.ended_at else self.t("app.ongoing"),
                        "plain" if o.ended_at else "bad"),
                   Cell(i18n.duration(o.duration_seconds, self.lang)),
                   Cell(self.causes(o.causes))] for o in a.outages],
            empty=self.t("app.outages_none"),
        )  # fmt: skip

    def usage(self, a: AppReview) -> Table:
        index = {day: i for i, day in enumerate(self.days)}
        rows = []
        for u in a.usage:
            values: list[float | None] = [None] * len(self.days)
            for day, v in u.daily:
                if day in index:
                    values[index[day]] = v
            name = i18n.metric_label(u.metric, self.lang)
            chart = Trend(title=f"{name}: {self.t('col.trend')}",
                          desc=f"{name}: {self.usage_value(u)}",
                          values=values, style="bars" if u.kind == "counter" else "line")  # fmt: skip
            rows.append([Cell(name), Cell(self.t(f"kind.{u.kind}")), Cell(self.usage_value(u)),
                         Cell(i18n.quantity(u.previous, self.lang)),
                         self.change_cell(u.change_percent, partial=u.previous_partial),
                         Cell("", chart=chart)])  # fmt: skip
        return Table(
            caption=self.t("app.usage"),
            columns=[Column(self.t("col.metric")), Column(self.t("col.kind")),
                     Column(self.t("col.this_month"), True), Column(self.t("col.last_month"), True),
                     Column(self.t("col.change"), True), Column(self.t("col.trend"))],
            rows=rows, empty=self.t("app.usage_none"),
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
    return Cell(b.t("yes"), "good") if v == "yes" else Cell(b.t("no"), "bad")


def _uptime(b: _Builder, v: float | int | str, item: InsightItem) -> Cell:
    target = item.figures.get("target_uptime")
    below = isinstance(target, int | float) and _num(v) < target
    return Cell(i18n.uptime(_num(v), b.lang), "bad" if below else "plain")


def _days_left(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    # One decimal, as the certificate alerts write it (insights.days_left rounds it so).
    return Cell(i18n.number(_num(v), b.lang, 1), "bad" if _num(v) < 7 else "warn")


def _expires(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    try:
        return Cell(i18n.date(dt.date.fromisoformat(str(v)), b.lang))
    except ValueError:
        return Cell(str(v))


def _apps(b: _Builder, v: float | int | str, _: InsightItem) -> Cell:
    return Cell(", ".join(b.app_name(x.strip()) for x in str(v).split(",") if x.strip()))


_FORMATS: Final[dict[str, _Format]] = {
    "text": lambda b, v, _: Cell(str(v)),
    "metric": lambda b, v, _: Cell(i18n.metric_label(str(v), b.lang)),
    "category": lambda b, v, _: Cell(i18n.label("category", str(v), b.lang)),
    "quantity": lambda b, v, _: Cell(i18n.quantity(_num(v), b.lang)),
    "change": lambda b, v, _: b.change_cell(_num(v)),
    "count": lambda b, v, _: Cell(i18n.number(_num(v), b.lang)),
    "minutes": lambda b, v, _: Cell(i18n.duration(_num(v) * 60, b.lang), "bad"),
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

_APP, _AGENCY = ("app", "col.app", "text"), ("agency", "col.agency", "text")
# kind -> columns as (figure, header key, format); the order here is the order in the report
_INSIGHT_COLUMNS: Final[dict[str, list[tuple[str, str, str]]]] = {
    "most_downtime": [_APP, _AGENCY, ("down_minutes", "col.downtime", "minutes"),
                      ("incidents", "col.incidents", "count"), ("uptime_percent", "col.uptime", "uptime"),
                      ("target_uptime", "col.target", "target")],
    "falling_usage": [_APP, _AGENCY, ("metric", "col.metric", "metric"),
                      ("this_month", "col.this_month", "quantity"),
                      ("last_month", "col.last_month", "quantity"),
                      ("change_percent", "col.change", "change")],
    "little_usage": [_APP, _AGENCY, ("metric", "col.metric", "metric"),
                     ("this_month", "col.this_month", "quantity")],
    "not_monitored": [_APP, _AGENCY, ("has_check", "col.has_check", "yesno"),
                      ("has_usage_source", "col.has_usage_source", "yesno")],
    "consolidation": [("category", "col.category", "category"), ("agencies", "col.agencies", "count"),
                      ("apps", "col.apps", "apps")],
    "certificates_expiring": [_APP, _AGENCY, ("expires", "col.expires", "date"),
                              ("days_left", "col.days_left", "days_left")],
}  # fmt: skip
