"""What the portal's pages show, read from PostgreSQL in a few queries per page.

Uptime and usage follow docs/accounting.md and read the review's aggregates (`app_daily`,
`app_hourly`, `usage_daily`), plus the running hour swept from the raw results as the review
does (collector.review.tail); the usage series reuse the review's own arithmetic so that the
portal and the monthly report never disagree about a day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from collector.catalog import store
from collector.catalog.contacts import without_contacts
from collector.db import Conn
from collector.review.monthly import usage_figures, usage_from_days
from collector.review.rollup import HOUR, floor_hour
from collector.review.tail import Piece, tails
from collector.state.incidents import Incident, find_incidents
from collector.state.rules import StateSettings, app_rules
from wire.catalog import Agency, App

UPTIME_DAYS = 30
TREND_DAYS = 14
TIMELINE_DAYS = 7
INCIDENT_LIMIT = 50


@dataclass(frozen=True, kw_only=True)
class Clock:
    """The moment a page is made, and the collector's time zone."""

    now: dt.datetime
    tz: zoneinfo.ZoneInfo
    settings: StateSettings = field(default_factory=StateSettings)

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def days_back(self, n: int) -> list[dt.date]:
        """The last `n` local days, today included, oldest first."""
        return [self.today - dt.timedelta(days=k) for k in range(n - 1, -1, -1)]

    def local_midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), self.tz)


@dataclass(frozen=True, kw_only=True)
class UsageSeries:
    metric: str
    kind: str  # counter: the day's increase; gauge: the day's average
    days: list[tuple[dt.date, float | None]]  # every day of the window; None without data


@dataclass(frozen=True, kw_only=True)
class Availability:
    up_s: float = 0.0  # degraded included
    down_s: float = 0.0
    degraded_s: float = 0.0
    maintenance_s: float = 0.0
    unknown_s: float = 0.0

    @property
    def uptime(self) -> float | None:
        monitored = self.up_s + self.down_s
        if monitored <= 0:
            return None
        if self.down_s <= 0:  # exactly 100: 100 * up / up can come out as 99.99999999999999
            return 100.0
        return 100.0 * self.up_s / monitored

    def __add__(self, other: Availability) -> Availability:
        return Availability(
            up_s=self.up_s + other.up_s,
            down_s=self.down_s + other.down_s,
            degraded_s=self.degraded_s + other.degraded_s,
            maintenance_s=self.maintenance_s + other.maintenance_s,
            unknown_s=self.unknown_s + other.unknown_s,
        )


def _of_piece(p: Piece) -> Availability:
    s = p.seconds
    return Availability(up_s=s["up"] + s["degraded"], down_s=s["down"], degraded_s=s["degraded"],
                        maintenance_s=s["maintenance"], unknown_s=s["unknown"])  # fmt: skip


async def _running(conn: Conn, app_ids: Sequence[str], clock: Clock,
                   cuts: Sequence[dt.datetime] = ()) -> dict[str, list[Piece]]:  # fmt: skip
    """Per app, the time after its rolled-up hours (the running hour), in pieces."""
    rules = await app_rules(conn, clock.settings, ids=app_ids)
    found = await tails(conn, rules, app_ids, now=clock.now, tz=clock.tz, cuts=cuts)
    return {app: t.pieces.pieces for app, t in found.items()}


@dataclass(frozen=True, kw_only=True)
class AppSummary:
    """One row of the lists: the catalogue record with its state, uptime and usage trend."""

    app: App
    agency_name: str
    state: str  # up, degraded, down, maintenance, unknown
    since: dt.datetime | None
    availability: Availability  # the last UPTIME_DAYS local days
    trend: UsageSeries | None  # the first metric with data, over TREND_DAYS


@dataclass(frozen=True, kw_only=True)
class Listed:
    """What the list filters and sorts an app by: a few columns, not the whole record."""

    id: str
    name: str
    agency: str
    managed_by: str
    lifecycle: str
    category: str  # "" without one
    state: str
    text: str  # what the search matches, lower case: name, id, provider, description, tags


