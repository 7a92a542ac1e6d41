"""The accounting rules of issue 9, one test each (docs/accounting.md): crontab windows, what
counts as a cause, certificate expiry as a warning, where an app's time starts, the running hour,
partial previous months, insights and how figures are rounded."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from collector import formats, labels
from collector.review.insights import _downtime, _usage_insights, days_left
from collector.review.monthly import (
    AppReview,
    Availability,
    Period,
    Review,
    UsageFigures,
    _roll_up,
    _with_previous,
    comparable,
    review_from_aggregates,
    review_from_raw,
)
from collector.review.render import content
from collector.review.render.html import render_html
from collector.review.report import MonthlyReport
from collector.review.rollup import rollup
from collector.review.timeline import Result, maintenance_intervals, sweep
from collector.state.machine import Thresholds
from collector.state.rules import AppRules
from collector.web import keys
from tests.collector.conftest import Tokens
from tests.collector.review_month import SETTINGS
from tests.collector.test_state import evaluate, push, result, run, status
from wire.maintenance import MaintenanceWindow

WIB = dt.timezone(dt.timedelta(hours=7))
UTC = dt.UTC


def window(cron: str, minutes: int = 60) -> MaintenanceWindow:
    return msgspec.convert(
        {"name": "w", "cron": cron, "duration_minutes": minutes, "timezone": "Asia/Jakarta"},
        MaintenanceWindow,
    )


# --- recurring windows are crontab ------------------------------------------------------------

SUNDAY = dt.datetime(2026, 11, 29, tzinfo=WIB)  # a Sunday
MONDAY = SUNDAY + dt.timedelta(days=1)


@pytest.mark.parametrize("cron", ["0 2 * * 0", "0 2 * * 7", "0 2 * * sun"])
def test_day_of_week_zero_and_seven_are_sunday(cron: str) -> None:
    w = window(cron)
    assert w.active_at(SUNDAY.replace(hour=2, minute=30), default_timezone="UTC")
    assert not w.active_at(MONDAY.replace(hour=2, minute=30), default_timezone="UTC")
    spans = maintenance_intervals([w], SUNDAY - dt.timedelta(days=7), SUNDAY + dt.timedelta(days=7),
                                  timezone="UTC")  # fmt: skip
    assert [s.astimezone(WIB).strftime("%a %H:%M") for s, _ in spans] == ["Sun 02:00"] * 2


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    """`0 4 13 * fri`: every Friday and every 13th, as cron has it (not only a Friday the 13th)."""
    w = window("0 4 13 * fri")
    friday = dt.datetime(2026, 11, 6, 4, 30, tzinfo=WIB)
    sunday_13th = dt.datetime(2026, 12, 13, 4, 30, tzinfo=WIB)
    for t in (friday, sunday_13th):
        assert w.active_at(t, default_timezone="UTC"), t
    assert not w.active_at(dt.datetime(2026, 11, 7, 4, 30, tzinfo=WIB), default_timezone="UTC")
    spans = maintenance_intervals([w], dt.datetime(2026, 11, 1, tzinfo=WIB),
                                  dt.datetime(2026, 12, 1, tzinfo=WIB), timezone="UTC")  # fmt: skip
    days = [s.astimezone(WIB).day for s, _ in spans]
    assert days == [6, 13, 20, 27]  # the Fridays; November's 13th is one of them


def test_a_bad_cron_expression_names_itself() -> None:
    with pytest.raises(msgspec.ValidationError, match="bad cron expression '0 0 30 2 \\*'"):
        window("0 0 30 2 *")


# --- the check rules ----------------------------------------------------------------------------

TH = Thresholds(failure=3, success=2, quorum=1)
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
RULES = AppRules(zones=["dc"], thresholds=TH, stale_after=dt.timedelta(minutes=3), timezone="UTC")


def test_a_new_checks_starting_state() -> None:
    """Unknown until its first answer (up at once) or the failure threshold (down)."""
    assert run([(True, None)]) == ["up"]
    assert run([(False, "latency")]) == ["degraded"]
    assert run([(False, "timeout")] * 3) == ["unknown", "unknown", "down"]


def test_a_failure_right_after_a_slow_answer_keeps_it_degraded_until_the_threshold() -> None:
    assert run([(False, "latency"), (False, "timeout"), (False, "timeout"), (False, "timeout")]) == [
        "degraded", "degraded", "degraded", "down"]  # fmt: skip


def test_a_slow_answer_while_down_is_not_a_cause() -> None:
    results = [Result(T0 + dt.timedelta(minutes=i), "dc", "http", ok, reason)
               for i, (ok, reason) in enumerate([(True, None), (False, "status"), (False, "status"),
                                                 (False, "status"), (False, "latency"), (True, None),
                                                 (True, None)])]  # fmt: skip
    s = sweep(results, rules=RULES, start=T0, end=T0 + dt.timedelta(minutes=10))
    (outage,) = s.outages
    assert outage.causes == ["status"]


async def test_a_live_incident_does_not_name_a_slow_answer(
    client: TestClient, tokens: Tokens
) -> None:
    now = time.time()
    await push(client, tokens.probe_dc, [result("website", False, now - 40 + i, reason="status")
                                         for i in range(3)])  # fmt: skip
    await evaluate(client)
    assert (await status(client, "website"))["open_incident"]["cause"] == ["status"]  # type: ignore[index]
    await push(client, tokens.probe_dc, [result("website", False, now - 20, reason="latency")])
    await evaluate(client)
    st = await status(client, "website")
    assert st["state"] == "down"  # one answer is not yet the success threshold
    assert st["open_incident"]["cause"] == ["status"]  # type: ignore[index]


# --- an expiring certificate is a warning, not an outage ---------------------------------------


def test_an_expiring_certificate_makes_a_check_degraded() -> None:
    assert run([(False, "expiring")] * 5) == ["degraded"] * 5
    assert run([(False, "tls")] * 3) == ["unknown", "unknown", "down"]  # a failed handshake


def tls_result(ts: float, *, reason: str | None, expiry: float | None) -> dict[str, object]:
    item: dict[str, object] = {"app": "website", "check": "http", "kind": "tls", "ts": ts,
                               "ok": reason is None, "duration_seconds": 0.1}  # fmt: skip
    if reason:
        item["reason"] = reason
    if expiry:
        item["tls_expiry"] = expiry
    return item


async def test_an_app_whose_certificate_expires_soon_is_degraded_not_down(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    now = time.time()
    expiry = now + 2 * 86_400  # answers every time; two days left, under min_days_left
    await push(client, tokens.probe_dc, [tls_result(now - 50 + 10 * i, reason="expiring", expiry=expiry)
                                         for i in range(5)])  # fmt: skip
    await evaluate(client)
    st = await status(client, "website")
    assert st["state"] == "degraded"
    assert st["open_incident"] is None
    await client.app[keys.APP_METRICS].refresh()
    metrics = await (await client.get("/metrics")).text()
    assert (
        'pantau_app_up{app="website",agency="diskominfo"} 1' in metrics
    )  # PantauAppDown stays quiet
    conn = await asyncpg.connect(seeded_db)
    try:
        hour_after = dt.datetime.fromtimestamp(now, UTC) + dt.timedelta(hours=2)
        await rollup(conn, settings=SETTINGS, now=hour_after)
        down, degraded = await conn.fetchrow(
            "SELECT sum(down_s), sum(degraded_s) FROM app_hourly WHERE app_id = 'website'"
        )
        assert down == 0
        assert degraded > 0
    finally:
        await conn.close()


async def test_stored_expiry_failures_are_reclassified(seeded_db: str) -> None:
    """Migration 0006: old results that failed only for the days left become `expiring`."""
    conn = await asyncpg.connect(seeded_db)
    try:
        ts = dt.datetime.now(UTC) - dt.timedelta(hours=1)
        rows = [
            (ts, "expiry-only", ts + dt.timedelta(days=2)),
            (ts + dt.timedelta(seconds=1), "handshake", None),
        ]
        for at, message, expiry in rows:
            await conn.execute(
                "INSERT INTO check_results (ts, app_id, check_name, kind, zone, probe, ok, reason,"
                " message, duration_seconds, tls_expiry) VALUES ($1, 'website', 'http', 'tls', 'dc',"
                " 'p', false, 'tls', $2, 0.1, $3)",
                at, message, expiry,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO rollup_progress (app_id, rolled_until) VALUES ('website', now())"
        )
        sql = (Path(__file__).parents[2] / "collector/migrations/0006_tls_expiring.sql").read_text()
        async with conn.transaction():
            await conn.execute(sql)
        reasons = dict(await conn.fetch("SELECT message, reason FROM check_results"))
        assert reasons == {"expiry-only": "expiring", "handshake": "tls"}
        assert (
            await conn.fetchval("SELECT dirty_since FROM rollup_progress WHERE app_id = 'website'")
            == ts
        )
    finally:
        await conn.close()


# --- where an app's time starts, and the running hour -------------------------------------------


async def test_time_counts_from_registration_not_from_the_hour_or_the_first_result(
    seeded_db: str,
) -> None:
    """Registered at 10:23 (mid-hour), first result at 10:40: 17 minutes unknown, nothing before."""
    base = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=2)
    registered, first = base + dt.timedelta(minutes=23), base + dt.timedelta(minutes=40)
    conn = await asyncpg.connect(seeded_db)
    pool = await asyncpg.create_pool(seeded_db, min_size=1, max_size=2)
    try:
        await conn.execute("UPDATE apps SET created_at = $1", registered)
        from collector.ingest import Ingestor
        from tests.collector.test_review_edges import batch
        from tests.collector.test_review_edges import result as check_result

        await Ingestor(pool).store_batch(
            batch([check_result(first + dt.timedelta(minutes=k)) for k in range(80)]), zone="dc"
        )
        now = base + dt.timedelta(hours=3)
        await rollup(conn, settings=SETTINGS, now=now)
        month = f"{base.astimezone(WIB):%Y-%m}"
        for fn in (review_from_aggregates, review_from_raw):
            r = await fn(conn, month=month, settings=SETTINGS, now=now)
            av = next(a for a in r.apps if a.app == "website").availability
            assert (
                av.unknown_seconds
                == 17 * 60 + (now - (first + dt.timedelta(minutes=82))).total_seconds()
            )
            counted = av.up_seconds + av.down_seconds + av.maintenance_seconds + av.unknown_seconds
            assert counted == (now - registered).total_seconds(), fn.__name__
            tcp = next(a for a in r.apps if a.app == "simpus").availability  # no results at all
            assert tcp.unknown_seconds == (now - registered).total_seconds()
    finally:
        await conn.close()
        await pool.close()


async def _a_running_hour(
    conn: asyncpg.Connection, pool: asyncpg.Pool, *, down: range
) -> dt.datetime:
    """Forty minutes of website results in the hour before this one, registered at its start,
    down in the minutes `down`; rolled up (nothing complete yet). Returns the review's now."""
    from collector.ingest import Ingestor
    from tests.collector.test_review_edges import batch
    from tests.collector.test_review_edges import result as check_result

    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    await conn.execute("UPDATE apps SET created_at = $1", hour)
    items = [check_result(hour + dt.timedelta(minutes=k), ok=k not in down) for k in range(40)]
    await Ingestor(pool).store_batch(batch(items), zone="dc")
    now = hour + dt.timedelta(minutes=41)
    await rollup(conn, settings=SETTINGS, now=now)
    return now


