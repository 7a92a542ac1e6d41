"""Storing a probe's batch: validated whole, one transaction, one COPY.

The results are staged by one binary COPY; SQL then stores the raw rows, advances each check's
state (collector/state/record.py) and marks the rollup dirty from the stage, so the collector
does no per-result work beyond decoding and validating (issue 11).

A batch id is stored with the rows in the same transaction, so a retried batch is acknowledged
again but stored once, and an acknowledgement always means the rows are committed. Batch ids are
scoped to the sending token's zone and probe name, with a hash of the content: the same id with
other content is refused, never silently dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from collector import db
from collector.catalog import store
from collector.db import Conn
from collector.state.machine import Thresholds
from collector.state.record import STAGE, record_results, stage_results
from wire.messages import BatchAck, CheckResult, ResultBatch, UsageSample

UTC = dt.UTC
log = logging.getLogger(__name__)
MAX_FUTURE_SECONDS = 300.0  # a probe clock a little ahead is fine; a day ahead is a bug


class BatchRejected(Exception):
    """The batch is invalid as a whole; `field` is the path of the first bad item."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BatchConflict(BatchRejected):
    """The batch id was stored before with other content: not a retry, and not stored."""


def content_hash(batch: ResultBatch) -> bytes:
    """SHA-256 of the batch re-encoded: the same content hashes the same however it was sent
    (gzip or not, spacing, key order)."""
    return hashlib.sha256(msgspec.json.encode(batch)).digest()


@dataclass(frozen=True, kw_only=True)
class IngestPolicy:
    max_age_seconds: float = 90 * 86_400  # older results would land in dropped partitions
    thresholds: Thresholds = field(default_factory=Thresholds)


