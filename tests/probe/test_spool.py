from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from probe.metrics import ProbeMetrics
from probe.spool import PAYLOAD_SHARE, Spool
from tests.probe.spool_helpers import (
    PROBE,
    drain,
    lines_until_killed,
    metric,
    numbers,
    open_spool,
    result,
    unpack,
    usage,
)
from wire.messages import CheckResult

DROPPED = "pantau_probe_spool_dropped_total"


def cap(payload: float) -> int:
    """The max_bytes whose payload share is `payload` bytes."""
    return int(payload / PAYLOAD_SHARE)


@pytest.fixture
def metrics() -> ProbeMetrics:
    return ProbeMetrics(registry=CollectorRegistry())


@pytest.fixture
def spool(tmp_path: Path, metrics: ProbeMetrics) -> Iterator[Spool]:
    with open_spool(tmp_path / "spool" / "spool.db", metrics) as spool:
        yield spool


def test_add_seal_ack_roundtrip(spool: Spool, metrics: ProbeMetrics, tmp_path: Path) -> None:
    spool.add(results=[result("a", 0), result("b", 1)], usage=[usage("a", 2)])
    spool.add(results=[result("a", 3)])
    stats = spool.stats()
    assert (stats.pending_items, stats.sealed_batches, stats.items) == (4, 0, 4)
    assert stats.oldest_pending is not None
    assert metric(metrics, "pantau_probe_spool_items") == 4
    assert stats.bytes > 0
    assert (
        metric(metrics, "pantau_probe_spool_bytes")
        == spool_files(tmp_path / "spool" / "spool.db")
        > 0
    )

    sealed = spool.seal(max_items=10)
    assert sealed is not None
    assert sealed.items == 4
    assert sealed.batch_id.startswith(f"{PROBE}-")
    batch = unpack(sealed.body)
    assert (batch.probe, batch.batch_id) == (PROBE, sealed.batch_id)
    assert batch.results == [result("a", 0), result("b", 1), result("a", 3)]
    assert batch.usage == [usage("a", 2)]
    stats = spool.stats()
    assert (stats.pending_items, stats.sealed_batches, stats.items) == (0, 1, 4)
    assert stats.oldest_pending is None
    assert spool.oldest_sealed() == sealed
    assert spool.seal(max_items=10) is None

    assert spool.ack(sealed.batch_id)
    assert not spool.ack(sealed.batch_id)
    assert spool.oldest_sealed() is None
    assert spool.stats().items == spool.stats().bytes == 0
    assert metric(metrics, "pantau_probe_spool_items") == 0


def test_seal_takes_the_oldest_items_in_order(spool: Spool) -> None:
    for n in range(5):
        spool.add(results=[result("a", n)])
    sizes = []
    while (sealed := spool.seal(max_items=2)) is not None:
        sizes.append(sealed.items)
    assert sizes == [2, 2, 1]
    batches = drain(spool)
    assert [numbers(b.results) for b in batches] == [[0, 1], [2, 3], [4]]
    assert len({b.batch_id for b in batches}) == 3