async def test_the_running_hour_counts(seeded_db: str) -> None:
    """Right after set-up the review is not all zeros: results of the running hour count."""
    conn = await asyncpg.connect(seeded_db)
    pool = await asyncpg.create_pool(seeded_db, min_size=1, max_size=2)
    try:
        now = await _a_running_hour(conn, pool, down=range(10, 16))
        month = f"{now.astimezone(WIB):%Y-%m}"
        fast = await review_from_aggregates(conn, month=month, settings=SETTINGS, now=now)
        slow = await review_from_raw(conn, month=month, settings=SETTINGS, now=now)
        web = next(a for a in fast.apps if a.app == "website")
        assert web.availability.down_seconds == 5 * 60  # down at 10:12, up at 10:17
        assert web.availability.up_seconds == 41 * 60 - 5 * 60
        assert web.incidents == 1
        assert comparable(fast) == comparable(slow)
    finally:
        await conn.close()
        await pool.close()


# --- usage ----------------------------------------------------------------------------------------


def counter(
    metric: str, total: float, *, previous: float | None = None, change: float | None = None
) -> UsageFigures:
    return UsageFigures(
        metric=metric, kind="counter", total=total, previous=previous, change_percent=change
    )


def test_change_against_a_partial_previous_month_is_not_computed() -> None:
    this = [counter("logins", 2000.0), counter("visits", 900.0)]
    last = [counter("logins", 104.0), counter("visits", 1000.0)]
    out = {u.metric: u for u in _with_previous(this, last, older={"visits"})}
    assert (
        out["logins"].previous,
        out["logins"].previous_partial,
        out["logins"].change_percent,
    ) == (104.0, True, None)
    assert out["visits"].change_percent == pytest.approx(-10.0)
    assert out["visits"].previous_partial is False


