"""Probe throughput and schedule lag, against local targets; a benchmark, run on demand.

    .venv/bin/python bench/probe_throughput.py            # full run (6-7 min)
    .venv/bin/python bench/probe_throughput.py --quick    # smaller, 20 s interval (~2 min)
    .venv/bin/python bench/probe_throughput.py --skip-throughput --lag-real 10000,50000
                                                          # lag only, real checks at 50,000 too

Measures, each in its own subprocess (so its CPU clock and peak RSS are its own):

1. checks per CPU-second: `run_check` with an `HttpCheck` against a local nginx (Debian's, its
   own config, in a separate process), a fresh connection per check (`check_session`), uvloop;
   a bare aiohttp GET the same way for reference; Pantau on the default asyncio loop too (what
   `pantau-probe run` uses today).
2. Debian's prometheus-blackbox-exporter probing the same nginx (module http_2xx), driven by a
   client process; its own CPU time from /proc/<pid>/stat. Ratio = Pantau ÷ blackbox_exporter.
3. schedule lag with the real `Schedule` (APScheduler 3) at 10,000 and 50,000 targets at a 60 s
   interval: the first round (spread over FIRST_RUN_SPREAD_SECONDS) and one steady interval;
   lag as `on_lag` reports it, lag against APScheduler's own planned time, and peak RSS. By
   default real HTTP checks at 10,000 and a cheap runner (`asyncio.sleep(0)`, scheduling
   alone) at 50,000.

Throughput figures are medians of several rounds (the machine is shared and noisy). Traffic
stays on 127.0.0.1; every server and worker is started and stopped here. The last line is
`RESULT ratio=<x> goal=1.5`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
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
from collections.abc import Awaitable, Callable, Coroutine
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import aiohttp
import uvloop

from probe.agent import check_session
from probe.checks import CheckContext, run_check
from probe.schedule import EPOCH, FIRST_RUN_SPREAD_SECONDS, Job, Schedule, jobs_for, offset_fraction
from wire.messages import Target
from wire.specs import HttpCheck

sys.path.insert(0, str(Path(__file__).resolve().parent))
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

GOAL_RATIO = 1.5
GOAL_P99_LAG = 1.0
GOAL_RSS_MB = 400.0
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


async def measured(
    one: Callable[[], Awaitable[str | None]],
    *,
    checks: int,
    warmup: int,
    concurrency: int,
    other_pid: int | None = None,
) -> Result:
    await drive(one, warmup, concurrency)
    other0 = proc_cpu_seconds(other_pid) if other_pid else 0.0
    u0, s0 = cpu_now()
    t0 = time.perf_counter()
    failures = await drive(one, checks, concurrency)
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
    if args.kind in ("pantau", "pantau-asyncio"):
        spec = HttpCheck(url=url)
        async with check_session(limit=args.concurrency) as session:
            ctx = CheckContext(session=session)

            async def pantau_one() -> str | None:
                result = await run_check(spec, app="bench", ctx=ctx)
                return None if result.ok else f"{result.reason}: {result.message}"

            return await measured(
                pantau_one, checks=args.checks, warmup=args.warmup, concurrency=args.concurrency
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


async def lag_worker(args: argparse.Namespace) -> Result:
    """The real Schedule with `size` targets for the first round and one steady interval."""
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
    )

    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # counted below instead
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
    firsts = array("b")  # 1: the job's first run after start, 0: a run in its slot
    which = array("i")  # the job, as its index in `jobs`
    job_index = {job_id: k for k, job_id in enumerate(jobs)}
    reported = array("d")  # lag as on_lag got it
    plans = array("d")  # APScheduler's planned time for the run
    slot_offset = array("d")  # start minus the job's own slot (its offset in the interval)
    runs: dict[str, int] = {}
    separate_first_runs = False  # one APScheduler job for the first run, one for the slots
    events: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    last_lag = math.nan
    in_flight = 0
    epoch = EPOCH.timestamp()

    def on_lag(lag: float) -> None:
        nonlocal last_lag
        last_lag = lag

    def listener(event: Any) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            if len(event.scheduled_run_times) > 1:
                events["coalesced"] += len(event.scheduled_run_times) - 1
        elif event.code == EVENT_JOB_MISSED:
            events["missed"] += 1
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            events["skipped (max_instances)"] += 1
        elif event.code == EVENT_JOB_ERROR:  # cancelled at shutdown, or a runner raised
            events["job errors"] += 1

    async with contextlib.AsyncExitStack() as stack:
        ctx: CheckContext | None = None
        if real:
            session = await stack.enter_async_context(check_session(limit=args.concurrency))
            ctx = CheckContext(session=session)

        async def runner(job: Job, planned: float) -> None:
            nonlocal last_lag, in_flight
            now = time.time()
            # Schedule calls on_lag right before the runner, with no await in between.
            lag, last_lag = last_lag, math.nan
            n = runs[job.job_id] = runs.get(job.job_id, 0) + 1
            aps_id, aps_planned = apscheduler_run()
            if aps_id is not None and aps_id != job.job_id:
                first = True
            else:
                first = n == 1 and not separate_first_runs
            starts.append(now)
            firsts.append(first)
            which.append(job_index[job.job_id])
            reported.append(lag)
            plans.append(aps_planned)
            slot = epoch + offset_fraction(job.job_id) * job.interval
            slot_offset.append((now - slot) % job.interval)
            in_flight += 1
            try:
                if ctx is None:
                    await asyncio.sleep(0)
                else:
                    assert isinstance(job.spec, HttpCheck)
                    result = await run_check(job.spec, app=job.app, ctx=ctx)
                    if not result.ok:
                        failures[f"{result.reason}: {result.message}"] += 1
            finally:
                in_flight -= 1

        schedule = Schedule(runner=runner, concurrency=args.concurrency, on_lag=on_lag)
        scheduler = getattr(schedule, "_scheduler", None)  # read-only: events for the figures
        if scheduler is not None:
            scheduler.add_listener(
                listener,
                EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR,
            )
        peak_tasks = 0

        async def count_tasks() -> None:  # jobs waiting at the gate are tasks too
            nonlocal peak_tasks
            while True:
                peak_tasks = max(peak_tasks, len(asyncio.all_tasks()) - 2)
                await asyncio.sleep(0.5)

        counter = asyncio.create_task(count_tasks())
        rss_setup = current_rss_mb()
        u0, s0 = cpu_now()
        # As the agent does: start, then the first target list arrives.
        schedule.start()
        t = time.perf_counter()
        await schedule.update(jobs)
        update_s = time.perf_counter() - t
        if scheduler is not None:
            separate_first_runs = len(scheduler.get_jobs()) > len(jobs)
        t_start = time.time() - update_s
        # How long until this coroutine runs again: the loop's work queued by update().
        t = time.perf_counter()
        await asyncio.sleep(0)
        blocked_s = time.perf_counter() - t
        rss_update = current_rss_mb()
        spread = min(interval, FIRST_RUN_SPREAD_SECONDS)
        # First round within `spread`, each job's next run within one interval after it.
        run_for = spread + interval + args.margin
        await asyncio.sleep(max(0.0, t_start + run_for - time.time()))
        u1, s1 = cpu_now()  # the figures are for the window; shutdown is timed on its own
        runs_in_window = len(starts)
        counter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await counter
        pending = len(asyncio.all_tasks()) - 1
        t = time.perf_counter()
        await shutdown(schedule)
        deadline = time.monotonic() + 15.0
        while in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        shutdown_s = time.perf_counter() - t

    update_end = t_start + update_s
    steady_from, steady_to = t_start + spread, t_start + spread + interval

    def in_steady_interval(i: int) -> bool:  # one full interval after the first-run spread
        when = starts[i] if math.isnan(plans[i]) else plans[i]
        return not firsts[i] and steady_from <= when < steady_to

    def stats(select: Callable[[int], bool]) -> Result:
        idx = [i for i in range(len(starts)) if select(i)]
        rep = [reported[i] for i in idx if not math.isnan(reported[i])]
        pln = [starts[i] - plans[i] for i in idx if not math.isnan(plans[i])]
        return {
            "runs": len(idx),
            "reported_p50": percentile(rep, 50),
            "reported_p99": percentile(rep, 99),
            "reported_max": max(rep, default=math.nan),
            "planned_p50": percentile(pln, 50),
            "planned_p99": percentile(pln, 99),
            "planned_max": max(pln, default=math.nan),
        }

    steady = [i for i in range(len(starts)) if in_steady_interval(i)]
    steady_starts = [starts[i] - t_start for i in steady]
    per_second = Counter(int(s) for s in steady_starts)
    on_slot = sum(
        1 for i in steady if slot_offset[i] < SLOT_TOLERANCE or slot_offset[i] > interval - 0.05
    )
    cpu = (u1 - u0) + (s1 - s0)
    return {
        "size": size,
        "interval": interval,
        "real": real,
        "concurrency": args.concurrency,
        "build_s": build_s,
        "update_s": update_s,
        "blocked_s": blocked_s,
        "ran_for": time.time() - t_start,
        "separate_first_runs": separate_first_runs,
        "first": stats(lambda i: bool(firsts[i])),
        "first_after_update": stats(lambda i: bool(firsts[i]) and plans[i] >= update_end),
        "steady": stats(in_steady_interval),
        "all": stats(lambda i: True),
        "jobs_without_steady_run": len(jobs) - len({which[i] for i in steady}),
        "steady_window": [
            min(steady_starts, default=math.nan),
            max(steady_starts, default=math.nan),
        ],
        "steady_peak_per_s": max(per_second.values(), default=0),
        "steady_on_slot": on_slot / len(steady) if steady else math.nan,
        "events": dict(events),
        "failed": sum(failures.values()),
        "failures": dict(failures.most_common(3)),
        "cpu_s": cpu,
        "runs_per_cpu_s": runs_in_window / cpu if cpu else math.nan,
        "peak_tasks": peak_tasks,
        "pending_at_shutdown": pending,
        "shutdown_s": shutdown_s,
        "rss_setup_mb": rss_setup,
        "rss_update_mb": rss_update,
        "rss_mb": peak_rss_mb(),
    }


def apscheduler_run() -> tuple[str | None, float]:
    """The APScheduler job id and planned time of the run that is calling, from the stack.

    The runner starts synchronously inside APScheduler's `run_coroutine_job` (through
    Schedule's own coroutines), so that frame is up the stack: read, never changed.
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(16):
        if frame is None:
            break
        if frame.f_code.co_name == "run_coroutine_job":
            job, run_time = frame.f_locals.get("job"), frame.f_locals.get("run_time")
            if job is not None and isinstance(run_time, dt.datetime):
                return str(job.id), run_time.timestamp()
            break
        frame = frame.f_back
    return None, math.nan


