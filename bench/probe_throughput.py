"""Probe throughput and schedule lag, against local targets; a benchmark, run on demand.

    .venv/bin/python bench/probe_throughput.py            # full run (about 15 min)
    .venv/bin/python bench/probe_throughput.py --quick    # smaller, 20 s interval (~5 min)
    .venv/bin/python bench/probe_throughput.py --kinds pantau,pantau-paced --rounds 3 \
        --lag-sizes 10000,50000 --lag-spool both --lag-rounds 3   # issue 13's figures (~45 min)

Measures, each in its own subprocess (so its CPU clock and peak RSS are its own):

1. checks per CPU-second: `run_check` with an `HttpCheck` against a local nginx (Debian's, its
   own config, in a separate process), a fresh connection per check (`check_session`), uvloop,
   back to back (64 in flight); a bare aiohttp GET the same way for reference; Pantau on the
   default asyncio loop too; and `pantau-paced`: the same check at the rate of each real-HTTP
   lag run (targets / interval a second), started in the groups the schedule starts them in.
2. Debian's prometheus-blackbox-exporter probing the same nginx (module http_2xx), driven by a
   client process; its own CPU time from /proc/<pid>/stat. Ratio = Pantau ÷ blackbox_exporter.
3. schedule lag with the real `Schedule` at 10,000 and 50,000 targets, 60 s interval, from a
   cold start over three intervals (the first round, then two steady ones), each run driving
   the agent's own `JobRunner`: the real HTTP check against the nginx, the result saved through
   the probe's `Shipper` into a spool file (`--lag-spool off`: not saved; `both`: a run of
   each), the check counted: lag as the probe reports it and against each job's own slot, how
   long until every target has run once, whether each job ran once per steady interval, slots
   skipped, scheduled runs per CPU-second (compared with 1., unpaced and paced) and peak RSS.
   `--lag-real ""` gives a cheap runner (`asyncio.sleep(0)`: the schedule's own cost) instead.

Every worker runs in a subprocess with a timeout: one that hangs is killed and reported, and
the benchmark goes on. nginx and blackbox_exporter are installed from Debian when missing
(tests/tools.py). `--profile DIR` writes a cProfile of each lag run to DIR/lag-<size>.prof.

Figures and what they led to (the probe's heap schedule, issue 13): bench/README.md.
Throughput figures are medians of several rounds (the machine is shared and noisy). Traffic
stays on 127.0.0.1; every server and worker is started and stopped here. The last line is
`RESULT ratio=<x> goal=1.5`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import uvloop
from prometheus_client import CollectorRegistry

from probe.agent import JobRunner, Saver, apply_jobs, check_session
from probe.checks import CheckContext, run_check
from probe.delivery import Shipper
from probe.gc_policy import young_collections_for, young_threshold
from probe.metrics import ProbeMetrics
from probe.schedule import Job, Schedule, jobs_for, start_window
from probe.spool import Spool
from wire.messages import CheckResult, Target, UsageSample
from wire.specs import HttpCheck

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from probe_common import (  # sibling module of a script, not a package
    HOST,
    BenchError,
    Server,
    blackbox_exporter,
    blackbox_version,
    median,
    nginx,
    nginx_version,
    percentile,
    proc_cpu_seconds,
)

from tests.tools import ToolUnavailable, require_tools

GOAL_RATIO = 1.5
GOAL_P99_LAG = 1.0
GOAL_RSS_MB = 400.0
GOAL_SCHEDULED_SHARE = 0.8  # scheduled checks per CPU-s against the throughput rounds'
WORKER_TIMEOUT = 600.0  # seconds, for one throughput round in a subprocess
SLOT_TOLERANCE = 1.0  # a steady run "keeps its slot" when it starts within this of it

T = TypeVar("T")
Result = dict[str, Any]


# --- workers (run in subprocesses) ------------------------------------------------------------


def cpu_now() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def drive(one: Callable[[], Awaitable[str | None]], n: int, concurrency: int) -> Counter[str]:
    """Run `one` n times, `concurrency` at a time; count the failure reasons it returns."""
    failures: Counter[str] = Counter()
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            reason = await one()
            if reason is not None:
                failures[reason] += 1

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return failures


async def drive_paced(
    one: Callable[[], Awaitable[str | None]],
    n: int,
    *,
    rate: float,
    interval: float,
    concurrency: int,
) -> Counter[str]:
    """Run `one` n times at `rate` a second, started as the Schedule starts due jobs.

    The reference for the lag runs without the schedule: the same check at the same pace, each
    start timed as the schedule times it (wake up when the next check is due, start every check
    due within the schedule's start window for this rate, a task per check).
    """
    window = start_window(rate, interval, concurrency=concurrency)
    failures: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def run() -> None:
        reason = await one()
        if reason is not None:
            failures[reason] += 1

    started = 0
    t0 = time.time()
    while started < n:
        now = time.time()
        if (wait := t0 + started / rate - now) > 0:
            await asyncio.sleep(wait)
            now = time.time()
        due = min(n, math.floor((now + window - t0) * rate) + 1)
        for _ in range(started, due):
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        started = due
    await asyncio.gather(*tasks)
    return failures


async def measured(
    one: Callable[[], Awaitable[str | None]],
    *,
    checks: int,
    warmup: int,
    concurrency: int,
    other_pid: int | None = None,
    rate: float | None = None,
    interval: float = 60.0,
    lag_concurrency: int = 200,
) -> Result:
    """`checks` runs of `one` after `warmup` unmeasured ones, back to back or at `rate`."""
    await drive(one, warmup, concurrency)
    other0 = proc_cpu_seconds(other_pid) if other_pid else 0.0
    u0, s0 = cpu_now()
    t0 = time.perf_counter()
    if rate is None:
        failures = await drive(one, checks, concurrency)
    else:
        # The schedule's window for the lag runs' workers, not this round's (64).
        failures = await drive_paced(
            one, checks, rate=rate, interval=interval, concurrency=lag_concurrency
        )
    wall = time.perf_counter() - t0
    u1, s1 = cpu_now()
    other1 = proc_cpu_seconds(other_pid) if other_pid else 0.0
    return {
        "checks": checks,
        "failed": sum(failures.values()),
        "failures": dict(failures.most_common(3)),
        "wall": wall,
        "cpu_user": u1 - u0,
        "cpu_sys": s1 - s0,
        "other_cpu": other1 - other0,
        "rss_mb": peak_rss_mb(),
    }


async def throughput_worker(args: argparse.Namespace) -> Result:
    url: str = args.url
    if args.kind in ("pantau", "pantau-asyncio", "pantau-paced"):
        spec = HttpCheck(url=url)
        async with check_session(limit=args.concurrency) as session:
            ctx = CheckContext(session=session)

            async def pantau_one() -> str | None:
                result = await run_check(spec, app="bench", ctx=ctx)
                return None if result.ok else f"{result.reason}: {result.message}"

            return await measured(
                pantau_one,
                checks=args.checks,
                warmup=args.warmup,
                concurrency=args.concurrency,
                rate=args.rate if args.kind == "pantau-paced" else None,
                interval=args.interval,
                lag_concurrency=args.lag_concurrency,
            )
    if args.kind == "bare":
        connector = aiohttp.TCPConnector(force_close=True, limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def bare_one() -> str | None:
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        return None if resp.status == 200 else f"status {resp.status}"
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    return type(exc).__name__

            return await measured(
                bare_one, checks=args.checks, warmup=args.warmup, concurrency=args.concurrency
            )
    if args.kind == "blackbox":
        # Keep-alive to the exporter, as Prometheus scrapes it; the exporter itself opens a
        # fresh connection to the target for every probe.
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        params = {"target": url, "module": "http_2xx"}
        async with aiohttp.ClientSession(connector=connector) as session:

            async def blackbox_one() -> str | None:
                try:
                    async with session.get(args.blackbox_url, params=params) as resp:
                        body = await resp.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    return type(exc).__name__
                if resp.status != 200:
                    return f"status {resp.status}"
                return None if b"\nprobe_success 1" in body else "probe_success 0"

            return await measured(
                blackbox_one,
                checks=args.checks,
                warmup=args.warmup,
                concurrency=args.concurrency,
                other_pid=args.blackbox_pid,
            )
    raise BenchError(f"unknown kind {args.kind}")


class NoSaver:
    """The spool left out (`--lag-spool off`): what saving adds is the difference."""

    async def submit(
        self, *, results: Sequence[CheckResult] = (), usage: Sequence[UsageSample] = ()
    ) -> None:
        pass


async def lag_worker(args: argparse.Namespace) -> Result:
    """The real Schedule with `size` targets from a cold start, over `intervals` intervals.

    With --real the runner is the agent's own `JobRunner` (run_check against the local nginx,
    save the result, count the check) with the lag histogram and the skip counter; --spool saves
    through the probe's `Shipper` into a real spool file (nothing is pushed: its delivery loop
    does not run), else saving is skipped. Without --real it only yields (the schedule's own
    cost).
    """
    size: int = args.size
    interval: float = args.interval
    real: bool = args.real
    t = time.perf_counter()
    targets = [
        Target(app=f"bench-{i:05d}", agency="bench", checks=[HttpCheck(url=args.url)])
        for i in range(size)
    ]
    jobs = jobs_for(targets, check_interval=interval, usage_interval=300.0)
    build_s = time.perf_counter() - t

    # One entry per run; arrays, not lists of floats, so the records hardly add to the RSS.
    starts = array("d")  # when the runner started (unix seconds)
    which = array("i")  # the job, as its index in `jobs`
    job_index = {job_id: k for k, job_id in enumerate(jobs)}
    reported = array("d")  # lag as on_lag got it
    plans = array("d")  # the planned time the runner got
    vs_slot = array("d")  # start minus the job's nearest slot (anchor + k * interval)
    metrics = ProbeMetrics(registry=CollectorRegistry())
    last_lag = math.nan
    skipped = 0

    def on_lag(lag: float) -> None:
        nonlocal last_lag
        last_lag = lag
        metrics.schedule_lag.observe(lag)

    def on_skip(n: int) -> None:
        nonlocal skipped
        skipped += n
        metrics.jobs_skipped.inc(n)

    async with contextlib.AsyncExitStack() as stack:
        job_runner: JobRunner | None = None
        spool: Spool | None = None
        if real:
            session = await stack.enter_async_context(check_session(limit=args.concurrency))
            saver: Saver = NoSaver()
            if args.spool:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pantau-lag-")))
                spool = Spool.open(
                    tmp / "spool.db", probe="bench", max_bytes=512 << 20, metrics=metrics
                )
                stack.callback(spool.close)
                upstream = await stack.enter_async_context(aiohttp.ClientSession())
                saver = Shipper(
                    spool=spool, session=upstream, collector_url="http://127.0.0.1:9",
                    token="bench", metrics=metrics,
                )  # fmt: skip
            ctx = CheckContext(session=session)
            job_runner = JobRunner(ctx=ctx, saver=saver, metrics=metrics)

        async def runner(job: Job, planned: float) -> None:
            nonlocal last_lag
            now = time.time()
            # Schedule calls on_lag right before the runner, with no await in between.
            lag, last_lag = last_lag, math.nan
            starts.append(now)
            which.append(job_index[job.job_id])
            reported.append(lag)
            plans.append(planned)
            off = (now - job.anchor) % job.interval
            vs_slot.append(off - job.interval if off > job.interval / 2 else off)  # < 0: early
            if job_runner is None:
                await asyncio.sleep(0)
                return
            await job_runner(job, planned)

        schedule = Schedule(
            runner=runner, concurrency=args.concurrency, on_lag=on_lag, on_skip=on_skip
        )
        peak = {"tasks": 0, "in_flight": 0, "waiting": 0}

        async def sample() -> None:
            while True:
                peak["tasks"] = max(peak["tasks"], len(asyncio.all_tasks()) - 2)
                peak["in_flight"] = max(peak["in_flight"], schedule.in_flight)
                peak["waiting"] = max(peak["waiting"], schedule.waiting)
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        gc_time = [0.0, 0.0, 0.0]  # seconds in collections of generation 0, 1, 2
        gc_began = 0.0

        def gc_timer(phase: str, info: dict[str, int]) -> None:
            nonlocal gc_began
            if phase == "start":
                gc_began = time.perf_counter()
            else:
                gc_time[info["generation"]] += time.perf_counter() - gc_began

        gc.callbacks.append(gc_timer)
        rss_setup = current_rss_mb()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        u0, s0 = cpu_now()
        # As the agent does: start, then the first target list arrives.
        t_start = time.time()
        schedule.start()
        t = time.perf_counter()
        await apply_jobs(schedule, jobs)
        update_s = time.perf_counter() - t
        t = time.perf_counter()
        await asyncio.sleep(0)  # until this coroutine runs again: the work update() queued
        blocked_s = time.perf_counter() - t
        rss_update = current_rss_mb()
        await asyncio.sleep(
            max(0.0, t_start + args.intervals * interval + args.margin - time.time())
        )
        u1, s1 = cpu_now()  # the figures are for the window; shutdown is timed on its own
        gc.callbacks.remove(gc_timer)
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        runs_in_window = len(starts)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        pending = len(asyncio.all_tasks()) - 1
        t = time.perf_counter()
        await schedule.shutdown(grace=5.0)
        shutdown_s = time.perf_counter() - t
        spooled = spool.stats().items if spool is not None else 0

    outcomes = {
        s.labels["outcome"]: int(s.value)
        for family in metrics.registry.collect()
        if family.name == "pantau_probe_checks"
        for s in family.samples
        if s.name.endswith("_total")
    }
    failures = Counter({k: v for k, v in outcomes.items() if k != "ok"})

    n = len(starts)
    first_run = [math.inf] * len(jobs)
    for i in range(n):
        k = which[i]
        first_run[k] = min(first_run[k], starts[i] - t_start)
    reached = sorted(x for x in first_run if x < math.inf)

    def stats(idx: list[int]) -> Result:
        rep = [reported[i] for i in idx if not math.isnan(reported[i])]
        slot = [vs_slot[i] for i in idx]
        return {
            "runs": len(idx),
            "reported_p50": percentile(rep, 50),
            "reported_p99": percentile(rep, 99),
            "reported_max": max(rep, default=math.nan),
            "slot_p50": percentile(slot, 50),
            "slot_p99": percentile(slot, 99),
            "slot_max": max(slot, default=math.nan),
        }

    # Interval k (0 = the first round): runs planned in [t_start + k I, t_start + (k+1) I).
    def interval_of(i: int) -> int:
        return int((plans[i] - t_start) // interval)

    first = [i for i in range(n) if interval_of(i) == 0]
    steady = [i for i in range(n) if 1 <= interval_of(i) < args.intervals]
    per_interval = []
    for k in range(1, args.intervals):
        counts = Counter(which[i] for i in steady if interval_of(i) == k)
        per_interval.append(
            {
                "interval": k,
                "runs": sum(counts.values()),
                "jobs_without_run": len(jobs) - len(counts),
                "jobs_run_twice": sum(1 for c in counts.values() if c > 1),
            }
        )
    per_second = Counter(int(starts[i] - t_start) for i in steady)
    cpu = (u1 - u0) + (s1 - s0)
    return {
        "size": size,
        "interval": interval,
        "intervals": args.intervals,
        "real": real,
        "spool": bool(args.spool and real),
        "spooled": spooled,
        "checks_counted": sum(outcomes.values()),
        "gc_s": gc_time,
        "concurrency": args.concurrency,
        "build_s": build_s,
        "update_s": update_s,
        "blocked_s": blocked_s,
        "cold_start_p50": percentile(reached, 50),
        "cold_start_all": reached[-1] if len(reached) == len(jobs) else math.nan,
        "never_ran": len(jobs) - len(reached),
        "first": stats(first),
        "steady": stats(steady),
        "all": stats(list(range(n))),
        "per_interval": per_interval,
        "steady_peak_per_s": max(per_second.values(), default=0),
        "skipped": skipped,
        "failed": sum(failures.values()),
        "failures": dict(failures.most_common(3)),
        "cpu_s": cpu,
        "runs_per_cpu_s": runs_in_window / cpu if cpu else math.nan,
        "peak_tasks": peak["tasks"],
        "peak_in_flight": peak["in_flight"],
        "peak_waiting": peak["waiting"],
        "pending_at_shutdown": pending,
        "shutdown_s": shutdown_s,
        "rss_setup_mb": rss_setup,
        "rss_update_mb": rss_update,
        "rss_mb": peak_rss_mb(),
    }


def run_with_loop(coro: Coroutine[Any, Any, T], loop: str) -> T:
    if loop == "uvloop":
        return uvloop.run(coro)
    return asyncio.run(coro)


def worker_main(args: argparse.Namespace) -> int:
    # The agent's collector setting (probe.gc_policy) for its lag runs' workers, in every
    # measured process alike, so the ratios compare the paths, not the settings.
    gc_setting = (
        contextlib.nullcontext()
        if args.gc_default
        else young_collections_for(concurrency=args.lag_concurrency)
    )
    with gc_setting:
        if args.worker == "throughput":
            result = run_with_loop(throughput_worker(args), args.loop)
        else:
            result = run_with_loop(lag_worker(args), args.loop)
    result["loop"] = args.loop
    print(json.dumps(result))
    return 0


# --- orchestration ------------------------------------------------------------------------


def spawn(worker_args: list[str], *, timeout: float) -> Result | None:
    """Run one measured worker; None (reported here) when it hangs or fails: the rest go on."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *worker_args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # run() has killed the worker
        print(f"  KILLED: worker {worker_args} took longer than {timeout:g} s", flush=True)
        return None
    if out.returncode != 0 or not out.stdout.strip():
        print(
            f"  FAILED: worker {worker_args} exited {out.returncode}:\n{out.stderr[-3000:]}",
            flush=True,
        )
        return None
    result: Result = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def gc_args(args: argparse.Namespace) -> list[str]:
    """The collector setting every worker runs with (the agent's for its lag runs' workers)."""
    return [f"--lag-concurrency={args.lag_concurrency}"] + (
        ["--gc-default"] if args.gc_default else []
    )


