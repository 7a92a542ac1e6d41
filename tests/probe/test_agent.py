"""The probe end to end with the real collector: refresh, outage, and a SIGKILL mid-push."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
import sys
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
import yaml
from aiohttp import web

from probe.agent import Agent, apply_jobs
from probe.config import ProbeConfig
from probe.gc_policy import young_threshold
from probe.schedule import (
    BATCH_SECONDS,
    EPOCH,
    GROUP_INTERVAL_SHARE,
    GROUP_MAX_SECONDS,
    GROUP_WORKERS_SHARE,
    Job,
    Schedule,
    group_seconds,
    jobs_for,
    offset_fraction,
)
from tests.live import LiveCollector, apply_catalog, fetch, probe_token
from wire.messages import CheckResult, Target
from wire.specs import HttpCheck, PushSource, UsageSpec

ZONE = "lan"


def app(app_id: str, url: str, *, usage: bool = False) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": app_id, "name": app_id.upper(), "agency": "dinkes", "managed_by": "self",
        "zones": [ZONE], "checks": [{"type": "http", "url": f"{url}/ok"}],
    }  # fmt: skip
    if usage:
        entry["usage"] = [{"metric": "logins", "kind": "counter",
                           "source": {"type": "json", "url": f"{url}/stats", "path": "logins"}}]  # fmt: skip
    return entry


def catalog(url: str, *ids: str) -> dict[str, object]:
    return {
        "agencies": [{"id": "dinkes", "name": "Dinas Kesehatan"}],
        "apps": [app(i, url, usage=(i == "alpha")) for i in ids],
    }


@pytest.fixture
async def target() -> AsyncIterator[str]:
    """A healthy local application with a growing logins counter."""
    hits = 0

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="Kotawaringin Timur")

    async def stats(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({"logins": hits * 10})

    webapp = web.Application()
    webapp.router.add_get("/ok", ok)
    webapp.router.add_get("/stats", stats)
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def collector(fresh_db: str) -> AsyncIterator[LiveCollector]:
    live = LiveCollector(fresh_db)
    await live.start()
    yield live
    await live.stop()


def probe_config(
    collector: LiveCollector, spool: Path, token_env: str, **over: object
) -> dict[str, object]:
    return {
        "collector": {"url": collector.url, "token_env": token_env},
        "zone": ZONE,
        "name": "probe-lan-1",
        "defaults": {"interval_seconds": 1, "timeout_seconds": 2, "usage_interval_seconds": 1},
        "targets": {"refresh_seconds": 1},
        "spool": {"path": str(spool / "spool.db")},
        "batch": {"max_seconds": 0.2, "max_items": 50},
        **over,
    }


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def result_keys(dsn: str) -> list[tuple[str, str, float]]:
    rows = await fetch(
        dsn, "SELECT app_id, check_name, extract(epoch FROM ts)::float8 AS ts FROM check_results"
    )
    return [(r["app_id"], r["check_name"], round(r["ts"], 6)) for r in rows]


def test_offsets_are_stable_and_spread() -> None:
    assert offset_fraction("simpus/check/http") == offset_fraction("simpus/check/http")
    fractions = sorted(offset_fraction(f"app-{i}/check/http") for i in range(10_000))
    # Evenly spread: every tenth of the interval holds about a tenth of the jobs.
    deciles = [sum(1 for f in fractions if d / 10 <= f < (d + 1) / 10) for d in range(10)]
    assert all(900 < n < 1100 for n in deciles), deciles


def test_jobs_skip_push_sources_and_use_defaults() -> None:
    targets = [
        Target(app="a", agency="x", checks=[HttpCheck(url="http://a/"), HttpCheck(name="api", url="http://a/api", interval_seconds=5)],
               usage=[UsageSpec(metric="m", kind="gauge", source=PushSource())]),
    ]  # fmt: skip
    jobs = jobs_for(targets, check_interval=60, usage_interval=300)
    assert {j: v.interval for j, v in jobs.items()} == {"a/check/http": 60, "a/check/api": 5}


async def test_refresh_adds_and_removes_apps_without_restart(
    collector: LiveCollector, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply_catalog(collector.dsn, catalog(target, "alpha", "beta"))
    monkeypatch.setenv("PROBE_TOKEN", await probe_token(collector.dsn, ZONE))
    agent = Agent(msgspec.convert(probe_config(collector, tmp_path, "PROBE_TOKEN"), ProbeConfig))
    thresholds = gc.get_threshold()
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await agent.wait_refreshed()
        # The agent spaces young collections for its workers (probe.gc_policy) while it runs.
        assert gc.get_threshold()[0] == young_threshold(concurrency=agent.config.concurrency)
        assert agent.schedule is not None
        assert set(agent.schedule.jobs) == {
            "alpha/check/http",
            "alpha/usage/logins",
            "beta/check/http",
        }
        await apply_catalog(collector.dsn, catalog(target, "alpha", "beta", "gamma"))

        async def gamma_checked() -> bool:
            rows = await fetch(collector.dsn, "SELECT 1 FROM check_results WHERE app_id = 'gamma'")
            return bool(rows)

        await eventually(gamma_checked)
        # beta is retired: its job goes away.
        data = catalog(target, "alpha", "beta", "gamma")
        data["apps"][1]["lifecycle"] = "retired"  # type: ignore[index]
        await apply_catalog(collector.dsn, data)

        async def beta_gone() -> bool:
            return "beta/check/http" not in agent.schedule.jobs  # type: ignore[union-attr]

        await eventually(beta_gone)
        usage = await fetch(
            collector.dsn, "SELECT value, total FROM usage_samples WHERE app_id = 'alpha'"
        )
        assert usage
        assert all(r["value"] > 0 for r in usage)
    finally:
        stop.set()
        await task
    assert gc.get_threshold() == thresholds


async def test_collector_outage_loses_nothing_and_stores_nothing_twice(
    collector: LiveCollector, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await apply_catalog(collector.dsn, catalog(target, "alpha", "beta", "gamma"))
    monkeypatch.setenv("PROBE_TOKEN", await probe_token(collector.dsn, ZONE))
    agent = Agent(msgspec.convert(probe_config(collector, tmp_path, "PROBE_TOKEN"), ProbeConfig))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await agent.wait_refreshed()
        await asyncio.sleep(1.5)
        await collector.stop()
        outage_started = time.time()
        await asyncio.sleep(3)  # checks go on; results wait in the spool
        assert agent.shipper is not None
        assert (await asyncio.to_thread(agent.shipper._spool.stats)).items > 0
        await collector.start()
    finally:
        await asyncio.sleep(1.5)
        stop.set()
        await task  # stopping flushes the spool
    checks_run = sum(s.value for m in agent.metrics.registry.collect() if m.name == "pantau_probe_checks"
                     for s in m.samples if s.name.endswith("_total"))  # fmt: skip
    keys = await result_keys(collector.dsn)
    assert len(keys) == len(set(keys)), "a result was stored twice"
    assert len(keys) == checks_run
    assert any(ts > outage_started for _, _, ts in keys)
    assert any(ts < outage_started for _, _, ts in keys)
    failures = [s for m in agent.metrics.registry.collect() if m.name == "pantau_probe_push_failures"
                for s in m.samples if s.name.endswith("_total") and s.value > 0]  # fmt: skip
    assert failures, "the outage was not noticed"
    # Whether the probe keeps up shows in its own metrics (read from the schedule at scrape).
    exposed = {s.name: s.value for m in agent.metrics.registry.collect() for s in m.samples}
    assert exposed["pantau_probe_checks_in_flight"] == 0  # stopped: nothing runs
    assert exposed["pantau_probe_checks_waiting"] == 0
    assert "pantau_probe_jobs_skipped_total" in exposed
    assert exposed["pantau_probe_schedule_lag_seconds_count"] > 0


def _spooled_keys(path: Path) -> set[tuple[str, str, float]]:
    """Every check result the spool file holds, pending or sealed (read like a stranger would)."""
    import gzip

    from wire.messages import ResultBatch

    db = sqlite3.connect(path)
    try:
        keys = set()
        for kind, item in db.execute("SELECT kind, item FROM pending"):
            if kind == "result":
                r = msgspec.json.decode(item, type=CheckResult)
                keys.add((r.app, r.check, round(r.ts, 6)))
        for (body,) in db.execute("SELECT body FROM sealed"):
            batch = msgspec.json.decode(gzip.decompress(body), type=ResultBatch)
            keys |= {(r.app, r.check, round(r.ts, 6)) for r in batch.results}
        return keys
    finally:
        db.close()


async def test_sigkill_mid_push_then_restart_loses_nothing_and_doubles_nothing(
    collector: LiveCollector, target: str, tmp_path: Path
) -> None:
    # The collector commits, then is slow to answer: a kill lands between commit and ack.
    @web.middleware
    async def slow_ack(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resp = await handler(request)
        if request.path == "/api/v1/results":
            await asyncio.sleep(0.3)
        return resp

    await collector.stop()
    collector.extra_middlewares.append(slow_ack)
    await collector.start()
    apps = [f"app-{i}" for i in range(20)]
    await apply_catalog(collector.dsn, catalog(target, *apps))
    env = {
        **os.environ,
        "PROBE_TOKEN": await probe_token(collector.dsn, ZONE),
        "PANTAU_LOG_LEVEL": "WARNING",
    }
    cfg = tmp_path / "probe.yaml"
    cfg.write_text(
        yaml.safe_dump(
            probe_config(
                collector, tmp_path, "PROBE_TOKEN", batch={"max_seconds": 0.1, "max_items": 5}
            )
        )
    )

    async def start_probe() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "probe", "run", "--config", str(cfg), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def stored() -> int:
        return len(await result_keys(collector.dsn))

    proc = await start_probe()
    await eventually(lambda: _at_least(stored, 30), timeout=30)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    in_spool = _spooled_keys(tmp_path / "spool.db")
    before_restart = set(await result_keys(collector.dsn))

    proc = await start_probe()
    await eventually(lambda: _at_least(stored, len(before_restart | in_spool) + 20), timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]

    keys = await result_keys(collector.dsn)
    assert len(keys) == len(set(keys)), "a result was stored twice"
    assert in_spool <= set(keys), "a spooled result was lost"
    assert _spooled_keys(tmp_path / "spool.db") == set(), "the spool was not drained at shutdown"


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n


def _jobs(n: int, interval: float, prefix: str = "app") -> dict[str, Job]:
    return {
        f"{prefix}-{i}/check/http": Job(
            f"{prefix}-{i}/check/http", f"{prefix}-{i}", HttpCheck(url="http://a/"), interval
        )
        for i in range(n)
    }


def _on_slot(job: Job, when: float) -> bool:
    off = (when - job.anchor) % job.interval
    return min(off, job.interval - off) < 1e-3  # microsecond rounding aside


async def test_jobs_wait_for_their_slot_spread_over_the_whole_interval() -> None:
    """Every job runs at anchor + k * interval, its first run too: the slots fill the interval
    evenly, so the first round after a start asks no more checks a second than the next ones."""
    schedule = Schedule(runner=_noop, concurrency=10, on_lag=lambda _: None)
    schedule.start()
    try:
        jobs = _jobs(200, 60.0)
        before = time.time()
        assert await schedule.update(jobs, chunk=50) == (200, 0, 0)
        after = time.time()
        planned = schedule.next_runs()
        assert set(planned) == set(jobs)
        for job_id, when in planned.items():
            job = jobs[job_id]
            assert job.anchor == EPOCH.timestamp() + offset_fraction(job_id) * 60
            assert _on_slot(job, when)
            assert before <= when <= after + 60  # the next slot, not later
        # the slots fill the interval evenly: no bunching in the first seconds
        seconds = sorted(when - before for when in planned.values())
        assert seconds[100] > 20
        assert sum(1 for s in seconds if s < 10) < 60  # about a sixth, not all of them
        assert await schedule.update(jobs) == (0, 0, 0)  # unchanged: nothing moves
        assert schedule.next_runs() == planned
        assert await schedule.update({}) == (0, 0, 200)
        assert schedule.next_runs() == {}
    finally:
        await schedule.shutdown(grace=1)


async def test_first_runs_start_in_their_slot() -> None:
    """The runs a fresh schedule makes are planned at the jobs' slots (no extra first round)."""
    runs: list[tuple[Job, float, float]] = []

    async def runner(job: Job, planned: float) -> None:
        runs.append((job, planned, time.time()))

    schedule = Schedule(runner=runner, concurrency=10, on_lag=lambda _: None)
    schedule.start()
    try:
        jobs = _jobs(300, 20.0)
        await schedule.update(jobs)
        await eventually_true(lambda: len(runs) >= 5)
    finally:
        await schedule.shutdown(grace=1)
    assert all(_on_slot(job, planned) for job, planned, _ in runs)
    # not before the slot, but for jobs due within the group window started together
    assert BATCH_SECONDS < schedule.group_seconds == 20.0 * GROUP_INTERVAL_SHARE
    assert all(started >= planned - schedule.group_seconds for _, planned, started in runs)


