"""The probe's schedule: every check and usage read runs in its own slot of its interval.

A job's slot is anchor + k * interval, the anchor a hash of its id within the interval: a zone's
jobs spread evenly over the interval and keep their slot across restarts. A new job first runs
at its next slot, so the first round after a start is spread over the whole interval too and
never asks for more checks a second than the steady rounds (a cold start reaches every target
within one interval). A changed target list touches only the jobs whose spec changed.

Timing: one heap of due times and one loop timer for the earliest; due jobs go to a queue that
at most `concurrency` worker tasks drain. Nothing is held per job while it waits but its heap
entry. This replaced one APScheduler job per check plus a task per run (bench/README.md has the
figures: at 50,000 real HTTP targets APScheduler's path cost more CPU than the checks, and the
backlog held 36,000 tasks). A run never overlaps the job's previous one: a slot that comes while
the job still runs or still waits for a worker is skipped and counted (`on_skip`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from wire.messages import Target
from wire.specs import CheckSpec, PushSource, UsageSpec

log = logging.getLogger("pantau.probe")

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_EPOCH_TS = EPOCH.timestamp()
# Jobs due within a window start together, a little early: one timer wake-up and one pass of
# the event loop serve them all, and the checks of a group run their I/O side by side as in a
# busy probe. At 500 checks a second a 50 ms window took the CPU per scheduled check from
# 1/2,263 s to 1/3,056 s (bench/README.md). When runs are rarer, the window widens until it
# holds about GROUP_WORKERS_SHARE of the workers' worth of runs (150 of 200: at 10,000 targets
# a minute 0.9 s, at 50,000 0.18 s), so a group starts at once; never past GROUP_MAX_SECONDS
# nor GROUP_INTERVAL_SHARE of the shortest interval: a job runs at most that much before its
# slot, and its lag is not stretched at all.
BATCH_SECONDS = 0.05
GROUP_WORKERS_SHARE = 0.75
GROUP_MAX_SECONDS = 1.0
GROUP_INTERVAL_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    app: str
    spec: CheckSpec | UsageSpec
    interval: float
    agency: str | None = None  # the app's agency: whose secrets (PANTAU_SECRET_<AGENCY>_*) it reads
    anchor: float = field(init=False, repr=False, compare=False)  # a slot, unix seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchor", _EPOCH_TS + offset_fraction(self.job_id) * self.interval)

    @property
    def fingerprint(self) -> bytes:
        return msgspec.json.encode(self.spec) + f"{self.interval}/{self.agency}".encode()

    def next_slot(self, after: float) -> float:
        """The job's first slot at or after `after` (unix seconds)."""
        return self.anchor + math.ceil((after - self.anchor) / self.interval) * self.interval


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


def group_seconds(jobs: Iterable[Job], *, concurrency: int) -> float:
    """The start window for these jobs run by `concurrency` workers (see GROUP_WORKERS_SHARE)."""
    rate = shortest = 0.0
    for job in jobs:
        rate += 1.0 / job.interval
        shortest = job.interval if not shortest else min(shortest, job.interval)
    return start_window(rate, shortest, concurrency=concurrency) if rate else BATCH_SECONDS


def start_window(rate: float, shortest: float, *, concurrency: int) -> float:
    """The start window for `rate` runs a second, the shortest interval `shortest` seconds."""
    runs = GROUP_WORKERS_SHARE * concurrency
    wide = min(runs / rate, GROUP_MAX_SECONDS, shortest * GROUP_INTERVAL_SHARE)
    return max(BATCH_SECONDS, wide)


Runner = Callable[[Job, float], Awaitable[None]]  # (job, planned start as unix seconds)


def _ignore(_: int) -> None:
    pass


