"""Rows stored before today's rules: they never take the catalogue down, and API writes of
maintenance windows neither lose what was skipped on reading nor grow past the limits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import asyncpg
import pytest
import yaml
from aiohttp.test_utils import TestClient

from collector.audit import acting
from collector.catalog import store, sync
from collector.state.rules import StateSettings, app_rules
from tests.collector.conftest import CATALOG, TEST_ACTOR, Tokens, bearer
from wire.catalog import MAX_WINDOWS

# Accepted by APScheduler's cron dialect (the rule before issue 9), refused by standard cron.
OLD_DIALECT = {"name": "month-end", "cron": "0 0 last * *", "duration_minutes": 60}
SECRET_HEADER_CHECK = {"type": "http", "url": "https://x/", "headers": {"X-Api-Key": "k"}}


async def _append_json(url: str, app_id: str, column: str, item: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with acting(conn, TEST_ACTOR):
            await conn.execute(
                f"UPDATE apps SET {column} = {column} || $2::jsonb WHERE id = $1",
                app_id, json.dumps([item]),
            )  # fmt: skip
        await conn.execute("UPDATE catalog_version SET version = version + 1")
    finally:
        await conn.close()


async def test_a_window_refused_by_todays_cron_does_not_break_the_catalogue(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: one stored window in the old dialect made every catalogue read answer 500,
    stopped the evaluator, and left no API route to fix the app."""
    await _append_json(seeded_db, "simpus", "maintenance", OLD_DIALECT)
    with caplog.at_level(logging.WARNING):
        resp = await client.get("/api/v1/apps")
        assert resp.status == 200, await resp.text()
        resp = await client.get("/api/v1/apps/simpus")
        assert resp.status == 200, await resp.text()
        assert (await resp.json()).get("maintenance", []) == []
        assert (await client.get("/apps/simpus")).status == 200
        resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dinkes))
        assert resp.status == 200
    conn = await asyncpg.connect(seeded_db)
    try:
        rules = await app_rules(conn, StateSettings())
        assert rules["simpus"].windows == ()
    finally:
        await conn.close()
    assert any("simpus" in r.getMessage() and "maintenance[0]" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    # The API can fix it: a window added now replaces the stored list as the API sees it.
    window = {"name": "weekly", "cron": "0 2 * * 0", "duration_minutes": 30}
    resp = await client.post(
        "/api/v1/apps/simpus/maintenance", json=window, headers=bearer(tokens.dinkes)
    )
    assert resp.status == 201, await resp.text()


async def test_changing_windows_keeps_a_skipped_check_stored(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    """Regression: adding a window rewrote the whole row from what was read, deleting the
    checks that today's rules skip (so they could never be seen and fixed)."""
    await _append_json(seeded_db, "simpus", "checks", SECRET_HEADER_CHECK)
    window = {"name": "weekly", "cron": "0 2 * * 0", "duration_minutes": 30}
    resp = await client.post(
        "/api/v1/apps/simpus/maintenance", json=window, headers=bearer(tokens.dinkes)
    )
    assert resp.status == 201, await resp.text()
    conn = await asyncpg.connect(seeded_db)
    try:
        stored = json.loads(await conn.fetchval("SELECT checks FROM apps WHERE id = 'simpus'"))
    finally:
        await conn.close()
    assert SECRET_HEADER_CHECK in stored
    assert (await (await client.get("/api/v1/apps/simpus")).json())["maintenance"] == [window]


async def test_windows_through_the_window_route_stop_at_the_limit(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    """Regression: the window route appended without the catalogue's limit of 50."""
    for i in range(MAX_WINDOWS):
        window = {"name": f"w{i}", "cron": "0 2 * * 0", "duration_minutes": 30}
        resp = await client.post(
            "/api/v1/apps/simpus/maintenance", json=window, headers=bearer(tokens.dinkes)
        )
        assert resp.status == 201, await resp.text()
    window = {"name": "one-more", "cron": "0 2 * * 0", "duration_minutes": 30}
    resp = await client.post(
        "/api/v1/apps/simpus/maintenance", json=window, headers=bearer(tokens.dinkes)
    )
    assert resp.status == 400, await resp.text()
    assert str(MAX_WINDOWS) in (await resp.json())["message"]


async def test_a_window_added_with_put_survives_an_apply(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
    tmp_path: Path,
) -> None:
    """Regression: only the window route recorded API-made windows; one added by PUT of the
    whole app was removed by the next `catalog apply` of the file."""
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(CATALOG), encoding="utf-8")
    resp = await client.get("/api/v1/apps/website", headers=bearer(tokens.admin))
    app = await resp.json()
    app["maintenance"] = [{"name": "db-upgrade", "start": "2030-01-05T22:00:00+07:00",
                           "end": "2030-01-06T01:00:00+07:00"}]  # fmt: skip
    resp = await client.put("/api/v1/apps/website", json=app, headers=bearer(tokens.admin))
    assert resp.status == 200, await resp.text()
    conn = await asyncpg.connect(seeded_db)
    try:
        await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        kept = await store.get_app(conn, "website")
        assert kept is not None
        assert [w.name for w in kept.maintenance] == ["db-upgrade"]
        # A PUT that drops it forgets that the API made it.
        app["maintenance"] = []
        resp = await client.put("/api/v1/apps/website", json=app, headers=bearer(tokens.admin))
        assert resp.status == 200, await resp.text()
        assert (await store.api_windows(conn)).get("website", set()) == set()
    finally:
        await conn.close()


async def test_a_stored_check_naming_another_agencys_secret_is_skipped(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    """A row written by hand (or before secrets were namespaced per agency) that names another
    agency's secret is skipped on reading: the app stays readable, the probe never gets it."""
    foreign = {"type": "http", "url": "https://x/", "bearer_token_env": "PANTAU_SECRET_SETDA_KEY"}
    await _append_json(seeded_db, "simpus", "checks", foreign)
    resp = await client.get("/api/v1/apps/simpus")
    assert resp.status == 200, await resp.text()
    assert all(c.get("bearer_token_env") is None for c in (await resp.json())["checks"])
    resp = await client.get("/api/v1/apps")
    assert resp.status == 200, await resp.text()
    resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dinkes))
    assert resp.status == 200
    assert "PANTAU_SECRET_SETDA_KEY" not in await resp.text()