def test_the_start_window_holds_a_group_of_runs_within_its_bounds() -> None:
    def window(targets: int, interval: float, concurrency: int = 200) -> float:
        return group_seconds(_jobs(targets, interval).values(), concurrency=concurrency)

    group = GROUP_WORKERS_SHARE * 200  # 150 runs
    assert group_seconds([], concurrency=200) == BATCH_SECONDS
    assert window(10_000, 1.0) == BATCH_SECONDS  # 10,000 runs a second: 500 in the narrowest
    assert window(50_000, 60.0) == pytest.approx(group / (50_000 / 60.0))  # 0.18 s
    assert window(10_000, 60.0) == pytest.approx(group / (10_000 / 60.0))  # 0.9 s
    assert window(10_000, 60.0, concurrency=20) == pytest.approx(15 / (10_000 / 60.0))
    assert window(1_000, 60.0) == GROUP_MAX_SECONDS
    assert window(1_000, 10.0) == 10.0 * GROUP_INTERVAL_SHARE
    mixed = {**_jobs(10, 60.0), **_jobs(10, 5.0, prefix="short")}
    assert group_seconds(mixed.values(), concurrency=200) == 5.0 * GROUP_INTERVAL_SHARE


async def test_runs_never_overlap_and_skipped_slots_are_counted() -> None:
    """A job still running at its next slot skips that slot (counted), never runs twice."""
    running: set[str] = set()
    overlaps: list[str] = []
    finished: list[str] = []
    skipped: list[int] = []

    async def runner(job: Job, planned: float) -> None:
        if job.job_id in running:
            overlaps.append(job.job_id)
        running.add(job.job_id)
        await asyncio.sleep(0.35)
        running.discard(job.job_id)
        finished.append(job.job_id)

    schedule = Schedule(
        runner=runner, concurrency=10, on_lag=lambda _: None, on_skip=skipped.append
    )
    schedule.start()
    try:
        await schedule.update(_jobs(3, 0.1))
        await eventually_true(lambda: len(finished) >= 6)
    finally:
        await schedule.shutdown(grace=2)
    assert overlaps == []
    assert sum(skipped) >= 3


