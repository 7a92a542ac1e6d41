"""State in PostgreSQL: check counters updated at ingest, app states and incidents by an evaluator.

The counters live beside each check's latest result (check_latest), so a batch updates both with
one statement (collector/state/record.py).

Ingest only advances the per-check counters (inside the batch's transaction). The evaluator runs
every few seconds, in one replica at a time (an advisory lock), and turns the counters, the
freshness of results and the maintenance windows into app states and incidents.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from collector.db import Conn, Executor, fetch_chunked
from collector.state.machine import (
    AppState,
    CheckState,
    ZoneState,
    app_state,
    is_cause,
    zone_state,
)
from collector.state.rules import AppRules, RulesCache, StateSettings, app_rules

log = logging.getLogger(__name__)

EVALUATOR_LOCK_ID = 0x50414E544155 + 1


def _check_state(r: Any) -> CheckState:
    return CheckState(state=r["state"], failures=r["failures"], successes=r["successes"],
                      since=r["since"], last_ts=r["last_ts"], reason=r["reason"])  # fmt: skip


async def evaluate(
    conn: Conn,
    *,
    now: dt.datetime,
    settings: StateSettings,
    wait: bool = False,
    rules_cache: RulesCache | None = None,
) -> int:
    """Recompute every app's state, zone states and incidents; returns the apps that changed.

    Runs in one transaction; while another replica (or task) is evaluating it is skipped
    (returns -1), or with `wait` waits for its turn.
    """
    async with conn.transaction():
        if wait:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", EVALUATOR_LOCK_ID)
        elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", EVALUATOR_LOCK_ID):
            return -1
        apps = await (
            rules_cache.get(conn) if rules_cache else app_rules(conn, settings, watched_only=True)
        )
        # Read in chunks, and turned into states in a thread with the rules: with thousands
        # of apps, decoding or looping over the rows in one go would hold up the event loop.
        latest = await fetch_chunked(
            conn,
            "SELECT app_id, zone, state, failures, successes, since, ts AS last_ts, reason FROM check_latest",
        )
        previous = await fetch_chunked(conn, "SELECT app_id, state, since FROM app_state")
        prev_zones = await fetch_chunked(
            conn, "SELECT app_id, zone, state, since FROM app_zone_state"
        )
        open_incidents = await fetch_chunked(
            conn, "SELECT id, app_id, cause, zones FROM incidents WHERE ended_at IS NULL"
        )
        changed, app_rows, zone_rows, actions = await asyncio.to_thread(
            _decide_rows, apps, latest, previous, prev_zones, open_incidents, now, settings
        )
        for sql, *args in actions:
            await conn.execute(sql, *args)
        await conn.executemany(
            "INSERT INTO app_state (app_id, state, since, updated_at) VALUES ($1, $2, $3, now())"
            " ON CONFLICT (app_id) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since,"
            " updated_at = now()",
            app_rows,
        )
        await conn.executemany(
            "INSERT INTO app_zone_state (app_id, zone, state, since) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (app_id, zone) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since",
            zone_rows,
        )
        # Apps retired or deleted leave the state tables (their incidents stay as history).
        await conn.execute(
            "DELETE FROM app_state WHERE app_id NOT IN (SELECT id FROM apps WHERE lifecycle IN ('active', 'deprecated'))"
        )
        await conn.execute(
            "DELETE FROM app_zone_state z WHERE NOT EXISTS (SELECT 1 FROM apps a WHERE a.id = z.app_id"
            " AND a.lifecycle IN ('active', 'deprecated') AND z.zone = ANY (a.zones))"
        )
        return changed


Action = tuple[Any, ...]  # (sql, *args)
Decision = tuple[int, list[tuple[Any, ...]], list[tuple[Any, ...]], list[Action]]


def _decide_rows(
    apps: dict[str, AppRules],
    latest: Sequence[Any],
    previous: Sequence[Any],
    prev_zones: Sequence[Any],
    open_incidents: Sequence[Any],
    now: dt.datetime,
    settings: StateSettings,
) -> Decision:
    """_decide from the rows as read; runs in a thread."""
    checks: dict[str, dict[str, list[CheckState]]] = defaultdict(lambda: defaultdict(list))
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in latest:
        checks[r["app_id"]][r["zone"]].append(_check_state(r))
        if r["state"] == "down" and is_cause(r["reason"]):
            reasons[(r["app_id"], r["zone"])].add(r["reason"])
    # A check removed from the catalogue stops getting results, goes stale, and drops out.
    return _decide(
        apps,
        checks,
        reasons,
        {r["app_id"]: (r["state"], r["since"]) for r in previous},
        {(r["app_id"], r["zone"]): (r["state"], r["since"]) for r in prev_zones},
        {r["app_id"]: r for r in open_incidents},
        now,
        settings,
    )


def _decide(
    apps: dict[str, AppRules],
    checks: dict[str, dict[str, list[CheckState]]],
    reasons: dict[tuple[str, str], set[str]],
    previous: dict[str, tuple[str, dt.datetime]],
    prev_zones: dict[tuple[str, str], tuple[str, dt.datetime]],
    open_incidents: dict[str, Any],
    now: dt.datetime,
    settings: StateSettings,
) -> Decision:
    """The new app and zone states and the incident changes; pure, so it can run in a thread."""
    app_rows: list[tuple[Any, ...]] = []
    zone_rows: list[tuple[Any, ...]] = []
    actions: list[Action] = []
    changed = 0
    for app_id, app in apps.items():
        zones: dict[str, ZoneState] = {}
        for zone in app.zones:
            zs = zone_state(
                checks.get(app_id, {}).get(zone, []), now=now, stale_after=app.stale_after
            )
            old = prev_zones.get((app_id, zone))
            since = old[1] if old and old[0] == zs.state else zs.since
            zones[zone] = ZoneState(zs.state, since)
            if old is None or old[0] != zs.state:
                zone_rows.append((app_id, zone, zs.state, since))
        maintenance = any(w.active_at(now, default_timezone=settings.timezone) for w in app.windows)
        new = app_state(zones, quorum=app.thresholds.quorum, in_maintenance=maintenance)
        old_app = previous.get(app_id)
        if old_app is None or old_app[0] != new.state:
            changed += 1
            app_rows.append((app_id, new.state, new.since or now))
        action = _incident(
            app_id, new, now=now, open_row=open_incidents.get(app_id), reasons=reasons
        )
        if action is not None:
            actions.append(action)
    return changed, app_rows, zone_rows, actions


def _incident(app_id: str, new: AppState, *, now: dt.datetime, open_row: Any,
              reasons: dict[tuple[str, str], set[str]]) -> Action | None:  # fmt: skip
    if new.state == "down":
        cause = sorted(set().union(*(reasons.get((app_id, z), set()) for z in new.down_zones)))
        if open_row is None:
            return ("INSERT INTO incidents (app_id, started_at, cause, zones) VALUES ($1, $2, $3, $4)",
                    app_id, new.since or now, cause, list(new.down_zones))  # fmt: skip
        merged_cause = sorted(set(open_row["cause"]) | set(cause))
        merged_zones = sorted(set(open_row["zones"]) | set(new.down_zones))
        if merged_cause != sorted(open_row["cause"]) or merged_zones != sorted(open_row["zones"]):
            return ("UPDATE incidents SET cause = $2, zones = $3 WHERE id = $1",
                    open_row["id"], merged_cause, merged_zones)  # fmt: skip
        return None
    if open_row is not None and new.state in ("up", "degraded", "maintenance"):
        # `unknown` keeps an incident open: no news is not good news.
        return ("UPDATE incidents SET ended_at = greatest(started_at, $2) WHERE id = $1",
                open_row["id"], min(new.since or now, now))  # fmt: skip
    return None


class Evaluator:
    def __init__(self, pool: Executor, *, settings: StateSettings, interval: float) -> None:
        self._pool = pool
        self.settings = settings
        self._interval = interval
        self._rules = RulesCache(settings, watched_only=True)

    async def run_once(self, *, now: dt.datetime | None = None, wait: bool = False) -> int:
        async with self._pool.acquire() as conn:  # type: ignore[union-attr]
            return await evaluate(
                conn,
                now=now or dt.datetime.now(dt.UTC),
                settings=self.settings,
                wait=wait,
                rules_cache=self._rules,
            )

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the next round tries again
                log.warning("state evaluation failed: %s", exc)
            await asyncio.sleep(self._interval)
