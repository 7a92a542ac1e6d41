"""The probe's schedule: one APScheduler job per check and per usage source.

Each job runs on its interval at a deterministic offset (a hash of its id), so a zone's checks
spread evenly over the interval and keep their slot across restarts. A changed target list
updates only the jobs whose spec changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from wire.messages import Target
from wire.specs import CheckSpec, PushSource, UsageSpec

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FIRST_RUN_SPREAD_SECONDS = 10.0  # the first round after start is spread over this much


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    app: str
    spec: CheckSpec | UsageSpec
    interval: float
    agency: str | None = None  # the app's agency: whose secrets (PANTAU_SECRET_<AGENCY>_*) it reads

    @property
    def fingerprint(self) -> bytes:
        return msgspec.json.encode(self.spec) + f"{self.interval}/{self.agency}".encode()


def offset_fraction(job_id: str) -> float:
    """A stable number in [0, 1) for the job: its place within every interval."""
    digest = hashlib.blake2b(job_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def jobs_for(
    targets: list[Target], *, check_interval: float, usage_interval: float
) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for t in targets:
        for check in t.checks:
            job_id = f"{t.app}/check/{check.check_name}"
            jobs[job_id] = Job(
                job_id, t.app, check, check.interval_seconds or check_interval, t.agency
            )
        for usage in t.usage:
            if isinstance(usage.source, PushSource):
                continue  # the app pushes it to the collector itself
            job_id = f"{t.app}/usage/{usage.metric}"
            jobs[job_id] = Job(
                job_id, t.app, usage, usage.interval_seconds or usage_interval, t.agency
            )
    return jobs


Runner = Callable[[Job, float], Awaitable[None]]  # (job, planned start as unix seconds)


class Schedule:
    """APScheduler runs each job in its slot; the first run after a job is added is a plain
    loop timer (cheap, and nothing for APScheduler to track)."""

    def __init__(
        self, *, runner: Runner, concurrency: int, on_lag: Callable[[float], None]
    ) -> None:
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self._runner = runner
        self._gate = asyncio.Semaphore(concurrency)
        self._on_lag = on_lag
        self._jobs: dict[str, Job] = {}
        self._fingerprints: dict[str, bytes] = {}
        self._first_runs: dict[str, asyncio.TimerHandle] = {}
        self._busy: set[str] = set()  # jobs running now: a run never overlaps the previous one
        self._running: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self, *, grace: float) -> None:
        """Stop scheduling, let running jobs finish for `grace` seconds, then cancel them."""
        for handle in self._first_runs.values():
            handle.cancel()
        self._first_runs.clear()
        if self._scheduler.running:
            self._scheduler.pause()  # no new runs; the running ones go on
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def jobs(self) -> dict[str, Job]:
        return self._jobs

    async def update(self, jobs: dict[str, Job], *, chunk: int = 500) -> tuple[int, int, int]:
        """Make the schedule match `jobs`; returns (added, changed, removed).

        Adding a job to APScheduler costs tens of microseconds, so a large target list is added
        in chunks that let running checks go on, with the scheduler paused meanwhile (each add
        would otherwise wake it up).
        """
        added = changed = removed = 0
        new: list[Job] = []
        paused = self._scheduler.running
        if paused:
            self._scheduler.pause()
        try:
            for n, job_id in enumerate(list(self._jobs), start=1):
                if job_id not in jobs:
                    self._remove(job_id)
                    del self._jobs[job_id], self._fingerprints[job_id]
                    removed += 1
                if n % chunk == 0:
                    await asyncio.sleep(0)
            for n, (job_id, job) in enumerate(jobs.items(), start=1):
                fp = job.fingerprint
                if self._fingerprints.get(job_id) != fp:
                    if job_id in self._jobs:
                        self._remove(job_id)
                        changed += 1
                    else:
                        added += 1
                    self._add(job)
                    self._jobs[job_id] = job
                    self._fingerprints[job_id] = fp
                    new.append(job)
                if n % chunk == 0:
                    await asyncio.sleep(0)
        finally:
            if paused:
                self._scheduler.resume()
        # First runs are planned once all jobs are in, so adding them takes nothing off their time.
        loop = asyncio.get_running_loop()
        now = time.time()
        for job in new:
            frac = offset_fraction(job.job_id)
            delay = frac * min(job.interval, FIRST_RUN_SPREAD_SECONDS)
            self._first_runs[job.job_id] = loop.call_later(delay, self._first_run, job, now + delay)
        return added, changed, removed

    def _remove(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id)
        handle = self._first_runs.pop(job_id, None)
        if handle is not None:
            handle.cancel()

    def _add(self, job: Job) -> None:
        anchor = EPOCH + dt.timedelta(seconds=offset_fraction(job.job_id) * job.interval)
        # The job runs in its slot: anchor + k * interval (the trigger counts from start_date).
        self._scheduler.add_job(
            self._execute,
            IntervalTrigger(seconds=job.interval, start_date=anchor, timezone=dt.UTC),
            args=(job, anchor.timestamp()),
            id=job.job_id,
            name=job.job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(job.interval / 2)),
        )

    def _first_run(self, job: Job, planned: float) -> None:
        self._first_runs.pop(job.job_id, None)
        task = asyncio.get_running_loop().create_task(self._run(job, planned))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, job: Job, anchor: float) -> None:
        now = time.time()
        await self._run(job, now - (now - anchor) % job.interval)  # the slot this run belongs to

    async def _run(self, job: Job, planned: float) -> None:
        if job.job_id in self._busy:
            return  # the previous run (say, the first one) is still going: this slot is skipped
        self._busy.add(job.job_id)
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            async with self._gate:
                # Lag: how late this run starts against its planned time.
                self._on_lag(max(0.0, time.time() - planned))
                await self._runner(job, planned)
        finally:
            self._busy.discard(job.job_id)
            self._running.discard(task)
