"""The monthly review's figures (docs/accounting.md), from the aggregates or from the raw rows.

Both paths build the same `Review`; the aggregate one is what reports use, the raw one is the
reference the tests and the benchmark compare it with.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import asyncpg
import msgspec

from collector.catalog import store
from collector.db import Conn
from collector.review.rollup import accounting_start, load_results
from collector.review.tail import Pieces, sweep_pieces, tails
from collector.review.timeline import Outage
from collector.state.rules import StateSettings, app_rules
from wire.catalog import Agency, App

# --- the review's shape -------------------------------------------------------------------


class Period(msgspec.Struct, frozen=True, kw_only=True):
    month: str  # 2026-11
    timezone: str
    start: dt.datetime
    end: dt.datetime  # exclusive
    complete: bool  # false while the month (or its last hour) is still running


class Availability(msgspec.Struct, kw_only=True):
    up_seconds: float = 0  # answering, degraded included
    down_seconds: float = 0
    degraded_seconds: float = 0  # part of up_seconds: answered with a warning (slow, cert expiring)
    maintenance_seconds: float = 0
    unknown_seconds: float = 0
    uptime_percent: float | None = None  # up / (up + down); None without monitored time

    @property
    def monitored_seconds(self) -> float:
        return self.up_seconds + self.down_seconds


class OutageItem(msgspec.Struct, frozen=True, kw_only=True):
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None: still down when the review was made
    duration_seconds: float  # its whole duration, even past the month; while open, up to then
    causes: list[str]


class DayFigures(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    uptime_percent: float | None
    down_seconds: float
    maintenance_seconds: float = 0
    unknown_seconds: float = 0


class UsageFigures(msgspec.Struct, kw_only=True):
    metric: str
    kind: Literal["counter", "gauge"]
    total: float | None = None  # counters: used this month (resets carried over)
    average: float | None = None  # gauges
    peak: float | None = None  # gauges
    previous: float | None = None  # the same figure (total or average) last month
    # Last month only partly covered: the metric began reporting during it. No change then.
    previous_partial: bool = False
    change_percent: float | None = None
    daily: list[tuple[dt.date, float]] = []  # counters: used that day; gauges: the day's average


class AppReview(msgspec.Struct, kw_only=True):
    app: str
    name: str
    agency: str
    managed_by: str
    provider: str | None
    category: str | None
    lifecycle: str
    owner: str | None
    target_uptime: float
    checked: bool
    availability: Availability
    target_met: bool | None  # None when nothing was monitored
    incidents: int  # outages that began this month
    longest_outage_seconds: float | None
    mttr_seconds: float | None  # mean duration of the outages that ended this month
    outages: list[OutageItem]
    daily: list[DayFigures]
    usage: list[UsageFigures]


class Coverage(msgspec.Struct, kw_only=True):
    registered: int = 0
    checked: int = 0  # with at least one check
    with_usage: int = 0  # with usage data this month


class AgencyReview(msgspec.Struct, kw_only=True):
    agency: str
    name: str
    coverage: Coverage
    availability: Availability
    apps_meeting_target: int
    apps_monitored: int
    incidents: int


class Review(msgspec.Struct, kw_only=True):
    period: Period
    regency: AgencyReview  # everything, rolled up
    agencies: list[AgencyReview]
    apps: list[AppReview]


def comparable(review: Review, *, digits: int = 3) -> object:
    """The review as plain data with floats rounded: to compare two ways of computing it."""

    def walk(x: object) -> object:
        if isinstance(x, float):
            return round(x, digits)
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(msgspec.to_builtins(review))


# --- shared arithmetic --------------------------------------------------------------------


MONTH_PATTERN = re.compile(r"20\d\d-(0[1-9]|1[0-2])")  # what reports accept: 2000-01 .. 2099-12


def month_period(month: str, timezone: str, *, now: dt.datetime | None = None) -> Period:
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = dt.date(year, mon, 1)
    except ValueError as exc:
        raise ValueError(f"month must look like 2026-11, not {month!r}") from exc
    tz = zoneinfo.ZoneInfo(timezone)
    nxt = dt.date(year + mon // 12, mon % 12 + 1, 1)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(nxt, dt.time(), tz).astimezone(dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return Period(
        month=f"{year:04d}-{mon:02d}", timezone=timezone, start=start, end=end, complete=now >= end
    )


def previous_month(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _percent(up: float, down: float) -> float | None:
    if up + down <= 0:
        return None
    # No downtime is exactly 100 %, not a float's 99.99999999999999.
    return 100.0 if down <= 0 else 100.0 * up / (up + down)


def _finish(av: Availability) -> Availability:
    av.uptime_percent = _percent(av.up_seconds, av.down_seconds)
    return av


def _outage_items(ended: Iterable[Outage], open_start: dt.datetime | None, open_causes: Sequence[str],
                  period: Period, through: dt.datetime) -> list[OutageItem]:  # fmt: skip
    """Outages that overlap the month, whole; one still open at `through` (the review's time)
    has no end and counts up to then."""
    items = [OutageItem(started_at=o.start, ended_at=o.end, duration_seconds=o.seconds, causes=o.causes)
             for o in ended if o.end > period.start and o.start < period.end]  # fmt: skip
    if open_start is not None and open_start < period.end:
        items.append(OutageItem(started_at=open_start, ended_at=None, causes=list(open_causes),
                                duration_seconds=(through - open_start).total_seconds()))  # fmt: skip
    return sorted(items, key=lambda o: o.started_at)


def _app_review(app: App, av: Availability, outages: list[OutageItem], daily: list[DayFigures],
                usage: list[UsageFigures], period: Period) -> AppReview:  # fmt: skip
    _finish(av)
    ended = [
        o.duration_seconds for o in outages if o.ended_at is not None and o.ended_at <= period.end
    ]
    return AppReview(
        app=app.id, name=app.name, agency=app.agency, managed_by=app.managed_by, provider=app.provider,
        category=app.category, lifecycle=app.lifecycle, owner=app.owner.name,
        target_uptime=app.target_uptime, checked=bool(app.checks), availability=av,
        target_met=None if av.uptime_percent is None else av.uptime_percent >= app.target_uptime,
        incidents=sum(1 for o in outages if o.started_at >= period.start),
        longest_outage_seconds=max((o.duration_seconds for o in outages), default=None),
        mttr_seconds=sum(ended) / len(ended) if ended else None,
        outages=outages, daily=daily, usage=usage,
    )  # fmt: skip


def _roll_up(key: str, name: str, apps: Sequence[AppReview]) -> AgencyReview:
    av = Availability()
    for a in apps:
        for f in (
            "up_seconds",
            "down_seconds",
            "degraded_seconds",
            "maintenance_seconds",
            "unknown_seconds",
        ):
            setattr(av, f, getattr(av, f) + getattr(a.availability, f))
    monitored = [a for a in apps if a.target_met is not None]
    return AgencyReview(
        agency=key, name=name,
        coverage=Coverage(registered=len(apps), checked=sum(a.checked for a in apps),
                          with_usage=sum(1 for a in apps if a.usage)),
        availability=_finish(av), apps_meeting_target=sum(1 for a in monitored if a.target_met),
        apps_monitored=len(monitored), incidents=sum(a.incidents for a in apps),
    )  # fmt: skip


def _assemble(period: Period, agencies: Sequence[Agency], apps: list[AppReview]) -> Review:
    by_agency: dict[str, list[AppReview]] = defaultdict(list)
    for a in apps:
        by_agency[a.agency].append(a)
    return Review(
        period=period,
        regency=_roll_up("*", "Kabupaten", apps),
        agencies=[
            _roll_up(ag.id, ag.name, by_agency[ag.id]) for ag in agencies if by_agency[ag.id]
        ],
        apps=apps,
    )


def _local_day(t: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    return t.astimezone(tz).date()


# --- usage ----------------------------------------------------------------------------------

_USAGE_DAYS_SQL = """
SELECT app_id, metric, day, kind, first_total, last_total, gauge_sum, gauge_count, gauge_max
FROM usage_daily WHERE day >= $1 AND day < $2 {where} ORDER BY app_id, metric, day
"""
_USAGE_BASELINE_SQL = """
SELECT DISTINCT ON (app_id, metric) app_id, metric, last_total
FROM usage_daily WHERE day < $1 AND last_total IS NOT NULL {where}
ORDER BY app_id, metric, day DESC
"""


@dataclass
class _UsageDays:
    kind: str
    days: list[
        tuple[dt.date, float | None, float | None, float, int, float | None]
    ]  # day, first, last, sum, n, max
    baseline: float | None


def usage_figures(metric: str, u: _UsageDays) -> UsageFigures:
    fig = UsageFigures(metric=metric, kind="counter" if u.kind == "counter" else "gauge")
    if u.kind == "counter":
        prev = u.baseline
        daily = []
        for day, first, last, *_ in u.days:
            if last is None:
                continue
            start = prev if prev is not None else first
            daily.append((day, max(0.0, last - (start if start is not None else last))))
            prev = last
        fig.daily = daily
        fig.total = sum(v for _, v in daily) if daily else None
    else:
        n = sum(d[4] for d in u.days)
        fig.daily = [(d[0], d[3] / d[4]) for d in u.days if d[4]]
        fig.average = sum(d[3] for d in u.days) / n if n else None
        fig.peak = max((d[5] for d in u.days if d[5] is not None), default=None)
    return fig


async def usage_from_days(
    conn: Conn, start: dt.date, end: dt.date, apps: Sequence[str] | None
) -> dict[str, dict[str, _UsageDays]]:
    """Daily usage of `apps` (None: every app) from `start` to `end` (exclusive)."""
    only = [list(apps)] if apps is not None else []
    where, args = ("AND app_id = ANY ($3::text[])", only) if only else ("", [])
    out: dict[str, dict[str, _UsageDays]] = defaultdict(dict)
    for r in await conn.fetch(_USAGE_DAYS_SQL.format(where=where), start, end, *args):
        u = out[r["app_id"]].setdefault(r["metric"], _UsageDays(r["kind"], [], None))
        u.days.append(
            (
                r["day"],
                r["first_total"],
                r["last_total"],
                r["gauge_sum"],
                r["gauge_count"],
                r["gauge_max"],
            )
        )
    base_where, base_args = ("AND app_id = ANY ($2::text[])", only) if only else ("", [])
    for r in await conn.fetch(_USAGE_BASELINE_SQL.format(where=base_where), start, *base_args):
        if r["metric"] in out.get(r["app_id"], {}):
            out[r["app_id"]][r["metric"]].baseline = r["last_total"]
    return out


def _with_previous(current: list[UsageFigures], previous: list[UsageFigures],
                   older: set[str]) -> list[UsageFigures]:  # fmt: skip
    """Last month's figure and the change; `older`: metrics with data before last month began."""
    before = {u.metric: u for u in previous}
    for u in current:
        p = before.get(u.metric)
        if p is None:
            continue
        u.previous = p.total if u.kind == "counter" else p.average
        # A metric that began reporting during last month has only part of it: comparing a
        # whole month with a few days would show a made-up rise.
        u.previous_partial = u.metric not in older
        now = u.total if u.kind == "counter" else u.average
        if u.previous and now is not None and not u.previous_partial:
            u.change_percent = 100.0 * (now - u.previous) / u.previous
    return current


def _add(into: dict[dt.date, list[float]], day: dt.date, up: float, down: float, degraded: float,
         maintenance: float, unknown: float) -> None:  # fmt: skip
    row = into.setdefault(day, [0.0] * 5)
    for i, v in enumerate((up, down, degraded, maintenance, unknown)):
        row[i] += v


def _month_figures(days: dict[dt.date, list[float]]) -> tuple[Availability, list[DayFigures]]:
    """The month's availability and its days (`up` here excludes degraded, as in the sweep)."""
    av = Availability()
    daily = []
    for day, (up, down, degraded, maintenance, unknown) in sorted(days.items()):
        av.up_seconds += up + degraded
        av.down_seconds += down
        av.degraded_seconds += degraded
        av.maintenance_seconds += maintenance
        av.unknown_seconds += unknown
        if up + down + degraded + maintenance + unknown > 0:
            daily.append(DayFigures(day=day, down_seconds=down, uptime_percent=_percent(up + degraded, down),
                                    maintenance_seconds=maintenance, unknown_seconds=unknown))  # fmt: skip
    return av, daily


# --- from the aggregates --------------------------------------------------------------------


async def _older_metrics(conn: Conn, before: dt.date) -> dict[str, set[str]]:
    """Per app, the metrics with data on a day before `before` (a local day: a month's start)."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in await conn.fetch(
        "SELECT DISTINCT ON (app_id, metric) app_id, metric FROM usage_daily WHERE day < $1"
        " ORDER BY app_id, metric, day",
        before,
    ):
        out[r["app_id"]].add(r["metric"])
    return out


async def review_from_aggregates(conn: Conn, *, month: str, settings: StateSettings,
                                 agency: str | None = None, now: dt.datetime | None = None) -> Review:  # fmt: skip
    now = now or dt.datetime.now(dt.UTC)
    period = month_period(month, settings.timezone, now=now)
    tz = zoneinfo.ZoneInfo(settings.timezone)
    first_day, end_day = _local_day(period.start, tz), _local_day(period.end, tz)
    apps = [
        a
        for a in await store.list_apps(conn, store.AppFilter(agency=agency))
        if a.lifecycle != "planned"
    ]
    days: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT * FROM app_daily WHERE day >= $1 AND day < $2 ORDER BY app_id, day",
        first_day,
        end_day,
    ):
        days[r["app_id"]].append(r)
    outages: dict[str, list[Outage]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT app_id, started_at, ended_at, causes FROM app_outages WHERE ended_at > $1 AND started_at < $2",
        period.start, period.end,
    ):  # fmt: skip
        outages[r["app_id"]].append(Outage(r["started_at"], r["ended_at"], list(r["causes"])))
    # After the rolled-up hours, up to now: the running hour, and whether an outage still open at
    # the month's end has ended since.
    rules = await app_rules(conn, settings)
    tail = await tails(conn, rules, [a.id for a in apps], now=now, tz=tz,
                       cuts=(period.start, period.end))  # fmt: skip
    usage = await usage_from_days(conn, first_day, end_day, None)
    prev = month_period(previous_month(month), settings.timezone)
    prev_first = _local_day(prev.start, tz)
    usage_prev = await usage_from_days(conn, prev_first, first_day, None)
    older = await _older_metrics(conn, prev_first)
    reviews = []
    for app in apps:
        per_day: dict[dt.date, list[float]] = {}
        for r in days.get(app.id, []):
            _add(per_day, r["day"], r["up_s"], r["down_s"], r["degraded_s"], r["maintenance_s"],
                 r["unknown_s"])  # fmt: skip
        t = tail.get(app.id)
        ended = list(outages.get(app.id, []))
        carry = None
        if t is not None:
            ended = [o for o in ended if o.end <= t.through] + t.pieces.outages
            carry = t.pieces.carry
            for piece in t.pieces.pieces:
                if period.start <= piece.start < period.end:
                    sec = piece.seconds
                    _add(per_day, piece.day, sec["up"], sec["down"], sec["degraded"],
                         sec["maintenance"], sec["unknown"])  # fmt: skip
        av, daily = _month_figures(per_day)
        items = _outage_items(ended, carry.outage_start if carry else None,
                              carry.outage_causes if carry else [], period, now)  # fmt: skip
        figures = [usage_figures(m, u) for m, u in sorted(usage.get(app.id, {}).items())]
        before = [usage_figures(m, u) for m, u in sorted(usage_prev.get(app.id, {}).items())]
        reviews.append(_app_review(app, av, items, daily,
                                   _with_previous(figures, before, older.get(app.id, set())), period))  # fmt: skip
    return _assemble(period, await store.list_agencies(conn), reviews)


# --- from the raw rows (the reference) -------------------------------------------------------


async def review_from_raw(conn: Conn, *, month: str, settings: StateSettings,
                          agency: str | None = None, now: dt.datetime | None = None) -> Review:  # fmt: skip
    """The same figures straight from check_results and usage_samples (slow: for comparison)."""
    now = now or dt.datetime.now(dt.UTC)
    period = month_period(month, settings.timezone, now=now)
    tz = zoneinfo.ZoneInfo(settings.timezone)
    rules = await app_rules(conn, settings)
    apps = [
        a
        for a in await store.list_apps(conn, store.AppFilter(agency=agency))
        if a.lifecycle != "planned"
    ]
    prev = month_period(previous_month(month), settings.timezone)
    reviews = []
    for app in apps:
        # One sweep from the accounting start to now, cut at midnights and the month's edges.
        origin = await accounting_start(conn, app.id)
        if origin is None:
            continue  # deleted since the list was read
        swept = (
            sweep_pieces(
                await load_results(conn, app.id, origin, now),
                rules=rules[app.id],
                start=origin,
                end=now,
                carry=None,
                tz=tz,
                cuts=(period.start, period.end),
            )
            if origin < now
            else Pieces()
        )
        per_day: dict[dt.date, list[float]] = {}
        for piece in swept.pieces:
            if period.start <= piece.start < period.end:
                sec = piece.seconds
                _add(per_day, piece.day, sec["up"], sec["down"], sec["degraded"],
                     sec["maintenance"], sec["unknown"])  # fmt: skip
        av, daily = _month_figures(per_day)
        carry = swept.carry
        items = _outage_items(swept.outages, carry.outage_start if carry else None,
                              carry.outage_causes if carry else [], period, now)  # fmt: skip
        usage = await _usage_from_raw(conn, app.id, period, tz)
        before = await _usage_from_raw(conn, app.id, prev, tz)
        older = {
            r["metric"]
            for r in await conn.fetch(
                "SELECT DISTINCT metric FROM usage_samples WHERE app_id = $1 AND ts < $2",
                app.id,
                prev.start,
            )
        }
        reviews.append(
            _app_review(app, av, items, daily, _with_previous(usage, before, older), period)
        )
    return _assemble(period, await store.list_agencies(conn), reviews)


async def _usage_from_raw(
    conn: Conn, app_id: str, period: Period, tz: zoneinfo.ZoneInfo
) -> list[UsageFigures]:
    rows = await conn.fetch(
        "SELECT metric, kind, ts, value, total FROM usage_samples WHERE app_id = $1 AND ts >= $2 AND ts < $3"
        " ORDER BY metric, ts",
        app_id, period.start, period.end,
    )  # fmt: skip
    per: dict[str, _UsageDays] = {}
    for r in rows:
        u = per.setdefault(r["metric"], _UsageDays(r["kind"], [], None))
        day = _local_day(r["ts"], tz)
        if not u.days or u.days[-1][0] != day:
            u.days.append((day, None, None, 0.0, 0, None))
        d, first, last, total_sum, n, peak = u.days[-1]
        if r["kind"] == "counter":
            if r["total"] is not None:
                first = r["total"] if first is None else first
                last = r["total"]
        else:
            total_sum, n, peak = (
                total_sum + r["value"],
                n + 1,
                r["value"] if peak is None else max(peak, r["value"]),
            )
        u.days[-1] = (d, first, last, total_sum, n, peak)
    for metric, u in per.items():
        u.baseline = await conn.fetchval(
            "SELECT total FROM usage_samples WHERE app_id = $1 AND metric = $2 AND ts < $3"
            " AND total IS NOT NULL ORDER BY ts DESC LIMIT 1",
            app_id, metric, period.start,
        )  # fmt: skip
    return [usage_figures(m, u) for m, u in sorted(per.items())]