@dataclass(frozen=True, kw_only=True)
class ZoneRow:
    zone: str
    state: str
    since: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class HourRow:
    hour: dt.datetime
    up_s: float
    down_s: float
    degraded_s: float
    maintenance_s: float
    unknown_s: float

    def dominant(self) -> str:
        """Down when any second was down; else the state that held longest (ties: worst first)."""
        if self.down_s > 0:
            return "down"
        seconds = {
            "maintenance": self.maintenance_s,
            "unknown": self.unknown_s,
            "degraded": self.degraded_s,
            "up": self.up_s,
        }
        return max(seconds, key=lambda s: seconds[s])  # max keeps the first of equals


@dataclass(frozen=True, kw_only=True)
class DayRow:
    day: dt.date
    availability: Availability


@dataclass(frozen=True, kw_only=True)
class CheckRow:
    zone: str
    check_name: str
    kind: str
    probe: str
    ts: dt.datetime
    ok: bool
    reason: str | None
    message: str | None
    duration_s: float
    status_code: int | None
    tls_expiry: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class AppDetail:
    summary: AppSummary
    agency: Agency | None
    zones: list[ZoneRow]
    hours: list[HourRow]  # the last TIMELINE_DAYS local days
    days: list[DayRow]  # the last UPTIME_DAYS local days that have a row
    incidents: list[Incident]  # newest first
    usage: list[UsageSeries]  # every metric, over UPTIME_DAYS
    checks: list[CheckRow]


@dataclass(frozen=True, kw_only=True)
class AgencyDetail:
    agency: Agency
    parent: Agency | None
    apps: list[AppSummary]
    open_incidents: list[Incident]


# --- lists ------------------------------------------------------------------------------------


async def _usage_series(
    conn: Conn, days: Sequence[dt.date], app_ids: Sequence[str]
) -> dict[str, list[UsageSeries]]:
    """Per app of `app_ids`, its metrics' daily series over `days` (counters: increase; gauges:
    average)."""
    # Only the rows shown: a page of the list, an agency's apps, one app.
    raw = await usage_from_days(conn, days[0], days[-1] + dt.timedelta(days=1), app_ids)
    out: dict[str, list[UsageSeries]] = {}
    for app, metrics in raw.items():
        series = []
        for metric, usage in sorted(metrics.items()):
            figures = usage_figures(metric, usage)
            by_day = dict(figures.daily)
            series.append(
                UsageSeries(
                    metric=metric, kind=figures.kind, days=[(d, by_day.get(d)) for d in days]
                )
            )
        out[app] = series
    return out


def _first_metric(app: App, series: list[UsageSeries]) -> UsageSeries | None:
    """The catalogue's first metric that has data, else any metric with data."""
    with_data = {s.metric: s for s in series if any(v is not None for _, v in s.days)}
    for spec in app.usage:
        if spec.metric in with_data:
            return with_data[spec.metric]
    return next(iter(with_data.values()), None)


async def summaries(
    conn: Conn, apps: Sequence[App], clock: Clock, *, contacts: bool
) -> list[AppSummary]:
    """`contacts`: keep owners' e-mail and phone (`public_contacts`); else they are dropped here,
    before anything renders or searches the apps."""
    if not contacts:
        apps = [without_contacts(a) for a in apps]
    ids = [a.id for a in apps]
    names = {a.id: a.name for a in await store.list_agencies(conn)}
    states = {
        r["app_id"]: r
        for r in await conn.fetch(
            "SELECT app_id, state, since FROM app_state WHERE app_id = ANY ($1::text[])", ids
        )
    }
    start = clock.days_back(UPTIME_DAYS)[0]
    availability = {
        r["app_id"]: Availability(
            up_s=r["up"],
            down_s=r["down"],
            degraded_s=r["degraded"],
            maintenance_s=r["maintenance"],
            unknown_s=r["unknown"],
        )
        for r in await conn.fetch(
            "SELECT app_id, sum(up_s + degraded_s) AS up, sum(down_s) AS down,"
            " sum(degraded_s) AS degraded, sum(maintenance_s) AS maintenance,"
            " sum(unknown_s) AS unknown"
            " FROM app_daily WHERE day >= $1 AND app_id = ANY ($2::text[]) GROUP BY app_id",
            start,
            ids,
        )
    }
    running = await _running(conn, ids, clock)
    since = clock.local_midnight(start)
    for app_id, pieces in running.items():
        for p in pieces:
            if p.start >= since:
                availability[app_id] = availability.get(app_id, Availability()) + _of_piece(p)
    usage = await _usage_series(conn, clock.days_back(TREND_DAYS), ids)
    out = []
    for a in apps:
        st = states.get(a.id)
        out.append(
            AppSummary(
                app=a,
                agency_name=names.get(a.agency, a.agency),
                state=st["state"] if st else "unknown",
                since=st["since"] if st else None,
                availability=availability.get(a.id, Availability()),
                trend=_first_metric(a, usage.get(a.id, [])),
            )
        )
    return out


