"""Delivery of spooled results to the collector: oldest batch first, one in flight, until acked.

One push at a time keeps the order per app, also across retries and restarts. A batch leaves the
spool only when the collector acknowledged it, so an answer lost on the way means the same batch
(same id, same bytes) is sent again and the collector's de-duplication stores it once.

Batches are sealed lazily, when nothing sealed is waiting: during a collector outage the items stay
pending (and are sealed into full batches once it is back), and the size cap drops pending items
before it touches a batch that may be in flight.

Resuming after an outage takes seconds, not minutes: the backoff between pushes is capped low
(`backoff_max`, a few seconds, as Prometheus remote-write clients do), and while the collector
cannot be reached at all the wait is cut short as soon as its cheap `GET /readyz` answers 200.
A `Retry-After` on 503 or 429 is honoured instead (the collector is up and asks for time). A batch
answered 413 is split in two and both halves are sent, oldest first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Final, Literal

import aiohttp
import msgspec

from probe.group_commit import GroupCommit
from probe.metrics import ProbeMetrics
from probe.spool import SealedBatch, Spool
from wire.messages import MAX_BATCH_ITEMS, BatchAck, CheckResult, ErrorBody, UsageSample

log = logging.getLogger(__name__)

RESULTS_PATH: Final = "/api/v1/results"
READY_PATH: Final = "/readyz"
# The collector refuses these as invalid content, or (409) holds other content under this batch
# id: sending the same bytes again cannot help, and retrying would stall the spool behind it.
# (413 is split first; only a batch of one item too large is set aside.)
_REJECTING_STATUSES: Final = frozenset({400, 409, 413, 422})
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
_RETRY_AFTER_MAX: Final = 600.0  # seconds; a longer Retry-After is taken as this
_READY_TIMEOUT: Final = 2.0  # seconds for one GET /readyz
# Failures where the collector did not answer at all: worth probing /readyz while waiting.
_UNREACHABLE: Final = frozenset({"network", "timeout", "http_502", "http_503", "http_504"})

_Outcome = Literal["idle", "acked", "rejected", "split", "retry"]


class Shipper:
    def __init__(
        self,
        *,
        spool: Spool,
        session: aiohttp.ClientSession,
        collector_url: str,
        token: str,
        metrics: ProbeMetrics,
        batch_max_items: int = 1000,
        batch_max_seconds: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 5.0,
        ready_poll: float = 1.0,
        request_timeout: float = 30.0,
    ) -> None:
        if not 1 <= batch_max_items <= MAX_BATCH_ITEMS:
            raise ValueError(f"batch_max_items must be in 1..{MAX_BATCH_ITEMS}")
        if min(batch_max_seconds, backoff_initial, backoff_max, ready_poll, request_timeout) <= 0:
            raise ValueError(
                "batch_max_seconds, backoff, ready_poll and request_timeout must be positive"
            )
        self._spool = spool
        self._saves: GroupCommit[CheckResult | UsageSample] = GroupCommit(spool.add_items)
        self._session = session
        self._url = collector_url.rstrip("/") + RESULTS_PATH
        self._ready_url = collector_url.rstrip("/") + READY_PATH
        # Never logged: the token is only in these headers.
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        self._metrics = metrics
        self._max_items = batch_max_items
        self._max_seconds = batch_max_seconds
        self._backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._ready_poll = ready_poll
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._wake = asyncio.Event()
        # Held from choosing a batch until its outcome is stored: run() and flush() may overlap.
        self._step_lock = asyncio.Lock()
        self._failures = 0  # consecutive failed pushes
        self._retry_in = 0.0
        self._probe_ready = False  # the last push found nobody: wait on /readyz too

    def notify(self) -> None:
        """Wake run(): items were added to the spool."""
        self._wake.set()

    async def submit(
        self, *, results: Sequence[CheckResult] = (), usage: Sequence[UsageSample] = ()
    ) -> None:
        """Spool items (durable on return, off the event loop) and wake run().

        Concurrent submits share one write (`GroupCommit`): one thread hop and one transaction
        for all the results that came while the previous write ran.
        """
        await self._saves.add([*results, *usage])
        self.notify()

    async def run(self) -> None:
        """Seal and push until cancelled."""
        while True:
            outcome = await self._step(seal_all=False)
            if outcome == "idle":
                await self._idle()
            elif outcome == "retry":
                await self._pause()

    # A timeout parameter rather than the caller's asyncio.timeout: running out of time is an
    # expected outcome (collector down at shutdown), reported as False rather than raised.
    async def flush(self, *, timeout: float) -> bool:  # noqa: ASYNC109
        """Seal and push everything; True if the spool is empty (rejected batches aside)."""
        try:
            async with asyncio.timeout(timeout):
                while (outcome := await self._step(seal_all=True)) != "idle":
                    if outcome == "retry":
                        await self._pause()
        except TimeoutError:
            stats = await asyncio.to_thread(self._spool.stats)
            log.warning(
                "flush: %d items still in the spool after %.1fs; they are sent on the next start",
                stats.items,
                timeout,
            )
            return False
        return True

    async def _pause(self) -> None:
        """Wait before the next push; cut short when an unreachable collector is ready again."""
        if not self._probe_ready:
            await asyncio.sleep(self._retry_in)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_in
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, self._ready_poll))
            if deadline - loop.time() > 0 and await self._ready():
                log.info("collector %s is ready again: pushing now", self._ready_url)
                return

    async def _ready(self) -> bool:
        try:
            async with self._session.get(
                self._ready_url,
                timeout=aiohttp.ClientTimeout(total=_READY_TIMEOUT),
                allow_redirects=False,
            ) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def _idle(self) -> None:
        """Sleep until the oldest pending item is due, or until notify()."""
        stats = await asyncio.to_thread(self._spool.stats)
        delay = self._max_seconds  # also a poll, for items added without notify()
        if stats.oldest_pending is not None:
            delay = max(0.0, stats.oldest_pending + self._max_seconds - time.time())
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _step(self, *, seal_all: bool) -> _Outcome:
        async with self._step_lock:
            batch = await asyncio.to_thread(self._next_batch, seal_all)
            if batch is None:
                return "idle"
            return await self._push(batch)

    def _next_batch(self, seal_all: bool) -> SealedBatch | None:
        """The oldest sealed batch; seals one if none waits and the pending items are due."""
        batch = self._spool.oldest_sealed()
        if batch is not None:
            return batch
        stats = self._spool.stats()
        if stats.oldest_pending is None:
            return None
        due = (
            seal_all
            or stats.pending_items >= self._max_items
            or time.time() - stats.oldest_pending >= self._max_seconds
        )
        return self._spool.seal(max_items=self._max_items) if due else None

    async def _push(self, batch: SealedBatch) -> _Outcome:
        self._metrics.push_attempts.inc()
        try:
            async with self._session.post(
                self._url,
                data=batch.body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                body = await response.read()
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return self._failed(batch, "timeout", "no answer in time")
        except aiohttp.ClientError as exc:
            return self._failed(batch, "network", f"{type(exc).__name__}: {exc}")

        if status == 200:
            try:
                ack = msgspec.json.decode(body, type=BatchAck)
            except msgspec.DecodeError as exc:
                return self._failed(batch, "bad_ack", f"answer is not a BatchAck: {exc}")
            if ack.batch_id != batch.batch_id:
                return self._failed(batch, "bad_ack", f"ack is for batch {ack.batch_id!r}")
            await asyncio.to_thread(self._spool.ack, batch.batch_id)
            self._metrics.last_push.set_to_current_time()
            self._failures = 0
            log.debug(
                "batch %s delivered: %d results, %d usage samples%s",
                batch.batch_id,
                ack.results,
                ack.usage,
                " (duplicate, stored before)" if ack.duplicate else "",
            )
            return "acked"

        if status == 413 and batch.items > 1:
            # [] when the size cap dropped the batch meanwhile: nothing is left to split.
            halves = await asyncio.to_thread(self._spool.split, batch.batch_id)
            self._metrics.push_failures.labels(reason="too_large").inc()
            log.warning(
                "collector refused batch %s (%d items) as too large (HTTP 413: %s); split into"
                " batches of %s items, sent next",
                batch.batch_id,
                batch.items,
                _error_text(body),
                " and ".join(str(half.items) for half in halves) or "no",
            )
            self._failures = 0  # the collector is up and answering
            return "split"

        if status in _REJECTING_STATUSES:
            error = _error_text(body)
            log.error(
                "collector rejected batch %s (%d items) with HTTP %d: %s; it is kept aside in the"
                " spool's rejected table and not sent again",
                batch.batch_id,
                batch.items,
                status,
                error,
            )
            await asyncio.to_thread(self._spool.reject, batch.batch_id, reason=f"{status} {error}")
            self._metrics.batches_rejected.inc()
            self._metrics.push_failures.labels(reason="rejected").inc()
            self._failures = 0  # the collector is up and answering
            return "rejected"

        if status in (401, 403):
            # A configuration error: keep the data and keep trying until the token is fixed.
            return self._failed(
                batch,
                f"http_{status}",
                "the collector refused the probe token (check its configuration)",
                level=logging.ERROR,
            )
        wait = _retry_after(retry_after) if status in _RETRY_AFTER_STATUSES else None
        return self._failed(batch, f"http_{status}", _error_text(body), retry_after=wait)

    def _failed(
        self,
        batch: SealedBatch,
        reason: str,
        detail: str,
        *,
        level: int = logging.WARNING,
        retry_after: float | None = None,
    ) -> _Outcome:
        """Count a failed push and choose the wait before the next try (full jitter)."""
        self._metrics.push_failures.labels(reason=reason).inc()
        self._failures += 1
        if retry_after is not None:
            # The collector is up and asked for this much time: no early /readyz probing.
            self._retry_in = retry_after
            self._probe_ready = False
        else:
            # min() on the exponent keeps the float finite during a very long outage.
            ceiling = self._backoff_initial * 2.0 ** min(self._failures - 1, 64)
            self._retry_in = random.uniform(0.0, min(self.backoff_max, ceiling))
            self._probe_ready = reason in _UNREACHABLE
        log.log(
            level,
            "push of batch %s to %s failed (%s: %s); try %d, next in %.2fs",
            batch.batch_id,
            self._url,
            reason,
            detail,
            self._failures,
            self._retry_in,
            extra={"retry_in": self._retry_in},
        )
        return "retry"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), if it has one."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), _RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT
        return None
    return min(max(0.0, when.timestamp() - time.time()), _RETRY_AFTER_MAX)


def _error_text(body: bytes) -> str:
    """The collector's ErrorBody as one line, or the start of whatever a proxy answered."""
    try:
        error = msgspec.json.decode(body, type=ErrorBody)
    except msgspec.DecodeError:
        return body[:200].decode("utf-8", "replace").strip() or "(empty answer)"
    where = f" at {error.field}" if error.field else ""
    return f"{error.error}: {error.message}{where}"
