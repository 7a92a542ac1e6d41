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
from collector.review.rollup import first_data, load_results
from collector.review.timeline import STATES, Carry, Outage, sweep
from collector.state.rules import StateSettings, app_rules
from wire.catalog import Agency, App

_carry_decoder = msgspec.json.Decoder(Carry)


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
    degraded_seconds: float = 0  # part of up_seconds: answered, but slower than its limit
    maintenance_seconds: float = 0
    unknown_seconds: float = 0
    uptime_percent: float | None = None  # up / (up + down); None without monitored time

    @property
    def monitored_seconds(self) -> float:
        return self.up_seconds + self.down_seconds


class OutageItem(msgspec.Struct, frozen=True, kw_only=True):
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None: still down at the end of the month
    duration_seconds: float  # up to the month's end while still open
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
    """Outages that overlap the month; one still open at the end (`through`) has no end."""
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
    conn: Conn, start: dt.date, end: dt.date, app: str | None
) -> dict[str, dict[str, _UsageDays]]:
    where, args = ("AND app_id = $3", [app]) if app else ("", [])
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
    base_where, base_args = ("AND app_id = $2", [app]) if app else ("", [])
    for r in await conn.fetch(_USAGE_BASELINE_SQL.format(where=base_where), start, *base_args):
        if r["metric"] in out.get(r["app_id"], {}):
            out[r["app_id"]][r["metric"]].baseline = r["last_total"]
    return out


def _with_previous(current: list[UsageFigures], previous: list[UsageFigures]) -> list[UsageFigures]:
    before = {u.metric: u for u in previous}
    for u in current:
        p = before.get(u.metric)
        if p is None:
            continue
        u.previous = p.total if u.kind == "counter" else p.average
        now = u.total if u.kind == "counter" else u.average
        if u.previous and now is not None:
            u.change_percent = 100.0 * (now - u.previous) / u.previous
    return current


# --- from the aggregates --------------------------------------------------------------------


async def review_from_aggregates(conn: Conn, *, month: str, settings: StateSettings,
                                 agency: str | None = None, now: dt.datetime | None = None) -> Review:  # fmt: skip
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
    last_hour = period.end - dt.timedelta(hours=1)
    carries = {r["app_id"]: (_carry_decoder.decode(r["carry"]), r["hour"] + dt.timedelta(hours=1))
               for r in await conn.fetch(
        "SELECT DISTINCT ON (app_id) app_id, hour, carry FROM app_hourly WHERE hour <= $1 AND hour >= $2"
        " ORDER BY app_id, hour DESC", last_hour, period.start)}  # fmt: skip
    usage = await usage_from_days(conn, first_day, end_day, None)
    prev = month_period(previous_month(month), settings.timezone)
    usage_prev = await usage_from_days(conn, _local_day(prev.start, tz), first_day, None)
    reviews = []
    for app in apps:
        av = Availability()
        daily = []
        for r in days.get(app.id, []):
            av.up_seconds += r["up_s"] + r["degraded_s"]
            av.down_seconds += r["down_s"]
            av.degraded_seconds += r["degraded_s"]
            av.maintenance_seconds += r["maintenance_s"]
            av.unknown_seconds += r["unknown_s"]
            daily.append(DayFigures(day=r["day"], down_seconds=r["down_s"],
                                    uptime_percent=_percent(r["up_s"] + r["degraded_s"], r["down_s"]),
                                    maintenance_seconds=r["maintenance_s"], unknown_seconds=r["unknown_s"]))  # fmt: skip
        carry, through = carries.get(app.id, (None, period.start))
        # An outage that ended after the rolled-up hours is still open as far as they know: it
        # comes from the carry, not (again) from app_outages.
        ended = [o for o in outages.get(app.id, []) if o.end <= through]
        items = _outage_items(ended, carry.outage_start if carry else None,
                              carry.outage_causes if carry else [], period, through)  # fmt: skip
        figures = [usage_figures(m, u) for m, u in sorted(usage.get(app.id, {}).items())]
        before = [usage_figures(m, u) for m, u in sorted(usage_prev.get(app.id, {}).items())]
        reviews.append(_app_review(app, av, items, daily, _with_previous(figures, before), period))
    return _assemble(period, await store.list_agencies(conn), reviews)


# --- from the raw rows (the reference) -------------------------------------------------------


async def review_from_raw(conn: Conn, *, month: str, settings: StateSettings,
                          agency: str | None = None, now: dt.datetime | None = None) -> Review:  # fmt: skip
    """The same figures straight from check_results and usage_samples (slow: for comparison)."""
    period = month_period(month, settings.timezone, now=now)
    tz = zoneinfo.ZoneInfo(settings.timezone)
    until = min(
        period.end, (now or dt.datetime.now(dt.UTC)).replace(minute=0, second=0, microsecond=0)
    )
    rules = await app_rules(conn, settings)
    apps = [
        a
        for a in await store.list_apps(conn, store.AppFilter(agency=agency))
        if a.lifecycle != "planned"
    ]
    reviews = []
    for app in apps:
        first = await first_data(conn, app.id)
        created = await conn.fetchval("SELECT created_at FROM apps WHERE id = $1", app.id)
        origin = (first or created).replace(minute=0, second=0, microsecond=0)
        lead = sweep(await load_results(conn, app.id, origin, period.start), rules=rules[app.id],
                     start=origin, end=period.start) if origin < period.start else None  # fmt: skip
        av, daily, outages, carry = (
            Availability(),
            [],
            list(lead.outages if lead else []),
            lead.carry if lead else None,
        )
        day_start = max(period.start, origin)
        month_results = await load_results(conn, app.id, day_start, until)
        while day_start < until:
            local = _local_day(day_start, tz)
            day_end = min(
                until,
                dt.datetime.combine(local + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC),
            )
            chunk = [r for r in month_results if day_start <= r.ts < day_end]
            s = sweep(chunk, rules=rules[app.id], start=day_start, end=day_end, carry=carry)
            carry = s.carry
            outages.extend(s.outages)
            sec = s.seconds
            av.up_seconds += sec["up"] + sec["degraded"]
            av.down_seconds += sec["down"]
            av.degraded_seconds += sec["degraded"]
            av.maintenance_seconds += sec["maintenance"]
            av.unknown_seconds += sec["unknown"]
            if sum(sec[k] for k in STATES) > 0:
                daily.append(DayFigures(day=local, down_seconds=sec["down"],
                                        uptime_percent=_percent(sec["up"] + sec["degraded"], sec["down"]),
                                        maintenance_seconds=sec["maintenance"], unknown_seconds=sec["unknown"]))  # fmt: skip
            day_start = day_end
        items = _outage_items(outages, carry.outage_start if carry else None,
                              carry.outage_causes if carry else [], period, until)  # fmt: skip
        usage = await _usage_from_raw(conn, app.id, period, tz)
        prev = month_period(previous_month(month), settings.timezone)
        before = await _usage_from_raw(conn, app.id, prev, tz)
        reviews.append(_app_review(app, av, items, daily, _with_previous(usage, before), period))
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
