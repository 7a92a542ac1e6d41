"""`make run`'s review has content: the demo's history of last month, loaded into the test
database through the real ingest path (the loader of collector/demo, not the whole `make run`)."""

from __future__ import annotations

import datetime as dt

import asyncpg
from aiohttp.test_utils import TestServer

from collector.auth import create_token
from collector.catalog import sync
from collector.demo.__main__ import ZONE, demo_catalog, load_demo_history
from collector.review.report import build_report
from collector.web.app import make_app
from tests.collector.conftest import TEST_ACTOR, collector_config


async def test_demo_history_gives_last_months_review_figures(fresh_db: str) -> None:
    config = collector_config()
    catalog = demo_catalog("http://127.0.0.1:9")  # the apps are not needed: history only
    conn = await asyncpg.connect(fresh_db)
    try:
        await sync.apply(conn, catalog, source="demo catalogue", actor=TEST_ACTOR)
        _, admin = await create_token(conn, name="demo-admin", kind="admin")
        _, probe = await create_token(conn, name="demo-probe", kind="probe", zone=ZONE)
    finally:
        await conn.close()
    server = TestServer(make_app(config, dsn=fresh_db), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        history = await load_demo_history(
            str(server.make_url("")), fresh_db, config, catalog=catalog, probe_token=probe,
            admin_token=admin,
        )  # fmt: skip
    finally:
        await server.close()
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(fresh_db)
    try:
        report = await build_report(
            conn, month=history.month, settings=config.state_settings(), now=now
        )
    finally:
        await conn.close()
    review = report.review
    assert review.period.complete
    regency = review.regency.availability
    assert regency.uptime_percent is not None
    assert 99.0 < regency.uptime_percent < 100.0
    apps = {a.app: a for a in review.apps}
    assert apps["website"].incidents == 2
    assert apps["website"].availability.down_seconds > 100 * 60  # 42 + 65 minutes, about
    assert apps["e-retribusi"].target_met is False  # nine hours down: below its 99 %
    assert apps["simrs"].availability.maintenance_seconds >= 110 * 60  # the window (2 h)
    assert apps["simrs"].incidents == 1  # the failures inside the window are not an outage
    assert apps["simpus"].availability.degraded_seconds > 0  # slow, not down
    assert review.regency.incidents >= 4
    used = {(a.app, u.metric): u for a in review.apps for u in a.usage}
    assert used["website", "visits"].total
    assert used["website", "visits"].daily  # the chart has days
    assert used["e-retribusi", "active_users"].peak
    assert report.insights  # the planning insights have something to say