def throughput_round(
    kind: str, args: argparse.Namespace, target: Server, blackbox: Server | None
) -> Result | None:
    """One round of `kind`; a paced kind is "pantau-paced@<checks a second>"."""
    kind, _, rate = kind.partition("@")
    loop = "asyncio" if kind == "pantau-asyncio" else "uvloop"
    checks = round(float(rate) * args.paced_seconds) if rate else args.checks
    wargs = [
        "--worker=throughput",
        f"--kind={kind}",
        f"--loop={loop}",
        f"--url={target.url}",
        f"--checks={checks}",
        f"--warmup={args.warmup}",
        f"--concurrency={args.concurrency}",
    ]
    wargs += gc_args(args)
    if rate:
        wargs += [f"--rate={rate}", f"--interval={args.interval}"]
    if kind == "blackbox":
        assert blackbox is not None
        wargs += [f"--blackbox-url={blackbox.url}probe", f"--blackbox-pid={blackbox.proc.pid}"]
    r = spawn(wargs, timeout=WORKER_TIMEOUT)
    if r is None:
        return None
    if kind == "blackbox":  # the measured process is the exporter; the driver is a client
        r["driver_cpu"] = r["cpu_user"] + r["cpu_sys"]
        r["cpu"] = r["other_cpu"]
    else:
        r["cpu"] = r["cpu_user"] + r["cpu_sys"]
    r["per_cpu_s"] = r["checks"] / r["cpu"] if r["cpu"] > 0 else math.nan
    r["per_wall_s"] = r["checks"] / r["wall"]
    return r


