"""Edge cases of the review found in review: races with ingest, month ends, chunk boundaries."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from collector.audit import acting
from collector.ingest import Ingestor
from collector.review import rollup as rollup_mod
from collector.review.monthly import comparable, review_from_aggregates, review_from_raw
from collector.review.rollup import floor_hour, rollup
from collector.review.timeline import Result, sweep
from collector.state.machine import Thresholds
from collector.state.rules import AppRules, RulesCache
from tests.collector.conftest import TEST_ACTOR
from tests.collector.review_month import SETTINGS, Month
from wire.maintenance import MaintenanceWindow
from wire.messages import CheckResult, ResultBatch

UTC = dt.UTC


def result(ts: dt.datetime, ok: bool = True) -> CheckResult:
    return CheckResult(app="website", check="http", kind="http", ts=ts.timestamp(), ok=ok,
                       reason=None if ok else "timeout", duration_seconds=0.1)  # fmt: skip


def batch(items: list[CheckResult]) -> ResultBatch:
    return ResultBatch(probe="p1", batch_id=uuid.uuid4().hex, results=items)


async def test_results_arriving_while_the_rollup_runs_are_not_lost(
    seeded_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await asyncpg.create_pool(seeded_db, min_size=2, max_size=4)
    ingest = Ingestor(pool)
    now = floor_hour(dt.datetime.now(UTC)) - dt.timedelta(hours=1)
    base = now - dt.timedelta(hours=3)
    conn = await asyncpg.connect(seeded_db)
    try:
        await ingest.store_batch(
            batch([result(base + dt.timedelta(minutes=m)) for m in range(0, 180, 5)]), zone="dc"
        )
        await rollup(conn, settings=SETTINGS, now=now)
        # A probe replays its spool: one late batch, then another while the rollup is working.
        await ingest.store_batch(
            batch([result(base + dt.timedelta(minutes=1), ok=False)]), zone="dc"
        )
        real = rollup_mod.load_results
        arriving: list[asyncio.Task[object]] = []

        async def load_while_a_batch_arrives(c: asyncpg.Connection, app_id: str, start: dt.datetime,
                                             end: dt.datetime) -> list[Result]:  # fmt: skip
            out = await real(c, app_id, start, end)
            late = batch([result(base + dt.timedelta(minutes=61), ok=False)])
            arriving.append(asyncio.create_task(ingest.store_batch(late, zone="dc")))
            await asyncio.sleep(0.2)  # it commits its rows, then waits for this app's rollup
            return out

        monkeypatch.setattr(rollup_mod, "load_results", load_while_a_batch_arrives)
        await rollup(conn, settings=SETTINGS, now=now)
        monkeypatch.setattr(rollup_mod, "load_results", real)
        await asyncio.gather(*arriving)
        await rollup(conn, settings=SETTINGS, now=now)  # the next periodic run
        rolled = await conn.fetchval("SELECT sum(results) FROM app_hourly WHERE app_id = 'website'")
        raw = await conn.fetchval(
            "SELECT count(*) FROM check_results WHERE app_id = 'website' AND ts < $1", now
        )
        assert rolled == raw
    finally:
        await conn.close()
        await pool.close()


@pytest.mark.parametrize("after_end", [dt.timedelta(hours=4), dt.timedelta(minutes=30)])
async def test_an_outage_across_the_month_end_counts_whole(
    seeded_db: str, after_end: dt.timedelta
) -> None:
    """Counted whole once it has ended by the review's time (docs/accounting.md); still open: up
    to the review's time, and marked open."""
    m = Month(dt.datetime.now(UTC))
    last_day = m.days
    start = m.at(last_day, 20) + dt.timedelta(seconds=30)
    down_from, down_to = m.at(last_day, 23), m.end + dt.timedelta(hours=1)
    items = [result(t, ok=not (down_from <= t < down_to))
             for t in (start + dt.timedelta(minutes=k) for k in range(7 * 60))]  # fmt: skip
    pool = await asyncpg.create_pool(seeded_db, min_size=1, max_size=2)
    conn = await asyncpg.connect(seeded_db)
    try:
        await Ingestor(pool).store_batch(batch(items), zone="dc")
        now = (m.end + after_end).astimezone(UTC)
        await rollup(conn, settings=SETTINGS, now=now)
        fast = await review_from_aggregates(conn, month=m.label, settings=SETTINGS, now=now)
        slow = await review_from_raw(conn, month=m.label, settings=SETTINGS, now=now)
        web = next(a for a in fast.apps if a.app == "website")
        assert web.incidents == 1
        (outage,) = web.outages
        began = m.at(last_day, 23, 2) + dt.timedelta(seconds=30)  # the third failure
        assert outage.started_at == began
        if now >= down_to + dt.timedelta(minutes=2):
            ended = down_to + dt.timedelta(minutes=1, seconds=30)  # the second success
            assert outage.ended_at == ended
            assert outage.duration_seconds == (ended - began).total_seconds()  # whole, not cut
        else:
            assert outage.ended_at is None  # still down when the review was made
            assert outage.duration_seconds == (now - began).total_seconds()
        assert web.longest_outage_seconds == outage.duration_seconds
        # downtime stays the month's own: from the third failure to the month's end
        assert web.availability.down_seconds == (m.end - began).total_seconds()
        assert web.mttr_seconds is None  # it did not end in the month
        assert comparable(fast) == comparable(slow)
    finally:
        await conn.close()
        await pool.close()


