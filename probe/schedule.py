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
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from wire.messages import Target
from wire.specs import CheckSpec, PushSource, UsageSpec

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FIRST_RUN_SPREAD_SECONDS = 10.0  # the first round after start is spread over this much
FIRST_RUN_SUFFIX = "#first"


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    app: str
    spec: CheckSpec | UsageSpec
    interval: float

    @property
    def fingerprint(self) -> bytes:
        return msgspec.json.encode(self.spec) + str(self.interval).encode()


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
            jobs[job_id] = Job(job_id, t.app, check, check.interval_seconds or check_interval)
        for usage in t.usage:
            if isinstance(usage.source, PushSource):
                continue  # the app pushes it to the collector itself
            job_id = f"{t.app}/usage/{usage.metric}"
            jobs[job_id] = Job(job_id, t.app, usage, usage.interval_seconds or usage_interval)
    return jobs


Runner = Callable[[Job, float], Awaitable[None]]  # (job, planned start as unix seconds)


class Schedule:
    def __init__(
        self, *, runner: Runner, concurrency: int, on_lag: Callable[[float], None]
    ) -> None:
        self._scheduler = AsyncIOScheduler(timezone=dt.UTC)
        self._runner = runner
        self._gate = asyncio.Semaphore(concurrency)
        self._on_lag = on_lag
        self._jobs: dict[str, Job] = {}
        self._fingerprints: dict[str, bytes] = {}
        self._running: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self, *, grace: float) -> None:
        """Stop scheduling, let running jobs finish for `grace` seconds, then cancel them."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    @property
    def jobs(self) -> dict[str, Job]:
        return self._jobs

    def update(self, jobs: dict[str, Job]) -> tuple[int, int, int]:
        """Make the schedule match `jobs`; returns (added, changed, removed)."""
        added = changed = removed = 0
        now = time.time()
        for job_id in list(self._jobs):
            if job_id not in jobs:
                self._remove(job_id)
                del self._jobs[job_id], self._fingerprints[job_id]
                removed += 1
        for job_id, job in jobs.items():
            fp = job.fingerprint
            if self._fingerprints.get(job_id) == fp:
                continue
            if job_id in self._jobs:
                self._remove(job_id)
                changed += 1
            else:
                added += 1
            self._add(job, now)
            self._jobs[job_id] = job
            self._fingerprints[job_id] = fp
        return added, changed, removed

    def _remove(self, job_id: str) -> None:
        self._scheduler.remove_job(job_id)
        with contextlib.suppress(JobLookupError):  # the first run may have happened already
            self._scheduler.remove_job(job_id + FIRST_RUN_SUFFIX)

    def _add(self, job: Job, now: float) -> None:
        frac = offset_fraction(job.job_id)
        anchor = EPOCH + dt.timedelta(seconds=frac * job.interval)
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True,
                                  "misfire_grace_time": max(1, int(job.interval / 2))}  # fmt: skip
        # The job runs in its slot: anchor + k * interval (the trigger counts from start_date).
        self._scheduler.add_job(
            self._execute,
            IntervalTrigger(seconds=job.interval, start_date=anchor, timezone=dt.UTC),
            args=(job, anchor.timestamp(), None),
            id=job.job_id,
            name=job.job_id,
            **common,
        )
        # And once right after start (spread a little), so nothing waits a whole interval.
        first = now + frac * min(job.interval, FIRST_RUN_SPREAD_SECONDS)
        self._scheduler.add_job(
            self._execute,
            DateTrigger(run_date=dt.datetime.fromtimestamp(first, dt.UTC)),
            args=(job, anchor.timestamp(), first),
            id=job.job_id + FIRST_RUN_SUFFIX,
            name=job.job_id + FIRST_RUN_SUFFIX,
            **common,
        )

    async def _execute(self, job: Job, anchor: float, first: float | None) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await self._gated(job, anchor, first)
        finally:
            self._running.discard(task)

    async def _gated(self, job: Job, anchor: float, first: float | None) -> None:
        async with self._gate:
            now = time.time()
            # Lag: how late this run starts against its planned time (its slot, or the first run).
            planned = first if first is not None else now - (now - anchor) % job.interval
            self._on_lag(max(0.0, now - planned))
            await self._runner(job, planned)