@dataclass(frozen=True, kw_only=True)
class CataloguePage:
    """One page of the list: the whole catalogue's counts, and the summaries of the page's rows
    only (summarizing is the costly part, so it is never done for rows not sent)."""

    agencies: list[Agency]  # every agency, for the filter
    categories: list[str]  # every category in use, for the filter
    total: int  # apps in the catalogue
    states: dict[str, int]  # the whole catalogue's apps per state
    matched: int  # apps the filters keep
    offset: int  # of the page's first row among the matched
    rows: list[AppSummary]  # the page: agencies by name, then apps by name


Keep = Callable[[Listed], bool]


async def catalogue_page(
    conn: Conn, clock: Clock, *, keep: Keep, offset: int, limit: int, contacts: bool
) -> CataloguePage:
    """The apps `keep` lists, in the list's order, from `offset`, at most `limit` of them."""
    agencies = await store.list_agencies(conn)
    listed = [
        Listed(
            id=r["id"],
            name=r["name"],
            agency=r["agency_id"],
            managed_by=r["managed_by"],
            lifecycle=r["lifecycle"],
            category=r["category"] or "",
            state=r["state"],
            text=" ".join(
                [r["name"], r["id"], r["provider"] or "", r["description"] or "", *r["tags"]]
            ).lower(),
        )
        for r in await conn.fetch(
            "SELECT a.id, a.name, a.agency_id, a.managed_by, a.lifecycle, a.category,"
            " a.provider, a.description, a.tags, coalesce(s.state, 'unknown') AS state"
            " FROM apps a LEFT JOIN app_state s ON s.app_id = a.id"
        )
    ]
    names = {a.id: a.name.casefold() for a in agencies}
    counts: dict[str, int] = defaultdict(int)
    matched = []
    for x in listed:
        counts[x.state] += 1
        if keep(x):
            matched.append(x)
    matched.sort(key=lambda x: (names.get(x.agency, x.agency.casefold()), x.agency,
                                x.name.casefold(), x.id))  # fmt: skip
    page = [x.id for x in matched[offset : offset + limit]]
    apps = {a.id: a for a in await store.list_apps(conn, store.AppFilter(ids=page))} if page else {}
    rows = [apps[i] for i in page if i in apps]  # one removed meanwhile is left out
    return CataloguePage(
        agencies=agencies,
        categories=sorted({x.category for x in listed if x.category}),
        total=len(listed),
        states=dict(counts),
        matched=len(matched),
        offset=offset,
        rows=await summaries(conn, rows, clock, contacts=contacts) if rows else [],
    )


# --- one app ----------------------------------------------------------------------------------