PERIOD = Period(month="2026-10", timezone="Asia/Jakarta", start=dt.datetime(2026, 9, 30, 17, tzinfo=UTC),
                end=dt.datetime(2026, 10, 31, 17, tzinfo=UTC), complete=True)  # fmt: skip


def app(
    app_id: str, usage: list[UsageFigures], *, up: float = 1000.0, down: float = 0.0
) -> AppReview:
    av = Availability(
        up_seconds=up,
        down_seconds=down,
        uptime_percent=None if up + down == 0 else 100 * up / (up + down),
    )
    return AppReview(app=app_id, name=app_id.upper(), agency="diskominfo", managed_by="self", provider=None,
                     category=None, lifecycle="active", owner=None, target_uptime=99.0, checked=True,
                     availability=av, target_met=True, incidents=1 if down else 0, longest_outage_seconds=None,
                     mttr_seconds=None, outages=[], daily=[], usage=usage)  # fmt: skip


def report(apps: list[AppReview]) -> MonthlyReport:
    review = Review(period=PERIOD, regency=_roll_up("*", "Kabupaten", apps), agencies=[_roll_up("diskominfo", "Diskominfo", apps)],
                    apps=apps)  # fmt: skip
    return MonthlyReport(generated_at=PERIOD.end, agency=None, review=review, insights=[])


