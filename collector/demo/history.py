"""Last month, made up and loaded through the real ingest path, so `make run`'s review has content.

The review `make run` links to is last month's. On a fresh start that month would be empty, so
the demo sends it a history first: every app with checks is checked every 150 s (within the
staleness limit of its 60 s interval, at a fraction of the volume), with a few outages, a slow
spell, a maintenance window (made through the API, as an operator would) and usage counters and
gauges that follow the office day. It goes through POST /api/v1/results with the probe's token
in batches, like a probe, and the aggregates are then rolled up as the collector would.
Deterministic: the same month always gets the same history.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

from wire.catalog import App, Catalog
from wire.messages import MAX_BATCH_ITEMS

STEP = dt.timedelta(seconds=150)
USAGE_STEP = dt.timedelta(minutes=15)
BATCH = 2_000  # items per POST: under 1 MiB of JSON (aiohttp warns about larger raw bodies)


@dataclass(frozen=True)
class Spell:
    """A stretch of last month for one app: day of month, local start time, length in minutes."""

    app: str
    day: int
    hour: int
    minute: int
    minutes: int
    reason: str = "status"  # the failure reason of its checks

    def start(self, month_start: dt.datetime) -> dt.datetime:
        return month_start.replace(day=self.day, hour=self.hour, minute=self.minute)

    def covers(self, app: str, local: dt.datetime) -> bool:
        begin = local.replace(day=self.day, hour=self.hour, minute=self.minute, second=0,
                              microsecond=0)  # fmt: skip
        return app == self.app and begin <= local < begin + dt.timedelta(minutes=self.minutes)


OUTAGES = (
    Spell("website", 6, 9, 10, 42),
    Spell("website", 18, 14, 0, 65, "timeout"),
    Spell("e-retribusi", 23, 6, 30, 540, "connect"),  # the vendor's server, a working day
    Spell("simrs", 11, 2, 0, 25),
    Spell("simrs", 14, 22, 5, 50),  # inside its maintenance window: does not count
)
SLOW = Spell("simpus", 3, 8, 0, 150, "latency")  # answers, too slowly: degraded
WINDOW = Spell("simrs", 14, 22, 0, 120)  # maintenance window, made through the API


@dataclass(frozen=True, kw_only=True)
class History:
    month: str
    results: int
    usage: int


def previous_month(now: dt.datetime, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(tz)
    end = dt.datetime(local.year, local.month, 1, tzinfo=tz)
    start = (end - dt.timedelta(days=1)).replace(day=1)
    return start, end


async def load_history(
    collector_url: str,
    *,
    catalog: Catalog,
    probe_token: str,
    admin_token: str,
    probe: str,
    timezone: str,
    now: dt.datetime | None = None,
) -> History:
    tz = zoneinfo.ZoneInfo(timezone)
    start, end = previous_month(now or dt.datetime.now(dt.UTC), tz)
    apps = [a for a in catalog.apps if a.checks]
    window = _window(start)
    results = [r for a in apps for r in _results(a, start, end, tz)]
    usage = [u for a in catalog.apps for u in _usage(a, start, end, tz)]
    assert BATCH <= MAX_BATCH_ITEMS
    async with aiohttp.ClientSession(collector_url) as http:
        app_id, body = window
        if any(a.id == app_id for a in apps):
            async with http.post(
                f"/api/v1/apps/{app_id}/maintenance", json=body,
                headers={"Authorization": f"Bearer {admin_token}"},
            ) as resp:  # fmt: skip
                if resp.status not in (201, 409):  # 409: loaded before (DATABASE_URL kept)
                    raise RuntimeError(f"demo window: {resp.status} {await resp.text()}")
        auth = {"Authorization": f"Bearer {probe_token}"}
        for i in range(0, max(len(results), len(usage)), BATCH):
            # The same ids on every run: a database kept from a run before stores them once.
            batch_id = uuid.uuid5(uuid.NAMESPACE_URL, f"pantau-demo-{start:%Y-%m}-{i}").hex
            batch = {"probe": probe, "batch_id": batch_id,
                     "results": results[i:i + BATCH], "usage": usage[i:i + BATCH]}  # fmt: skip
            async with http.post("/api/v1/results", json=batch, headers=auth) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"demo history: {resp.status} {await resp.text()}")
    return History(month=f"{start:%Y-%m}", results=len(results), usage=len(usage))


def _window(start: dt.datetime) -> tuple[str, dict[str, object]]:
    at = WINDOW.start(start)
    return WINDOW.app, {
        "name": f"upgrade-{start:%Y-%m}",
        "title": "Server upgrade",
        "start": at.isoformat(),
        "end": (at + dt.timedelta(minutes=WINDOW.minutes)).isoformat(),
    }


def _results(app: App, start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo) -> Iterator[dict[str, object]]:  # fmt: skip
    t = start
    while t < end:
        local = t.astimezone(tz)
        failing = next((o for o in OUTAGES if o.covers(app.id, local)), None)
        slow = SLOW.covers(app.id, local)
        for spec in app.checks:
            item: dict[str, object] = {"app": app.id, "check": spec.check_name, "kind": spec.kind,
                                       "ts": t.timestamp(), "ok": True,
                                       "duration_seconds": round(0.2 + 0.1 * math.sin(t.timestamp()), 3)}  # fmt: skip
            if failing is not None:
                item.update(ok=False, reason=failing.reason, message=f"demo: {failing.reason}",
                            duration_seconds=10.0 if failing.reason == "timeout" else 0.05)  # fmt: skip
            elif slow:
                item.update(ok=False, reason="latency", duration_seconds=2.4)
            yield item
        t += STEP


def _usage(app: App, start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo) -> Iterator[dict[str, object]]:  # fmt: skip
    """Counters grow with the office day (busier on weekdays); gauges follow it."""
    for n, spec in enumerate(app.usage):
        total = 1000.0 * (n + 1)
        t = start - USAGE_STEP  # a baseline just before the month: its first day counts
        while t < end:
            local = t.astimezone(tz)
            office = 8 <= local.hour < 16 and local.weekday() < 5
            busy = (1.0 if office else 0.15) * (1 + 0.3 * math.sin(local.day))
            if spec.kind == "counter":
                total += round(40 * busy * (n + 1))
                value = total
            else:
                value = round(35 * busy, 1)
            yield {"app": app.id, "metric": spec.metric, "kind": spec.kind, "ts": t.timestamp(),
                   "value": value}  # fmt: skip
            t += USAGE_STEP
