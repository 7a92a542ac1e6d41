"""The monthly review's figures, from a synthetic month loaded through the real ingest path."""

from __future__ import annotations

import datetime as dt

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
    assert jdih.availability.maintenance_seconds == sum(rm.jdih_windows(MONTH).values())
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


async def test_windows_are_crontab_with_numeric_and_named_days(month_db: str) -> None:
    """ "0 2 * * 0" opens on Sundays (not Mondays); "0 4 13 * fri" on every Friday and on the 13th."""
    for r in (await review(month_db), await review(month_db, raw=True)):
        jdih = app_of(r, "jdih")
        by_day = {d.day.day: d.maintenance_seconds for d in jdih.daily if d.maintenance_seconds}
        assert by_day == rm.jdih_windows(MONTH)
        assert jdih.availability.down_seconds == 0  # failures: none; the windows only pause it


async def test_an_app_registered_mid_month_with_a_silent_probe(month_db: str) -> None:
    """Its time counts from registration: the days of silence before its first result are unknown;
    nothing before registration counts at all."""
    registered, first = MONTH.at(*rm.SIMPEG_REGISTERED), MONTH.at(*rm.SIMPEG_FIRST)
    for r in (await review(month_db), await review(month_db, raw=True)):
        av = app_of(r, "simpeg").availability
        assert av.unknown_seconds == (first - registered).total_seconds()
        assert av.down_seconds == rm.SIMPEG_OUTAGE_IN_MONTH
        assert av.up_seconds == (MONTH.end - first).total_seconds() - rm.SIMPEG_OUTAGE_IN_MONTH
        assert av.maintenance_seconds == 0
        counted = av.up_seconds + av.down_seconds + av.unknown_seconds
        assert counted == (MONTH.end - registered).total_seconds()


async def test_an_outage_across_the_month_end_counts_whole(month_db: str) -> None:
    began, ended = rm.simpeg_outage(MONTH)
    r = await review(month_db)
    simpeg = app_of(r, "simpeg")
    (outage,) = simpeg.outages
    assert outage.started_at == began
    assert outage.causes == ["connect"]
    assert simpeg.incidents == 1
    if ended + dt.timedelta(minutes=1) < NOW:  # ended by the time of the review: whole
        assert outage.ended_at == ended
        assert outage.duration_seconds == rm.SIMPEG_OUTAGE_WHOLE
    else:  # in the first hour of a month: still open, up to the review's time
        assert outage.ended_at is None
        assert outage.duration_seconds == (NOW - began).total_seconds()
    assert simpeg.longest_outage_seconds == outage.duration_seconds
    assert simpeg.mttr_seconds is None  # it did not end in the month


async def test_a_previous_month_with_part_of_its_data(month_db: str) -> None:
    """logins began on the previous month's 21st: no change against it, and it is marked."""
    for r in (await review(month_db), await review(month_db, raw=True)):
        logins = next(u for u in app_of(r, "website").usage if u.metric == "logins")
        before = rm.logins_hours_before(MONTH)
        assert logins.total == MONTH.days * 24
        assert logins.previous == before - 1  # from its first sample: 0, +1 an hour
        assert logins.previous_partial is True
        assert logins.change_percent is None  # not +(days*24 - before + 1) / (before - 1)


async def test_rollups_and_coverage(month_db: str) -> None:
    r = await review(month_db)
    assert r.regency.coverage.registered == 4
    assert r.regency.coverage.checked == 3
    assert r.regency.coverage.with_usage == 1
    assert r.regency.incidents == 2
    assert r.regency.apps_monitored == 3
    assert r.regency.apps_meeting_target == 2
    setda = next(a for a in r.agencies if a.agency == "setda")
    assert setda.coverage.registered == 3
    jdih, simpeg = app_of(r, "jdih").availability, app_of(r, "simpeg").availability
    assert setda.availability.down_seconds == rm.SIMPEG_OUTAGE_IN_MONTH
    assert setda.availability.up_seconds == jdih.up_seconds + simpeg.up_seconds


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
