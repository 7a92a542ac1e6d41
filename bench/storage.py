"""Storage benchmark: bytes on disk per stored check result and per app-month, raw and aggregated.

    .venv/bin/python bench/storage.py [--apps 50] [--days 2]

A throwaway database (DATABASE_URL's server if set, else an embedded PostgreSQL in a temp dir),
migrated, with a catalogue of `--apps` apps. Each app gets one http check result a minute for
`--days` days (the realistic mix of bench/ingest.py: 95 % passing with a certificate, 3 %
failing with a status and message, 2 % timing out), written with COPY in batches of 1,000 rows,
the rows as the collector stores them (common.result_rows), plus one ingested_batches
row per batch as ingest writes it. Then VACUUM ANALYZE, and the aggregates of the review are
rolled up (collector.review.rollup) over the whole span.

Figures: pg_total_relation_size (heap, TOAST and indexes) of the check_results partitions, of
ingested_batches, and of the aggregate tables (app_hourly, app_daily, app_outages), divided by
the rows, and scaled to an app-month (30 days at one check a minute: 43,200 results). Ends with
one line `RESULT bytes_per_result=<raw incl. indexes> aggregates_kib_per_app_month=<...>`.
docs/scaling.md quotes these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import time

import asyncpg
from common import (
    BENCH_ACTOR,
    RESULT_COLUMNS,
    log,
    postgres_server,
    result_rows,
    scratch_database,
    server_version,
)
from ingest import ZONE, app_id, make_catalog, make_result

from collector import db
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.review.rollup import rollup

BATCH = 1_000
APP_MONTH_RESULTS = 30 * 24 * 60  # one check a minute
AGGREGATES = ("app_hourly", "app_daily", "app_outages")


async def relation_bytes(conn: asyncpg.Connection, table: str) -> int:
    """Heap, TOAST and indexes of `table` and of all its partitions."""
    return int(
        await conn.fetchval(
            "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum("
            " pg_total_relation_size(relid)), 0) FROM pg_partition_tree(c.oid))"
            " ELSE pg_total_relation_size(c.oid) END FROM pg_class c WHERE c.oid = $1::regclass",
            table,
        )
    )


async def load(conn: asyncpg.Connection, *, apps: int, days: int) -> tuple[int, int]:
    """(results, batches) written."""
    rng = random.Random(1)
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(days=days)
    await db.ensure_partitions(conn, around=start, months_ahead=2, months_back=1)
    ids = [app_id(i) for i in range(apps)]
    results = [
        make_result(rng, app, start.timestamp() + minute * 60)
        for minute in range(days * 24 * 60)
        for app in ids
    ]
    batches = 0
    for k in range(0, len(results), BATCH):
        chunk = results[k : k + BATCH]
        probe = "bench-probe-0"
        async with conn.transaction():
            await conn.copy_records_to_table(
                "check_results", records=result_rows(chunk, ZONE, probe), columns=RESULT_COLUMNS
            )
            await conn.execute(
                "INSERT INTO ingested_batches (zone, probe, batch_id, content_sha256, results,"
                " usage, dropped) VALUES ($1, $2, $3, $4, $5, 0, 0)",
                ZONE, probe, f"{probe}-{batches:08d}", bytes(32), len(chunk),
            )  # fmt: skip
        batches += 1
    return len(results), batches


async def main(args: argparse.Namespace) -> None:
    with postgres_server() as (server_url, where):
        async with scratch_database(server_url, "pantau_bench_storage") as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                await db.migrate(conn)
                await sync.apply(conn, make_catalog(args.apps), source="bench", actor=BENCH_ACTOR)
                log(f"PostgreSQL {await server_version(conn)} ({where})")
                t0 = time.perf_counter()
                n_results, _batches = await load(conn, apps=args.apps, days=args.days)
                load_s = time.perf_counter() - t0
                await conn.execute("VACUUM ANALYZE")
                raw = await relation_bytes(conn, "check_results")
                batches = await relation_bytes(conn, "ingested_batches")
                t0 = time.perf_counter()
                stats = await rollup(conn, settings=CollectorConfig().state_settings())
                rollup_s = time.perf_counter() - t0
                await conn.execute("VACUUM ANALYZE")
                agg = {t: await relation_bytes(conn, t) for t in AGGREGATES}
            finally:
                await conn.close()

    app_months = n_results / APP_MONTH_RESULTS
    per_result = raw / n_results
    per_result_all = (raw + batches) / n_results
    agg_total = sum(agg.values())
    rows = [
        ("apps x days, one check a minute", f"{args.apps} x {args.days}"),
        ("results stored", f"{n_results:,}"),
        ("COPY load, results/s (one connection)", f"{n_results / load_s:,.0f}"),
        ("check_results incl. indexes, bytes", f"{raw:,}"),
        ("bytes per stored result (check_results)", f"{per_result:.1f}"),
        ("bytes per stored result (+ ingested_batches)", f"{per_result_all:.1f}"),
        ("raw MiB per app-month (43,200 results)", f"{per_result_all * APP_MONTH_RESULTS / 2**20:.2f}"),
        *((f"{t} bytes", f"{b:,}") for t, b in agg.items()),
        ("aggregates KiB per app-month", f"{agg_total / app_months / 1024:.1f}"),
        ("rollup: apps, hours", f"{stats.apps}, {stats.hours}"),
        ("rollup seconds (whole span)", f"{rollup_s:.2f}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"Storage: {args.apps} apps, one check a minute for {args.days} days")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}")
    print(
        f"RESULT bytes_per_result={per_result_all:.1f}"
        f" aggregates_kib_per_app_month={agg_total / app_months / 1024:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--days", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
