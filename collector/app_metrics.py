"""Per-app metrics: read from the latest-state tables by a background task, served ready-made.

A scrape never queries the database, and every replica renders the same values from the same
tables, so replicas behind one load balancer agree.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from dataclasses import dataclass

import asyncpg

from collector.db import fetch_chunked
from collector.exposition import Family, render
from collector.own_metrics import CollectorMetrics
from collector.state.machine import APP_STATES

log = logging.getLogger(__name__)

_INFO_SQL = """
SELECT id, agency_id, managed_by, coalesce(category, ''), lifecycle, criticality,
       CASE criticality WHEN 'high' THEN 'critical' WHEN 'medium' THEN 'warning' ELSE 'info' END
FROM apps
"""
_STATE_SQL = """
SELECT s.app_id, a.agency_id, s.state,
       EXISTS (SELECT 1 FROM incidents i WHERE i.app_id = s.app_id AND i.ended_at IS NULL) AS incident
FROM app_state s JOIN apps a ON a.id = s.app_id
ORDER BY s.app_id
"""
_ZONE_SQL = """
SELECT z.app_id, a.agency_id, z.zone, z.state
FROM app_zone_state z JOIN apps a ON a.id = z.app_id
ORDER BY z.app_id, z.zone
"""
_CHECKS_SQL = """
SELECT l.app_id, a.agency_id, l.zone, l.check_name, l.kind, l.ok, l.duration_seconds,
       l.status_code, extract(epoch FROM l.ts)::float8 AS ts,
       extract(epoch FROM l.tls_expiry)::float8 AS tls_expiry
