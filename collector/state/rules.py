"""Each app's state rules, read from the catalogue: the live evaluator and the review share them."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.catalog import store
from collector.db import Executor, fetch_chunked
from collector.state.machine import Thresholds
from wire.maintenance import MaintenanceWindow


@dataclass(frozen=True, kw_only=True)
class StateSettings:
    """The collector's defaults (config `state` and `timezone`)."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    default_interval_seconds: float = 60.0
    stale_after_intervals: float = 3.0
    timezone: str = "Asia/Jakarta"


# Slots and tuples: RulesCache keeps 10,000 of these for as long as the catalogue stands still,
# and every full garbage collection scans what is kept (a tuple of strings is not even tracked).
@dataclass(frozen=True, kw_only=True, slots=True)
class AppRules:
    zones: Sequence[str]
    thresholds: Thresholds
    stale_after: dt.timedelta  # a check's latest result speaks for the app this long
    windows: Sequence[MaintenanceWindow] = ()
    timezone: str = "Asia/Jakarta"


def thresholds_of(row: Any, defaults: Thresholds) -> Thresholds:
    """An app's own thresholds (apps columns), else the defaults."""
    return Thresholds(
        failure=row["failure_threshold"] or defaults.failure,
        success=row["success_threshold"] or defaults.success,
        quorum=row["quorum"] or defaults.quorum,
    )


async def app_rules(
    conn: Executor,
    settings: StateSettings,
    *,
    watched_only: bool = False,
    ids: Sequence[str] | None = None,
) -> dict[str, AppRules]:
    """The rules of every app (with `watched_only`, of the apps in service; with `ids`, of
    those apps only), by id."""
    where, args = [], []
    if watched_only:
        where.append("lifecycle IN ('active', 'deprecated')")
    if ids is not None:
        args.append(list(ids))
        where.append("id = ANY ($1::text[])")
    sql = (
        "SELECT id, zones, checks, maintenance, failure_threshold, success_threshold, quorum FROM apps"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id"
    )
    # Every app's row with its checks and windows: in chunks, as decoding 10,000 of them in one
    # fetch held the event loop up for 10 to 25 ms (bench/ingest.py --only metrics).
    rows = await (
        conn.fetch(sql, *args) if ids is not None else fetch_chunked(conn, sql, chunk=500)
    )
    if len(rows) < _THREAD_FROM:
        return _rules_of(rows, settings)
    # Decoding the checks and windows of thousands of apps is CPU work: off the event loop
    # (records are plain immutable objects, safe to read in a thread).
    return await asyncio.to_thread(_rules_of, rows, settings)


_THREAD_FROM = 200  # apps; fewer are decoded in well under a millisecond or two


def _rules_of(rows: Sequence[Any], settings: StateSettings) -> dict[str, AppRules]:
    out = {}
    shared: dict[Thresholds, Thresholds] = {}  # one object per distinct set (most: the defaults)
    for r in rows:
        # Read through the store, so a row stored before today's rules neither stops the
        # evaluator nor the review (the store skips or loads it with a warning).
        checks = store.stored_checks(r["id"], r["checks"])
        # With several checks, the longest interval decides when the app has gone quiet.
        interval = max((c.interval_seconds or settings.default_interval_seconds for c in checks),
                       default=settings.default_interval_seconds)  # fmt: skip
        out[r["id"]] = AppRules(
            zones=tuple(r["zones"]),
            thresholds=shared.setdefault(th := thresholds_of(r, settings.thresholds), th),
            stale_after=dt.timedelta(seconds=interval * settings.stale_after_intervals),
            windows=tuple(store.stored_windows(r)),
            timezone=settings.timezone,
        )
    return out


class RulesCache:
    """`app_rules` as of a catalogue version, for the jobs that read every app's rules each run
    (the evaluator, the rollup): decoding 10,000 apps' checks and windows cost about 0.2 s of
    CPU a run and held the event loop up. Every catalogue write bumps the version in its
    transaction (`store.bump_version`); `max_age` bounds how long a row changed by hand
    without the bump goes unseen."""

    def __init__(
        self, settings: StateSettings, *, watched_only: bool = False, max_age: float = 300.0
    ) -> None:
        self._settings = settings
        self._watched_only = watched_only
        self._max_age = max_age
        self._cached: tuple[int, float, dict[str, AppRules]] | None = None

    async def get(self, conn: Executor) -> dict[str, AppRules]:
        version = await store.catalog_version(conn)
        now = time.monotonic()
        if (
            self._cached is None
            or self._cached[0] != version
            or now - self._cached[1] > self._max_age
        ):
            # Read after the version: a change in between is seen early, never missed.
            rules = await app_rules(conn, self._settings, watched_only=self._watched_only)
            self._cached = (version, now, rules)
        return self._cached[2]