async def test_concurrency_bounds_the_workers_and_lag_is_reported() -> None:
    """At most `concurrency` runs at once (and as many worker tasks); the queue drains; the
    lag of the runs that had to wait is reported."""
    peak_busy = peak_tasks = 0
    done: set[str] = set()
    lags: list[float] = []
    schedule: Schedule | None = None

    async def runner(job: Job, planned: float) -> None:
        nonlocal peak_busy, peak_tasks
        assert schedule is not None
        peak_busy = max(peak_busy, schedule.in_flight)
        peak_tasks = max(peak_tasks, len(schedule._running))
        await asyncio.sleep(0.05)
        done.add(job.job_id)

    schedule = Schedule(runner=runner, concurrency=4, on_lag=lags.append)
    schedule.start()
    jobs = _jobs(40, 0.5)
    try:
        await schedule.update(jobs)
        await eventually_true(lambda: done == set(jobs))
    finally:
        await schedule.shutdown(grace=2)
    assert peak_busy == 4
    assert peak_tasks <= 4
    # 40 runs of 50 ms, 4 at a time, in a 0.5 s interval: some had to wait for a worker.
    assert max(lags) >= 0.05
    assert schedule.in_flight == 0


async def test_a_failing_runner_does_not_stop_the_schedule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def runner(job: Job, planned: float) -> None:
        calls.append(job.job_id)
        raise RuntimeError("boom")

    schedule = Schedule(runner=runner, concurrency=1, on_lag=lambda _: None)
    schedule.start()
    try:
        await schedule.update(_jobs(2, 0.1))
        await eventually_true(lambda: len(calls) >= 6)
    finally:
        await schedule.shutdown(grace=1)
    assert "boom" in caplog.text


