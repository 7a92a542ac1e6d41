"""Items, spools and waiting, shared by the spool and delivery tests."""

from __future__ import annotations

import asyncio
import gzip
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from probe.metrics import ProbeMetrics
from probe.spool import Spool
from wire.messages import CheckResult, ResultBatch, UsageSample

REPO = Path(__file__).resolve().parents[2]
PROBE = "probe-test"
BIG = 1 << 30  # a size cap that is never reached


def result(app: str, n: int) -> CheckResult:
    """The n-th result of app; `message` carries n so order and identity can be checked."""
    return CheckResult(
        app=app,
        check="http",
        kind="http",
        ts=1_700_000_000 + n,
        ok=True,
        message=str(n),
        duration_seconds=0.01,
    )


def usage(app: str, n: int) -> UsageSample:
    return UsageSample(app=app, metric="logins", kind="counter", ts=1_700_000_000 + n, value=n)


def numbers(results: list[CheckResult]) -> list[int]:
    return [int(r.message or "") for r in results]


def open_spool(path: Path, metrics: ProbeMetrics, *, max_bytes: int = BIG) -> Spool:
    return Spool.open(path, probe=PROBE, max_bytes=max_bytes, metrics=metrics)


def unpack(body: bytes) -> ResultBatch:
    return msgspec.json.decode(gzip.decompress(body), type=ResultBatch)


def drain(spool: Spool) -> list[ResultBatch]:
    """Everything the spool holds, oldest first, as batches (acknowledging them)."""
    batches = []
    while (sealed := spool.oldest_sealed() or spool.seal(max_items=1000)) is not None:
        batches.append(unpack(sealed.body))
        spool.ack(sealed.batch_id)
    return batches


def metric(metrics: ProbeMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def lines_until_killed(
    source: str, path: Path, *, lines: int, timeout: float
) -> tuple[list[str], str]:
    """Run `python -c source path` from the repository, read what it prints until `lines` lines
    or `timeout` seconds, kill it with SIGKILL; its complete lines (a line without its newline
    was being written when the kill came) and its stderr."""
    with subprocess.Popen(
        [sys.executable, "-c", source, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        out: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < lines and time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:
                    break
                out.append(line)
        finally:
            child.send_signal(signal.SIGKILL)
        # Not communicate(): it would skip what the readline() buffer already holds.
        rest, errors = child.stdout.read(), child.stderr.read()
        assert child.wait() == -signal.SIGKILL, errors
    out += rest.splitlines(keepends=True)
    return [line for line in out if line.endswith("\n")], errors