class PartitionCache:
    """Months whose partitions are known to exist, so ingest checks the catalog once a month."""

    def __init__(self) -> None:
        self._months: set[dt.date] = set()

    async def ensure(self, pool: asyncpg.Pool, stamps: Iterable[float]) -> None:
        stamps = list(stamps)
        if not stamps:
            return
        first = db.month_start(dt.datetime.fromtimestamp(min(stamps), UTC))
        last = db.month_start(dt.datetime.fromtimestamp(max(stamps), UTC))
        months = {first}
        while (month := db.add_months(max(months), 1)) <= last:
            months.add(month)
        missing = months - self._months
        if not missing:
            return
        async with pool.acquire() as conn:
            for month in sorted(missing):
                # Another replica may create it at the same moment.
                with contextlib.suppress(asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                    await db.ensure_partition(conn, month)
        self._months |= missing


def _items(batch: ResultBatch) -> Iterator[tuple[str, CheckResult | UsageSample, int]]:
    """Every item with its list's name and index, for error paths like `$.results[3]`."""
    for i, result in enumerate(batch.results):
        yield "results", result, i
    for i, sample in enumerate(batch.usage):
        yield "usage", sample, i


def _check_times(batch: ResultBatch, policy: IngestPolicy, now: float) -> None:
    oldest = now - policy.max_age_seconds
    newest = now + MAX_FUTURE_SECONDS
    for label, item, i in _items(batch):
        if not oldest <= item.ts <= newest:
            raise BatchRejected(
                f"timestamp {item.ts} is outside the accepted window"
                f" ({policy.max_age_seconds:.0f} s back, {MAX_FUTURE_SECONDS:.0f} s ahead);"
                " check the probe's clock",
                field=f"$.{label}[{i}].ts",
            )


OwnThresholds = dict[str, tuple[int | None, int | None]]  # app -> its own (failure, success)


class ZoneApps:
    """The apps each zone watches, and those of them with thresholds of their own, as of a
    catalogue version. Every catalogue write bumps catalog_version in its transaction (probes'
    target lists rely on it too), so a batch reads the version and reloads its zone's apps only
    when it has moved, instead of looking up every result's app."""

    def __init__(self) -> None:
        self._zones: dict[str, tuple[int, frozenset[str], OwnThresholds]] = {}

    async def get(self, conn: Conn, zone: str) -> tuple[frozenset[str], OwnThresholds]:
        version = await store.catalog_version(conn)
        cached = self._zones.get(zone)
        if cached is None or cached[0] != version:
            # Read after the version: a catalogue change in between is seen early, never missed.
            rows = await db.fetch_chunked(
                conn,
                "SELECT id, failure_threshold, success_threshold FROM apps WHERE $1 = ANY (zones)",
                zone,
            )
            own = {r["id"]: (r["failure_threshold"], r["success_threshold"]) for r in rows
                   if r["failure_threshold"] is not None or r["success_threshold"] is not None}  # fmt: skip
            cached = (version, frozenset(r["id"] for r in rows), own)
            self._zones[zone] = cached
        return cached[1], cached[2]


async def _watched(
    conn: Conn, batch: ResultBatch, zone: str, zone_apps: ZoneApps
) -> tuple[list[CheckResult], list[UsageSample], OwnThresholds]:
    """The items of the batch the probe's zone may send, and the thresholds of the apps of
    the results that have thresholds of their own.

    Results count for apps the zone watches. Usage samples count only as the probe pulls them:
    for a metric the app declares with a pulled (not `push`) source, as the declared kind, from
    the app's first zone (the only one given its usage). A push metric is the app token's alone.
    Other items are dropped, not refused: an app deleted or moved to another zone while the probe
    still had results for it must not cost the rest of the batch.
    """
    watched, zone_own = await zone_apps.get(conn, zone)
    names = {r.app for r in batch.results}
    unwatched = names - watched
    own = {a: zone_own[a] for a in names & zone_own.keys()} if zone_own else {}
    results = [r for r in batch.results if r.app not in unwatched] if unwatched else batch.results
    pulled: set[tuple[str, str, str]] = set()
    if batch.usage:
        # The names travel as one string (slugs hold no commas): cheaper to encode than an array.
        rows = await conn.fetch(
            "SELECT id, ARRAY(SELECT jsonb_build_array(u ->> 'metric', u ->> 'kind')::text"
            "  FROM jsonb_array_elements(usage) AS u"
            "  WHERE u -> 'source' ->> 'type' IS DISTINCT FROM 'push') AS pulled"
            " FROM apps WHERE id = ANY (string_to_array($1, ',')) AND zones[1] = $2",
            ",".join({u.app for u in batch.usage}),
            zone,
        )
        pulled = {(r["id"], *msgspec.json.decode(item)) for r in rows for item in r["pulled"]}
    usage = [u for u in batch.usage if (u.app, u.metric, u.kind) in pulled]
    if unwatched:
        log.warning(
            "batch %s of probe %s: dropped results for apps zone %s does not watch: %s",
            batch.batch_id, batch.probe, zone, ", ".join(sorted(unwatched)),
        )  # fmt: skip
    if len(usage) < len(batch.usage):
        log.warning(
            "batch %s of probe %s: dropped usage that zone %s does not pull: %s",
            batch.batch_id, batch.probe, zone,
            ", ".join(sorted({f"{u.app}/{u.metric} ({u.kind})" for u in batch.usage
                              if (u.app, u.metric, u.kind) not in pulled})),
        )  # fmt: skip
    return results, usage, own


def _ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, UTC)


def _repeats(results: Sequence[CheckResult]) -> bool:
    """Whether a check has more than one result in the batch."""
    apps = {r.app for r in results}
    # A probe's batch holds each app's check once: one cheap set tells, most of the time.
    return len(apps) < len(results) and len({(r.app, r.check) for r in results}) < len(results)