async def test_removed_and_changed_jobs_follow_the_update() -> None:
    runs: list[Job] = []

    async def runner(job: Job, planned: float) -> None:
        runs.append(job)

    schedule = Schedule(runner=runner, concurrency=10, on_lag=lambda _: None)
    schedule.start()
    try:
        jobs = _jobs(5, 0.2)
        await schedule.update(jobs)
        await eventually_true(lambda: {j.job_id for j in runs} == set(jobs))
        slower = {k: Job(k, v.app, v.spec, 0.3) for k, v in list(jobs.items())[:2]}
        assert await schedule.update(slower) == (0, 2, 3)
        runs.clear()
        await eventually_true(lambda: len(runs) >= 10)
    finally:
        await schedule.shutdown(grace=1)
    assert {j.job_id for j in runs} == set(slower)
    assert all(j.interval == 0.3 for j in runs)


async def _noop(job: Job, planned: float) -> None:
    pass


async def eventually_true(cond: Callable[[], bool], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_shutdown_lets_running_checks_finish() -> None:
    finished: list[str] = []

    async def runner(job: Job, planned: float) -> None:
        await asyncio.sleep(0.3)
        finished.append(job.job_id)

    schedule = Schedule(runner=runner, concurrency=10, on_lag=lambda _: None)
    schedule.start()
    jobs = {f"a{i}/check/http": Job(f"a{i}/check/http", f"a{i}", HttpCheck(url="http://a/"), 0.1)
            for i in range(3)}  # fmt: skip
    await schedule.update(jobs)
    await asyncio.sleep(0.15)  # every job's first run has started
    assert schedule._running
    await schedule.shutdown(grace=2)
    assert set(finished) == set(jobs)  # every running check finished, none was cancelled
    assert not schedule._running


class _Cyclic:
    def __init__(self) -> None:
        self.me = self


async def test_garbage_frozen_with_one_target_list_is_collected_at_the_next() -> None:
    """apply_jobs freezes the heap: a cycle alive then and dropped later must not stay frozen
    for the probe's lifetime (a leak with every changed target list)."""
    schedule = Schedule(runner=_noop, concurrency=10, on_lag=lambda _: None)
    schedule.start()
    try:
        cycle = _Cyclic()
        ref = weakref.ref(cycle)
        await apply_jobs(schedule, _jobs(10, 60.0))
        del cycle
        gc.collect()
        assert ref() is not None  # frozen: the collector does not look at it
        await apply_jobs(schedule, _jobs(10, 60.0, prefix="other"))
        assert ref() is None
    finally:
        await schedule.shutdown(grace=1)