KIND_LABEL = {
    "pantau": "pantau run_check, uvloop",
    "pantau-asyncio": "pantau run_check, asyncio",
    "pantau-paced": "pantau run_check, paced",
    "bare": "bare aiohttp GET, uvloop",
    "blackbox": "blackbox_exporter",
}


def paced_kind(rate: float) -> str:
    return f"pantau-paced@{rate:g}"


def kind_label(kind: str) -> str:
    kind, _, rate = kind.partition("@")
    return f"pantau run_check {float(rate):,.0f}/s" if rate else KIND_LABEL[kind]


def lag_rates(args: argparse.Namespace) -> list[float]:
    """Checks a second the real-HTTP lag runs ask for: the paced rounds' rates."""
    real = {int(s) for s in args.lag_real.split(",") if s}
    return [size / args.interval for size in map(int, args.lag_sizes.split(",")) if size in real]


def sanity(target: Server, blackbox: Server | None) -> None:
    try:
        check_answers(target, blackbox)
    except OSError as exc:  # urllib's HTTPError and URLError included
        raise BenchError(f"sanity check failed: {exc}") from exc


def check_answers(target: Server, blackbox: Server | None) -> None:
    with urllib.request.urlopen(target.url, timeout=5) as resp:
        body = resp.read()
        if resp.status != 200 or b"pantau bench" not in body:
            raise BenchError(f"nginx answered {resp.status}: {body[:80]!r}")
    if blackbox is not None:
        q = f"{blackbox.url}probe?target={target.url}&module=http_2xx"
        with urllib.request.urlopen(q, timeout=10) as resp:
            if b"\nprobe_success 1" not in resp.read():
                raise BenchError("blackbox_exporter does not report probe_success 1 for nginx")