_STORE_RESULTS = (
    "INSERT INTO check_results (ts, app_id, check_name, kind, zone, probe, ok, reason, message,"
    " duration_seconds, status_code, tls_expiry, attempts)"
    " SELECT pantau_unix_ts(ts), app_id, check_name, kind, $1, $2, ok, reason, message,"
    f" duration_seconds, status_code, pantau_unix_ts(tls_expiry), attempts FROM {STAGE}"
)
_USAGE_COLUMNS = ("ts", "app_id", "metric", "kind", "zone", "source", "value", "total")


async def store_usage(
    conn: Conn, samples: Sequence[UsageSample], *, zone: str, source: str
) -> None:
    """Store usage samples; counters get a running `total` that never goes backwards.

    A counter that reads lower than before was reset (the app restarted): the new reading is
    all new usage. Samples older than the latest one are stored without a total.
    """
    if not samples:
        return
    keys = sorted({(s.app, s.metric) for s in samples})
    rows = await conn.fetch(
        "SELECT app_id, metric, ts, value, total FROM usage_latest"
        " WHERE (app_id, metric) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        " FOR UPDATE",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    state: dict[tuple[str, str], tuple[dt.datetime, float, float | None]] = {
        (r["app_id"], r["metric"]): (r["ts"], r["value"], r["total"]) for r in rows
    }
    records: list[tuple[Any, ...]] = []
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for s in sorted(samples, key=lambda s: s.ts):
        key = (s.app, s.metric)
        ts = _ts(s.ts)
        prev = state.get(key)
        total: float | None = None
        if prev is None or prev[0] <= ts:
            if s.kind == "counter":
                if prev is None or prev[2] is None:
                    total = s.value
                else:
                    grew = s.value - prev[1] if s.value >= prev[1] else s.value
                    total = prev[2] + grew
            state[key] = (ts, s.value, total)
            latest[key] = (s.app, s.metric, s.kind, ts, s.value, total)
        records.append((ts, s.app, s.metric, s.kind, zone, source, s.value, total))
    await conn.copy_records_to_table("usage_samples", records=records, columns=_USAGE_COLUMNS)
    await conn.executemany(
        "INSERT INTO usage_latest (app_id, metric, kind, ts, value, total)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (app_id, metric) DO UPDATE SET kind = EXCLUDED.kind, ts = EXCLUDED.ts,"
        " value = EXCLUDED.value, total = EXCLUDED.total",
        list(latest.values()),
    )


# The earliest new item of each app; results from the stage, usage from the arguments.
_MARK_DIRTY = (
    "INSERT INTO rollup_progress (app_id, dirty_since)"
    " SELECT app_id, pantau_unix_ts(min(ts)) FROM ({items}) AS items"
    " GROUP BY app_id ORDER BY app_id"
    " ON CONFLICT (app_id) DO UPDATE"
    " SET dirty_since = least(rollup_progress.dirty_since, EXCLUDED.dirty_since)"
    " WHERE EXCLUDED.dirty_since < rollup_progress.rolled_until"
)
_ITEMS = "SELECT * FROM unnest($1::text[], $2::float8[]) AS u (app_id, ts)"
_MARK_DIRTY_USAGE = _MARK_DIRTY.format(items=_ITEMS)
_MARK_DIRTY_STAGED = _MARK_DIRTY.format(items=f"SELECT app_id, ts FROM {STAGE} UNION ALL {_ITEMS}")


async def mark_dirty(conn: Conn, usage: Sequence[UsageSample], *, staged: bool) -> None:
    """Results older than an app's rolled-up hours make the rollup job recompute from there.

    The apps' rows are locked (even those left as they are), in app order: the rollup reads
    them FOR UPDATE, so a batch it would miss waits for it or makes it run again.
    """
    if not staged and not usage:
        return
    await conn.execute(
        _MARK_DIRTY_STAGED if staged else _MARK_DIRTY_USAGE,
        [u.app for u in usage], [u.ts for u in usage],
    )  # fmt: skip