def test_invalid_item_is_refused_and_logged(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    # msgspec does not check constraints on construction; the collector would refuse the batch.
    bad = CheckResult(app="a", check="http", kind="http", ts=1, ok=True, duration_seconds=0)
    spool.add(results=[result("a", 0), bad, result("a", 1)])
    assert spool.stats().pending_items == 2
    assert any(r.levelno == logging.ERROR and "invalid" in r.message for r in caplog.records)


def test_bad_probe_name_fails_at_open(tmp_path: Path, metrics: ProbeMetrics) -> None:
    with pytest.raises(ValueError, match="probe name"):
        Spool.open(tmp_path / "s.db", probe="no spaces", max_bytes=1000, metrics=metrics)


def test_sealed_batch_survives_a_crash(tmp_path: Path, metrics: ProbeMetrics) -> None:
    live = tmp_path / "live"
    spool = open_spool(live / "spool.db", metrics)
    spool.add(results=[result("a", n) for n in range(3)])
    sealed = spool.seal(max_items=2)
    assert sealed is not None
    spool.add(results=[result("a", 3)])
    # The files as a killed process leaves them: the WAL not checkpointed, no clean close.
    crashed = tmp_path / "crashed"
    shutil.copytree(live, crashed)
    assert (crashed / "spool.db-wal").stat().st_size > 0
    spool.close()

    with open_spool(crashed / "spool.db", ProbeMetrics(registry=CollectorRegistry())) as again:
        stats = again.stats()
        assert (stats.pending_items, stats.sealed_batches, stats.items) == (2, 1, 4)
        assert again.oldest_sealed() == sealed  # same id, same bytes: de-dup still works
        batches = drain(again)
        assert batches[0].batch_id == sealed.batch_id
        assert [numbers(b.results) for b in batches] == [[0, 1], [2, 3]]
        assert batches[1].batch_id != sealed.batch_id


# Adds one result per transaction (sealing now and then) and prints the number of each add that
# returned; it is killed with SIGKILL at some point.
_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from probe.metrics import ProbeMetrics
    from tests.probe.spool_helpers import open_spool, result

    spool = open_spool(Path(sys.argv[1]), ProbeMetrics(registry=CollectorRegistry()))
    n = 0
    while True:
        spool.add(results=[result("a", n)])
        print(n, flush=True)
        if n % 50 == 49:
            spool.seal(max_items=50)
        n += 1
    """
)


def test_sigkill_loses_nothing(tmp_path: Path, metrics: ProbeMetrics) -> None:
    path = tmp_path / "spool.db"
    lines, errors = lines_until_killed(_CHILD, path, lines=400, timeout=20)
    done = [int(line) for line in lines]
    assert len(done) >= 400, errors
    assert done == list(range(len(done)))

    with open_spool(path, metrics) as spool:
        stored = [n for batch in drain(spool) for n in numbers(batch.results)]
    # Every add that returned is there, in order, once; the add in flight may be there too.
    assert stored[: len(done)] == done
    assert stored in (done, [*done, len(done)])


@pytest.fixture
def item_bytes(tmp_path: Path) -> int:
    """What one result counts against the size cap (all `result("a", n)` with n < 1000 alike)."""
    with open_spool(tmp_path / "measure.db", ProbeMetrics(registry=CollectorRegistry())) as spool:
        spool.add(results=[result("a", 100)])
        return spool.stats().bytes


def test_size_cap_drops_oldest_pending_and_counts(
    tmp_path: Path, metrics: ProbeMetrics, item_bytes: int, caplog: pytest.LogCaptureFixture
) -> None:
    with open_spool(tmp_path / "s.db", metrics, max_bytes=cap(10 * item_bytes)) as spool:
        for n in range(100, 110):
            spool.add(results=[result("a", n)])
        assert metric(metrics, DROPPED) == 0
        assert not caplog.records

        spool.add(results=[result("a", n) for n in range(110, 113)])
        assert metric(metrics, DROPPED) == 3
        assert spool.stats().bytes <= 10 * item_bytes
        [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "FULL" in record.message
        assert [n for b in drain(spool) for n in numbers(b.results)] == list(range(103, 113))


def test_size_cap_drops_sealed_batches_when_pending_are_not_enough(
    tmp_path: Path, metrics: ProbeMetrics
) -> None:
    path = tmp_path / "s.db"
    with open_spool(path, metrics) as spool:
        for n in range(6):
            spool.add(results=[result("a", n)])
            spool.seal(max_items=1)
        batch_bytes = spool.stats().bytes // 6
        spool.add(results=[result("a", 6), result("a", 7)])
    # The cap was lowered in the config: the sealed batches alone are over it.
    with open_spool(path, metrics, max_bytes=cap(3.5 * batch_bytes)) as spool:
        assert [n for b in drain(spool) for n in numbers(b.results)] == [3, 4, 5]
    assert metric(metrics, DROPPED) == 2 + 3


def test_reject_keeps_the_batch_aside(spool: Spool) -> None:
    spool.add(results=[result("a", 0)])
    first = spool.seal(max_items=1)
    spool.add(results=[result("a", 1)])
    second = spool.seal(max_items=1)
    assert first is not None
    assert second is not None
    assert spool.reject(first.batch_id, reason="422 invalid: bad ts")
    assert not spool.reject(first.batch_id, reason="again")
    assert spool.oldest_sealed() == second
    stats = spool.stats()
    assert (stats.rejected_batches, stats.sealed_batches, stats.items) == (1, 1, 1)


def test_size_cap_deletes_rejected_batches_first(
    tmp_path: Path, metrics: ProbeMetrics, item_bytes: int
) -> None:
    path = tmp_path / "s.db"
    with open_spool(path, metrics) as spool:
        spool.add(results=[result("a", 0)])
        rejected = spool.seal(max_items=1)
        assert rejected is not None
        spool.reject(rejected.batch_id, reason="400")
        rejected_bytes = spool.stats().bytes
    with open_spool(path, metrics, max_bytes=cap(7 * item_bytes + rejected_bytes // 2)) as spool:
        spool.add(results=[result("a", n) for n in range(1, 7)])
        assert spool.stats().rejected_batches == 1
        spool.add(results=[result("a", 7)])
        assert spool.stats().rejected_batches == 0
        assert [n for b in drain(spool) for n in numbers(b.results)] == list(range(1, 8))
    assert metric(metrics, DROPPED) == 0


def spool_files(path: Path) -> int:
    """Bytes on disk of the spool: database, WAL and shared memory."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def logged_drops(caplog: pytest.LogCaptureFixture) -> int:
    """The items the spool's log lines say were dropped, summed."""
    return sum(
        int(re.search(r"dropped (?:the )?(\d+)", r.getMessage()).group(1))  # type: ignore[union-attr]
        for r in caplog.records
        if r.name == "probe.spool" and "FULL" in r.getMessage()
    )


def test_every_dropped_item_is_in_the_log(
    tmp_path: Path, metrics: ProbeMetrics, item_bytes: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="probe.spool")
    path = tmp_path / "s.db"
    with open_spool(path, metrics, max_bytes=cap(10 * item_bytes)) as spool:
        # A full spool drops on every add; the log line is rate-limited.
        for n in range(100, 150):
            spool.add(results=[result("a", n)])
        drain(spool)  # the collector is back: the spool drains
        assert metric(metrics, DROPPED) == 40
        assert logged_drops(caplog) == 40
        for n in range(150, 165):
            spool.add(results=[result("a", n)])
    # ... and at shutdown, what dropped since.
    assert metric(metrics, DROPPED) == 45
    assert logged_drops(caplog) == 45


def test_max_bytes_bounds_the_files_on_disk(tmp_path: Path, metrics: ProbeMetrics) -> None:
    limit = 1 << 20
    path = tmp_path / "s.db"
    largest = 0
    with open_spool(path, metrics, max_bytes=limit) as spool:
        # A long outage: one batch sealed and waiting, results keep coming, the cap drops them.
        spool.add(results=[result("a", n) for n in range(1000)])
        assert spool.seal(max_items=1000) is not None
        for n in range(1000, 30_000, 10):
            spool.add(results=[result("a", n + k) for k in range(10)])
            largest = max(largest, spool_files(path))
        assert metric(metrics, DROPPED) > 0
        largest = max(largest, spool_files(path))
        drain(spool)  # the collector is back
        assert metric(metrics, "pantau_probe_spool_bytes") == spool_files(path)
    assert largest <= limit, f"spool files reached {largest} bytes with a cap of {limit}"


def test_a_spool_file_from_before_gives_freed_pages_back(
    tmp_path: Path, metrics: ProbeMetrics
) -> None:
    path = tmp_path / "s.db"
    limit = 2 << 20  # up to a quarter of the ~650 KB file may stay free after the drain
    with open_spool(path, metrics) as spool:
        spool.add(results=[result("a", n) for n in range(3000)])
    # As an older probe left it: no auto_vacuum, so deleted rows never shrank the file.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA auto_vacuum = NONE")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    full = path.stat().st_size
    with open_spool(path, metrics, max_bytes=limit) as spool:
        drain(spool)
    assert metric(metrics, DROPPED) == 0
    assert path.stat().st_size < full / 2  # the WAL is checkpointed into it at close
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental


def test_split_puts_both_halves_first_in_order(spool: Spool) -> None:
    spool.add(results=[result("a", n) for n in range(5)], usage=[usage("a", 5)])
    first = spool.seal(max_items=100)
    spool.add(results=[result("a", 6)])
    spool.seal(max_items=100)
    assert first is not None
    halves = spool.split(first.batch_id)
    assert [h.items for h in halves] == [3, 3]
    assert spool.split(first.batch_id) == []  # gone: split once
    batches = drain(spool)
    assert [numbers(b.results) for b in batches] == [[0, 1, 2], [3, 4], [6]]
    assert [len(b.usage) for b in batches] == [0, 1, 0]
    assert len({b.batch_id for b in batches} | {first.batch_id}) == 4