def run_throughput(
    args: argparse.Namespace, target: Server, blackbox: Server | None
) -> dict[str, list[Result]]:
    kinds = [k for k in args.kinds.split(",") if k in KIND_LABEL and (k != "blackbox" or blackbox)]
    if "pantau-paced" in kinds:  # one paced kind per rate of the lag runs
        at = kinds.index("pantau-paced")
        kinds[at : at + 1] = [paced_kind(rate) for rate in lag_rates(args)]
    results: dict[str, list[Result]] = {k: [] for k in kinds}
    print(
        f"\n## Checks per CPU-second: {args.checks:,} checks per round after {args.warmup:,} "
        f"warm-up, concurrency {args.concurrency}, {args.rounds} rounds (order rotates);"
        f" paced: at the rate of a lag run (the same checks started"
        f" in the groups the schedule starts them in, {args.paced_seconds:g} s a round)"
    )
    head = (
        f"{'round':>5}  {'kind':<27} {'checks':>7} {'fail':>5} {'wall s':>7} {'CPU s':>7} "
        f"{'checks/CPU-s':>12} {'checks/s':>9} {'RSS MB':>7}  note"
    )
    print(head)
    print("-" * len(head))
    for rnd in range(args.rounds):
        order = kinds[rnd % len(kinds) :] + kinds[: rnd % len(kinds)]
        for kind in order:
            r = throughput_round(kind, args, target, blackbox)
            if r is None:
                continue
            results[kind].append(r)
            note = ""
            if kind == "blackbox":
                note = f"CPU of the exporter; driver used {r['driver_cpu']:.2f} s"
            if r["failed"]:
                note += f" failures: {r['failures']}"
            print(
                f"{rnd + 1:>5}  {kind_label(kind):<27} {r['checks']:>7,} {r['failed']:>5} "
                f"{r['wall']:>7.2f} {r['cpu']:>7.2f} {r['per_cpu_s']:>12,.0f} "
                f"{r['per_wall_s']:>9,.0f} {r['rss_mb']:>7.1f}  {note}",
                flush=True,
            )
    print(
        f"\n{'kind':<27} {'median checks/CPU-s':>19} {'min':>7} {'max':>7} "
        f"{'median CPU µs/check':>19} {'vs blackbox':>11}"
    )
    bb = median([r["per_cpu_s"] for r in results.get("blackbox", [])])
    for kind in kinds:
        vals = [r["per_cpu_s"] for r in results[kind]]
        med = median(vals)
        vs = f"{med / bb:.2f}x" if blackbox and bb > 0 else "-"
        print(
            f"{kind_label(kind):<27} {med:>19,.0f} {min(vals):>7,.0f} {max(vals):>7,.0f} "
            f"{1e6 / med:>19,.0f} {vs:>11}"
        )
    return results


