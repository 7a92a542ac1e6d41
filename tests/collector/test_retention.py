"""Retention drops whole raw partitions past the policy, after rolling them up; aggregates stay."""

from __future__ import annotations

import datetime as dt

import asyncpg

from collector import db
from collector.config import CollectorConfig
from collector.review.retention import apply_retention, partitions
from tests.collector.conftest import seed

SETTINGS = CollectorConfig().state_settings()


async def test_old_partitions_are_rolled_up_then_dropped(fresh_db: str) -> None:
    await seed(fresh_db)
    now = dt.datetime.now(dt.UTC)
    old_month = db.add_months(db.month_start(now), -5)  # well past 90 days
    conn = await asyncpg.connect(fresh_db)
    try:
        await db.ensure_partition(conn, old_month)
        ts = dt.datetime.combine(old_month, dt.time(12), dt.UTC)
        await conn.copy_records_to_table(
            "check_results",
            records=[
                (
                    ts + dt.timedelta(minutes=m),
                    "website",
                    "http",
                    "http",
                    "dc",
                    "p",
                    True,
                    None,
                    None,
                    0.1,
                    200,
                    None,
                    1,
                )
                for m in range(30)
            ],
            columns=(
                "ts",
                "app_id",
                "check_name",
                "kind",
                "zone",
                "probe",
                "ok",
                "reason",
                "message",
                "duration_seconds",
                "status_code",
                "tls_expiry",
                "attempts",
            ),
        )
        policy = await partitions(conn, raw_days=90, now=now)
        dropped_names = {p.name for p in policy if p.drop}
        assert f"check_results_{old_month:%Y%m}" in dropped_names
        assert f"check_results_{db.month_start(now):%Y%m}" not in dropped_names

        dropped = await apply_retention(conn, raw_days=90, settings=SETTINGS, now=now)
        assert f"check_results_{old_month:%Y%m}" in dropped
        assert await conn.fetchval("SELECT count(*) FROM check_results") == 0
        # what the review needs was kept: the hours of that day, with 30 minutes of results
        results = await conn.fetchval(
            "SELECT sum(results) FROM app_hourly WHERE app_id = 'website' AND hour >= $1 AND hour < $2",
            ts, ts + dt.timedelta(hours=1),
        )  # fmt: skip
        assert results == 30
        up = await conn.fetchval("SELECT sum(up_s) FROM app_daily WHERE app_id = 'website'")
        assert up > 0
        # applying again changes nothing
        assert await apply_retention(conn, raw_days=90, settings=SETTINGS, now=now) == []
    finally:
        await conn.close()
