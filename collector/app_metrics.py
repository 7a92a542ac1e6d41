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
from typing import Literal

import asyncpg

from collector.db import Conn
from collector.own_metrics import CollectorMetrics
from collector.state.machine import APP_STATES

log = logging.getLogger(__name__)

# PostgreSQL writes the exposition's lines itself, one string per family: a scrape of 10,000
# apps is about 160,000 series, and building them in Python cost about 0.6 s of CPU a refresh and
# a few hundred thousand objects whose garbage collection held the event loop up (issue 11). The
# label values are slugs and enums; they are escaped anyway, as the text format asks.


def label_text(expr: str) -> str:
    # E'' literals: the same whatever standard_conforming_strings says.
    return rf"""replace(replace(replace({expr}, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')"""


def float_text(expr: str) -> str:
    # float8's text is its shortest exact form when extra_float_digits > 0 (read_exposition sets
    # it): Python's repr, except that from 1e15 on it is written with an exponent (1e+15).
    return (
        f"CASE ({expr})::float8 WHEN 'Infinity' THEN '+Inf' WHEN '-Infinity' THEN '-Inf'"
        f" ELSE ({expr})::float8::text END"
    )


@dataclass(frozen=True)
class _Family:
    name: str  # sample name as exposed (counters: with `_total`)
    help: str
    type: Literal["gauge", "counter"]
    labels: tuple[tuple[str, str], ...]  # (label name, SQL expression)
    value: str  # SQL expression of the value's text
    source: str  # FROM ... [WHERE ...]
    order: str

    def header(self) -> bytes:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return f"# HELP {self.name} {help_text}\n# TYPE {self.name} {self.type}\n".encode()

    def sql(self) -> str:
        parts = [
            f"""'{"," if i else ""}{name}="' || {label_text(expr)} || '"'"""
            for i, (name, expr) in enumerate(self.labels)
        ]
        line = f"'{self.name}{{' || {' || '.join(parts)} || '}} ' || {self.value} || E'\\n'"
        return (
            f"SELECT convert_to(coalesce(string_agg({line}, '' ORDER BY {self.order}), ''),"
            f" 'UTF8') {self.source}"
        )


_APP = (("app", "a.id"), ("agency", "a.agency_id"))
_CHECK = (("app", "l.app_id"), ("agency", "a.agency_id"), ("zone", "l.zone"),
          ("check", "l.check_name"), ("kind", "l.kind"))  # fmt: skip
_USAGE = (("app", "u.app_id"), ("agency", "a.agency_id"), ("metric", "u.metric"))
_STATES = "FROM app_state s JOIN apps a ON a.id = s.app_id"
_CHECKS = "FROM check_latest l JOIN apps a ON a.id = l.app_id"
_CHECK_ORDER = "l.app_id, l.zone, l.check_name"
_USAGES = "FROM usage_latest u JOIN apps a ON a.id = u.app_id"
_STATE_NAMES = ", ".join(f"'{name}'" for name in APP_STATES)  # fixed words, in their order


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN '1' ELSE '0' END"


