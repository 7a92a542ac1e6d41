"""The probe's durable spool: a result is on disk before it is pushed, until the collector acks it.

One SQLite file in WAL mode. Items wait in `pending` until they are sealed into a batch; a sealed
batch's id and gzip body never change, so a batch that is sent again after a lost answer or a
restart is recognised by the collector's de-duplication and stored once.

WAL with synchronous=NORMAL survives a killed process (a committed transaction is in the WAL file,
the OS writes it out); only a power cut or kernel crash can lose the last transactions.

The spool is thread-safe (one connection behind a lock), so async code can run its calls in
`asyncio.to_thread`. Only one process should use a spool file at a time: totals are kept in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import msgspec

from probe.metrics import ProbeMetrics
from wire.messages import MAX_BATCH_ITEMS, CheckResult, ProbeName, ResultBatch, UsageSample

log = logging.getLogger(__name__)

ItemKind = Literal["result", "usage"]
_Table = Literal["pending", "sealed", "rejected"]

_FILE_VERSION: Final = 1  # PRAGMA user_version of the spool file layout
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('result', 'usage')),
    item BLOB NOT NULL,          -- msgspec JSON of a CheckResult or UsageSample
    size INTEGER NOT NULL,
    added REAL NOT NULL          -- unix seconds, for sealing by age
);
CREATE TABLE IF NOT EXISTS sealed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,          -- gzip of the ResultBatch JSON, exactly as it is pushed
    items INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    items INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    rejected REAL NOT NULL,
    reason TEXT NOT NULL
);
"""
# How many items a row of each table holds (a pending row is one item).
_ITEMS_EXPR: Final[dict[_Table, str]] = {"pending": "1", "sealed": "items", "rejected": "items"}
# Under the size cap, batches the collector refused go first (they are never sent again), then the
# oldest pending items, then sealed batches (one of them may be in flight right now).
_DROP_ORDER: Final[tuple[_Table, ...]] = ("rejected", "pending", "sealed")
# `max_bytes` bounds the spool's files (database, WAL, shared memory), not only the payload: the
# payload may use this share of it, SQLite's pages and the WAL the rest. The WAL is checkpointed
# and truncated at an eighth of the cap (4 MiB at most); pages freed by deletes are given back to
# the file system.
PAYLOAD_SHARE: Final = 0.5
_WAL_SHARE: Final = 0.125
_WAL_MAX: Final = 4 << 20  # SQLite's default checkpoint size: a larger cap needs no larger WAL
_FREE_SHARE: Final = 0.125  # free pages beyond this share of the cap (1 MiB at most) are released
_DROP_LOG_INTERVAL: Final = 60.0  # seconds; a full spool drops on every add, the log says so once

_ENCODER: Final = msgspec.json.Encoder()
_DECODERS: Final[
    dict[ItemKind, msgspec.json.Decoder[CheckResult] | msgspec.json.Decoder[UsageSample]]
] = {
    "result": msgspec.json.Decoder(CheckResult),
    "usage": msgspec.json.Decoder(UsageSample),
}


@dataclass(frozen=True, slots=True)
class SealedBatch:
    seq: int
    batch_id: str
    body: bytes  # gzip-compressed ResultBatch JSON
    items: int
    created: float  # unix seconds


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending_items: int
    sealed_batches: int
    sealed_items: int
    items: int  # waiting for delivery: pending + sealed
    rejected_batches: int
    bytes: int  # payload bytes of all three tables (what the size cap counts)
    oldest_pending: float | None  # unix seconds the oldest pending item was added


@dataclass(slots=True)
class _Tally:
    rows: int = 0
    items: int = 0
    bytes: int = 0

    def add(self, rows: int, items: int, size: int) -> None:
        self.rows += rows
        self.items += items
        self.bytes += size


@dataclass(frozen=True, slots=True)
class _Dropped:
    rows: int
    items: int
    bytes: int


