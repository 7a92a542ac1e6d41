"""Each app's state rules, read from the catalogue: the live evaluator and the review share them."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.catalog import store
from collector.db import Executor
from collector.state.machine import Thresholds
from wire.maintenance import MaintenanceWindow


@dataclass(frozen=True, kw_only=True)
class StateSettings:
    """The collector's defaults (config `state` and `timezone`)."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    default_interval_seconds: float = 60.0
    stale_after_intervals: float = 3.0
    timezone: str = "Asia/Jakarta"


@dataclass(frozen=True, kw_only=True)
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
    rows = await conn.fetch(
        "SELECT id, zones, checks, maintenance, failure_threshold, success_threshold, quorum FROM apps"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id",
        *args,
    )
    if len(rows) < _THREAD_FROM:
        return _rules_of(rows, settings)
    # Decoding the checks and windows of thousands of apps is CPU work: off the event loop
    # (records are plain immutable objects, safe to read in a thread).
    return await asyncio.to_thread(_rules_of, rows, settings)


_THREAD_FROM = 200  # apps; fewer are decoded in well under a millisecond or two


def _rules_of(rows: Sequence[Any], settings: StateSettings) -> dict[str, AppRules]:
    out = {}
    for r in rows:
        # Read through the store, so a row stored before today's rules neither stops the
        # evaluator nor the review (the store skips or loads it with a warning).
        checks = store.stored_checks(r["id"], r["checks"])
        # With several checks, the longest interval decides when the app has gone quiet.
        interval = max((c.interval_seconds or settings.default_interval_seconds for c in checks),
                       default=settings.default_interval_seconds)  # fmt: skip
        out[r["id"]] = AppRules(
            zones=list(r["zones"]),
            thresholds=thresholds_of(r, settings.thresholds),
            stale_after=dt.timedelta(seconds=interval * settings.stale_after_intervals),
            windows=store.stored_windows(r),
            timezone=settings.timezone,
        )
    return out
