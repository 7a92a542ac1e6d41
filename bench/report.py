"""Benchmark: the monthly review from the aggregates against the same figures from the raw rows.

    .venv/bin/python bench/report.py [--apps 1000] [--rounds 3] [--raw-rounds 1]

A month of one-minute checks for every app (1,000 apps: about 44.6 million results) and an hourly
usage counter are written straight into the partitioned tables with COPY (the ingest path has its
own benchmark), with seeded random outages and probe silences. Then:

- the rollup job builds the hourly and daily aggregates (timed once: its cost is spread over the
  month in production, a few apps' hours at a time);
- the review is built from the aggregates (`review_from_aggregates`, several rounds);
- the same review is built straight from the raw rows (`review_from_raw`);
- both are compared figure by figure.

Headline: raw time / aggregate time (goal: at least 20).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_ACTOR, Table, log, median, postgres_server, scratch_database
from collector import db
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.review.monthly import (
    comparable,
    month_period,
    review_from_aggregates,
    review_from_raw,
)
from collector.review.rollup import rollup
from wire.catalog import Catalog

RESULT_COLUMNS = ("ts", "app_id", "check_name", "kind", "zone", "probe", "ok", "reason", "message",
                  "duration_seconds", "status_code", "tls_expiry", "attempts")  # fmt: skip
USAGE_COLUMNS = ("ts", "app_id", "metric", "kind", "zone", "source", "value", "total")
CHUNK = 200_000


def catalog(apps: int) -> Catalog:
    agencies = [{"id": f"opd-{i:02d}", "name": f"Perangkat Daerah {i:02d}"} for i in range(20)]
    entries = [
        {"id": f"app-{i:04d}", "name": f"Aplikasi {i:04d}", "agency": f"opd-{i % 20:02d}",
         "managed_by": ("self", "central", "vendor")[i % 3], "category": f"cat-{i % 12}",
         "target_uptime": 99.0, "zones": ["dc"],
         "checks": [{"type": "http", "url": f"http://10.0.{i // 250}.{i % 250}/"}],
         "usage": [{"metric": "logins", "kind": "counter", "source": {"type": "push"}}]}
        for i in range(apps)
    ]  # fmt: skip
    return msgspec.convert({"agencies": agencies, "apps": entries}, Catalog)


def app_results(
    app: str, start: dt.datetime, minutes: int, rng: random.Random
) -> list[tuple[Any, ...]]:
    """One result a minute; a few outages (failures) and silences (gaps) at random places."""
    failing: set[int] = set()
    silent: set[int] = set()
    for _ in range(rng.randint(0, 4)):
        at = rng.randrange(minutes)
        failing.update(range(at, at + rng.randint(2, 90)))
    for _ in range(rng.randint(0, 2)):
        at = rng.randrange(minutes)
        silent.update(range(at, at + rng.randint(1, 180)))
    rows = []
    for m in range(minutes):
        if m in silent:
            continue
        ok = m not in failing
        rows.append((start + dt.timedelta(minutes=m), app, "http", "http", "dc", "probe-dc-1", ok,
                     None if ok else "status", None, 0.05 + rng.random() / 10, 200 if ok else 503, None, 1))  # fmt: skip
    return rows


def app_usage(
    app: str, start: dt.datetime, hours: int, rng: random.Random
) -> list[tuple[Any, ...]]:
    rows, value, total = [], 0.0, 0.0
    for h in range(-1, hours):
        grew = float(rng.randint(0, 50))
        if rng.random() < 0.01:  # the app restarts: the counter starts again
            value, grew = grew, grew
        else:
            value += grew
        total += grew
        rows.append(
            (
                start + dt.timedelta(hours=h),
                app,
                "logins",
                "counter",
                "dc",
                "probe-dc-1",
                value,
                total,
            )
        )
    return rows


async def load(url: str, apps: int, period_start: dt.datetime, period_end: dt.datetime) -> int:
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn)
        await db.ensure_partitions(conn, around=period_start, months_ahead=2, months_back=1)
        await sync.apply(conn, catalog(apps), source="bench", actor=BENCH_ACTOR)
        # Registered before the month, so the month is wholly the apps' lifetime.
        await conn.execute("UPDATE apps SET created_at = $1", period_start - dt.timedelta(days=1))
        minutes = int((period_end - period_start).total_seconds() // 60)
        rng = random.Random(2026)
        buffer: list[tuple[Any, ...]] = []
        written = 0
        for i in range(apps):
            app = f"app-{i:04d}"
            buffer.extend(app_results(app, period_start, minutes, rng))
            if len(buffer) >= CHUNK or i == apps - 1:
                await conn.copy_records_to_table(
                    "check_results", records=buffer, columns=RESULT_COLUMNS
                )
                written += len(buffer)
                buffer = []
                if i % 100 == 99:
                    log(f"  loaded {i + 1} apps, {written:,} results")
            usage = app_usage(app, period_start, minutes // 60, rng)
            await conn.copy_records_to_table("usage_samples", records=usage, columns=USAGE_COLUMNS)
        await conn.execute("ANALYZE")
        return written
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> int:
    settings = CollectorConfig().state_settings()
    now = dt.datetime.now(dt.UTC)
    local = now.astimezone(dt.timezone(dt.timedelta(hours=7)))
    month = f"{local.year - 1}-12" if local.month == 1 else f"{local.year}-{local.month - 1:02d}"
    period = month_period(month, settings.timezone, now=now)
    table = Table(
        f"Monthly review of {args.apps:,} apps for {month}: aggregates vs raw rows", args.rounds
    )
    with postgres_server() as (server, where):
        async with scratch_database(server, "pantau_bench_report") as url:
            log(f"PostgreSQL: {where}; loading {args.apps:,} apps x one check a minute ...")
            started = time.perf_counter()
            results = await load(url, args.apps, period.start, period.end)
            load_s = time.perf_counter() - started
            conn = await asyncpg.connect(url)
            try:
                log("rolling up ...")
                started = time.perf_counter()
                stats = await rollup(conn, settings=settings, now=now)
                rollup_s = time.perf_counter() - started
                agg_times, raw_times = [], []
                fast = slow = None
                for r in range(args.rounds):
                    started = time.perf_counter()
                    fast = await review_from_aggregates(
                        conn, month=month, settings=settings, now=now
                    )
                    agg_times.append(time.perf_counter() - started)
                    log(f"  aggregates round {r + 1}: {agg_times[-1]:.2f} s")
                for r in range(args.raw_rounds):
                    started = time.perf_counter()
                    slow = await review_from_raw(conn, month=month, settings=settings, now=now)
                    raw_times.append(time.perf_counter() - started)
                    log(f"  raw round {r + 1}: {raw_times[-1]:.1f} s")
                hourly = await conn.fetchval("SELECT count(*) FROM app_hourly")
                daily = await conn.fetchval("SELECT count(*) FROM app_daily")
            finally:
                await conn.close()
    assert fast is not None
    assert slow is not None
    same = comparable(fast) == comparable(slow)
    down = sum(a.availability.down_seconds for a in fast.apps)
    table.section("data")
    table.add("raw check results", [results], "rows", summary=results)
    table.add("aggregate rows read (app_daily)", [daily], "rows", summary=daily)
    table.add("hourly aggregate rows (app_hourly)", [hourly], "rows", summary=hourly)
    table.add("load with COPY", [load_s], "s", digits=1, summary=load_s)
    table.add(
        f"rollup job ({stats.hours:,} app-hours)", [rollup_s], "s", digits=1, summary=rollup_s
    )
    table.section("review of the month")
    table.add("from the aggregates", agg_times, "s", digits=3)
    table.add("from the raw rows", raw_times, "s", digits=1)
    table.add("total downtime found (both)", [down / 3600], "h", digits=1, summary=down / 3600)
    print()
    print(table.render())
    ratio = median(raw_times) / median(agg_times)
    print(f"figures identical: {'yes' if same else 'NO'}")
    print(f"RESULT ratio={ratio:.1f} goal=20")
    return 0 if same else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the aggregate review")
    parser.add_argument("--raw-rounds", type=int, default=1, help="rounds of the raw review (slow)")
    sys.exit(asyncio.run(main(parser.parse_args())))