async def _seen_probe(conn: Conn, *, zone: str, probe: str) -> None:
    first = await conn.fetchval(
        "INSERT INTO probes (zone, name) VALUES ($1, $2)"
        " ON CONFLICT (zone, name) DO UPDATE SET last_seen = now() RETURNING xmax = 0",
        zone, probe,
    )  # fmt: skip
    if first:
        others = await conn.fetch(
            "SELECT zone FROM probes WHERE name = $1 AND zone <> $2 ORDER BY zone", probe, zone
        )
        if others:  # legal (names are per zone), but likely a copied probe.yaml or an impostor
            log.warning(
                "probe name %r, new in zone %s, is also used in zone(s) %s: give each probe its"
                " own `name` in probe.yaml",
                probe, zone, ", ".join(r["zone"] for r in others),
            )  # fmt: skip


class Ingestor:
    def __init__(self, pool: asyncpg.Pool, *, policy: IngestPolicy = IngestPolicy()) -> None:
        self._pool = pool
        self._policy = policy
        self._partitions = PartitionCache()
        self._zone_apps = ZoneApps()

    async def store_batch(self, batch: ResultBatch, *, zone: str) -> BatchAck:
        """Store the batch for the probe `batch.probe` of `zone` (the sending token's zone).

        A probe is its zone and name, and batch ids are scoped to it: a token of another zone
        that names this probe or reuses its batch ids touches nothing of it.
        """
        _check_times(batch, self._policy, time.time())
        digest = content_hash(batch)
        stamps = [r.ts for r in batch.results] + [u.ts for u in batch.usage]
        await self._partitions.ensure(self._pool, stamps)
        async with self._pool.acquire() as conn, conn.transaction():
            await _seen_probe(conn, zone=zone, probe=batch.probe)
            results, usage, own = await _watched(conn, batch, zone, self._zone_apps)
            dropped = len(batch.results) + len(batch.usage) - len(results) - len(usage)
            new = await conn.fetchval(
                "INSERT INTO ingested_batches"
                " (zone, probe, batch_id, content_sha256, results, usage, dropped)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
                zone, batch.probe, batch.batch_id, digest, len(results), len(usage), dropped,
            )  # fmt: skip
            if not new:  # stored before: acknowledge what was stored then, if it is the same
                row = await conn.fetchrow(
                    "SELECT results, usage, dropped, content_sha256 FROM ingested_batches"
                    " WHERE zone = $1 AND probe = $2 AND batch_id = $3",
                    zone, batch.probe, batch.batch_id,
                )  # fmt: skip
                assert row is not None
                # Batches stored before migration 0004 have no hash: taken as retries.
                if row["content_sha256"] is not None and row["content_sha256"] != digest:
                    raise BatchConflict(
                        f"batch {batch.batch_id!r} of probe {batch.probe!r} was stored before"
                        " with different content; a retry must resend the same batch, and new"
                        " results need a new batch id",
                        field="$.batch_id",
                    )
                return BatchAck(batch_id=batch.batch_id, duplicate=True, results=row["results"],
                                usage=row["usage"], dropped=row["dropped"])  # fmt: skip
            if results:
                # Staged once; SQL stores the raw rows and advances the checks' states from it.
                await stage_results(conn, results)
                await conn.execute(_STORE_RESULTS, zone, batch.probe)
                repeats = _repeats(results)
                await record_results(conn, zone=zone, probe=batch.probe, repeats=repeats,
                                     defaults=self._policy.thresholds, own=own)  # fmt: skip
            await store_usage(conn, usage, zone=zone, source=batch.probe)
            await mark_dirty(conn, usage, staged=bool(results))
        return BatchAck(batch_id=batch.batch_id, duplicate=False, results=len(results), usage=len(usage),
                        dropped=dropped)  # fmt: skip

    async def store_pushed(self, sample: UsageSample) -> None:
        await self._partitions.ensure(self._pool, [sample.ts])
        async with self._pool.acquire() as conn, conn.transaction():
            await store_usage(conn, [sample], zone="push", source="push")
            await mark_dirty(conn, [sample], staged=False)
