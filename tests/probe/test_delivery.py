from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from probe.delivery import Shipper
from probe.metrics import ProbeMetrics
from probe.spool import Spool
from tests.probe.fake_collector import Behaviour, FakeCollector
from tests.probe.spool_helpers import metric, numbers, open_spool, result, usage, wait_until

TOKEN = "s3cret-probe-token"
FAILURES = "pantau_probe_push_failures_total"


@pytest.fixture
def metrics() -> ProbeMetrics:
    return ProbeMetrics(registry=CollectorRegistry())


@pytest.fixture
def spool(tmp_path: Path, metrics: ProbeMetrics) -> Iterator[Spool]:
    with open_spool(tmp_path / "spool.db", metrics) as spool:
        yield spool


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    fake = FakeCollector(token=TOKEN, slow_seconds=0.3)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def shipper(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> Shipper:
    return make_shipper(spool, session, collector, metrics)


def make_shipper(
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    **options: Any,
) -> Shipper:
    """A shipper with waits short enough for tests."""
    settings: dict[str, Any] = {
        "batch_max_items": 1000,
        "batch_max_seconds": 0.05,
        "backoff_initial": 0.002,
        "backoff_max": 0.01,
        "request_timeout": 2.0,
    }
    return Shipper(
        spool=spool,
        session=session,
        collector_url=collector.url + "/",
        token=TOKEN,
        metrics=metrics,
        **(settings | options),
    )


@contextlib.asynccontextmanager
async def running(shipper: Shipper) -> AsyncIterator[None]:
    task = asyncio.create_task(shipper.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_flush_delivers_gzip_batch(
    shipper: Shipper, spool: Spool, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    await shipper.submit(results=[result("a", 0), result("b", 1)], usage=[usage("a", 2)])
    assert await shipper.flush(timeout=5)
    [batch] = collector.batches.values()
    assert batch.results == [result("a", 0), result("b", 1)]
    assert batch.usage == [usage("a", 2)]
    assert spool.stats().items == 0
    assert metric(metrics, "pantau_probe_push_attempts_total") == 1
    assert metric(metrics, "pantau_probe_last_successful_push_timestamp_seconds") > 0
    assert await shipper.flush(timeout=5)  # nothing left: returns at once
    assert len(collector.requests) == 1


async def test_run_seals_when_batch_is_full(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    shipper = make_shipper(
        spool, session, collector, metrics, batch_max_items=5, batch_max_seconds=60
    )
    async with running(shipper):
        await shipper.submit(results=[result("a", n) for n in range(4)])
        await asyncio.sleep(0.1)
        assert not collector.requests
        await shipper.submit(results=[result("a", 4), result("a", 5)])
        await wait_until(lambda: len(collector.batches) == 1, timeout=1)
        assert numbers(collector.results("a")) == [0, 1, 2, 3, 4]
        assert spool.stats().pending_items == 1


async def test_run_seals_when_oldest_item_is_due(
    shipper: Shipper, collector: FakeCollector
) -> None:
    async with running(shipper):
        started = time.monotonic()
        await shipper.submit(results=[result("a", 0)])
        await wait_until(lambda: len(collector.batches) == 1, timeout=1)
        assert time.monotonic() - started >= 0.05


async def test_outage_then_recovery_delivers_everything_once_in_order(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    shipper = make_shipper(spool, session, collector, metrics, batch_max_items=7)
    await collector.stop()
    async with running(shipper):
        for n in range(30):
            await shipper.submit(results=[result("a", n), result("b", 1000 + n)])
            await asyncio.sleep(0.002)
        await wait_until(lambda: metric(metrics, FAILURES, reason="network") >= 3)
        await collector.start()
        await wait_until(lambda: spool.stats().items == 0)
    assert numbers(collector.results("a")) == list(range(30))
    assert numbers(collector.results("b")) == list(range(1000, 1030))
    assert collector.duplicates == 0
    assert all(len(batch.results) <= 7 for batch in collector.batches.values())


async def test_503_is_retried_with_growing_backoff(
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shipper = make_shipper(
        spool, session, collector, metrics, backoff_initial=0.001, backoff_max=0.003
    )
    collector.script.extend([503, 503, 503])
    await shipper.submit(results=[result("a", 0)])
    assert await shipper.flush(timeout=5)
    assert len(set(collector.requests)) == 1
    assert len(collector.requests) == 4
    assert len(collector.batches) == 1
    assert metric(metrics, FAILURES, reason="http_503") == 3
    waits = [r.retry_in for r in caplog.records if hasattr(r, "retry_in")]
    assert len(waits) == 3
    # Full jitter under a ceiling that doubles, up to backoff_max.
    assert all(
        0 <= wait <= ceiling for wait, ceiling in zip(waits, [0.001, 0.002, 0.003], strict=True)
    )


# 409: the collector holds other content under this batch id; resending the same bytes cannot help.
@pytest.mark.parametrize("status", [400, 409])
async def test_a_refused_batch_is_set_aside_and_the_next_one_still_goes(
    status: int,
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shipper = make_shipper(spool, session, collector, metrics, batch_max_items=1)
    collector.script.append(status)
    await shipper.submit(results=[result("a", 0), result("a", 1)])
    assert await shipper.flush(timeout=5)
    first, second = collector.requests
    assert first != second
    assert list(collector.batches) == [second]
    assert numbers(collector.results("a")) == [1]
    stats = spool.stats()
    assert (stats.items, stats.rejected_batches) == (0, 1)
    assert metric(metrics, "pantau_probe_batches_rejected_total") == 1
    assert metric(metrics, FAILURES, reason="rejected") == 1
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert first in error.message
    assert f"scripted answer {status}" in error.message


@pytest.mark.parametrize(("behaviour", "reason"), [("lost_ack", "network"), ("slow", "timeout")])
async def test_batch_whose_ack_was_lost_is_resent_and_stored_once(
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    behaviour: Behaviour,
    reason: str,
) -> None:
    shipper = make_shipper(spool, session, collector, metrics, request_timeout=0.1)
    collector.script.append(behaviour)
    await shipper.submit(results=[result("a", 0)])
    assert await shipper.flush(timeout=5)
    batch_id, again = collector.requests
    assert again == batch_id
    assert list(collector.batches) == [batch_id]
    assert collector.duplicates == 1
    assert metric(metrics, FAILURES, reason=reason) == 1
    assert spool.stats().items == 0


async def test_401_keeps_data_retries_and_never_logs_the_token(
    shipper: Shipper,
    spool: Spool,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    collector.script.extend([401, 403])
    await shipper.submit(results=[result("a", 0)])
    assert await shipper.flush(timeout=5)
    assert len(collector.batches) == 1
    assert metric(metrics, FAILURES, reason="http_401") == 1
    assert metric(metrics, FAILURES, reason="http_403") == 1
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 2
    assert spool.stats().rejected_batches == 0
    assert TOKEN not in caplog.text


async def test_flush_gives_up_after_timeout_and_keeps_the_data(
    shipper: Shipper, spool: Spool, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    await collector.stop()
    await shipper.submit(results=[result("a", 0)])
    started = time.monotonic()
    assert not await shipper.flush(timeout=0.2)
    assert time.monotonic() - started < 1
    assert spool.stats().items == 1
    assert metric(metrics, FAILURES, reason="network") >= 1


@pytest.mark.parametrize("status", [503, 429])
async def test_retry_after_is_honoured(
    status: int,
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
) -> None:
    # The test's backoff is at most 10 ms: only Retry-After can make the probe wait longer.
    shipper = make_shipper(spool, session, collector, metrics)
    collector.script.append(status)
    collector.retry_after = "1"
    await shipper.submit(results=[result("a", 0)])
    started = time.monotonic()
    assert await shipper.flush(timeout=5)
    assert len(collector.requests) == 2
    assert time.monotonic() - started >= 1.0
    assert metric(metrics, FAILURES, reason=f"http_{status}") == 1


async def test_retry_after_as_http_date_is_honoured(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    from email.utils import formatdate

    shipper = make_shipper(spool, session, collector, metrics)
    collector.script.append(503)
    collector.retry_after = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1..2 s
    await shipper.submit(results=[result("a", 0)])
    started = time.monotonic()
    assert await shipper.flush(timeout=5)
    assert time.monotonic() - started >= 0.9


async def test_backoff_cap_defaults_to_a_few_seconds(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    shipper = Shipper(
        spool=spool, session=session, collector_url=collector.url, token=TOKEN, metrics=metrics
    )
    assert shipper.backoff_max <= 5.0


async def test_a_413_batch_is_split_and_resent_in_order(
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
) -> None:
    shipper = make_shipper(spool, session, collector, metrics)
    collector.script.extend([413, 413])  # the whole batch, then its first half
    await shipper.submit(results=[result("a", n) for n in range(10)], usage=[usage("a", 99)])
    await shipper.submit(results=[result("a", 10)])
    assert await shipper.flush(timeout=5)
    assert numbers(collector.results("a")) == list(range(11))
    assert [u.value for b in collector.batches.values() for u in b.usage] == [99]
    assert len(collector.batches) >= 3
    stats = spool.stats()
    assert (stats.items, stats.rejected_batches) == (0, 0)
    assert metric(metrics, "pantau_probe_batches_rejected_total") == 0
    assert metric(metrics, FAILURES, reason="too_large") == 2


async def test_a_413_single_item_is_set_aside(
    spool: Spool, session: aiohttp.ClientSession, collector: FakeCollector, metrics: ProbeMetrics
) -> None:
    shipper = make_shipper(spool, session, collector, metrics)
    collector.script.append(413)
    await shipper.submit(results=[result("a", 0)])
    assert await shipper.flush(timeout=5)
    assert spool.stats().rejected_batches == 1
    assert not collector.batches


async def test_an_unreachable_collector_is_probed_on_readyz_between_pushes(
    spool: Spool,
    session: aiohttp.ClientSession,
    collector: FakeCollector,
    metrics: ProbeMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("probe.delivery.random.uniform", lambda low, high: high)
    # A long backoff: only the cheap /readyz probe can bring the push forward.
    shipper = make_shipper(
        spool, session, collector, metrics, backoff_initial=30, backoff_max=30, ready_poll=0.05
    )
    await collector.stop()
    async with running(shipper):
        await shipper.submit(results=[result("a", 0)])
        await wait_until(lambda: metric(metrics, FAILURES, reason="network") >= 1)
        await collector.start()
        await wait_until(lambda: spool.stats().items == 0, timeout=5)
    assert collector.ready_requests >= 1
    assert numbers(collector.results("a")) == [0]


def test_backoff_cap_is_configurable() -> None:
    from probe.config import ProbeConfig

    base = {"collector": {"url": "http://c:8080"}, "zone": "lan"}
    assert msgspec.convert(base, ProbeConfig).collector.retry_max_seconds == 5.0
    over = {**base, "collector": {"url": "http://c:8080", "retry_max_seconds": 2}}
    assert msgspec.convert(over, ProbeConfig).collector.retry_max_seconds == 2.0
    with pytest.raises(msgspec.ValidationError, match="retry_max_seconds"):
        msgspec.convert({**base, "collector": {**over["collector"], "retry_max_seconds": 0}},
                        ProbeConfig)  # fmt: skip