# No owner labels: owners' names and contacts are personal data, and /metrics is read by anyone
# who can reach it. Alerts route on agency and managed_by.
FAMILIES = (
    _Family(
        "pantau_app_info",
        "Catalogue labels of each registered application (value 1); severity follows criticality.",
        "gauge",
        (*_APP, ("managed_by", "a.managed_by"), ("category", "coalesce(a.category, '')"),
         ("lifecycle", "a.lifecycle"), ("criticality", "a.criticality"),
         ("severity", "CASE a.criticality WHEN 'high' THEN 'critical'"
                      " WHEN 'medium' THEN 'warning' ELSE 'info' END")),
        "'1'", "FROM apps a", "a.id",
    ),
    _Family(
        "pantau_app_state",
        "1 for the app's current state (up, down, degraded, maintenance, unknown).",
        "gauge", (*_APP, ("state", "n.state")), _flag("s.state = n.state"),
        f"{_STATES} CROSS JOIN unnest(ARRAY[{_STATE_NAMES}]) WITH ORDINALITY AS n(state, k)", "a.id, n.k",
    ),
    _Family(
        "pantau_app_up",
        "1 when the app answers (up or degraded), 0 when down after the thresholds and quorum;"
        " absent in maintenance and unknown.",
        "gauge", _APP, _flag("s.state <> 'down'"),
        f"{_STATES} WHERE s.state IN ('up', 'degraded', 'down')", "a.id",
    ),
    _Family(
        "pantau_app_zone_up",
        "pantau_app_up as seen from one zone (thresholds applied per zone).",
        "gauge", (*_APP, ("zone", "z.zone")), _flag("z.state <> 'down'"),
        "FROM app_zone_state z JOIN apps a ON a.id = z.app_id WHERE z.state <> 'unknown'",
        "a.id, z.zone",
    ),
    _Family(
        "pantau_app_incident_open", "1 while an incident is open.", "gauge", _APP,
        _flag("EXISTS (SELECT 1 FROM incidents i WHERE i.app_id = a.id AND i.ended_at IS NULL)"),
        _STATES, "a.id",
    ),
    _Family(
        "pantau_app_in_maintenance", "1 during a maintenance window.", "gauge", _APP,
        _flag("s.state = 'maintenance'"), _STATES, "a.id",
    ),
    _Family(
        "pantau_app_check_success", "1 when the check's latest result passed.", "gauge", _CHECK,
        _flag("l.ok"), _CHECKS, _CHECK_ORDER,
    ),
    _Family(
        "pantau_app_check_duration_seconds", "Duration of the latest check.", "gauge", _CHECK,
        float_text("l.duration_seconds"), _CHECKS, _CHECK_ORDER,
    ),
    _Family(
        "pantau_app_http_status_code", "HTTP status of the latest http check.", "gauge", _CHECK,
        "l.status_code::text", f"{_CHECKS} WHERE l.status_code IS NOT NULL", _CHECK_ORDER,
    ),
    _Family(
        "pantau_app_last_check_timestamp_seconds",
        "When the latest result of the check was taken.", "gauge", _CHECK,
        float_text("extract(epoch FROM l.ts)"), _CHECKS, _CHECK_ORDER,
    ),
    _Family(
        "pantau_app_tls_cert_expiry_timestamp_seconds",
        "notAfter of the certificate the check saw.", "gauge", _CHECK,
        float_text("extract(epoch FROM l.tls_expiry)"), f"{_CHECKS} WHERE l.tls_expiry IS NOT NULL",
        _CHECK_ORDER,
    ),
    _Family(
        "pantau_app_usage_total",
        "Cumulative usage counters (logins, transactions, ...), carried over resets.",
        "counter", _USAGE, float_text("coalesce(u.total, u.value)"),
        f"{_USAGES} WHERE u.kind = 'counter'", "u.app_id, u.metric",
    ),
    _Family(
        "pantau_app_usage", "Usage levels (active users, ...) as last read.", "gauge", _USAGE,
        float_text("u.value"), f"{_USAGES} WHERE u.kind <> 'counter'", "u.app_id, u.metric",
    ),
    _Family(
        "pantau_probe_last_seen_timestamp_seconds", "When the probe last delivered a batch.",
        "gauge", (("probe", "p.name"), ("zone", "p.zone")),
        float_text("extract(epoch FROM p.last_seen)"), "FROM probes p", "p.name, p.zone",
    ),
)  # fmt: skip
_QUERIES = tuple(f.sql() for f in FAMILIES)


@dataclass(frozen=True)
class Snapshot:
    text: bytes
    gzipped: bytes
    rendered_at: float


def make_snapshot(text: bytes) -> Snapshot:
    return Snapshot(
        text=text, gzipped=gzip.compress(text, compresslevel=5), rendered_at=time.time()
    )


async def read_exposition(conn: Conn) -> bytes:
    """The per-app families as text, in one consistent snapshot of the database."""
    parts: list[bytes] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL extra_float_digits = 1")  # a role's setting must not round
        for family, sql in zip(FAMILIES, _QUERIES, strict=True):
            parts += (family.header(), await conn.fetchval(sql))
    return b"".join(parts)


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
        async with self._pool.acquire() as conn:
            text = await read_exposition(conn)
        # Compressing 14 MB (10,000 apps) takes a tenth of a second: not on the event loop.
        self.snapshot = await asyncio.to_thread(make_snapshot, text)
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