def spool_modes(args: argparse.Namespace) -> list[bool]:
    return {"on": [True], "off": [False], "both": [True, False]}[args.lag_spool]


def runner_label(r: Result) -> str:
    return ("http+spool" if r["spool"] else "http") if r["real"] else "cheap"


def run_lag(args: argparse.Namespace, target: Server) -> list[Result]:
    sizes = [int(s) for s in args.lag_sizes.split(",") if s]
    real_sizes = {int(s) for s in args.lag_real.split(",") if s}
    window = args.intervals * args.interval + args.margin
    print(
        f"\n## Schedule lag: the real Schedule from a cold start, interval {args.interval:g} s, "
        f"{args.intervals} intervals (~{window:.0f} s per run), concurrency "
        f"{args.lag_concurrency}, uvloop, {args.lag_rounds} round(s); http+spool: the agent's"
        f" JobRunner saving each result through its Shipper into a spool file, http: the same"
        f" without saving"
    )
    out: list[Result] = []
    for rnd in range(args.lag_rounds):
        for size in sizes:
            real = size in real_sizes
            for spool in spool_modes(args) if real else [False]:
                wargs = (
                    [
                        "--worker=lag",
                        "--loop=uvloop",
                        f"--size={size}",
                        f"--interval={args.interval}",
                        f"--intervals={args.intervals}",
                        f"--margin={args.margin}",
                        f"--concurrency={args.lag_concurrency}",
                        f"--url={target.url}",
                    ]
                    + gc_args(args)
                    + (["--real"] if real else [])
                    + (["--spool"] if spool else [])
                )
                if args.profile:
                    name = f"lag-{size}-{'spool' if spool else 'nospool'}-{rnd + 1}.prof"
                    wargs.append(f"--profile={Path(args.profile) / name}")
                r = spawn(wargs, timeout=window + 120.0)
                if r is None:
                    continue
                r["round"] = rnd + 1
                out.append(r)
                print(
                    f"  round {rnd + 1}: {size:,} targets, {runner_label(r)}: "
                    f"{r['runs_per_cpu_s']:,.0f} runs/CPU-s, steady p99 lag "
                    f"{r['steady']['reported_p99']:.3f} s, peak RSS {r['rss_mb']:.0f} MB; "
                    f"load average {load()}",
                    flush=True,
                )
    if not out:
        return out
    print()
    head = (
        f"{'targets':>8} {'runner':<10} {'rnd':>3} {'round':<7} {'runs':>7} "
        f"{'lag p50':>8} {'p99':>7} {'max':>7} {'vs slot p50':>11} {'p99':>7} {'max':>7}"
    )
    print("lag in seconds; lag = what the probe reports (pantau_probe_schedule_lag_seconds);")
    print("vs slot = start minus the job's nearest slot (anchor + k x interval; < 0: early);")
    print("first = runs planned in the first interval after start (the cold start); steady =")
    print("runs planned in the intervals after it; all = every run in the window")
    print(head)
    print("-" * len(head))
    for r in out:
        for name in ("first", "steady", "all"):
            s = r[name]
            print(
                f"{r['size']:>8,} {runner_label(r):<10} {r['round']:>3} {name:<7} "
                f"{s['runs']:>7,} {s['reported_p50']:>8.3f} {s['reported_p99']:>7.3f} "
                f"{s['reported_max']:>7.3f} {s['slot_p50']:>11.3f} {s['slot_p99']:>7.3f} "
                f"{s['slot_max']:>7.3f}"
            )
    print()
    head2 = (
        f"{'targets':>8} {'runner':<10} {'rnd':>3} {'RSS MB set-up':>13} {'updated':>7} "
        f"{'peak':>6} {'CPU s':>6} {'runs/CPU-s':>10} {'update s':>8} {'+ blocked':>9} "
        f"{'cold start p50':>14} {'all':>6} {'peak/s':>6} {'ideal/s':>7} {'skipped':>7} "
        f"{'fail':>5}  notes"
    )
    print("RSS set-up: after building targets and jobs; updated: after start + update();")
    print("update s: schedule.update() itself; + blocked: then until the loop ran this")
    print("coroutine again; CPU s and runs/CPU-s: the whole process from start() to the end")
    print("of the window (shutdown excluded); cold start: s after start until a target's first")
    print("run (p50, and until every target had run); peak/s: most steady runs started in one")
    print("second (ideal/s = targets / interval); skipped: slots not run (pantau_probe_jobs_")
    print("skipped_total); per steady interval: jobs without a run / run twice")
    print(head2)
    print("-" * len(head2))
    for r in out:
        notes = [
            f"peak {r['peak_tasks']:,} tasks, {r['peak_in_flight']:,} in flight, "
            f"{r['peak_waiting']:,} waiting",
            f"shutdown {r['shutdown_s']:.1f} s with {r['pending_at_shutdown']:,} tasks pending",
        ]
        if r["spool"]:
            notes.append(f"{r['spooled']:,} results in the spool, {r['checks_counted']:,} counted")
        notes += [
            f"interval {p['interval']}: {p['jobs_without_run']:,} without a run, "
            f"{p['jobs_run_twice']:,} twice"
            for p in r["per_interval"]
        ]
        if r["never_ran"]:
            notes.append(f"{r['never_ran']:,} never ran")
        if r["failed"]:
            notes.append(f"failures: {r['failures']}")
        print(
            f"{r['size']:>8,} {runner_label(r):<10} {r['round']:>3} {r['rss_setup_mb']:>13.1f} "
            f"{r['rss_update_mb']:>7.1f} {r['rss_mb']:>6.1f} {r['cpu_s']:>6.1f} "
            f"{r['runs_per_cpu_s']:>10,.0f} {r['update_s']:>8.2f} {r['blocked_s']:>9.2f} "
            f"{r['cold_start_p50']:>14.1f} {r['cold_start_all']:>6.1f} "
            f"{r['steady_peak_per_s']:>6,} {r['size'] / r['interval']:>7,.0f} "
            f"{r['skipped']:>7,} {r['failed']:>5}  " + "; ".join(notes)
        )
    return out


