"""The rollup job: hourly and daily aggregates from raw results, safe to run twice.

Each app is rolled up hour by hour up to the last complete hour, carrying the replayed state
(see timeline.py) from one hour to the next. Results that arrive late (a probe replaying its
spool) mark the app dirty from their time; the next run recomputes from that hour on.
Aggregates are replaced, never added to, so running the job again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from collector.db import Conn
from collector.review.timeline import Carry, Outage, Result, sweep
from collector.state.rules import AppRules, RulesCache, StateSettings, app_rules

log = logging.getLogger(__name__)

# Two-key advisory locks (class, app): the class is a constant of Pantau's, app the app id's hash.
ROLLUP_LOCK_CLASS = 0x50414E54  # "PANT"
HOUR = dt.timedelta(hours=1)
_carry_decoder = msgspec.json.Decoder(Carry)


def floor_hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


async def load_results(
    conn: Conn, app_id: str, start: dt.datetime, end: dt.datetime
) -> list[Result]:
    rows = await conn.fetch(
        "SELECT ts, zone, check_name, ok, reason FROM check_results"
        " WHERE app_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts",
        app_id, start, end,
    )  # fmt: skip
    return [Result(r["ts"], r["zone"], r["check_name"], r["ok"], r["reason"]) for r in rows]


async def first_data(conn: Conn, app_id: str) -> dt.datetime | None:
    """When the app's first check result or usage sample was taken."""
    value: dt.datetime | None = await conn.fetchval(
        "SELECT least((SELECT min(ts) FROM check_results WHERE app_id = $1),"
        " (SELECT min(ts) FROM usage_samples WHERE app_id = $1))",
        app_id,
    )
    return value


async def accounting_start(conn: Conn, app_id: str) -> dt.datetime | None:
    """When an app's time starts to count: the earlier of its registration and its first result.

    Silence after it is unknown time; the time before it is not counted at all.
    """
    value: dt.datetime | None = await conn.fetchval(
        "SELECT least(created_at, (SELECT min(ts) FROM check_results WHERE app_id = $1))"
        " FROM apps WHERE id = $1",
        app_id,
    )
    return value


@dataclass(frozen=True)
class RollupStats:
    apps: int
    hours: int


async def rollup(conn: Conn, *, settings: StateSettings, now: dt.datetime | None = None,
                 apps: Sequence[str] | None = None,
                 rules_cache: RulesCache | None = None) -> RollupStats:  # fmt: skip
    """Bring every app's aggregates up to the last complete hour. Returns what it did.

    One transaction per app, so ingest (which marks apps dirty) never waits for a long backlog.
    Replicas running at once share the apps: each app's transaction takes a transaction-scoped
    lock of its own and skips the app another replica holds. (No session lock spanning the
    transactions: behind pgbouncer in transaction mode it would be taken on one server
    connection and released on another, and stay held.)
    """
    until = floor_hour(now or dt.datetime.now(dt.UTC))
    rules = await (rules_cache.get(conn) if rules_cache else app_rules(conn, settings))
    total_hours = 0
    done = 0
    for app_id in sorted(apps if apps is not None else rules):
        if app_id not in rules:
            continue
        async with conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", ROLLUP_LOCK_CLASS, app_id
            ):
                continue  # another replica is rolling this app up right now
            # Locked: ingest marking this app dirty meanwhile waits, then compares with the new
            # rolled_until, so no result slips between this run and the next.
            await conn.execute(
                "INSERT INTO rollup_progress (app_id) VALUES ($1) ON CONFLICT DO NOTHING",
                app_id,
            )
            p = await conn.fetchrow(
                "SELECT rolled_until, dirty_since FROM rollup_progress WHERE app_id = $1 FOR UPDATE",
                app_id,
            )
            assert p is not None  # inserted just above
            rolled, dirty = p["rolled_until"], p["dirty_since"]
            starts: list[dt.datetime] = [t for t in (rolled, dirty) if t is not None]
            origin = counted_from = None
            if rolled is None or dirty is not None:
                # Availability counts from the accounting start (to the second); usage pushed
                # before it still gets its hours.
                counted_from = await accounting_start(conn, app_id)
                if counted_from is None:
                    continue  # deleted since the rules were read (they are cached)
                first = await first_data(conn, app_id)
                origin = floor_hour(min(counted_from, first or counted_from))
                if rolled is None:
                    starts.append(origin)
            start = floor_hour(min(starts))
            if origin is not None:
                start = max(start, origin)
            if start >= until:
                continue
            total_hours += await _roll_app(conn, app_id, rules[app_id], start, until,
                                           settings.timezone, counted_from)  # fmt: skip
            await conn.execute(
                "UPDATE rollup_progress SET rolled_until = $2, dirty_since = NULL WHERE app_id = $1",
                app_id, until,
            )  # fmt: skip
            done += 1
    return RollupStats(done, total_hours)