async def shutdown(schedule: Schedule) -> None:
    """Schedule.shutdown is sync in some versions of the probe and async (with grace) in others."""
    stopper: Callable[..., Any] = schedule.shutdown
    try:
        result = stopper(grace=5.0)
    except TypeError:
        result = stopper()
    if asyncio.iscoroutine(result):
        await result


def run_with_loop(coro: Coroutine[Any, Any, T], loop: str) -> T:
    if loop == "uvloop":
        return uvloop.run(coro)
    return asyncio.run(coro)


def worker_main(args: argparse.Namespace) -> int:
    if args.worker == "throughput":
        result = run_with_loop(throughput_worker(args), args.loop)
    else:
        result = run_with_loop(lag_worker(args), args.loop)
    result["loop"] = args.loop
    print(json.dumps(result))
    return 0


# --- orchestration ------------------------------------------------------------------------


def spawn(worker_args: list[str], *, timeout: float) -> Result:
    cmd = [sys.executable, str(Path(__file__).resolve()), *worker_args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed the worker
        raise BenchError(f"worker {worker_args} took longer than {timeout:g} s") from exc
    if out.returncode != 0 or not out.stdout.strip():
        raise BenchError(f"worker {worker_args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: Result = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def throughput_round(
    kind: str, args: argparse.Namespace, target: Server, blackbox: Server | None
) -> Result:
    loop = "asyncio" if kind == "pantau-asyncio" else "uvloop"
    wargs = [
        "--worker=throughput",
        f"--kind={kind}",
        f"--loop={loop}",
        f"--url={target.url}",
        f"--checks={args.checks}",
        f"--warmup={args.warmup}",
        f"--concurrency={args.concurrency}",
    ]
    if kind == "blackbox":
        assert blackbox is not None
        wargs += [f"--blackbox-url={blackbox.url}probe", f"--blackbox-pid={blackbox.proc.pid}"]
    r = spawn(wargs, timeout=WORKER_TIMEOUT)
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
    "bare": "bare aiohttp GET, uvloop",
    "blackbox": "blackbox_exporter",
}


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
    kinds = ["pantau", "bare", "pantau-asyncio"] + (["blackbox"] if blackbox else [])
    results: dict[str, list[Result]] = {k: [] for k in kinds}
    print(
        f"\n## Checks per CPU-second: {args.checks:,} checks per round after {args.warmup:,} "
        f"warm-up, concurrency {args.concurrency}, {args.rounds} rounds (order rotates)"
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
            results[kind].append(r)
            note = ""
            if kind == "blackbox":
                note = f"CPU of the exporter; driver used {r['driver_cpu']:.2f} s"
            if r["failed"]:
                note += f" failures: {r['failures']}"
            print(
                f"{rnd + 1:>5}  {KIND_LABEL[kind]:<27} {r['checks']:>7,} {r['failed']:>5} "
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
            f"{KIND_LABEL[kind]:<27} {med:>19,.0f} {min(vals):>7,.0f} {max(vals):>7,.0f} "
            f"{1e6 / med:>19,.0f} {vs:>11}"
        )
    return results


def run_lag(args: argparse.Namespace, target: Server) -> list[Result]:
    sizes = [int(s) for s in args.lag_sizes.split(",") if s]
    real_sizes = {int(s) for s in args.lag_real.split(",") if s}
    spread = min(args.interval, FIRST_RUN_SPREAD_SECONDS)
    print(
        f"\n## Schedule lag: real Schedule + APScheduler, interval {args.interval:g} s, "
        f"first round spread over {spread:g} s, then one steady interval "
        f"(~{spread + args.interval + args.margin:.0f} s per size), "
        f"Schedule concurrency {args.lag_concurrency}, uvloop"
    )
    out: list[Result] = []
    for size in sizes:
        real = size in real_sizes
        wargs = [
            "--worker=lag",
            "--loop=uvloop",
            f"--size={size}",
            f"--interval={args.interval}",
            f"--margin={args.margin}",
            f"--concurrency={args.lag_concurrency}",
            f"--url={target.url}",
        ] + (["--real"] if real else [])
        timeout = spread + args.interval + args.margin + 180.0
        print(
            f"  {size:,} targets, {'real HTTP checks' if real else 'cheap runner'} ...", flush=True
        )
        r = spawn(wargs, timeout=timeout)
        out.append(r)
    print()
    head = (
        f"{'targets':>8} {'runner':<6} {'round':<19} {'runs':>7} "
        f"{'on_lag p50':>10} {'p99':>7} {'max':>7} "
        f"{'vs APS p50':>10} {'p99':>7} {'max':>7}"
    )
    print("lag in seconds; on_lag = what the probe reports (its schedule_lag metric);")
    print("vs APS = start of the runner minus APScheduler's own planned time for that run.")
    print("first = each job's first run after start (spread over the first seconds); first,")
    print("after update = those planned after schedule.update() had returned; steady = runs")
    print("in the job's slot planned within one full interval after the spread; all = every")
    print("run in the window (slot runs during the spread too)")
    print(head)
    print("-" * len(head))
    for r in out:
        for name, label in ROUND_LABEL.items():
            s = r[name]
            print(
                f"{r['size']:>8,} {'http' if r['real'] else 'cheap':<6} {label:<19} "
                f"{s['runs']:>7,} "
                f"{s['reported_p50']:>10.3f} {s['reported_p99']:>7.3f} {s['reported_max']:>7.3f} "
                f"{s['planned_p50']:>10.3f} {s['planned_p99']:>7.3f} {s['planned_max']:>7.3f}"
            )
    print()
    head2 = (
        f"{'targets':>8} {'runner':<6} {'RSS MB set-up':>13} {'updated':>7} {'peak':>6} "
        f"{'CPU s':>6} {'runs/CPU-s':>10} {'update s':>8} {'+ blocked':>9} {'steady window s':>15} "
        f"{'peak/s':>6} {'ideal/s':>7} {'on slot':>7} {'fail':>5}  notes"
    )
    print("RSS set-up: after building targets and jobs; updated: after start + update();")
    print("update s: schedule.update() itself; + blocked: then until the loop ran this")
    print("coroutine again (the work update() queued on the loop);")
    print("CPU s and runs/CPU-s: the whole process from start() to the end of the window")
    print("(shutdown excluded); steady window: first..last steady run, s after start;")
    print("peak/s: most steady runs in one second (ideal/s = targets / interval); on slot:")
    print(f"steady runs started within {SLOT_TOLERANCE:g} s of the job's own offset in the")
    print("interval (offset_fraction x interval); tasks: asyncio tasks alive (sampled 2/s)")
    print(head2)
    print("-" * len(head2))
    for r in out:
        w0, w1 = r["steady_window"]
        notes = [
            f"peak {r['peak_tasks']:,} tasks",
            f"shutdown {r['shutdown_s']:.1f} s with {r['pending_at_shutdown']:,} tasks pending",
        ]
        notes += [f"{k} {v:,}" for k, v in r["events"].items()]
        if r["failed"]:
            notes.append(f"failures: {r['failures']}")
        if r["jobs_without_steady_run"]:
            notes.append(f"{r['jobs_without_steady_run']} jobs without a steady run")
        print(
            f"{r['size']:>8,} {'http' if r['real'] else 'cheap':<6} {r['rss_setup_mb']:>13.1f} "
            f"{r['rss_update_mb']:>7.1f} {r['rss_mb']:>6.1f} {r['cpu_s']:>6.1f} "
            f"{r['runs_per_cpu_s']:>10,.0f} {r['update_s']:>8.2f} {r['blocked_s']:>9.2f} "
            f"{f'{w0:.1f}..{w1:.1f}':>15} {r['steady_peak_per_s']:>6,} "
            f"{r['size'] / r['interval']:>7,.0f} {r['steady_on_slot']:>7.1%} {r['failed']:>5}  "
            + "; ".join(notes)
        )
    return out


ROUND_LABEL = {
    "first": "first",
    "first_after_update": "first, after update",
    "steady": "steady",
    "all": "all",
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def orchestrate(args: argparse.Namespace) -> int:
    if args.quick:
        args.checks, args.warmup, args.rounds = 5_000, 500, 3
        args.interval = 20.0
    print("# Pantau probe throughput and schedule lag")
    print(
        f"host: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Linux {platform.release()}; Python {platform.python_version()}, "
        f"aiohttp {version('aiohttp')}, uvloop {version('uvloop')}, "
        f"APScheduler {version('apscheduler')}; nginx {nginx_version()}, "
        f"blackbox_exporter {blackbox_version()}"
    )
    print(f"target: nginx (own config, 1 worker, separate process) on {HOST}, static body")
    print(f"load average at start: {load()} (lag figures are wall-clock: other load shows there)")
    ratio = math.nan
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
                        blackbox = stack.enter_context(blackbox_exporter(tmp / "blackbox"))
                    except BenchError as exc:
                        print(f"blackbox_exporter not run: {exc}")
                    sanity(target, blackbox)
                    results = run_throughput(args, target, blackbox)
                if blackbox is not None:
                    ratio = median([r["per_cpu_s"] for r in results["pantau"]]) / median(
                        [r["per_cpu_s"] for r in results["blackbox"]]
                    )
            lag: list[Result] = [] if args.skip_lag else run_lag(args, target)
    print(f"\nload average at the end: {load()}")
    print("\n## Goals")
    if not math.isnan(ratio):
        print(f"checks/CPU-s vs blackbox_exporter: {ratio:.2f}x (goal >= {GOAL_RATIO}x)"
              f" {'met' if ratio >= GOAL_RATIO else 'MISSED'}")  # fmt: skip
    for r in lag:
        p99 = r["all"]["reported_p99"]
        kind = "http" if r["real"] else "cheap"
        print(
            f"{r['size']:,} targets ({kind}): p99 lag {p99:.3f} s as reported, "
            f"{r['all']['planned_p99']:.3f} s vs APScheduler's plan (goal < {GOAL_P99_LAG:g} s) "
            f"{'met' if p99 < GOAL_P99_LAG else 'MISSED'}; peak RSS {r['rss_mb']:.0f} MB "
            f"(goal < {GOAL_RSS_MB:g} MB) {'met' if r['rss_mb'] < GOAL_RSS_MB else 'MISSED'}"
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
    p.add_argument("--margin", type=float, default=3.0, help="seconds after the steady interval")
    p.add_argument("--lag-sizes", default="10000,50000", help="target counts for the lag runs")
    p.add_argument("--lag-real", default="10000", help="sizes run with real HTTP checks")
    p.add_argument("--lag-concurrency", type=int, default=200, help="Schedule concurrency")
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
