"""Portal benchmark: HTML size and latency of the list, an agency page and an app page.

    .venv/bin/python bench/portal.py [--apps 2000] [--agencies 40] [--rounds 5] [--requests 30]

A throwaway database (DATABASE_URL's server if set, else an embedded PostgreSQL in a temp dir),
migrated, with a catalogue of `--apps` apps over `--agencies` agencies (mixed managed_by,
lifecycle and category, one counter metric each) and what the list shows of them: a state per
app, 30 days of `app_daily` and 31 days of `usage_daily` rows. No raw check results: the running
hour is empty, so the app page's tail sweep reads nothing (issue 11 is about the list's size).

The real collector app (collector.web.app.make_app, background rounds slowed to once an hour so
they do not rewrite the seeded states) serves on loopback; one client asks each URL `--requests`
times in a row per round (after one warm-up request) and takes the p95 of the wall times and
the size of the HTML (uncompressed). The baseline, in the same run, is the list as it was before
issue 11: every row on one page (PAGE_SIZE set past the catalogue), fewer requests (it is slow).

Ends with `RESULT ratio=<p95 goal / worst median p95 of list, agency and app pages> goal=1`:
1 or more meets the goal (p95 < 100 ms); the table also gives the list's bytes against the
300 KB goal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time

import aiohttp
import asyncpg
import msgspec
from aiohttp.test_utils import TestServer
from common import BENCH_ACTOR, Table, log, median, percentile, postgres_server, scratch_database

from collector import db
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.portal import views
from collector.web.app import make_app
from wire.catalog import Catalog

GOAL_P95_MS = 100.0
GOAL_LIST_BYTES = 300_000
STATES = ("up", "up", "up", "up", "up", "up", "degraded", "down", "maintenance", "unknown")
CATEGORIES = ("health", "education", "finance", "office", "public-service", "infrastructure")


def make_catalog(n_apps: int, n_agencies: int) -> Catalog:
    agencies = [{"id": f"agency-{k:02d}", "name": f"Agency {k:02d}"} for k in range(n_agencies)]
    apps = [
        {
            "id": f"app-{i:05d}",
            "name": f"Application {i}",
            "agency": f"agency-{i % n_agencies:02d}",
            "managed_by": ("self", "central", "vendor")[i % 3],
            "lifecycle": "retired" if i % 20 == 0 else "active",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "provider": f"Provider {i % 17}",
            "description": f"Application number {i} of the regency, for benchmarking the portal",
            "tags": [f"tag-{i % 11}", "bench"],
            "owner": {"name": f"Owner {i}", "email": f"owner{i}@example.go.id"},
            "usage": [{"metric": "visits", "kind": "counter", "source": {"type": "push"}}],
        }
        for i in range(n_apps)
    ]
    return msgspec.convert({"agencies": agencies, "apps": apps}, Catalog)


async def seed_states(conn: asyncpg.Connection, ids: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    await conn.execute("DELETE FROM app_state")
    await conn.copy_records_to_table(
        "app_state",
        records=[
            (a, STATES[i % len(STATES)], now - dt.timedelta(hours=i % 48))
            for i, a in enumerate(ids)
        ],
        columns=["app_id", "state", "since"],
    )


async def seed_history(conn: asyncpg.Connection, ids: list[str]) -> None:
    rng = random.Random(1)
    today = dt.datetime.now(dt.UTC).date()
    daily, usage = [], []
    for a in ids:
        total = rng.uniform(1_000, 100_000)
        for k in range(31):
            day = today - dt.timedelta(days=31 - k)
            down = rng.choice((0.0, 0.0, 0.0, 60.0, 600.0))
            daily.append((a, day, 86_400 - down, down, 0.0, 0.0, 0.0, 1440, int(down // 60)))
            first = total
            total += rng.uniform(10, 500)
            usage.append((a, "visits", day, "counter", first, total))
    await conn.copy_records_to_table(
        "app_daily",
        records=daily,
        columns=["app_id", "day", "up_s", "down_s", "degraded_s", "maintenance_s", "unknown_s",
                 "results", "failures"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "usage_daily",
        records=usage,
        columns=["app_id", "metric", "day", "kind", "first_total", "last_total"],
    )
    await conn.execute("VACUUM ANALYZE")


async def measure(session: aiohttp.ClientSession, url: str, n: int) -> tuple[float, int]:
    """(p95 ms, HTML bytes) of `n` requests in a row, after one warm-up."""
    async with session.get(url) as resp:
        assert resp.status == 200, (url, resp.status, (await resp.text())[:300])
        size = len(await resp.read())
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with session.get(url) as resp:
            await resp.read()
        times.append((time.perf_counter() - t0) * 1000)
    return percentile(times, 95), size


async def main(args: argparse.Namespace) -> None:
    catalog = make_catalog(args.apps, args.agencies)
    ids = [a.id for a in catalog.apps]
    with postgres_server() as (server_url, where):
        async with scratch_database(server_url, "pantau_bench_portal") as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                await db.migrate(conn)
                await sync.apply(conn, catalog, source="bench", actor=BENCH_ACTOR)
                await seed_history(conn, ids)
                log(f"catalogue: {args.apps} apps, {args.agencies} agencies ({where})")
                config = msgspec.convert(
                    {
                        "metrics_refresh_seconds": 3600,
                        "state": {"evaluate_seconds": 3600},
                        "retention": {"rollup_seconds": 3600},
                    },
                    CollectorConfig,
                )  # fmt: skip
                server = TestServer(make_app(config, dsn=dsn), host="127.0.0.1", port=0)
                await server.start_server()
                try:
                    await asyncio.sleep(2)  # the background rounds' first pass
                    await seed_states(conn, ids)
                    urls = {
                        "list, page 1": "/",
                        "list, page 10": "/?page=10",
                        "list, state=down": "/?state=down",
                        "list, q + managed_by": "/?q=application+1&managed_by=vendor",
                        "agency page": "/agencies/agency-07",
                        "app page": "/apps/app-00042",
                    }
                    p95: dict[str, list[float]] = {k: [] for k in urls}
                    size: dict[str, list[float]] = {k: [] for k in urls}
                    base_p95: list[float] = []
                    base_size: list[float] = []
                    async with aiohttp.ClientSession(str(server.make_url("/"))) as session:
                        for r in range(args.rounds):
                            log(f"round {r + 1}/{args.rounds}")
                            for label, url in urls.items():
                                ms, n = await measure(session, url, args.requests)
                                p95[label].append(ms)
                                size[label].append(n / 1000)
                            page_size = views.PAGE_SIZE
                            views.PAGE_SIZE = 10**9  # every row on one page, as before issue 11
                            try:
                                ms, n = await measure(session, "/", max(3, args.requests // 10))
                            finally:
                                views.PAGE_SIZE = page_size
                            base_p95.append(ms)
                            base_size.append(n / 1000)
                finally:
                    await server.close()
            finally:
                await conn.close()

    t = Table(f"Pantau portal: {args.apps} apps, {args.agencies} agencies", args.rounds)
    t.section("p95 latency (ms), one client, requests in a row")
    for label in urls:
        t.add(f"  {label}", p95[label], "ms", digits=1)
    t.add("  baseline: every row on one page", base_p95, "ms", digits=1)
    t.section("HTML size (KB, uncompressed)")
    for label in urls:
        t.add(f"  {label}", size[label], "KB", digits=1)
    t.add("  baseline: every row on one page", base_size, "KB", digits=1)
    print(t.render())
    list_kb = median(size["list, page 1"])
    print(f"list page 1: {list_kb:,.1f} KB (goal < {GOAL_LIST_BYTES / 1000:.0f} KB,"
          f" ratio {GOAL_LIST_BYTES / 1000 / list_kb:.2f}); baseline {median(base_size):,.1f} KB")  # fmt: skip
    headline = ("list, page 1", "agency page", "app page")
    worst = max(median(p95[k]) for k in headline)
    print(f"worst median p95 of {', '.join(headline)}: {worst:.1f} ms (goal < {GOAL_P95_MS:.0f})")
    print(f"RESULT ratio={GOAL_P95_MS / worst:.3f} goal=1", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--agencies", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=30)
    sys.exit(asyncio.run(main(parser.parse_args())))