class Spool:
    """Create with `Spool.open`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        path: Path,
        probe: str,
        max_bytes: int,
        metrics: ProbeMetrics,
    ) -> None:
        self._conn = conn
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        self._free_pages_kept = min(int(max_bytes * _FREE_SHARE), 1 << 20) // page_size
        self._files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        self._probe = probe
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._lock = threading.RLock()
        self._tally = {table: self._count(table) for table in _ITEMS_EXPR}
        self._unlogged_drops = 0
        self._last_drop_log = -math.inf
        # Read at scrape time, not set on every write: the three stat() calls alone cost more
        # than a saved result once writes are grouped.
        metrics.spool_items.set_function(self._waiting)
        metrics.spool_bytes.set_function(self.disk_bytes)

    @classmethod
    def open(cls, path: Path, *, probe: str, max_bytes: int, metrics: ProbeMetrics) -> Spool:
        # A probe name the collector refuses would get every batch rejected: fail at start instead.
        try:
            msgspec.convert(probe, ProbeName)
        except msgspec.ValidationError as exc:
            raise ValueError(f"probe name {probe!r} is not valid on the wire: {exc}") from exc
        if max_bytes <= 0:
            raise ValueError(f"spool max_bytes must be positive, got {max_bytes}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE in `_tx`).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            _bound_files(conn, max_bytes=max_bytes)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise RuntimeError(f"spool {path}: cannot use WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _FILE_VERSION):
                raise RuntimeError(f"spool {path}: unknown file version {version}")
            conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {_FILE_VERSION}; COMMIT;")
            spool = cls(conn, path=path, probe=probe, max_bytes=max_bytes, metrics=metrics)
        except BaseException:
            conn.close()
            raise
        # The cap may have been lowered since the file was written.
        with spool._lock:
            with spool._tx() as tx:
                dropped = spool._enforce_cap(tx)
            spool._report_drops(dropped)
        stats = spool.stats()
        log.info(
            "spool %s: %d items waiting (%d sealed batches), %d bytes",
            path,
            stats.items,
            stats.sealed_batches,
            stats.bytes,
        )
        return spool

    def close(self) -> None:
        with self._lock:
            self._log_drops("at shutdown")
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add(
        self, *, results: Sequence[CheckResult] = (), usage: Sequence[UsageSample] = ()
    ) -> None:
        """Store items; they are on disk when this returns."""
        self.add_items([*results, *usage])

    def add_items(self, items: Sequence[CheckResult | UsageSample]) -> None:
        """Store results and usage samples, in this order, in one transaction (durable on return)."""
        now = time.time()
        rows = [
            (kind, raw, len(raw), now)
            for item in items
            if (raw := _encode(kind := _kind(item), item)) is not None
        ]
        if not rows:
            return
        with self._lock:
            with self._tx() as tx:
                tx.executemany(
                    "INSERT INTO pending (kind, item, size, added) VALUES (?, ?, ?, ?)", rows
                )
                self._tally["pending"].add(len(rows), len(rows), sum(row[2] for row in rows))
                dropped = self._enforce_cap(tx)
            self._report_drops(dropped)

    def seal(self, *, max_items: int) -> SealedBatch | None:
        """Turn the oldest pending items (at most max_items) into one batch; None if none wait."""
        if not 1 <= max_items <= MAX_BATCH_ITEMS:
            raise ValueError(f"max_items must be in 1..{MAX_BATCH_ITEMS}, got {max_items}")
        with self._tx() as tx:
            rows = tx.execute(
                "SELECT seq, kind, item, size FROM pending ORDER BY seq LIMIT ?", (max_items,)
            ).fetchall()
            if not rows:
                return None
            tx.execute("DELETE FROM pending WHERE seq <= ?", (rows[-1][0],))
            self._tally["pending"].add(-len(rows), -len(rows), -sum(row[3] for row in rows))
            results: list[CheckResult] = []
            usage: list[UsageSample] = []
            for _, kind, raw, _ in rows:
                item = _decode(kind, raw)
                if isinstance(item, CheckResult):
                    results.append(item)
                elif isinstance(item, UsageSample):
                    usage.append(item)
            if not results and not usage:
                return None
            return self._insert_sealed(tx, results, usage)

    def oldest_sealed(self) -> SealedBatch | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, batch_id, body, items, created FROM sealed ORDER BY seq LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        seq, batch_id, body, items, created = row
        return SealedBatch(seq=seq, batch_id=batch_id, body=body, items=items, created=created)

    def ack(self, batch_id: str) -> bool:
        """The collector has the batch: delete it. False if it was not here (e.g. dropped)."""
        with self._tx() as tx:
            row = tx.execute(
                "SELECT items, size FROM sealed WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                return False
            tx.execute("DELETE FROM sealed WHERE batch_id = ?", (batch_id,))
            self._tally["sealed"].add(-1, -row[0], -row[1])
        return True

    def split(self, batch_id: str) -> list[SealedBatch]:
        """Replace a sealed batch by two halves, sent next in its place; [] if it was not here.

        For a batch the collector refused as too large (413). The halves get new ids: the
        collector stored nothing of the whole.
        """
        with self._tx() as tx:
            row = tx.execute(
                "SELECT seq, body, items, size, created FROM sealed WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                return []
            seq, body, items, size, created = row
            whole = msgspec.json.decode(gzip.decompress(body), type=ResultBatch)
            # Results first, then usage samples, as in the batch; each half keeps their order.
            half = max(1, items // 2)
            cut = max(0, half - len(whole.results))
            parts = [
                (whole.results[:half], whole.usage[:cut]),
                (whole.results[half:], whole.usage[cut:]),
            ]
            parts = [(r, u) for r, u in parts if r or u]
            tx.execute("DELETE FROM sealed WHERE batch_id = ?", (batch_id,))
            self._tally["sealed"].add(-1, -items, -size)
            # Before every other sealed batch (this one was the oldest), in order.
            first = min(
                seq, tx.execute("SELECT coalesce(min(seq), ?) FROM sealed", (seq,)).fetchone()[0]
            )
            made: list[SealedBatch] = []
            for n, (results, usage) in enumerate(parts):
                made.append(
                    self._insert_sealed(
                        tx, results, usage, seq=first - len(parts) + n, created=created
                    )
                )
        return made

    def _insert_sealed(
        self,
        tx: sqlite3.Connection,
        results: Sequence[CheckResult],
        usage: Sequence[UsageSample],
        *,
        seq: int | None = None,
        created: float | None = None,
    ) -> SealedBatch:
        # Random, so it never repeats, also when the spool file is lost; short enough for
        # the wire's 128-character limit whatever the probe name.
        batch_id = f"{self._probe[:95]}-{uuid.uuid4().hex}"
        payload = ResultBatch(
            probe=self._probe, batch_id=batch_id, results=list(results), usage=list(usage)
        )
        body = gzip.compress(_ENCODER.encode(payload), compresslevel=6, mtime=0)
        items = len(results) + len(usage)
        created = time.time() if created is None else created
        cursor = tx.execute(
            "INSERT INTO sealed (seq, batch_id, body, items, size, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (seq, batch_id, body, items, len(body), created),
        )
        self._tally["sealed"].add(1, items, len(body))
        assert cursor.lastrowid is not None
        return SealedBatch(
            seq=cursor.lastrowid, batch_id=batch_id, body=body, items=items, created=created
        )

    def reject(self, batch_id: str, *, reason: str) -> bool:
        """The collector refused the batch as invalid: keep it for inspection, never resend it."""
        with self._tx() as tx:
            row = tx.execute(
                "SELECT items, size FROM sealed WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if row is None:
                return False
            tx.execute(
                "INSERT INTO rejected (batch_id, body, items, size, created, rejected, reason)"
                " SELECT batch_id, body, items, size, created, ?, ? FROM sealed WHERE batch_id = ?",
                (time.time(), reason, batch_id),
            )
            tx.execute("DELETE FROM sealed WHERE batch_id = ?", (batch_id,))
            self._tally["sealed"].add(-1, -row[0], -row[1])
            self._tally["rejected"].add(1, row[0], row[1])
        return True

    def stats(self) -> SpoolStats:
        with self._lock:
            row = self._conn.execute("SELECT added FROM pending ORDER BY seq LIMIT 1").fetchone()
            pending, sealed = self._tally["pending"], self._tally["sealed"]
            return SpoolStats(
                pending_items=pending.items,
                sealed_batches=sealed.rows,
                sealed_items=sealed.items,
                items=self._waiting(),
                rejected_batches=self._tally["rejected"].rows,
                bytes=self._bytes(),
                oldest_pending=None if row is None else row[0],
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the in-memory totals follow it (restored on rollback)."""
        with self._lock:
            saved = {table: dataclasses.replace(tally) for table, tally in self._tally.items()}
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.rollback()
                self._tally = saved
                raise
            # New rows reuse free pages, so the file does not grow past its high-water mark;
            # free pages are given back only when they are many (after a drain), not on every ack.
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            if free > self._free_pages_kept:
                # Each step of the statement frees one page, and execute() steps it once:
                # executescript() runs it to its end.
                self._conn.executescript(
                    f"PRAGMA incremental_vacuum({free - self._free_pages_kept})"
                )
            if not self._waiting():
                self._log_drops("the spool has drained")

    def _waiting(self) -> int:
        """Items waiting for delivery: pending and sealed."""
        return self._tally["pending"].items + self._tally["sealed"].items

    def disk_bytes(self) -> int:
        """What the spool's files take on disk: database, WAL and shared memory."""
        total = 0
        for file in self._files:
            with contextlib.suppress(FileNotFoundError):
                total += file.stat().st_size
        return total

    def _count(self, table: _Table) -> _Tally:
        rows, items, size = self._conn.execute(
            f"SELECT count(*), coalesce(sum({_ITEMS_EXPR[table]}), 0), coalesce(sum(size), 0)"
            f" FROM {table}"
        ).fetchone()
        return _Tally(rows, items, size)

    def _bytes(self) -> int:
        return sum(tally.bytes for tally in self._tally.values())

    def _enforce_cap(self, tx: sqlite3.Connection) -> dict[_Table, _Dropped]:
        dropped: dict[_Table, _Dropped] = {}
        for table in _DROP_ORDER:
            excess = self._bytes() - int(self._max_bytes * PAYLOAD_SHARE)
            if excess <= 0:
                break
            if (gone := self._drop_oldest(tx, table, excess)).rows:
                dropped[table] = gone
        return dropped

    def _drop_oldest(self, tx: sqlite3.Connection, table: _Table, excess: int) -> _Dropped:
        """Delete the oldest rows of table until excess bytes are freed (or the table is empty)."""
        rows = items = freed = 0
        last_seq: int | None = None
        query = f"SELECT seq, {_ITEMS_EXPR[table]}, size FROM {table} ORDER BY seq"
        with closing(tx.execute(query)) as cursor:
            for seq, row_items, size in cursor:
                if freed >= excess:
                    break
                last_seq = seq
                rows, items, freed = rows + 1, items + row_items, freed + size
        if last_seq is not None:
            tx.execute(f"DELETE FROM {table} WHERE seq <= ?", (last_seq,))
            self._tally[table].add(-rows, -items, -freed)
        return _Dropped(rows, items, freed)

    def _report_drops(self, dropped: dict[_Table, _Dropped]) -> None:
        if (gone := dropped.get("rejected")) is not None:
            log.warning(
                "spool reached its cap of %d bytes: deleted %d rejected batches (kept only"
                " for inspection)",
                self._max_bytes,
                gone.rows,
            )
        lost = sum(gone.items for table, gone in dropped.items() if table != "rejected")
        if not lost:
            return
        self._metrics.spool_dropped.inc(lost)
        self._unlogged_drops += lost
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL:
            self._log_drops("collector unreachable?")
            self._last_drop_log = now

    def _log_drops(self, when: str) -> None:
        """Log the drops not logged yet: the log's numbers add up to the dropped counter."""
        if not self._unlogged_drops:
            return
        log.error(
            "spool FULL (cap %d bytes, %s): dropped %d of the oldest results/usage samples"
            " since the last report; they are lost",
            self._max_bytes,
            when,
            self._unlogged_drops,
        )
        self._unlogged_drops = 0