async def app_detail(conn: Conn, app_id: str, clock: Clock, *, contacts: bool) -> AppDetail | None:
    app = await store.get_app(conn, app_id)
    if app is None:
        return None
    (summary,) = await summaries(conn, [app], clock, contacts=contacts)
    agency = await store.get_agency(conn, app.agency)
    zone_rows = {
        r["zone"]: r
        for r in await conn.fetch(
            "SELECT zone, state, since FROM app_zone_state WHERE app_id = $1", app.id
        )
    }
    zones = [
        ZoneRow(
            zone=z,
            state=zone_rows[z]["state"] if z in zone_rows else "unknown",
            since=zone_rows[z]["since"] if z in zone_rows else None,
        )
        for z in [*app.zones, *sorted(set(zone_rows) - set(app.zones))]
    ]
    first_hour = clock.local_midnight(clock.days_back(TIMELINE_DAYS)[0])
    hours = [
        HourRow(
            hour=r["hour"],
            up_s=r["up_s"],
            down_s=r["down_s"],
            degraded_s=r["degraded_s"],
            maintenance_s=r["maintenance_s"],
            unknown_s=r["unknown_s"],
        )
        for r in await conn.fetch(
            "SELECT hour, up_s, down_s, degraded_s, maintenance_s, unknown_s FROM app_hourly"
            " WHERE app_id = $1 AND hour >= $2 ORDER BY hour",
            app.id,
            first_hour,
        )
    ]
    days = [
        DayRow(
            day=r["day"],
            availability=Availability(
                up_s=r["up_s"] + r["degraded_s"],
                down_s=r["down_s"],
                degraded_s=r["degraded_s"],
                maintenance_s=r["maintenance_s"],
                unknown_s=r["unknown_s"],
            ),
        )
        for r in await conn.fetch(
            "SELECT day, up_s, down_s, degraded_s, maintenance_s, unknown_s FROM app_daily"
            " WHERE app_id = $1 AND day >= $2 ORDER BY day",
            app.id,
            clock.days_back(UPTIME_DAYS)[0],
        )
    ]
    # The running hour (and any the rollup has not reached), cut at the hours for the timeline.
    hour_marks = [floor_hour(clock.now) - k * HOUR for k in range(TIMELINE_DAYS * 24 + 24)]
    pieces = (await _running(conn, [app.id], clock, hour_marks)).get(app.id, [])
    hours_by: dict[dt.datetime, Availability] = {}
    days_by: dict[dt.date, Availability] = {d.day: d.availability for d in days}
    for p in pieces:
        a = _of_piece(p)
        if p.start >= first_hour:
            hours_by[floor_hour(p.start)] = hours_by.get(floor_hour(p.start), Availability()) + a
        days_by[p.day] = days_by.get(p.day, Availability()) + a
    known = {h.hour: h for h in hours}
    for hour, a in hours_by.items():
        if hour in known:
            k = known[hour]
            a = a + Availability(up_s=k.up_s + k.degraded_s, down_s=k.down_s, degraded_s=k.degraded_s,
                                 maintenance_s=k.maintenance_s, unknown_s=k.unknown_s)  # fmt: skip
        known[hour] = HourRow(hour=hour, up_s=a.up_s - a.degraded_s, down_s=a.down_s,
                              degraded_s=a.degraded_s, maintenance_s=a.maintenance_s,
                              unknown_s=a.unknown_s)  # fmt: skip
    hours = [known[h] for h in sorted(known)]
    oldest = clock.days_back(UPTIME_DAYS)[0]
    days = [DayRow(day=d, availability=days_by[d]) for d in sorted(days_by) if d >= oldest]
    incidents = await find_incidents(conn, app=app.id, limit=INCIDENT_LIMIT, now=clock.now)
    usage = (await _usage_series(conn, clock.days_back(UPTIME_DAYS), [app.id])).get(app.id, [])
    checks = [
        CheckRow(
            zone=r["zone"],
            check_name=r["check_name"],
            kind=r["kind"],
            probe=r["probe"],
            ts=r["ts"],
            ok=r["ok"],
            reason=r["reason"],
            message=r["message"],
            duration_s=r["duration_seconds"],
            status_code=r["status_code"],
            tls_expiry=r["tls_expiry"],
        )
        for r in await conn.fetch(
            "SELECT zone, check_name, kind, probe, ts, ok, reason, message, duration_seconds,"
            " status_code, tls_expiry FROM check_latest WHERE app_id = $1"
            " ORDER BY zone, check_name",
            app.id,
        )
    ]
    return AppDetail(
        summary=summary,
        agency=agency,
        zones=zones,
        hours=hours,
        days=days,
        incidents=incidents,
        usage=usage,
        checks=checks,
    )


# --- one agency -------------------------------------------------------------------------------


async def agency_detail(
    conn: Conn, agency_id: str, clock: Clock, *, contacts: bool
) -> AgencyDetail | None:
    agency = await store.get_agency(conn, agency_id)
    if agency is None:
        return None
    parent = await store.get_agency(conn, agency.parent) if agency.parent else None
    apps = await store.list_apps(conn, store.AppFilter(agency=agency_id))
    open_incidents = await find_incidents(conn, agency=agency_id, is_open=True, now=clock.now)
    return AgencyDetail(
        agency=agency,
        parent=parent,
        apps=await summaries(conn, apps, clock, contacts=contacts),
        open_incidents=open_incidents,
    )


def total_availability(rows: Iterable[AppSummary]) -> Availability:
    total = Availability()
    for r in rows:
        total = total + r.availability
    return total


def count_states(rows: Iterable[AppSummary]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r.state] += 1
    return dict(counts)
