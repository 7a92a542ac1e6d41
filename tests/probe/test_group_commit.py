"""Group commit of saved results: grouping, errors, cancellation, and a SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from probe.agent import JobRunner
from probe.checks.base import CheckContext
from probe.group_commit import GroupCommit
from probe.metrics import ProbeMetrics
from probe.schedule import Job
from tests.probe.spool_helpers import drain, lines_until_killed, metric, numbers, open_spool
from wire.messages import CheckResult, UsageSample
from wire.specs import TcpCheck


class Gate:
    """A write function that records each group and blocks until released (or fails)."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail_group: int | None = None  # the index of the group to fail

    def __call__(self, items: list[int]) -> None:
        self.groups.append(list(items))
        self.started.release()
        assert self.release.acquire(timeout=10)
        if len(self.groups) - 1 == self.fail_group:
            raise OSError("disk full")

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.acquire, timeout=10)


async def test_saves_that_come_during_a_write_share_the_next_one() -> None:
    gate = Gate()
    saves = GroupCommit(gate)
    first = asyncio.create_task(saves.add([0]))
    await gate.wait_started()
    rest = [asyncio.create_task(saves.add([n, n + 100])) for n in range(1, 6)]
    await asyncio.sleep(0)  # they all joined the waiting group
    assert not any(t.done() for t in [first, *rest])
    gate.release.release()
    await first
    await gate.wait_started()
    assert not any(t.done() for t in rest)  # not before their own group is written
    gate.release.release()
    await asyncio.gather(*rest)
    assert gate.groups == [[0], [1, 101, 2, 102, 3, 103, 4, 104, 5, 105]]
    assert not saves.writing


async def test_a_failing_write_fails_its_whole_group_and_the_next_group_is_written() -> None:
    gate = Gate()
    gate.fail_group = 1
    saves = GroupCommit(gate)
    first = asyncio.create_task(saves.add([0]))
    await gate.wait_started()
    doomed = [asyncio.create_task(saves.add([n])) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    gate.release.release()
    await first
    await gate.wait_started()
    later = asyncio.create_task(saves.add([4]))
    await asyncio.sleep(0)
    gate.release.release()
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert [str(e) for e in outcomes] == ["disk full"] * 3
    assert all(isinstance(e, OSError) for e in outcomes)
    await gate.wait_started()
    gate.release.release()
    await later  # a later group works again
    assert gate.groups == [[0], [1, 2, 3], [4]]


async def test_a_cancelled_save_leaves_the_others_of_its_group_alone() -> None:
    gate = Gate()
    saves = GroupCommit(gate)
    first = asyncio.create_task(saves.add([0]))
    await gate.wait_started()
    kept, cancelled = asyncio.create_task(saves.add([1])), asyncio.create_task(saves.add([2]))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.release.release()
    await first
    await gate.wait_started()
    gate.release.release()
    await kept
    assert cancelled.cancelled()
    assert gate.groups == [[0], [1, 2]]  # its items were handed over: they are written anyway


def test_a_save_once_the_executor_is_shut_down_fails_instead_of_hanging() -> None:
    async def closing_loop() -> None:
        saves = GroupCommit[int](lambda items: None)
        await asyncio.get_running_loop().shutdown_default_executor()
        for _ in range(2):  # and the next one too: no write is left marked as running
            with pytest.raises(RuntimeError, match="shutdown"):
                await asyncio.wait_for(saves.add([1]), timeout=10)
            assert not saves.writing

    asyncio.run(closing_loop())  # a loop of its own: this one's executor is shut down


class SlowSaver:
    """Holds every submit until released; fails it when told to."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.error: Exception | None = None
        self.saved: list[CheckResult | UsageSample] = []

    async def submit(
        self, *, results: Sequence[CheckResult] = (), usage: Sequence[UsageSample] = ()
    ) -> None:
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        self.saved += [*results, *usage]


async def test_a_check_is_counted_only_once_its_result_is_saved() -> None:
    metrics = ProbeMetrics(registry=CollectorRegistry())
    saver = SlowSaver()
    async with aiohttp.ClientSession() as session:
        runner = JobRunner(ctx=CheckContext(session=session), saver=saver, metrics=metrics)
        # Port 1 on loopback refuses at once: a quick check with a known outcome.
        job = Job("a/check/tcp", "a", TcpCheck(host="127.0.0.1", port=1), 60.0, "dinkes")

        def counted() -> float:
            return metric(metrics, "pantau_probe_checks_total", kind="tcp", outcome="connect")

        run = asyncio.create_task(runner(job, time.time()))
        await saver.entered.wait()
        assert counted() == 0  # the check is done, its result not saved yet
        saver.release.set()
        await run
        assert len(saver.saved) == 1
        assert counted() == 1

        saver.error = OSError("disk full")
        with pytest.raises(OSError, match="disk full"):
            await runner(job, time.time())
        assert counted() == 1  # a result that was not saved is not counted


# Many concurrent submits through the probe's own Shipper (group commit); prints the number of
# each result whose submit returned. It is killed with SIGKILL at some point.
_CHILD = textwrap.dedent(
    """
    import asyncio
    import sys
    from pathlib import Path

    import aiohttp
    from prometheus_client import CollectorRegistry

    from probe.delivery import Shipper
    from probe.metrics import ProbeMetrics
    from tests.probe.spool_helpers import open_spool, result

    async def main() -> None:
        metrics = ProbeMetrics(registry=CollectorRegistry())
        spool = open_spool(Path(sys.argv[1]), metrics)
        async with aiohttp.ClientSession() as session:
            shipper = Shipper(spool=spool, session=session, collector_url="http://127.0.0.1:1",
                              token="t", metrics=metrics)
            counter = iter(range(10**9))

            async def worker() -> None:
                while True:
                    n = next(counter)
                    await shipper.submit(results=[result("a", n)])
                    print(n, flush=True)

            await asyncio.gather(*(worker() for _ in range(50)))

    asyncio.run(main())
    """
)


def test_sigkill_loses_no_result_whose_submit_returned(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    lines, errors = lines_until_killed(_CHILD, path, lines=3000, timeout=30)
    done = {int(line) for line in lines}
    assert len(done) >= 3000, errors

    with open_spool(path, ProbeMetrics(registry=CollectorRegistry())) as spool:
        stored = [n for batch in drain(spool) for n in numbers(batch.results)]
    assert done <= set(stored)  # every result reported as saved is there
    assert max(Counter(stored).values()) == 1  # and once
