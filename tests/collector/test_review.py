"""The monthly review's figures, from a synthetic month loaded through the real ingest path."""

from __future__ import annotations

import asyncpg
import pytest

from collector.review.monthly import Review, comparable, review_from_aggregates, review_from_raw
from collector.review.rollup import rollup
from tests.collector import review_month as rm
from tests.collector.review_month import MONTH, NOW, SETTINGS


async def review(url: str, *, raw: bool = False) -> Review:
    conn = await asyncpg.connect(url)
    try:
        fn = review_from_raw if raw else review_from_aggregates
        return await fn(conn, month=MONTH.label, settings=SETTINGS, now=NOW)
    finally:
        await conn.close()


def app_of(r: Review, app: str):  # type: ignore[no-untyped-def]
    return next(a for a in r.apps if a.app == app)


async def test_availability_to_the_second(month_db: str) -> None:
    r = await review(month_db)
    assert r.period.complete
    web = app_of(r, "website")
    av = web.availability
    total = MONTH.days * 86_400
    assert av.down_seconds == pytest.approx(rm.WEBSITE_DOWN)
    assert av.maintenance_seconds == pytest.approx(rm.WEBSITE_MAINTENANCE)
    assert av.unknown_seconds == pytest.approx(rm.WEBSITE_UNKNOWN)
    assert av.up_seconds == pytest.approx(
        total - rm.WEBSITE_DOWN - rm.WEBSITE_MAINTENANCE - rm.WEBSITE_UNKNOWN
    )
    assert av.uptime_percent == pytest.approx(
        100 * av.up_seconds / (av.up_seconds + rm.WEBSITE_DOWN)
    )
    assert web.target_met is False  # 99.95 % wanted; 29 minutes down in this month is 99.93 %
    assert web.incidents == 1
    assert web.longest_outage_seconds == pytest.approx(rm.WEBSITE_DOWN)
    assert web.mttr_seconds == pytest.approx(rm.WEBSITE_DOWN)
    (outage,) = web.outages
    assert outage.started_at == MONTH.at(*rm.OUTAGE_START)
    assert outage.ended_at == MONTH.at(*rm.OUTAGE_END)
    assert outage.causes == ["status"]
    day10 = next(d for d in web.daily if d.day.day == 10)
    assert day10.down_seconds == pytest.approx(rm.WEBSITE_DOWN)
    assert len(web.daily) == MONTH.days

    jdih = app_of(r, "jdih")
    assert jdih.availability.degraded_seconds == pytest.approx(rm.JDIH_DEGRADED)
    assert jdih.availability.down_seconds == 0
    assert jdih.availability.uptime_percent == 100
    assert jdih.target_met is True
    assert jdih.incidents == 0

    sipd = app_of(r, "sipd")  # registered, never checked
    assert sipd.checked is False
    assert sipd.target_met is None
    assert sipd.availability.uptime_percent is None


def test_expected_figures_are_consistent() -> None:
    # 29 minutes down out of a month's monitored time: 99.93 %, just under the 99.95 % target.
    total = MONTH.days * 86_400 - rm.WEBSITE_MAINTENANCE - rm.WEBSITE_UNKNOWN
    assert 99.9 < 100 * (total - rm.WEBSITE_DOWN) / total < 99.95


async def test_usage_with_a_counter_reset(month_db: str) -> None:
    r = await review(month_db)
    usage = {u.metric: u for u in app_of(r, "website").usage}
    samples = rm.visits_samples_in_month(MONTH)
    assert usage["visits"].kind == "counter"
    assert usage["visits"].total == 10 * (samples - 1) + 5  # rm.VISITS_TOTAL_EXPR
    assert sum(v for _, v in usage["visits"].daily) == usage["visits"].total
    assert usage["active-users"].average == pytest.approx(11.5)
    assert usage["active-users"].peak == 23


async def test_rollups_and_coverage(month_db: str) -> None:
    r = await review(month_db)
    assert r.regency.coverage.registered == 3
    assert r.regency.coverage.checked == 2
    assert r.regency.coverage.with_usage == 1
    assert r.regency.incidents == 1
    assert r.regency.apps_monitored == 2
    assert r.regency.apps_meeting_target == 1
    setda = next(a for a in r.agencies if a.agency == "setda")
    assert setda.coverage.registered == 2
    assert setda.availability.uptime_percent == 100


async def test_aggregates_equal_the_raw_computation(month_db: str) -> None:
    fast, slow = await review(month_db), await review(month_db, raw=True)
    assert comparable(fast) == comparable(slow)


async def test_rollup_is_safe_to_run_twice(month_db: str) -> None:
    before = await review(month_db)
    conn = await asyncpg.connect(month_db)
    try:
        stats = await rollup(conn, settings=SETTINGS, now=NOW)
        assert stats.hours == 0  # nothing new
        await conn.execute("UPDATE rollup_progress SET dirty_since = $1", MONTH.start)
        stats = await rollup(conn, settings=SETTINGS, now=NOW)
        assert stats.hours > 24 * 28  # recomputed from the month's start
    finally:
        await conn.close()
    assert comparable(await review(month_db)) == comparable(before)