FROM check_latest l JOIN apps a ON a.id = l.app_id
ORDER BY l.app_id, l.zone, l.check_name
"""
_USAGE_SQL = """
SELECT u.app_id, a.agency_id, u.metric, u.kind, u.value, u.total
FROM usage_latest u JOIN apps a ON a.id = u.app_id
ORDER BY u.app_id, u.metric
"""
_PROBES_SQL = "SELECT name, zone, extract(epoch FROM last_seen)::float8 FROM probes ORDER BY name"


@dataclass(frozen=True)
class Snapshot:
    text: bytes
    gzipped: bytes
    rendered_at: float


@dataclass(frozen=True)
class Rows:
    """What one refresh reads, in one consistent snapshot of the database."""

    info: list[asyncpg.Record]
    states: list[asyncpg.Record]
    zones: list[asyncpg.Record]
    checks: list[asyncpg.Record]
    usage: list[asyncpg.Record]
    probes: list[asyncpg.Record]


def _state_families(rows: Rows) -> list[Family]:
    labels = ("app", "agency")
    state = Family(
        "pantau_app_state", "1 for the app's current state (up, down, degraded, maintenance, unknown).",
        "gauge", ("app", "agency", "state"),
    )  # fmt: skip
    up = Family(
        "pantau_app_up",
        "1 when the app answers (up or degraded), 0 when down after the thresholds and quorum;"
        " absent in maintenance and unknown.",
        "gauge", labels,
    )  # fmt: skip
    incident = Family("pantau_app_incident_open", "1 while an incident is open.", "gauge", labels)
    maintenance = Family(
        "pantau_app_in_maintenance", "1 during a maintenance window.", "gauge", labels
    )
    for r in rows.states:
        key = (r["app_id"], r["agency_id"])
        for name in APP_STATES:
            state.add((*key, name), 1 if r["state"] == name else 0)
        if r["state"] in ("up", "degraded", "down"):
            up.add(key, 0 if r["state"] == "down" else 1)
        incident.add(key, 1 if r["incident"] else 0)
        maintenance.add(key, 1 if r["state"] == "maintenance" else 0)
    zone_up = Family(
        "pantau_app_zone_up", "pantau_app_up as seen from one zone (thresholds applied per zone).",
        "gauge", ("app", "agency", "zone"),
    )  # fmt: skip
    for r in rows.zones:
        if r["state"] != "unknown":
            zone_up.add((r["app_id"], r["agency_id"], r["zone"]), 0 if r["state"] == "down" else 1)
    return [state, up, zone_up, incident, maintenance]


def build_families(rows: Rows) -> list[Family]:
    # No owner labels: owners' names and contacts are personal data, and /metrics is read by
    # anyone who can reach it. Alerts route on agency and managed_by.
    app_info = Family(
        "pantau_app_info",
        "Catalogue labels of each registered application (value 1); severity follows criticality.",
        "gauge",
        ("app", "agency", "managed_by", "category", "lifecycle", "criticality", "severity"),
    )
    for row in rows.info:
        app_info.add(tuple(row), 1)

    check_labels = ("app", "agency", "zone", "check", "kind")
    success = Family(
        "pantau_app_check_success",
        "1 when the check's latest result passed.",
        "gauge",
        check_labels,
    )
    duration = Family(
        "pantau_app_check_duration_seconds", "Duration of the latest check.", "gauge", check_labels
    )
    status = Family(
        "pantau_app_http_status_code",
        "HTTP status of the latest http check.",
        "gauge",
        check_labels,
    )
    last = Family(
        "pantau_app_last_check_timestamp_seconds",
        "When the latest result of the check was taken.",
        "gauge",
        check_labels,
    )
    expiry = Family(
        "pantau_app_tls_cert_expiry_timestamp_seconds",
        "notAfter of the certificate the check saw.",
        "gauge",
        check_labels,
    )
    for r in rows.checks:
        labels = (r["app_id"], r["agency_id"], r["zone"], r["check_name"], r["kind"])
        success.add(labels, 1 if r["ok"] else 0)
        duration.add(labels, r["duration_seconds"])
        last.add(labels, r["ts"])
        if r["status_code"] is not None:
            status.add(labels, r["status_code"])
        if r["tls_expiry"] is not None:
            expiry.add(labels, r["tls_expiry"])

    usage_labels = ("app", "agency", "metric")
    usage_total = Family(
        "pantau_app_usage_total",
        "Cumulative usage counters (logins, transactions, ...), carried over resets.",
        "counter",
        usage_labels,
    )
    usage_gauge = Family(
        "pantau_app_usage", "Usage levels (active users, ...) as last read.", "gauge", usage_labels
    )
    for r in rows.usage:
        usage_key = (r["app_id"], r["agency_id"], r["metric"])
        if r["kind"] == "counter":
            usage_total.add(usage_key, r["total"] if r["total"] is not None else r["value"])
        else:
            usage_gauge.add(usage_key, r["value"])

    seen = Family(
        "pantau_probe_last_seen_timestamp_seconds",
        "When the probe last delivered a batch.",
        "gauge",
        ("probe", "zone"),
    )
    for r in rows.probes:
        seen.add((r[0], r[1]), r[2])
    return [app_info, *_state_families(rows), success, duration, status, last, expiry,
            usage_total, usage_gauge, seen]  # fmt: skip


def _snapshot(families: list[Family]) -> Snapshot:
    text = render(families)
    return Snapshot(
        text=text, gzipped=gzip.compress(text, compresslevel=5), rendered_at=time.time()
    )


class AppMetrics:
    """Holds the latest rendered snapshot; `run()` refreshes it every `interval` seconds."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        metrics: CollectorMetrics,
        interval: float,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._interval = interval
        self.snapshot = Snapshot(text=b"", gzipped=gzip.compress(b""), rendered_at=0.0)
        self._refreshed = asyncio.Event()

    async def refresh(self) -> None:
        started = time.perf_counter()
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            # In chunks: decoding 10,000 rows in one fetch would hold up the event loop.
            rows = Rows(
                info=await fetch_chunked(conn, _INFO_SQL + " ORDER BY id"),
                states=await fetch_chunked(conn, _STATE_SQL),
                zones=await fetch_chunked(conn, _ZONE_SQL),
                checks=await fetch_chunked(conn, _CHECKS_SQL),
                usage=await fetch_chunked(conn, _USAGE_SQL),
                probes=await fetch_chunked(conn, _PROBES_SQL),
            )
        # Building and rendering 10,000 apps is CPU work: keep the event loop free meanwhile.
        self.snapshot = await asyncio.to_thread(lambda: _snapshot(build_families(rows)))
        self._metrics.refresh_seconds.set(time.perf_counter() - started)
        self._metrics.refresh_timestamp.set(self.snapshot.rendered_at)
        self._refreshed.set()

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self._metrics.refresh_failures.inc()
                log.warning("metrics refresh failed, serving the previous values: %s", exc)
            await asyncio.sleep(self._interval)