class Schedule:
    def __init__(
        self,
        *,
        runner: Runner,
        concurrency: int,
        on_lag: Callable[[float], None],
        on_skip: Callable[[int], None] = _ignore,
    ) -> None:
        self._runner = runner
        self._concurrency = concurrency
        self._on_lag = on_lag  # how late a run started against its slot, seconds
        self._on_skip = on_skip  # slots skipped (the job still running, waiting, or stalled)
        self._jobs: dict[str, Job] = {}
        self._fingerprints: dict[str, bytes] = {}
        # (due, entry number, job id): one live entry per job, the one `_entries` names; an
        # entry whose job was removed or replaced is dropped when it comes up (cheaper than
        # searching the heap on every change). Floats, ints and strings only: the garbage
        # collector stops tracking such tuples, so the heap of tens of thousands of entries,
        # renewed every interval, is never scanned by a full collection.
        self._heap: list[tuple[float, int, str]] = []
        self._entries: dict[str, int] = {}
        self._seq = itertools.count()
        self._group_seconds = BATCH_SECONDS
        self._ready: deque[tuple[Job, float]] = deque()  # due, waiting for a worker
        self._waiting: set[str] = set()  # ids in _ready
        self._busy: set[str] = set()  # ids running now
        self._running: set[asyncio.Task[Any]] = set()  # the workers
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # --- what the agent and its metrics see ------------------------------------------------

    @property
    def jobs(self) -> dict[str, Job]:
        return self._jobs

    @property
    def in_flight(self) -> int:
        """Jobs running now."""
        return len(self._busy)

    @property
    def waiting(self) -> int:
        """Jobs past their slot, waiting for a free worker."""
        return len(self._ready)

    @property
    def group_seconds(self) -> float:
        """Jobs due within this much start together (up to this much before their slot)."""
        return self._group_seconds

    def next_runs(self) -> dict[str, float]:
        """When each job runs next (unix seconds)."""
        entries = self._entries
        return {job_id: due for due, n, job_id in self._heap if entries.get(job_id) == n}

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    async def shutdown(self, *, grace: float) -> None:
        """Stop scheduling, let running jobs finish for `grace` seconds, then cancel them."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ready.clear()
        self._waiting.clear()
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def update(self, jobs: dict[str, Job], *, chunk: int = 500) -> tuple[int, int, int]:
        """Make the schedule match `jobs`; returns (added, changed, removed).

        A large target list is taken in chunks so that running checks go on meanwhile. A new or
        changed job runs at its next slot; a removed one is not started again (a run in progress
        finishes).
        """
        added = changed = removed = 0
        for n, job_id in enumerate(list(self._jobs), start=1):
            if job_id not in jobs:
                del self._jobs[job_id], self._fingerprints[job_id], self._entries[job_id]
                removed += 1
            if n % chunk == 0:
                await asyncio.sleep(0)
        for n, (job_id, job) in enumerate(jobs.items(), start=1):
            fp = job.fingerprint
            if self._fingerprints.get(job_id) != fp:
                if job_id in self._jobs:
                    changed += 1
                else:
                    added += 1
                self._jobs[job_id] = job
                self._fingerprints[job_id] = fp
                self._push(job.next_slot(time.time()), job_id)
            if n % chunk == 0:
                await asyncio.sleep(0)
        if removed > len(self._jobs):  # mostly stale entries: rebuild rather than carry them
            self._heap = [e for e in self._heap if self._entries.get(e[2]) == e[1]]
            heapq.heapify(self._heap)
        self._group_seconds = group_seconds(self._jobs.values(), concurrency=self._concurrency)
        self._arm()
        return added, changed, removed

    def _push(self, due: float, job_id: str) -> None:
        n = next(self._seq)
        heapq.heappush(self._heap, (due, n, job_id))
        self._entries[job_id] = n

    # --- timing ------------------------------------------------------------------------------

    def _arm(self) -> None:
        """Keep one loop timer set for the earliest due job."""
        if self._loop is None or self._stopping:
            return
        heap, entries = self._heap, self._entries
        while heap and entries.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)  # removed or replaced
        due = heap[0][0] if heap else math.inf
        if due >= self._timer_due and self._timer is not None:
            return  # an earlier wake-up is set; it re-arms
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due < math.inf:
            delay = max(0.0, due - time.time())
            self._timer = self._loop.call_at(self._loop.time() + delay, self._fire)
            self._timer_due = due

    def _fire(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        now = time.time()
        horizon = now + self._group_seconds
        heap, entries, jobs, ready, waiting, busy = (
            self._heap, self._entries, self._jobs, self._ready, self._waiting, self._busy,
        )  # fmt: skip
        skipped = 0
        while heap and heap[0][0] <= horizon:
            due, n, job_id = heapq.heappop(heap)
            if entries.get(job_id) != n:
                continue  # removed or replaced since
            job = jobs[job_id]
            following = due + job.interval
            if following <= now:  # the loop stalled past whole intervals: those slots are lost
                later = job.next_slot(now)
                skipped += round((later - following) / job.interval)
                following = later
            self._push(following, job_id)
            if job_id in busy or job_id in waiting:
                skipped += 1  # never two runs of a job at once, nor a queue of them
                continue
            waiting.add(job_id)
            ready.append((job, due))
        if skipped:
            self._on_skip(skipped)
        self._pump()
        self._arm()

    def _pump(self) -> None:
        """Start workers for the queued jobs, up to `concurrency` at once."""
        assert self._loop is not None
        ready, running = self._ready, self._running
        while ready and len(running) < self._concurrency and not self._stopping:
            job, planned = ready.popleft()
            task = self._loop.create_task(self._work(job, planned))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _work(self, job: Job, planned: float) -> None:
        """Run the job, then the next queued ones, until the queue is empty."""
        ready, waiting, busy, jobs = self._ready, self._waiting, self._busy, self._jobs
        while True:
            job_id = job.job_id
            waiting.discard(job_id)
            if jobs.get(job_id) is job:  # still wanted (not removed or changed meanwhile)
                busy.add(job_id)
                try:
                    self._on_lag(max(0.0, time.time() - planned))
                    await self._runner(job, planned)
                except Exception:
                    log.exception("job %s failed", job_id)  # the runner's bug; the rest go on
                finally:
                    busy.discard(job_id)
            if self._stopping or not ready:
                return
            job, planned = ready.popleft()