def test_a_metric_that_fell_to_zero_is_falling_and_little_used() -> None:
    (falling, little) = _usage_insights(
        [app("a", [counter("logins", 0.0, previous=300.0, change=-100.0)])]
    )
    assert [i.figures["metric"] for i in falling.items] == ["logins"]
    assert [i.figures["metric"] for i in little.items] == ["logins"]


def test_least_used_compares_counters_with_counters() -> None:
    gauge = UsageFigures(metric="active-users", kind="gauge", average=53.3, peak=90.0)
    apps = [app("big", [counter("visits", 90_000.0)]), app("mid", [counter("logins", 4000.0)]),
            app("small", [counter("transactions", 700.0)]), app("levels", [gauge])]  # fmt: skip
    doc = content.build(report(apps), "en")
    summary = doc.sections[0]
    tables = {b.caption: b for b in summary.blocks if isinstance(b, content.Table)}
    ranked = [row[0].text for name in ("Most used", "Least used") for row in tables[name].rows]
    assert "LEVELS" not in ranked  # an average of active users is no amount of use
    assert sorted(ranked) == ["BIG", "MID", "SMALL"]
    notes = [b.text for b in summary.blocks if isinstance(b, content.Para)]
    assert any("LEVELS" in n and "level" in n for n in notes)


