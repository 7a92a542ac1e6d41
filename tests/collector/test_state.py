"""State, incidents and maintenance: the rules alone, then through the real ingest path."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from collector.audit import acting
from collector.catalog import store
from collector.state.machine import (
    CheckState,
    Thresholds,
    ZoneState,
    app_state,
    observe,
    zone_state,
)
from collector.state.rules import RulesCache, StateSettings
from collector.web import keys
from tests.collector.conftest import TEST_ACTOR, Tokens, bearer

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
TH = Thresholds(failure=3, success=2, quorum=1)


def run(results: list[tuple[bool, str | None]]) -> list[str]:
    state: CheckState | None = None
    seen = []
    for i, (ok, reason) in enumerate(results):
        state = observe(state, ok=ok, reason=reason, ts=T0 + dt.timedelta(minutes=i), thresholds=TH)
        seen.append(state.state)
    return seen


def test_down_needs_consecutive_failures_and_recovery_consecutive_successes() -> None:
    bad, good, slow = (False, "connect"), (True, None), (False, "latency")
    assert run([good, bad, bad, good, bad, bad]) == ["up"] * 6  # never three in a row
    assert run([good, bad, bad, bad, good, bad, good, good]) == [
        "up", "up", "up", "down", "down", "down", "down", "up",
    ]  # fmt: skip
    assert run([good, slow, slow, good]) == ["up", "degraded", "degraded", "up"]
    assert run([bad, bad]) == ["unknown", "unknown"]  # below the threshold, never seen up


def test_down_since_is_the_failure_that_crossed_the_threshold() -> None:
    state = None
    for i, ok in enumerate([True, False, False, False]):
        state = observe(
            state,
            ok=ok,
            reason=None if ok else "status",
            ts=T0 + dt.timedelta(minutes=i),
            thresholds=TH,
        )
    assert state is not None
    assert state.state == "down"
    assert state.since == T0 + dt.timedelta(minutes=3)


def test_quorum_of_zones() -> None:
    up, down = ZoneState("up", T0), ZoneState("down", T0 + dt.timedelta(minutes=5))
    zones = {"dc": up, "dinkes-lan": down}
    assert app_state(zones, quorum=2, in_maintenance=False).state == "up"
    result = app_state(zones, quorum=1, in_maintenance=False)
    assert result.state == "down"
    assert result.down_zones == ("dinkes-lan",)
    both = {"dc": ZoneState("down", T0), "dinkes-lan": down}
    assert app_state(both, quorum=2, in_maintenance=False).since == T0 + dt.timedelta(minutes=5)
    # a quorum above the number of zones cannot be met, so it is capped
    assert app_state({"dc": down}, quorum=3, in_maintenance=False).state == "down"
    assert app_state(zones, quorum=1, in_maintenance=True).state == "maintenance"
    assert app_state({}, quorum=1, in_maintenance=False).state == "unknown"


def test_stale_checks_make_a_zone_unknown() -> None:
    check = CheckState(state="up", failures=0, successes=5, since=T0, last_ts=T0, reason=None)
    assert (
        zone_state(
            [check], now=T0 + dt.timedelta(minutes=2), stale_after=dt.timedelta(minutes=3)
        ).state
        == "up"
    )
    assert (
        zone_state(
            [check], now=T0 + dt.timedelta(minutes=4), stale_after=dt.timedelta(minutes=3)
        ).state
        == "unknown"
    )


# --- through ingest, the evaluator, the API and /metrics -------------------------------------


def result(
    app: str, ok: bool, ts: float, *, reason: str = "connect", check: str = "http"
) -> dict[str, object]:
    item: dict[str, object] = {"app": app, "check": check, "kind": "http", "ts": ts, "ok": ok,
                               "duration_seconds": 0.1}  # fmt: skip
    if not ok:
        item["reason"] = reason
    return item


async def push(client: TestClient, token: str, items: list[dict[str, object]]) -> None:
    body = {"probe": f"probe-{token[-6:]}", "batch_id": uuid.uuid4().hex, "results": items}
    resp = await client.post("/api/v1/results", json=body, headers=bearer(token))
    assert resp.status == 200, await resp.text()


async def evaluate(client: TestClient) -> None:
    await client.app[keys.EVALUATOR].run_once()


async def status(client: TestClient, app: str) -> dict[str, object]:
    resp = await client.get(f"/api/v1/apps/{app}/status")
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def test_outage_opens_and_recovery_closes_an_incident(
    client: TestClient, tokens: Tokens
) -> None:
    now = time.time()
    await push(client, tokens.probe_dc, [result("website", True, now - 50)])
    await evaluate(client)
    assert (await status(client, "website"))["state"] == "up"

    await push(
        client,
        tokens.probe_dc,
        [result("website", False, now - 40 + i, reason="status") for i in range(2)],
    )
    await evaluate(client)
    assert (await status(client, "website"))["state"] == "up"  # two failures: not yet
    await push(client, tokens.probe_dc, [result("website", False, now - 30, reason="timeout")])
    await evaluate(client)
    st = await status(client, "website")
    assert st["state"] == "down"
    incident = st["open_incident"]
    assert incident["cause"] == ["timeout"]  # type: ignore[index]
    assert incident["zones"] == ["dc"]  # type: ignore[index]
    assert dt.datetime.fromisoformat(incident["started_at"]).timestamp() == pytest.approx(now - 30)  # type: ignore[index]

    await push(
        client,
        tokens.probe_dc,
        [result("website", True, now - 20), result("website", True, now - 10)],
    )
    await evaluate(client)
    st = await status(client, "website")
    assert st["state"] == "up"
    assert st["open_incident"] is None
    incidents = await (await client.get("/api/v1/incidents", params={"app": "website"})).json()
    assert len(incidents) == 1
    assert incidents[0]["duration_seconds"] == pytest.approx(20, abs=0.01)  # down at -30, up at -10
    assert await (await client.get("/api/v1/incidents", params={"open": "true"})).json() == []
    assert (await client.get("/api/v1/incidents", params={"from": "yesterday"})).status == 400


async def _simpus_up_in_dc_down_in_dinkes(client: TestClient, tokens: Tokens) -> float:
    """One success from zone dc, four failures from dinkes-lan, evaluated; returns the time."""
    now = time.time()
    await push(client, tokens.probe_dc, [result("simpus", True, now - 5, check="tcp")])
    await push(
        client,
        tokens.probe_dinkes,
        [result("simpus", False, now - 5 + i / 10, check="tcp") for i in range(4)],
    )
    await evaluate(client)
    return now


async def test_one_zone_down_is_not_an_outage_with_quorum_two(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    conn = await asyncpg.connect(seeded_db)
    try:
        async with acting(conn, TEST_ACTOR):
            await conn.execute("UPDATE apps SET quorum = 2 WHERE id = 'simpus'")
            await store.bump_version(conn)  # as every catalogue write does
    finally:
        await conn.close()
    now = await _simpus_up_in_dc_down_in_dinkes(client, tokens)
    st = await status(client, "simpus")
    assert st["state"] == "up"
    assert {z["zone"]: z["state"] for z in st["zones"]} == {"dinkes-lan": "down", "dc": "up"}  # type: ignore[union-attr, index]
    await push(
        client,
        tokens.probe_dc,
        [result("simpus", False, now - 1 + i / 10, check="tcp") for i in range(3)],
    )
    await evaluate(client)
    assert (await status(client, "simpus"))["state"] == "down"
    incidents = await (
        await client.get("/api/v1/incidents", params={"agency": "dinkes", "open": "true"})
    ).json()
    assert incidents[0]["zones"] == ["dc", "dinkes-lan"]


async def test_maintenance_window_silences_and_is_not_an_incident(
    client: TestClient, tokens: Tokens
) -> None:
    now = dt.datetime.now(dt.UTC)
    window = {
        "name": "upgrade",
        "title": "Upgrade server",
        "start": (now - dt.timedelta(minutes=5)).isoformat(),
        "end": (now + dt.timedelta(hours=1)).isoformat(),
    }
    resp = await client.post(
        "/api/v1/apps/website/maintenance", json=window, headers=bearer(tokens.admin)
    )
    assert resp.status == 201, await resp.text()
    await push(
        client,
        tokens.probe_dc,
        [result("website", False, now.timestamp() - 3 + i) for i in range(3)],
    )
    await evaluate(client)
    st = await status(client, "website")
    assert st["state"] == "maintenance"
    assert st["in_maintenance"] is True
    assert st["open_incident"] is None
    await client.app[keys.APP_METRICS].refresh()
    text = await (await client.get("/metrics")).text()
    assert 'pantau_app_in_maintenance{app="website",agency="diskominfo"} 1' in text
    assert 'pantau_app_up{app="website"' not in text  # no value: no alert, not counted in uptime
    # the window ends: the app is down, and now it is an incident
    resp = await client.delete(
        "/api/v1/apps/website/maintenance/upgrade", headers=bearer(tokens.admin)
    )
    assert resp.status == 204
    st = await status(client, "website")
    assert st["state"] == "down"
    assert st["open_incident"] is not None


async def test_bad_windows_are_refused_with_the_field(client: TestClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    bad = [
        ({"name": "x", "cron": "0 25 * * *", "duration_minutes": 60}, "bad cron expression"),
        ({"name": "x", "start": "2026-12-01T22:00:00"}, "needs both"),
        ({"name": "x", "start": "2026-12-01T22:00:00", "end": "2026-12-01T23:00:00"}, "UTC offset"),
        (
            {
                "name": "x",
                "cron": "0 23 * * *",
                "duration_minutes": 60,
                "timezone": "Asia/Atlantis",
            },
            "unknown time zone",
        ),
    ]
    for body, text in bad:
        resp = await client.post("/api/v1/apps/website/maintenance", json=body, headers=admin)
        assert resp.status == 400, body
        assert text in (await resp.json())["message"]


async def test_silence_makes_an_app_unknown(client: TestClient, tokens: Tokens) -> None:
    now = time.time()
    await push(client, tokens.probe_dc, [result("website", True, now - 10)])
    await evaluate(client)
    assert (await status(client, "website"))["state"] == "up"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)  # three 60 s intervals have passed
    await client.app[keys.EVALUATOR].run_once(now=later)
    assert (await status(client, "website"))["state"] == "unknown"


def test_recurring_window_follows_cron_in_its_time_zone() -> None:
    import msgspec

    from wire.maintenance import MaintenanceWindow

    weekly = msgspec.convert(
        {
            "name": "weekly",
            "cron": "0 23 * * sun",
            "duration_minutes": 120,
            "timezone": "Asia/Jakarta",
        },
        MaintenanceWindow,
    )
    wib = dt.timezone(dt.timedelta(hours=7))
    sunday = dt.datetime(2026, 11, 29, tzinfo=wib)  # a Sunday
    inside = [
        sunday.replace(hour=23),
        sunday.replace(hour=23, minute=59),
        sunday + dt.timedelta(hours=24, minutes=59),
    ]
    outside = [
        sunday.replace(hour=22, minute=59),
        sunday + dt.timedelta(hours=25),
        sunday + dt.timedelta(days=1, hours=23),
    ]
    assert all(weekly.active_at(t, default_timezone="UTC") for t in inside)
    assert not any(weekly.active_at(t, default_timezone="UTC") for t in outside)


async def test_catalogue_windows_round_trip(fresh_db: str, tmp_path: object) -> None:
    import msgspec
    import yaml

    from collector.catalog import sync
    from wire.catalog import Catalog

    data = {
        "agencies": [{"id": "setda", "name": "Setda"}],
        "apps": [{"id": "jdih", "name": "JDIH", "agency": "setda", "managed_by": "self", "quorum": 2,
                  "failure_threshold": 5,
                  "maintenance": [{"name": "weekly", "cron": "0 23 * * sun", "duration_minutes": 60},
                                  {"name": "move", "start": "2026-12-01T22:00:00+07:00",
                                   "end": "2026-12-02T02:00:00+07:00"}]}],
    }  # fmt: skip
    conn = await asyncpg.connect(fresh_db)
    try:
        catalog = msgspec.convert(yaml.safe_load(yaml.safe_dump(data)), Catalog)
        await sync.apply(conn, catalog, source="t", actor=TEST_ACTOR)
        exported = msgspec.convert(yaml.safe_load(await sync.export(conn)), Catalog)
        assert exported.apps == catalog.apps
        assert (await sync.apply(conn, exported, source="t", actor=TEST_ACTOR)).empty
    finally:
        await conn.close()


async def test_rules_cache_follows_the_catalogue_version(seeded_db: str) -> None:
    conn = await asyncpg.connect(seeded_db)
    try:
        cache = RulesCache(StateSettings(), watched_only=True)
        first = await cache.get(conn)
        assert first["simpus"].thresholds.quorum == 1
        async with acting(conn, TEST_ACTOR):
            await conn.execute("UPDATE apps SET quorum = 2 WHERE id = 'simpus'")
        assert await cache.get(conn) is first  # the version has not moved: nothing is read
        await store.bump_version(conn)  # as every catalogue write does in its transaction
        assert (await cache.get(conn))["simpus"].thresholds.quorum == 2
        # A row changed by hand without the bump is seen once the cache is older than max_age.
        aged = RulesCache(StateSettings(), watched_only=True, max_age=0.0)
        await aged.get(conn)
        async with acting(conn, TEST_ACTOR):
            await conn.execute("UPDATE apps SET quorum = 3 WHERE id = 'simpus'")
        assert (await aged.get(conn))["simpus"].thresholds.quorum == 3
    finally:
        await conn.close()


async def test_the_evaluator_sees_a_quorum_change_made_between_runs(
    client: TestClient, tokens: Tokens
) -> None:
    await _simpus_up_in_dc_down_in_dinkes(client, tokens)
    assert (await status(client, "simpus"))["state"] == "down"  # quorum 1: one zone is enough
    app = await (await client.get("/api/v1/apps/simpus", headers=bearer(tokens.admin))).json()
    resp = await client.put(
        "/api/v1/apps/simpus", json={**app, "quorum": 2}, headers=bearer(tokens.admin)
    )
    assert resp.status == 200, await resp.text()
    await evaluate(client)
    assert (await status(client, "simpus"))["state"] == "up"
