"""Ingest keeps each check's latest result and counters exactly as the Python state machine does.

Random batches (fixed seeds) go through the real Ingestor into PostgreSQL; after every batch the
tables are compared with a replay of the same batches in Python (`machine.observe`, applied in
time order per check, results older than the check's latest skipped): check_latest row for row
(latest result, state, counters, since), the raw rows, the rollup's dirty marks and the batch
bookkeeping. The batches mix answers, failures, warnings (latency, expiring), odd combinations
the wire allows (ok with a reason, a failure without one), several results per check, exact
duplicates and equal timestamps within a batch, results older than the check's latest, results
for apps the zone does not watch, retried batches, two zones and per-app thresholds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import pytest

from collector.catalog import sync
from collector.ingest import Ingestor, IngestPolicy
from collector.state.machine import CheckState, Thresholds, observe
from tests.collector.conftest import TEST_ACTOR
from wire.catalog import Catalog
from wire.messages import CheckResult, ResultBatch, UsageSample

UTC = dt.UTC
DEFAULTS = Thresholds(failure=4, success=2)  # not the built-in defaults: they must come through
# app -> (zones, failure_threshold, success_threshold)
APPS: dict[str, tuple[list[str], int | None, int | None]] = {
    "a-default": (["z1", "z2"], None, None),
    "a-quick": (["z1", "z2"], 1, 1),
    "a-slow": (["z1"], 5, 3),
    "a-fail2": (["z1", "z2"], 2, None),
    "a-z2only": (["z2"], None, 4),
}
CHECKS = ("http", "tls", "dns")
REASONS = ("timeout", "connect", "status", "tls", "latency", "expiring", "dns", "error")
USAGE_APP = "a-default"  # pulls `visits` from its first zone, z1


def catalog() -> Catalog:
    apps: list[dict[str, Any]] = []
    for app_id, (zones, fail, succ) in APPS.items():
        app: dict[str, Any] = {
            "id": app_id, "name": app_id, "agency": "ag", "managed_by": "self",
            "zones": zones, "checks": [{"type": "tcp", "host": "10.0.0.5", "port": 443}],
        }  # fmt: skip
        if fail is not None:
            app["failure_threshold"] = fail
        if succ is not None:
            app["success_threshold"] = succ
        if app_id == USAGE_APP:
            app["usage"] = [{"metric": "visits", "kind": "counter", "source": {
                "type": "sql", "driver": "mysql", "dsn_env": "PANTAU_SECRET_AG_DSN",
                "query": "SELECT count(*) FROM visits"}}]  # fmt: skip
        apps.append(app)
    return msgspec.convert({"agencies": [{"id": "ag", "name": "Agency"}], "apps": apps}, Catalog)


def ts_of(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, UTC)


@dataclass
class Model:
    """What the tables must hold: the Python state machine replaying the stored results."""

    latest: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    states: dict[tuple[str, str, str], CheckState] = field(default_factory=dict)
    raw: list[tuple[Any, ...]] = field(default_factory=list)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)  # rollup_progress
    batches: dict[tuple[str, str, str], tuple[int, int, int]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # what the random batches exercised

    def store(self, batch: ResultBatch, zone: str) -> tuple[int, int, int]:
        key = (zone, batch.probe, batch.batch_id)
        if key in self.batches:
            return self.batches[key]
        results = [r for r in batch.results if zone in APPS.get(r.app, ([], 0, 0))[0]]
        pulled = zone == APPS[USAGE_APP][0][0]
        usage = [u for u in batch.usage if pulled and u.app == USAGE_APP]
        for r in results:
            self.raw.append(raw_row(r, zone, batch.probe))
        before = dict(self.states)
        once = len({(r.app, r.check) for r in results}) == len(results)
        self.seen.add("each check once" if once else "a check several times")
        for r in sorted(results, key=lambda r: r.ts):  # stable: equal times keep batch order
            k = (r.app, zone, r.check)
            prev = self.states.get(k)
            if k in before and ts_of(r.ts) == before[k].last_ts:
                self.seen.add("same time as stored")
            if prev is not None and ts_of(r.ts) < prev.last_ts:
                self.seen.add("late")
                continue  # older than the check's latest: stored, but the check has moved on
            _, fail, succ = APPS[r.app]
            th = Thresholds(failure=fail or DEFAULTS.failure, success=succ or DEFAULTS.success)
            state = observe(prev, ok=r.ok, reason=r.reason, ts=ts_of(r.ts), thresholds=th)
            self.states[k] = state
            self.seen.add(state.state)
            if prev is not None and prev.last_ts == state.last_ts:
                self.seen.add("same time")
            self.latest[k] = {
                **dict(zip(RAW_COLUMNS, raw_row(r, zone, batch.probe), strict=True)),
                "state": state.state, "failures": state.failures,
                "successes": state.successes, "since": state.since,
            }  # fmt: skip
            del self.latest[k]["attempts"]
        earliest: dict[str, float] = {}
        items: list[CheckResult | UsageSample] = [*results, *usage]
        for item in items:
            earliest[item.app] = min(item.ts, earliest.get(item.app, item.ts))
        for app_id, first in earliest.items():
            row = self.progress.get(app_id)
            if row is None:
                self.progress[app_id] = {"rolled_until": None, "dirty_since": ts_of(first)}
            elif row["rolled_until"] is not None and ts_of(first) < row["rolled_until"]:
                old = row["dirty_since"]
                row["dirty_since"] = ts_of(first) if old is None else min(old, ts_of(first))
        dropped = len(batch.results) + len(batch.usage) - len(results) - len(usage)
        self.batches[key] = (len(results), len(usage), dropped)
        return self.batches[key]


RAW_COLUMNS = (
    "ts", "app_id", "check_name", "kind", "zone", "probe", "ok", "reason", "message",
    "duration_seconds", "status_code", "tls_expiry", "attempts",
)  # fmt: skip


def raw_row(r: CheckResult, zone: str, probe: str) -> tuple[Any, ...]:
    return (
        ts_of(r.ts), r.app, r.check, r.kind, zone, probe, r.ok, r.reason, r.message,
        r.duration_seconds, r.status_code, None if r.tls_expiry is None else ts_of(r.tls_expiry),
        r.attempts,
    )  # fmt: skip


class Generator:
    def __init__(self, seed: int, start: float) -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.n = 0
        self.history: list[CheckResult] = []

    def result(self, app: str, check: str, ts: float) -> CheckResult:
        rng = self.rng
        roll = rng.random()
        ok = roll < 0.45
        reason: str | None = None if ok else rng.choice(REASONS)
        if rng.random() < 0.04:  # what the wire allows but a probe should not send
            reason = rng.choice([*REASONS, None]) if ok else None
        return CheckResult(
            app=app, check=check, kind=rng.choice(["http", "tls", "tcp"]), ts=ts, ok=ok,
            reason=reason,  # type: ignore[arg-type]
            message=rng.choice([None, "unexpected status 503", "no answer within 10 s", "ünïcode ✓"]),
            duration_seconds=rng.choice([0.0, 10.0, rng.random() * 3]),
            status_code=rng.choice([None, 200, 503]),
            tls_expiry=rng.choice([None, ts + rng.random() * 90 * 86_400]),
            attempts=rng.randint(1, 3),
        )  # fmt: skip

    def item(self, app: str, check: str, items: list[CheckResult]) -> CheckResult:
        rng = self.rng
        shape = rng.random()
        if shape < 0.1:  # sent again (in this batch, or in a later one)
            same = [i for i in [*self.history[-60:], *items] if (i.app, i.check) == (app, check)]
            if same:
                return rng.choice(same)
        if items and shape < 0.2:  # the same time as another result of the batch
            ts = rng.choice(items).ts
        elif shape < 0.3:  # late: older than what the check has seen
            ts = self.clock - rng.random() * 3600
        else:
            ts = self.clock + rng.random() * 120
        return self.result(app, check, ts)

    def batch(self, probe: str) -> ResultBatch:
        rng = self.rng
        self.clock += rng.choice([0.0, 1.0, 30.0, 60.0 + rng.random()])
        keys = [(a, c) for a in [*APPS, "gone"] for c in CHECKS]
        items: list[CheckResult] = []
        if rng.random() < 0.4:  # each check once, as a probe sends while it keeps up
            for app, check in rng.sample(keys, rng.randint(1, len(keys))):
                items.append(self.item(app, check, items))
        else:  # a few checks, several results each, as a probe catching up sends
            chosen = rng.sample(keys, rng.randint(1, 6))
            for _ in range(rng.randint(1, 30)):
                items.append(self.item(*rng.choice(chosen), items))
        usage = []
        if rng.random() < 0.2:
            usage.append(UsageSample(app=USAGE_APP, metric="visits", kind="counter",
                                     ts=self.clock - rng.random() * 7200, value=float(self.n)))  # fmt: skip
        self.n += 1
        self.history += items
        return ResultBatch(probe=probe, batch_id=f"{probe}-{self.n}", results=items, usage=usage)


async def table(conn: asyncpg.Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql)]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_ingest_keeps_the_state_machines_counters_and_latest_results(
    fresh_db: str, seed: int
) -> None:
    start = time.time() - 5 * 86_400
    conn = await asyncpg.connect(fresh_db)
    pool = await asyncpg.create_pool(fresh_db, min_size=1, max_size=2)
    try:
        await sync.apply(conn, catalog(), source="test", actor=TEST_ACTOR)
        model = Model()
        # Some apps were rolled up before: late results must mark them dirty, others not.
        for app_id, hours in (("a-quick", 2), ("a-slow", 30)):
            rolled = ts_of(start) + dt.timedelta(hours=hours)
            await conn.execute(
                "INSERT INTO rollup_progress (app_id, rolled_until) VALUES ($1, $2)",
                app_id, rolled,
            )  # fmt: skip
            model.progress[app_id] = {"rolled_until": rolled, "dirty_since": None}
        ingestor = Ingestor(pool, policy=IngestPolicy(thresholds=DEFAULTS))
        gen = Generator(seed, start)
        sent: list[tuple[ResultBatch, str]] = []
        for _ in range(70):
            if sent and gen.rng.random() < 0.05:
                batch, zone = gen.rng.choice(sent)  # a retry: acknowledged, stored once
            else:
                zone = gen.rng.choice(["z1", "z2"])
                batch = gen.batch(f"probe-{zone}-{gen.rng.randint(1, 2)}")
                sent.append((batch, zone))
            ack = await ingestor.store_batch(batch, zone=zone)
            assert (ack.results, ack.usage, ack.dropped) == model.store(batch, zone)
            got = await table(conn, "SELECT * FROM check_latest ORDER BY app_id, zone, check_name")
            want = [model.latest[k] for k in sorted(model.latest)]
            assert got == want, f"check_latest after batch {batch.batch_id}"
        raw = await table(conn, f"SELECT {', '.join(RAW_COLUMNS)} FROM check_results")
        assert Counter(tuple(r.values()) for r in raw) == Counter(model.raw)
        progress = await table(
            conn, "SELECT app_id, rolled_until, dirty_since FROM rollup_progress"
        )
        assert {r.pop("app_id"): r for r in progress} == model.progress
        stored = await table(conn, "SELECT zone, probe, batch_id, results, usage, dropped"
                                   " FROM ingested_batches")  # fmt: skip
        assert {(r["zone"], r["probe"], r["batch_id"]): (r["results"], r["usage"], r["dropped"])
                for r in stored} == model.batches  # fmt: skip
        assert model.seen >= {
            "up",
            "down",
            "degraded",
            "unknown",
            "late",
            "same time",
            "same time as stored",
        }
    finally:
        await pool.close()
        await conn.close()


async def test_unix_seconds_become_the_instants_python_makes_of_them(fresh_db: str) -> None:
    """Staged rows carry the probe's float; SQL must round it to the microsecond exactly as
    datetime.fromtimestamp does (to_timestamp alone is off by one now and then)."""
    rng = random.Random(11)
    values = [946_684_800.0, 4_102_444_800.0, 1_700_000_000.0000005, 1_700_000_000.9999995]
    values += [time.time() + rng.uniform(-90 * 86_400, 300) for _ in range(20_000)]
    for _ in range(5_000):  # around the half microseconds, where the two roundings part
        half = rng.randint(1_600_000_000, 1_900_000_000) + (rng.randrange(1_000_000) + 0.5) / 1e6
        values += [half, math.nextafter(half, 0), math.nextafter(half, math.inf)]
    conn = await asyncpg.connect(fresh_db)
    try:
        rows = await conn.fetch(
            "SELECT pantau_unix_ts(x) AS ours, to_timestamp(x) AS plain"
            " FROM unnest($1::float8[]) WITH ORDINALITY AS u(x, i) ORDER BY i",
            values,
        )
    finally:
        await conn.close()
    want = [ts_of(v) for v in values]
    assert [r["ours"] for r in rows] == want
    assert [r["plain"] for r in rows] != want  # the case this function exists for


async def test_concurrent_batches_of_the_same_checks_neither_deadlock_nor_lose_a_result(
    fresh_db: str,
) -> None:
    """Several probes of a zone send the same checks at once, each batch in its own order (one
    result a check, or several), the first for checks not seen before: every batch is stored,
    and every result is counted once.
    All carry the same time, so none is skipped as older than the check's latest whatever the
    order of the commits: each check must count every failure."""
    conn = await asyncpg.connect(fresh_db)
    pool = await asyncpg.create_pool(fresh_db, min_size=4, max_size=4)
    try:
        await sync.apply(conn, catalog(), source="test", actor=TEST_ACTOR)
        ingestor = Ingestor(pool, policy=IngestPolicy(thresholds=DEFAULTS))
        rng = random.Random(5)
        keys = [(a, c) for a, (zones, _, _) in APPS.items() if "z1" in zones for c in CHECKS]
        ts = time.time() - 3600

        async def probe(p: int) -> None:
            for k in range(12):
                order = rng.sample(keys, len(keys)) * (1 + (k + p) % 2)  # every other twice
                items = [CheckResult(app=a, check=c, kind="tcp", ts=ts, ok=False, reason="connect",
                                     duration_seconds=0.1) for a, c in order]  # fmt: skip
                await ingestor.store_batch(
                    ResultBatch(probe=f"p{p}", batch_id=f"p{p}-{k}", results=items), zone="z1"
                )

        await asyncio.gather(*(probe(p) for p in range(4)))
        rows = await conn.fetch("SELECT state, failures FROM check_latest")
    finally:
        await pool.close()
        await conn.close()
    assert len(rows) == len(keys)
    assert {(r["state"], r["failures"]) for r in rows} == {("down", 4 * (6 * 1 + 6 * 2))}


async def test_a_catalogue_change_reaches_the_next_batch(fresh_db: str) -> None:
    """Ingest keeps each zone's apps per catalogue version: an app moved out of the zone, an app
    added to it and changed thresholds all count from the next batch on."""
    conn = await asyncpg.connect(fresh_db)
    pool = await asyncpg.create_pool(fresh_db, min_size=1, max_size=2)
    try:
        await sync.apply(conn, catalog(), source="test", actor=TEST_ACTOR)
        ingestor = Ingestor(pool, policy=IngestPolicy(thresholds=DEFAULTS))
        ts = time.time() - 3600

        async def send(n: int, *apps: str) -> tuple[int, int]:
            items = [CheckResult(app=a, check="http", kind="http", ts=ts + n, ok=False,
                                 reason="connect", duration_seconds=0.1) for a in apps]  # fmt: skip
            ack = await ingestor.store_batch(
                ResultBatch(probe="p", batch_id=f"b{n}", results=items), zone="z1"
            )
            return ack.results, ack.dropped

        assert await send(1, "a-default", "a-z2only") == (1, 1)
        changed = msgspec.to_builtins(catalog())
        for app in changed["apps"]:
            if app["id"] == "a-default":
                app["zones"] = ["z2"]
            if app["id"] == "a-z2only":
                app["zones"] = ["z1"]
                app["failure_threshold"] = 1
        await sync.apply(conn, msgspec.convert(changed, Catalog), source="test", actor=TEST_ACTOR)
        assert await send(2, "a-default", "a-z2only") == (1, 1)
        state = await conn.fetchval(
            "SELECT state FROM check_latest WHERE app_id = 'a-z2only' AND zone = 'z1'"
        )
        assert state == "down"  # its own failure threshold, 1, from this batch on
    finally:
        await pool.close()
        await conn.close()