def test_a_partial_previous_month_is_marked_in_the_review() -> None:
    logins = counter("logins", 2000.0, previous=104.0)
    logins.previous_partial = True
    html = render_html(report([app("a", [logins])]), "en").decode()
    assert "last month partial" in html
    assert "1,823" not in html
    assert "+" not in html.split("last month partial")[0][-40:]


# --- rounding and names ---------------------------------------------------------------------------


def test_insight_figures_are_exact_and_rendered_like_every_other_uptime() -> None:
    almost = app("a", [], up=2_678_399.0, down=1.0)  # 99.99996 %: rounding would say 100
    (item,) = _downtime([almost]).items
    assert item.figures["uptime_percent"] == almost.availability.uptime_percent
    assert formats.uptime(almost.availability.uptime_percent, "en") == "99.99%"


def test_days_left_has_one_decimal_as_in_the_alerts() -> None:
    now = dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert days_left(now + dt.timedelta(days=4, hours=15), now) == 4.6  # not 4
    assert days_left(now + dt.timedelta(days=2, hours=1), now) == 2.0


def test_a_metric_without_a_name_is_shown_once() -> None:
    assert labels.metric_name("api_queries", "en") == "api_queries"
    assert labels.metric_name("visits", "en") == "Visits"
    assert labels.metric_name("active-users", "id") == "Pengguna aktif (active-users)"


# --- the portal -----------------------------------------------------------------------------------


async def test_the_portal_counts_the_running_hour(seeded_db: str) -> None:
    """An incident of 6 minutes in the running hour shows in the 30-day downtime at once."""
    import zoneinfo

    from collector.catalog import store
    from collector.portal import data

    conn = await asyncpg.connect(seeded_db)
    pool = await asyncpg.create_pool(seeded_db, min_size=1, max_size=2)
    try:
        now = await _a_running_hour(conn, pool, down=range(10, 17))
        clock = data.Clock(now=now, tz=zoneinfo.ZoneInfo("Asia/Jakarta"))  # default state settings
        app = await store.get_app(conn, "website")
        assert app is not None
        (summary,) = await data.summaries(conn, [app], clock, contacts=False)
        assert summary.availability.down_s == 6 * 60  # down at :12, up at :18
        detail = await data.app_detail(conn, "website", clock, contacts=False)
        assert detail is not None
        assert sum(d.availability.down_s for d in detail.days) == 6 * 60
        assert sum(h.down_s for h in detail.hours) == 6 * 60
    finally:
        await conn.close()
        await pool.close()


def test_the_portal_does_not_call_a_partial_day_per_day() -> None:
    from types import SimpleNamespace

    from collector.portal import views
    from collector.portal.data import UsageSeries

    days = [dt.date(2026, 11, d) for d in range(17, 31)]

    def cell(values: list[float | None]) -> str:
        trend = UsageSeries(
            metric="visits", kind="counter", days=list(zip(days, values, strict=True))
        )
        summary = SimpleNamespace(trend=trend, app=SimpleNamespace(id="a"))
        shown = views.usage_cell("en", summary)  # type: ignore[arg-type]
        assert shown is not None
        return f"{shown.last} {shown.what}"

    assert "123 today so far" in cell([None] * 13 + [123.0])  # 37 minutes since registration
    assert "123 partial day" in cell([None] * 12 + [123.0, None])  # began yesterday
    assert "123 per day" in cell([None] * 11 + [5.0, 123.0, None])
