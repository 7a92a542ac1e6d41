"""A synthetic month with known outages, maintenance, probe silences and counter resets.

Also: recurring windows written in crontab with numeric and named days, a usage metric whose
previous month is only partly covered, an app registered mid-month whose probe stays silent for
days, and an outage that crosses the month's end.

Loaded through the real ingest path by the review tests; the expected figures are worked out by
hand from the rules in docs/accounting.md and written down next to each event.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Iterator

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from collector.config import CollectorConfig
from collector.review.rollup import rollup
from collector.web.app import make_app
from tests.collector.conftest import bearer, collector_config
from tests.live import apply_catalog, probe_token
from tests.pg import create_test_database

WIB = dt.timezone(dt.timedelta(hours=7))

# The probe of zone dc pulls these (probe tokens send only usage their app pulls).
PULLED = {"type": "json", "url": "http://127.0.0.1:9/stats", "path": "n"}


def month_before(now: dt.datetime) -> tuple[int, int]:
    local = now.astimezone(WIB)
    return (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)


# The synthetic month's events reach past its end (an outage until 01:01 on the 1st; reviews
# made hours after the end): in the first days of a month they would lie in the future, which
# ingest refuses. So the month is the one before `now` less this margin.
SETTLED = dt.timedelta(days=2)


class Month:
    """The month before `now - SETTLED` (recent enough for ingest to accept: at most about 60
    days back), in WIB."""

    def __init__(self, now: dt.datetime) -> None:
        self.year, self.month = month_before(now - SETTLED)
        self.start = dt.datetime(self.year, self.month, 1, tzinfo=WIB)
        nxt = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        self.end = dt.datetime(*nxt, 1, tzinfo=WIB)
        self.days = (self.end - self.start).days
        self.label = f"{self.year:04d}-{self.month:02d}"

    def at(self, day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(self.year, self.month, day, hour, minute, tzinfo=WIB)


def catalog(m: Month) -> dict[str, object]:
    return {
        "agencies": [{"id": "diskominfo", "name": "Diskominfo"}, {"id": "setda", "name": "Setda"}],
        "apps": [
            {
                "id": "website", "name": "Website", "agency": "diskominfo", "managed_by": "self",
                "target_uptime": 99.95, "zones": ["dc"],
                "checks": [{"type": "http", "url": "http://127.0.0.1:9/"}],
                "maintenance": [{"name": "upgrade", "start": m.at(15, 22).isoformat(),
                                 "end": (m.at(15, 22) + dt.timedelta(hours=2)).isoformat()}],
                "usage": [{"metric": "visits", "kind": "counter", "source": PULLED},
                          {"metric": "active-users", "kind": "gauge", "source": PULLED},
                          {"metric": "logins", "kind": "counter", "source": PULLED}],
            },
            {
                "id": "jdih", "name": "JDIH", "agency": "setda", "managed_by": "self", "target_uptime": 99.0,
                "zones": ["dc"],
                "checks": [{"type": "http", "url": "http://127.0.0.1:9/", "interval_seconds": 300,
                            "max_latency_seconds": 1}],
                # crontab: 0 = Sunday; day-of-month OR day-of-week (every Friday, and the 13th)
                "maintenance": [{"name": "weekly", "cron": "0 2 * * 0", "duration_minutes": 30},
                                {"name": "friday", "cron": "0 4 13 * fri", "duration_minutes": 60}],
            },
            {"id": "sipd", "name": "SIPD", "agency": "setda", "managed_by": "central", "zones": ["dc"]},
            {
                "id": "simpeg", "name": "SIMPEG", "agency": "setda", "managed_by": "self", "target_uptime": 99.0,
                "zones": ["dc"], "checks": [{"type": "http", "url": "http://127.0.0.1:9/"}],
            },
        ],
    }  # fmt: skip


# What the month holds, worked out by hand (failure threshold 3, success threshold 2, staleness
# three intervals). website is checked every minute:
OUTAGE_START = (10, 10, 2)  # fails from 10:00; the third failure (10:02) makes it down
OUTAGE_END = (10, 10, 31)  # succeeds from 10:30; the second success (10:31) brings it up
WEBSITE_DOWN = 29 * 60
WEBSITE_MAINTENANCE = 2 * 3600  # the window of the 15th, 22:00-24:00, failures inside it
WEBSITE_UNKNOWN = 118 * 60  # no results 12:00-14:00 on the 20th: stale from 12:02 (11:59 + 3 min)
JDIH_DEGRADED = 3600  # answers too slowly 08:00-08:55 on the 5th, fine again at 09:00
VISITS_TOTAL_EXPR = "10 * (samples - 1) + 5"  # +10 a sample; reset to 5 on the 12th


def jdih_windows(m: Month) -> dict[int, float]:
    """jdih's maintenance per day of the month, in seconds: 30 min on Sundays at 02:00 ("0"), an
    hour at 04:00 on Fridays and on the 13th (crontab ORs a restricted day and weekday)."""
    out = {}
    for day in range(1, m.days + 1):
        weekday = calendar.weekday(m.year, m.month, day)  # Monday = 0
        seconds = (1800 if weekday == calendar.SUNDAY else 0) + (
            3600 if weekday == calendar.FRIDAY or day == 13 else 0
        )
        if seconds:
            out[day] = seconds
    return out


# simpeg: registered on the 8th at 09:20; its probe is silent until the 20th at 00:00, then checks
# every minute. Down from the last day's 23:00 to 01:00 the next month: the third failure (23:02)
# opens the outage, the second success (01:01 next month) ends it.
SIMPEG_REGISTERED = (8, 9, 20)
SIMPEG_FIRST = (20, 0, 0)
SIMPEG_OUTAGE_IN_MONTH = 58 * 60  # 23:02-24:00 on the last day
SIMPEG_OUTAGE_WHOLE = (60 + 59) * 60  # 23:02-01:01, once it has ended


def simpeg_outage(m: Month) -> tuple[dt.datetime, dt.datetime]:
    return m.at(m.days, 23, 2), m.end + dt.timedelta(hours=1, minutes=1)


def simpeg_results(m: Month, now: dt.datetime) -> Iterator[dict[str, object]]:
    t = m.at(*SIMPEG_FIRST)
    down_from, down_to = m.at(m.days, 23), m.end + dt.timedelta(hours=1)
    last = min(m.end + dt.timedelta(hours=2), now - dt.timedelta(minutes=1))
    while t < last:
        failing = down_from <= t < down_to
        item: dict[str, object] = {"app": "simpeg", "check": "http", "kind": "http", "ts": t.timestamp(),
                                   "ok": not failing, "duration_seconds": 0.1}  # fmt: skip
        if failing:
            item["reason"] = "connect"
        yield item
        t += dt.timedelta(minutes=1)


# website's logins began on the previous month's 21st (+1 an hour): that month is only partly
# covered, so the review shows no change against it and says so.
def logins_samples(m: Month) -> Iterator[dict[str, object]]:
    prev_year, prev_month = (m.year - 1, 12) if m.month == 1 else (m.year, m.month - 1)
    t = dt.datetime(prev_year, prev_month, 21, tzinfo=WIB)
    value = 0.0
    while t < m.end:
        yield {"app": "website", "metric": "logins", "kind": "counter", "ts": t.timestamp(),
               "value": value}  # fmt: skip
        value += 1
        t += dt.timedelta(hours=1)


def logins_hours_before(m: Month) -> int:
    """Hours from the previous month's 21st 00:00 to this month's start."""
    prev_year, prev_month = (m.year - 1, 12) if m.month == 1 else (m.year, m.month - 1)
    return int(
        (m.start - dt.datetime(prev_year, prev_month, 21, tzinfo=WIB)).total_seconds() // 3600
    )


def website_results(m: Month) -> Iterator[dict[str, object]]:
    t = m.start
    while t < m.end:
        local = t.astimezone(WIB)
        day, hour, minute = local.day, local.hour, local.minute
        silent = day == 20 and 12 <= hour < 14
        failing = (day == 10 and hour == 10 and minute < 30) or (
            day == 15 and hour >= 22 and minute < 50
        )
        if not silent:
            item: dict[str, object] = {"app": "website", "check": "http", "kind": "http", "ts": t.timestamp(),
                                       "ok": not failing, "duration_seconds": 0.2}  # fmt: skip
            if failing:
                item["reason"] = "status"
            yield item
        t += dt.timedelta(minutes=1)


def jdih_results(m: Month) -> Iterator[dict[str, object]]:
    t = m.start
    while t < m.end:
        local = t.astimezone(WIB)
        slow = local.day == 5 and local.hour == 8
        item: dict[str, object] = {"app": "jdih", "check": "http", "kind": "http", "ts": t.timestamp(),
                                   "ok": not slow, "duration_seconds": 2.0 if slow else 0.3}  # fmt: skip
        if slow:
            item["reason"] = "latency"
        yield item
        t += dt.timedelta(minutes=5)


def usage_samples(m: Month) -> Iterator[dict[str, object]]:
    # A baseline just before the month, then +10 every 5 minutes; the app restarts on the 12th.
    t = m.start - dt.timedelta(minutes=5)
    value = 1000.0
    while t < m.end:
        if t == m.at(12, 0):
            value = 5.0
        yield {
            "app": "website",
            "metric": "visits",
            "kind": "counter",
            "ts": t.timestamp(),
            "value": value,
        }
        value += 10
        t += dt.timedelta(minutes=5)
    t = m.start
    while t < m.end:  # active users = the hour of the day
        yield {"app": "website", "metric": "active-users", "kind": "gauge", "ts": t.timestamp(),
               "value": float(t.astimezone(WIB).hour)}  # fmt: skip
        t += dt.timedelta(hours=1)


def visits_samples_in_month(m: Month) -> int:
    return m.days * 288


async def load(client: TestClient, token: str, m: Month, now: dt.datetime) -> None:
    results = [*website_results(m), *jdih_results(m), *simpeg_results(m, now)]
    usage = [*usage_samples(m), *logins_samples(m)]
    size = 2_000  # under aiohttp's 1 MiB warning for raw bodies
    for i in range(0, max(len(results), len(usage)), size):
        body = {"probe": "probe-dc-1", "batch_id": uuid.uuid4().hex,
                "results": results[i:i + size], "usage": usage[i:i + size]}  # fmt: skip
        resp = await client.post("/api/v1/results", json=body, headers=bearer(token))
        assert resp.status == 200, await resp.text()


NOW = dt.datetime.now(dt.UTC)
MONTH = Month(NOW)
SETTINGS = CollectorConfig().state_settings()


async def build_month_db(server_url: str) -> str:
    """A database holding the synthetic month, loaded through ingest and rolled up."""
    url = await create_test_database(server_url)
    await apply_catalog(url, catalog(MONTH))
    conn = await asyncpg.connect(url)
    try:  # registered mid-month
        await conn.execute(
            "UPDATE apps SET created_at = $1 WHERE id = 'simpeg'", MONTH.at(*SIMPEG_REGISTERED)
        )
    finally:
        await conn.close()
    token = await probe_token(url, "dc")
    app = make_app(collector_config(), dsn=url)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        await load(client, token, MONTH, NOW)
    conn = await asyncpg.connect(url)
    try:
        await rollup(conn, settings=SETTINGS, now=NOW)
    finally:
        await conn.close()
    return url