def _bound_files(conn: sqlite3.Connection, *, max_bytes: int) -> None:
    """Keep the database and WAL files within their share of max_bytes (see PAYLOAD_SHARE)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    wal_bytes = min(int(max_bytes * _WAL_SHARE), _WAL_MAX)
    conn.execute(f"PRAGMA wal_autocheckpoint = {max(8, wal_bytes // page_size)}")
    conn.execute(f"PRAGMA journal_size_limit = {wal_bytes}")
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: incremental
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        # A file written before this setting holds tables: only VACUUM converts it.
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            conn.execute("VACUUM")


def _encode(kind: ItemKind, item: CheckResult | UsageSample) -> bytes | None:
    """JSON of item, or None if the collector would refuse it.

    Checked here because the collector refuses a whole batch for one bad item.
    """
    raw = _ENCODER.encode(item)
    return raw if _decode(kind, raw) is not None else None


def _kind(item: CheckResult | UsageSample) -> ItemKind:
    return "result" if isinstance(item, CheckResult) else "usage"


def _decode(kind: ItemKind, raw: bytes) -> CheckResult | UsageSample | None:
    try:
        return _DECODERS[kind].decode(raw)
    except msgspec.ValidationError as exc:
        log.error("dropping an invalid %s (the collector would refuse it): %s", kind, exc)
        return None
