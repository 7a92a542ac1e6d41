"""The probe agent: targets → schedule → checks and usage reads → spool → collector."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from probe.checks import run_check
from probe.checks.base import CheckContext, tls_context
from probe.config import ProbeConfig
from probe.delivery import Shipper
from probe.gc_policy import refreeze, young_collections_for
from probe.metrics import ProbeMetrics
from probe.netguard import NetworkGuard
from probe.schedule import Job, Schedule, jobs_for
from probe.spool import Spool
from probe.targets import CollectorTargets, FileTargets, TargetsError, TargetSource
from probe.usage import read_usage
from wire.messages import CheckResult, UsageSample
from wire.specs import UsageSpec

log = logging.getLogger("pantau.probe")


def check_session(*, limit: int, guard: NetworkGuard | None = None) -> aiohttp.ClientSession:
    # force_close: every check opens a fresh connection, so it measures what a user meets.
    # The guard sees every address connected to: names through the resolver, IP literals (which
    # aiohttp does not resolve) and redirects through the socket factory. Give it the guard of
    # the CheckContext the session goes in (tcp, tls and sql read theirs from there).
    guard = guard or NetworkGuard()
    connector = aiohttp.TCPConnector(
        force_close=True,
        limit=limit,
        ttl_dns_cache=10,
        resolver=guard.resolver(),
        socket_factory=guard.socket_factory,
    )
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def check_context(
    config: ProbeConfig, *, session: aiohttp.ClientSession, env: Mapping[str, str] = os.environ,
    metrics: ProbeMetrics | None = None,
) -> CheckContext:  # fmt: skip
    return CheckContext(
        session=session,
        metrics=metrics,
        default_timeout=config.defaults.timeout_seconds,
        env=env,
        secrets=config.secret_release(),
        guard=config.network_guard(),
    )


async def apply_jobs(schedule: Schedule, jobs: dict[str, Job]) -> tuple[int, int, int]:
    """Give the schedule a new set of jobs, then freeze the heap they live in (`refreeze`)."""
    counts = await schedule.update(jobs)
    refreeze()
    return counts


class Saver(Protocol):
    async def submit(
        self, *, results: Sequence[CheckResult] = (), usage: Sequence[UsageSample] = ()
    ) -> None: ...


class JobRunner:
    """What the probe does for one scheduled job: check (or read usage), save, count.

    A check is counted once its result is saved (durable), so the counter never runs ahead of
    what a restart finds in the spool.
    """

    def __init__(self, *, ctx: CheckContext, saver: Saver, metrics: ProbeMetrics) -> None:
        self._ctx = ctx
        self._saver = saver
        self._metrics = metrics
        # Built once per agency and per (kind, outcome): both were per-check costs otherwise
        # (labels() takes a lock and builds a key on every call).
        self._agency_ctx: dict[str, CheckContext] = {}
        self._check_counters: dict[tuple[str, str], Counter] = {}

    async def __call__(self, job: Job, planned: float) -> None:
        ctx = self._ctx
        if job.agency:
            ctx = self._agency_ctx.get(job.agency) or self._agency_ctx.setdefault(
                job.agency, ctx.for_agency(job.agency)
            )
        if isinstance(job.spec, UsageSpec):
            sample = await read_one_usage(job.spec, app=job.app, ctx=ctx, metrics=self._metrics)
            if sample is not None:
                await self._saver.submit(usage=[sample])
            return
        result = await run_check(job.spec, app=job.app, ctx=ctx)
        await self._saver.submit(results=[result])
        outcome = (result.kind, "ok" if result.ok else result.reason or "error")
        child = self._check_counters.get(outcome)
        if child is None:
            child = self._check_counters[outcome] = self._metrics.checks.labels(*outcome)
        child.inc()


class Agent:
    def __init__(
        self, config: ProbeConfig, *, registry: CollectorRegistry | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:  # fmt: skip
        self.config = config
        self.metrics = ProbeMetrics(registry=registry or CollectorRegistry())
        self._env = env
        self.schedule: Schedule | None = None
        self.shipper: Shipper | None = None
        self._refreshed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        token = cfg.token()
        Path(cfg.spool.path).parent.mkdir(parents=True, exist_ok=True)
        spool = Spool.open(Path(cfg.spool.path), probe=cfg.name, max_bytes=cfg.spool.max_bytes,
                           metrics=self.metrics)  # fmt: skip
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(spool.close)
            stack.enter_context(young_collections_for(concurrency=cfg.concurrency))
            checks = await stack.enter_async_context(
                check_session(limit=cfg.concurrency, guard=cfg.network_guard())
            )
            ssl = tls_context(verify=cfg.collector.tls_verify, ca_file=cfg.collector.ca_file)
            upstream = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl, limit=4))
            )
            self.shipper = Shipper(
                spool=spool, session=upstream, collector_url=cfg.collector.url, token=token,
                metrics=self.metrics, batch_max_items=cfg.batch.max_items,
                batch_max_seconds=cfg.batch.max_seconds, backoff_max=cfg.collector.retry_max_seconds,
            )  # fmt: skip
            ctx = check_context(cfg, session=checks, env=self._env, metrics=self.metrics)
            source: TargetSource = (
                FileTargets(path=Path(cfg.targets.catalog_file), zone=cfg.zone)
                if cfg.targets.catalog_file
                else CollectorTargets(
                    session=upstream, collector_url=cfg.collector.url, token=token
                )
            )
            self.schedule = schedule = Schedule(
                runner=JobRunner(ctx=ctx, saver=self.shipper, metrics=self.metrics),
                concurrency=cfg.concurrency,
                on_lag=self.metrics.schedule_lag.observe,
                on_skip=self.metrics.jobs_skipped.inc,
            )
            # Read at scrape time: nothing to update per check.
            self.metrics.checks_in_flight.set_function(lambda: schedule.in_flight)
            self.metrics.checks_waiting.set_function(lambda: schedule.waiting)
            if cfg.metrics_listen is not None:
                runner = await self._serve_metrics(cfg.metrics_listen.host, cfg.metrics_listen.port)
                stack.push_async_callback(runner.cleanup)
            tasks = [
                asyncio.create_task(self.shipper.run(), name="shipper"),
                asyncio.create_task(self._refresh_loop(source), name="targets"),
            ]
            self.schedule.start()
            log.info(
                "probe %s watching zone %s, pushing to %s", cfg.name, cfg.zone, cfg.collector.url
            )
            try:
                await stop.wait()
            finally:
                await self.schedule.shutdown(grace=self.config.defaults.timeout_seconds)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                # Whatever is not delivered now stays in the spool for the next start.
                with contextlib.suppress(Exception):
                    await self.shipper.flush(timeout=5.0)

    async def _refresh_loop(self, source: TargetSource) -> None:
        assert self.schedule is not None
        while True:
            try:
                targets = await source.fetch()
            except TargetsError as exc:
                self.metrics.target_refreshes.labels("failed").inc()
                log.warning("target refresh failed, keeping the current schedule: %s", exc)
            else:
                if targets is None:
                    self.metrics.target_refreshes.labels("unchanged").inc()
                else:
                    self.metrics.target_refreshes.labels("changed").inc()
                    jobs = jobs_for(
                        targets.targets,
                        check_interval=self.config.defaults.interval_seconds,
                        usage_interval=self.config.defaults.usage_interval_seconds,
                    )
                    added, changed, removed = await apply_jobs(self.schedule, jobs)
                    self.metrics.targets.set(len(targets.targets))
                    log.info("targets %s: %d apps, jobs +%d ~%d -%d", targets.version,
                             len(targets.targets), added, changed, removed)  # fmt: skip
                self._refreshed.set()
            await asyncio.sleep(self.config.targets.refresh_seconds)

    async def wait_refreshed(self) -> None:
        await self._refreshed.wait()

    async def _serve_metrics(self, host: str, port: int) -> web.AppRunner:
        async def metrics(request: web.Request) -> web.Response:
            body = generate_latest(self.metrics.registry)
            return web.Response(
                body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
            )

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("probe metrics on http://%s:%d/metrics", host, runner.addresses[0][1])
        return runner


async def read_one_usage(
    spec: UsageSpec, *, app: str, ctx: CheckContext, metrics: ProbeMetrics
) -> UsageSample | None:
    source = str(type(spec.source).__struct_config__.tag)
    reading = await read_usage(spec, app=app, ctx=ctx)
    metrics.usage_reads.labels(
        source, "ok" if reading.value is not None else reading.reason or "error"
    ).inc()
    if reading.value is None:
        log.info("usage %s/%s not read: %s: %s", app, spec.metric, reading.reason, reading.message)
        return None
    return UsageSample(
        app=app, metric=spec.metric, kind=spec.kind, ts=reading.ts, value=reading.value
    )


async def run_demo_probe(*, collector_url: str, token: str, zone: str, spool_dir: Path) -> None:
    """The probe of `make run`: short intervals so the demo moves."""
    import msgspec

    env_name = "PANTAU_DEMO_PROBE_TOKEN"
    os.environ[env_name] = token
    config = msgspec.convert(
        {
            "collector": {"url": collector_url, "token_env": env_name},
            "zone": zone,
            "name": "probe-demo",
            "defaults": {
                "interval_seconds": 15,
                "timeout_seconds": 5,
                "usage_interval_seconds": 30,
            },
            "targets": {"refresh_seconds": 15},
            "spool": {"path": str(spool_dir / "spool.db")},
            "batch": {"max_seconds": 2},
        },
        ProbeConfig,
    )
    stop = asyncio.Event()
    try:
        await Agent(config).run(stop)
    finally:
        stop.set()