async def _roll_app(conn: Conn, app_id: str, rules: AppRules, start: dt.datetime,
                    until: dt.datetime, timezone: str, counted_from: dt.datetime | None) -> int:  # fmt: skip
    raw = await conn.fetchval(
        "SELECT carry FROM app_hourly WHERE app_id = $1 AND hour = $2", app_id, start - HOUR
    )
    carry = _carry_decoder.decode(raw) if raw else None
    results = await load_results(conn, app_id, start, until)
    rows: list[tuple[Any, ...]] = []
    outages: list[Outage] = []
    i = 0
    hour = start
    while hour < until:
        nxt = hour + HOUR
        j = i
        while j < len(results) and results[j].ts < nxt:
            j += 1
        chunk = results[i:j]
        # The hour of the accounting start counts from it, not from the hour's beginning.
        begin = hour if counted_from is None else min(max(hour, counted_from), nxt)
        s = sweep(chunk, rules=rules, start=begin, end=nxt, carry=carry)
        failures = sum(1 for r in chunk if not r.ok)
        rows.append((app_id, hour, s.seconds["up"], s.seconds["down"], s.seconds["degraded"],
                     s.seconds["maintenance"], s.seconds["unknown"], len(chunk), failures,
                     msgspec.json.encode(s.carry).decode()))  # fmt: skip
        outages.extend(s.outages)
        carry = s.carry
        i = j
        hour = nxt
    await conn.execute("DELETE FROM app_hourly WHERE app_id = $1 AND hour >= $2", app_id, start)
    await conn.copy_records_to_table(
        "app_hourly", records=rows,
        columns=("app_id", "hour", "up_s", "down_s", "degraded_s", "maintenance_s", "unknown_s",
                 "results", "failures", "carry"),
    )  # fmt: skip
    # Outages that ended from `start` on are recomputed (one begun earlier comes from the carry).
    await conn.execute(
        "DELETE FROM app_outages WHERE app_id = $1 AND ended_at >= $2", app_id, start
    )
    await conn.executemany(
        "INSERT INTO app_outages (app_id, started_at, ended_at, causes) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (app_id, started_at) DO UPDATE SET ended_at = EXCLUDED.ended_at, causes = EXCLUDED.causes",
        [(app_id, o.start, o.end, o.causes) for o in outages],
    )
    await _roll_usage(conn, app_id, start, until)
    await _roll_days(conn, app_id, start, until, timezone)
    return len(rows)


async def _roll_usage(conn: Conn, app_id: str, start: dt.datetime, until: dt.datetime) -> None:
    await conn.execute(
        "DELETE FROM usage_hourly WHERE app_id = $1 AND hour >= $2 AND hour < $3",
        app_id,
        start,
        until,
    )
    await conn.execute(
        """
        INSERT INTO usage_hourly (app_id, metric, hour, kind, first_total, last_total,
                                  gauge_sum, gauge_count, gauge_max)
        SELECT app_id, metric, date_trunc('hour', ts), min(kind),
               (array_agg(total ORDER BY ts) FILTER (WHERE total IS NOT NULL))[1],
               (array_agg(total ORDER BY ts DESC) FILTER (WHERE total IS NOT NULL))[1],
               coalesce(sum(value) FILTER (WHERE kind = 'gauge'), 0),
               count(*) FILTER (WHERE kind = 'gauge'),
               max(value) FILTER (WHERE kind = 'gauge')
        FROM usage_samples
        WHERE app_id = $1 AND ts >= $2 AND ts < $3
        GROUP BY app_id, metric, date_trunc('hour', ts)
        """,
        app_id, start, until,
    )  # fmt: skip


async def _roll_days(
    conn: Conn, app_id: str, start: dt.datetime, until: dt.datetime, timezone: str
) -> None:
    """Recompute the local days touched by [start, until) from the hourly rows."""
    tz = zoneinfo.ZoneInfo(timezone)
    first_day = start.astimezone(tz).date()
    last_day = (until - dt.timedelta(microseconds=1)).astimezone(tz).date()
    await conn.execute(
        "DELETE FROM app_daily WHERE app_id = $1 AND day BETWEEN $2 AND $3",
        app_id,
        first_day,
        last_day,
    )
    await conn.execute(
        """
        INSERT INTO app_daily (app_id, day, up_s, down_s, degraded_s, maintenance_s, unknown_s,
                               results, failures)
        SELECT app_id, (hour AT TIME ZONE $4)::date AS day, sum(up_s), sum(down_s), sum(degraded_s),
               sum(maintenance_s), sum(unknown_s), sum(results), sum(failures)
        FROM app_hourly
        WHERE app_id = $1 AND (hour AT TIME ZONE $4)::date BETWEEN $2 AND $3
        GROUP BY app_id, day
        """,
        app_id, first_day, last_day, timezone,
    )  # fmt: skip
    await conn.execute(
        "DELETE FROM usage_daily WHERE app_id = $1 AND day BETWEEN $2 AND $3",
        app_id,
        first_day,
        last_day,
    )
    await conn.execute(
        """
        INSERT INTO usage_daily (app_id, metric, day, kind, first_total, last_total,
                                 gauge_sum, gauge_count, gauge_max)
        SELECT app_id, metric, (hour AT TIME ZONE $4)::date AS day, min(kind),
               (array_agg(first_total ORDER BY hour) FILTER (WHERE first_total IS NOT NULL))[1],
               (array_agg(last_total ORDER BY hour DESC) FILTER (WHERE last_total IS NOT NULL))[1],
               sum(gauge_sum), sum(gauge_count), max(gauge_max)
        FROM usage_hourly
        WHERE app_id = $1 AND (hour AT TIME ZONE $4)::date BETWEEN $2 AND $3
        GROUP BY app_id, metric, day
        """,
        app_id, first_day, last_day, timezone,
    )  # fmt: skip