def lag_groups(lag: list[Result]) -> dict[tuple[int, str], list[Result]]:
    """The lag runs by (targets, runner), in the order they ran."""
    groups: dict[tuple[int, str], list[Result]] = {}
    for r in lag:
        groups.setdefault((r["size"], runner_label(r)), []).append(r)
    return groups


def print_shares(
    lag: list[Result], throughput: dict[str, list[Result]], args: argparse.Namespace
) -> None:
    """Scheduled runs per CPU-s (median of the rounds) against the throughput rounds'."""
    unpaced = median([r["per_cpu_s"] for r in throughput.get("pantau", [])])
    print(
        f"\n## Scheduled checks per CPU-second against the same check unscheduled (medians;"
        f" unpaced = back to back, {unpaced:,.0f}/CPU-s; paced = at the lag run's rate)"
    )
    head = (
        f"{'targets':>8} {'runner':<10} {'rounds':>6} {'runs/CPU-s':>10} {'CPU µs/run':>10} "
        f"{'paced':>7} {'vs unpaced':>10} {'vs paced':>8} {'steady p99 lag':>14} {'peak RSS':>8}"
    )
    print(head)
    print("-" * len(head))
    for (size, runner), runs in lag_groups(lag).items():
        per_cpu = median([r["runs_per_cpu_s"] for r in runs])
        paced = median(
            [r["per_cpu_s"] for r in throughput.get(paced_kind(size / args.interval), [])]
        )
        print(
            f"{size:>8,} {runner:<10} {len(runs):>6} {per_cpu:>10,.0f} {1e6 / per_cpu:>10,.0f} "
            f"{paced:>7,.0f} {per_cpu / unpaced:>9.2f}x {per_cpu / paced:>7.2f}x "
            f"{median([r['steady']['reported_p99'] for r in runs]):>13.3f}s "
            f"{max(r['rss_mb'] for r in runs):>6.0f}MB"
        )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def orchestrate(args: argparse.Namespace) -> int:
    tools = {"nginx": "nginx"}
    if not args.skip_throughput and "blackbox" in args.kinds.split(","):
        tools["prometheus-blackbox-exporter"] = "prometheus-blackbox-exporter"
    try:
        require_tools(tools)  # what `make bench-probe` promises: installed when missing
    except ToolUnavailable as exc:
        raise BenchError(str(exc)) from exc
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.checks, args.warmup, args.rounds = 5_000, 500, 3
        args.interval = 20.0
    print("# Pantau probe throughput and schedule lag")
    print(
        f"host: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Linux {platform.release()}; Python {platform.python_version()}, "
        f"aiohttp {version('aiohttp')}, uvloop {version('uvloop')}, "
        f"nginx {nginx_version()}, "
        f"blackbox_exporter {blackbox_version()}"
    )
    print(f"target: nginx (own config, 1 worker, separate process) on {HOST}, static body")
    print(f"load average at start: {load()} (lag figures are wall-clock: other load shows there)")
    print(
        "garbage collector: Python's default thresholds"
        if args.gc_default
        else f"garbage collector: the agent's (probe.gc_policy), young threshold "
        f"{young_threshold(concurrency=args.lag_concurrency):,} in every worker"
    )
    ratio = pantau_per_cpu_s = math.nan
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="pantau-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # nginx workers run as nobody when started by root
        (tmp / "nginx").mkdir()
        (tmp / "blackbox").mkdir()
        with nginx(tmp / "nginx") as target:
            print(f"target URL: {target.url}")
            if not args.skip_throughput:
                with contextlib.ExitStack() as stack:
                    blackbox: Server | None = None
                    try:
                        if "blackbox" not in args.kinds.split(","):
                            raise BenchError("not asked for (--kinds)")
                        blackbox = stack.enter_context(blackbox_exporter(tmp / "blackbox"))
                    except BenchError as exc:
                        print(f"blackbox_exporter not run: {exc}")
                    sanity(target, blackbox)
                    results = run_throughput(args, target, blackbox)
                pantau_per_cpu_s = median([r["per_cpu_s"] for r in results.get("pantau", [])])
                if blackbox is not None and results.get("blackbox"):
                    ratio = median([r["per_cpu_s"] for r in results["pantau"]]) / median(
                        [r["per_cpu_s"] for r in results["blackbox"]]
                    )
            lag: list[Result] = [] if args.skip_lag else run_lag(args, target)
    if lag and not math.isnan(pantau_per_cpu_s):
        print_shares(lag, results, args)
    print(f"\nload average at the end: {load()}")
    print("\n## Goals (lag runs: medians of the rounds; every job once per interval: all rounds)")
    if not math.isnan(ratio):
        print(f"checks/CPU-s vs blackbox_exporter: {ratio:.2f}x (goal >= {GOAL_RATIO}x)"
              f" {'met' if ratio >= GOAL_RATIO else 'MISSED'}")  # fmt: skip
    for (size, runner), runs in lag_groups(lag).items():
        p99 = median([r["steady"]["reported_p99"] for r in runs])
        slot_p99 = median([r["steady"]["slot_p99"] for r in runs])
        rss = max(r["rss_mb"] for r in runs)
        missed_runs = sum(
            p["jobs_without_run"] + p["jobs_run_twice"] for r in runs for p in r["per_interval"]
        )
        print(
            f"{size:,} targets ({runner}): steady p99 lag {p99:.3f} s as reported, "
            f"{slot_p99:.3f} s vs the slot (goal < {GOAL_P99_LAG:g} s) "
            f"{'met' if p99 < GOAL_P99_LAG else 'MISSED'}; once per steady interval: "
            f"{missed_runs:,} jobs not {'met' if missed_runs == 0 else 'MISSED'}; "
            f"peak RSS {rss:.0f} MB (goal < {GOAL_RSS_MB:g} MB) "
            f"{'met' if rss < GOAL_RSS_MB else 'MISSED'}; every target reached "
            f"{median([r['cold_start_all'] for r in runs]):.1f} s after a cold start"
        )
        if runs[0]["real"] and not math.isnan(pantau_per_cpu_s):
            per_cpu = median([r["runs_per_cpu_s"] for r in runs])
            share = per_cpu / pantau_per_cpu_s
            print(
                f"  scheduled runs/CPU-s {per_cpu:,.0f} = {share:.2f}x the throughput "
                f"rounds' {pantau_per_cpu_s:,.0f} (goal >= {GOAL_SCHEDULED_SHARE}x) "
                f"{'met' if share >= GOAL_SCHEDULED_SHARE else 'MISSED'}"
            )
    print(f"RESULT ratio={ratio:.2f} goal={GOAL_RATIO}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checks", type=int, default=20_000, help="checks per throughput round")
    p.add_argument("--warmup", type=int, default=1_000, help="unmeasured checks first")
    p.add_argument("--rounds", type=int, default=5, help="throughput rounds (median taken)")
    p.add_argument("--concurrency", type=int, default=64, help="checks in flight (throughput)")
    p.add_argument("--interval", type=float, default=60.0, help="check interval for the lag runs")
    p.add_argument("--margin", type=float, default=3.0, help="seconds after the last interval")
    p.add_argument("--lag-sizes", default="10000,50000", help="target counts for the lag runs")
    p.add_argument("--lag-real", default="10000,50000", help="sizes run with real HTTP checks")
    p.add_argument("--intervals", type=int, default=3, help="intervals per lag run (>= 2)")
    p.add_argument(
        "--kinds",
        default=",".join(KIND_LABEL),
        help="throughput kinds to run (pantau-paced: one per rate of the real-HTTP lag runs)",
    )
    p.add_argument("--paced-seconds", type=float, default=30.0, help="length of a paced round")
    p.add_argument(
        "--lag-spool",
        choices=["on", "off", "both"],
        default="on",
        help="real-HTTP lag runs save each result in a spool file as the agent does (on), not"
        " at all (off), or one run of each",
    )
    p.add_argument("--lag-rounds", type=int, default=1, help="lag runs per size (medians)")
    p.add_argument("--profile", help="write a cProfile of each lag run into this directory")
    p.add_argument("--lag-concurrency", type=int, default=200, help="Schedule concurrency")
    p.add_argument(
        "--gc-default",
        action="store_true",
        help="Python's default collector thresholds instead of the agent's (probe.gc_policy)",
    )
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-lag", action="store_true")
    p.add_argument("--quick", action="store_true", help="5,000 checks x 3 rounds, 20 s interval")
    # internal: the measured subprocesses
    p.add_argument("--worker", choices=["throughput", "lag"], help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    p.add_argument(
        "--loop", default="uvloop", choices=["uvloop", "asyncio"], help=argparse.SUPPRESS
    )
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--blackbox-url", help=argparse.SUPPRESS)
    p.add_argument("--blackbox-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--real", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--spool", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    try:
        return orchestrate(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"RESULT ratio=nan goal={GOAL_RATIO}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