T0 = dt.datetime(2026, 10, 5, 0, 0, tzinfo=UTC)


def minute_results(*, failing: tuple[dt.timedelta, dt.timedelta],
                   silent: tuple[dt.timedelta, dt.timedelta] | None = None, hours: int = 7) -> list[Result]:  # fmt: skip
    out = []
    t = T0 + dt.timedelta(seconds=30)
    while t < T0 + dt.timedelta(hours=hours):
        offset = t - T0
        if not (silent and silent[0] <= offset < silent[1]):
            bad = failing[0] <= offset < failing[1]
            out.append(Result(t, "dc", "http", not bad, "timeout" if bad else None))
        t += dt.timedelta(minutes=1)
    return out


@pytest.mark.parametrize(
    ("failing", "silent"),
    [
        ((dt.timedelta(minutes=10), dt.timedelta(hours=4, minutes=30)), None),
        (
            (dt.timedelta(minutes=10), dt.timedelta(hours=6, minutes=30)),
            (dt.timedelta(hours=1), dt.timedelta(hours=5)),
        ),
    ],
)
def test_hour_by_hour_equals_one_sweep_with_a_window_on_the_hour(
    failing: tuple[dt.timedelta, dt.timedelta], silent: tuple[dt.timedelta, dt.timedelta] | None
) -> None:
    window = MaintenanceWindow(
        name="w", start=T0 + dt.timedelta(hours=2), end=T0 + dt.timedelta(hours=3)
    )
    rules = AppRules(zones=["dc"], thresholds=Thresholds(), stale_after=dt.timedelta(minutes=3),
                     windows=[window], timezone="UTC")  # fmt: skip
    results = minute_results(failing=failing, silent=silent)
    hours = 7
    whole = sweep(results, rules=rules, start=T0, end=T0 + dt.timedelta(hours=hours))
    carry, outages, seconds = None, [], dict.fromkeys(whole.seconds, 0.0)
    for h in range(hours):
        s0, s1 = T0 + dt.timedelta(hours=h), T0 + dt.timedelta(hours=h + 1)
        part = sweep(
            [r for r in results if s0 <= r.ts < s1], rules=rules, start=s0, end=s1, carry=carry
        )
        carry, outages = part.carry, outages + part.outages
        for k, v in part.seconds.items():
            seconds[k] += v
    assert [(o.start, o.end) for o in outages] == [(o.start, o.end) for o in whole.outages]
    assert seconds == pytest.approx(whole.seconds)
    # the window's start ends the outage exactly on the hour
    assert any(o.end == T0 + dt.timedelta(hours=2) for o in whole.outages)


async def test_an_app_deleted_after_its_rules_were_read_is_skipped(seeded_db: str) -> None:
    """The rollup job's rules are cached; an app deleted by hand (no version bump) was still
    listed, and its missing row made the whole run fail (TypeError) for every app after it."""
    now = floor_hour(dt.datetime.now(UTC))
    pool = await asyncpg.create_pool(seeded_db, min_size=1, max_size=2)
    conn = await asyncpg.connect(seeded_db)
    try:
        # website (after simpus in the run's order) has two hours to roll up
        start = now - dt.timedelta(hours=2)
        items = [result(start + dt.timedelta(minutes=m)) for m in range(0, 120, 5)]
        await Ingestor(pool).store_batch(batch(items), zone="dc")
        rules = RulesCache(SETTINGS)
        assert "simpus" in await rules.get(conn)
        async with acting(conn, TEST_ACTOR):
            await conn.execute("DELETE FROM apps WHERE id = 'simpus'")
        await rollup(conn, settings=SETTINGS, now=now, rules_cache=rules)
        hours = await conn.fetchval(
            "SELECT count(*) FROM app_hourly WHERE app_id = 'website' AND hour >= $1", start
        )
        assert hours == 2
    finally:
        await conn.close()
        await pool.close()
