"""The probe resumes within seconds of a real collector coming back (issue 11, "Probe")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from probe.delivery import Shipper
from probe.metrics import ProbeMetrics
from tests.live import LiveCollector, apply_catalog, fetch, probe_token
from tests.probe.spool_helpers import metric, open_spool, result, wait_until
from wire.messages import CheckResult

ZONE = "lan"
CATALOG = {
    "agencies": [{"id": "dinkes", "name": "Dinas Kesehatan"}],
    "apps": [
        {"id": "a", "name": "A", "agency": "dinkes", "managed_by": "self", "zones": [ZONE],
         "checks": [{"type": "http", "url": "http://127.0.0.1:9/"}]},
    ],
}  # fmt: skip


@pytest.fixture
async def collector(fresh_db: str) -> AsyncIterator[LiveCollector]:
    await apply_catalog(fresh_db, CATALOG)
    live = LiveCollector(fresh_db)
    await live.start()
    yield live
    await live.stop()


async def test_first_batch_is_acked_within_seconds_of_readyz(
    collector: LiveCollector, fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worst-case jitter: every wait is its ceiling, so the bound holds whatever the dice say.
    monkeypatch.setattr("probe.delivery.random.uniform", lambda low, high: high)
    token = await probe_token(fresh_db, ZONE)
    metrics = ProbeMetrics(registry=CollectorRegistry())
    with open_spool(tmp_path / "spool.db", metrics) as spool:
        async with aiohttp.ClientSession() as session:
            # The default backoff cap: the one a deployed probe uses.
            shipper = Shipper(
                spool=spool, session=session, collector_url=collector.url, token=token,
                metrics=metrics, batch_max_seconds=0.05, backoff_initial=0.25,
            )  # fmt: skip
            task = asyncio.create_task(shipper.run())
            try:
                await collector.stop()
                await shipper.submit(results=[now(result("a", 0))])
                # Six failed pushes (7.75 s): without a cap the next wait would be 8 s.
                await wait_until(
                    lambda: (
                        metric(metrics, "pantau_probe_push_failures_total", reason="network") >= 6
                    ),
                    timeout=15,
                )
                await collector.start()
                while True:
                    async with session.get(collector.url + "/readyz") as resp:
                        if resp.status == 200:
                            break
                    await asyncio.sleep(0.01)
                ready = time.monotonic()
                await wait_until(lambda: spool.stats().items == 0, timeout=30)
                resumed = time.monotonic() - ready
                rejected = spool.stats().rejected_batches
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert resumed < 5.0, f"first ack {resumed:.2f}s after /readyz answered 200"
    rows = await fetch(fresh_db, "SELECT app_id FROM check_results")
    assert [r["app_id"] for r in rows] == ["a"]
    assert rejected == 0


def now(item: CheckResult) -> CheckResult:
    """The collector accepts only recent results."""
    return msgspec.structs.replace(item, ts=time.time())
