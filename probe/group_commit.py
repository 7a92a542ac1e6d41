"""Group commit: concurrent saves share one write off the event loop, and each returns when durable.

Saving every result in its own thread hop and SQLite transaction cost about 100 µs of CPU a
result, half of what the HTTP check itself costs (bench/README.md). Here the results that arrive
while a write is running form the next group; when the write ends, the whole group goes to the
writer thread at once, in one call (one transaction). Each `add` returns only after its group's
write has returned, so whatever a caller was told is saved survives a `kill -9`; a failing write
fails every `add` of its group with the same error, and the next group is written as usual.

No timer and no wait for company: a lone result is written at once. Groups form by themselves
when results come faster than one write takes, which is when grouping pays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    """Saves items with `write` (blocking: it runs in the loop's default executor).

    One write runs at a time, so groups are written in the order they formed, and the items of
    one `add` stay together and in order.
    """

    def __init__(self, write: Callable[[list[T]], object]) -> None:
        self._write = write
        self._items: list[T] = []  # the next group
        # One future per `add` of the next group: a cancelled caller cancels only its own.
        self._waiters: list[asyncio.Future[None]] = []
        self._writing = False

    @property
    def writing(self) -> bool:
        """A write is running now."""
        return self._writing

    async def add(self, items: Iterable[T]) -> None:
        """Save items; returns when they are written (raises what the write raised)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._items.extend(items)
        self._waiters.append(done)
        if not self._writing:
            self._start(loop)
        await done

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        self._writing = True
        try:
            write = loop.run_in_executor(None, self._write, items)
        except RuntimeError as exc:  # the executor is shut down (the loop is closing)
            write = loop.create_future()
            write.set_exception(exc)
        write.add_done_callback(lambda written: self._written(loop, written, waiters))

    def _written(
        self,
        loop: asyncio.AbstractEventLoop,
        written: asyncio.Future[object],
        waiters: list[asyncio.Future[None]],
    ) -> None:
        self._writing = False
        error: BaseException | None
        if written.cancelled():  # the loop is closing: whether the group was written is unknown
            error = RuntimeError("the write was cancelled")
        else:
            error = written.exception()
        told = False
        for done in waiters:
            if done.done():  # its caller was cancelled; the items are written all the same
                continue
            told = True
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if error is not None and not told:
            log.error("a group of %d saves failed with nobody waiting: %r", len(waiters), error)
        if self._waiters:
            self._start(loop)
