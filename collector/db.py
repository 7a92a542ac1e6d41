"""Connection pool, migrations (under an advisory lock) and monthly partitions."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import asyncpg
import asyncpg.pool

log = logging.getLogger(__name__)

# A connection of our own or one borrowed from a pool; `Executor` adds the pool itself.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Executor = Conn | asyncpg.Pool

# Any constant unique to Pantau: replicas starting at once serialise on it.
MIGRATION_LOCK_ID = 0x50414E544155  # "PANTAU"
PARTITIONED_TABLES = ("check_results", "usage_samples")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every bundled migration, in order."""
    out = []
    for entry in resources.files("collector.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            out.append((int(name.split("_", 1)[0]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def latest_version() -> int:
    return migration_files()[-1][0]


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, statement_cache_size: int = 100
) -> asyncpg.Pool:
    """`statement_cache_size=0` behind pgbouncer in transaction mode: a named prepared statement
    lives in one server connection, and the next transaction may run on another."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=60,
        max_inactive_connection_lifetime=60,
        statement_cache_size=statement_cache_size,
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def job_lock(pool: asyncpg.Pool, lock_id: int) -> AsyncIterator[bool]:
    """Whether this replica may run the job `lock_id` now (no other replica holds it).

    Held by a transaction kept open on a connection of its own, not by a session lock: behind
    pgbouncer in transaction mode a session lock is taken on one server connection and
    "released" on another. The lock goes when the block ends or the process dies.
    """
    async with pool.acquire() as conn, conn.transaction():
        yield bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_id))


async def current_version(conn: Conn) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: Conn, *, months_ahead: int = 3) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run from many replicas.

    All in one transaction under a transaction-scoped advisory lock: a session lock taken and
    released in separate statements would, behind pgbouncer in transaction mode, be taken on one
    server connection and "released" on another (and never released).
    """
    from collector.audit import Actor, set_actor  # it reads the catalogue through this module

    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = await current_version(conn)
        for version, name, sql in migration_files():
            if version <= done:
                continue
            # A migration that changes the catalogue is its audit trail's actor (0009).
            await set_actor(conn, Actor.system(name, via="migration"))
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
            )
            log.info("applied migration %s", name)
            applied.append(name)
        await ensure_partitions(conn, around=dt.datetime.now(dt.UTC), months_ahead=months_ahead)
    return applied


def month_start(ts: dt.datetime) -> dt.date:
    return dt.date(ts.year, ts.month, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


async def ensure_partition(conn: Conn, month: dt.date) -> None:
    """Create the month's partition of every partitioned table (UTC month bounds)."""
    nxt = add_months(month, 1)
    for table in PARTITIONED_TABLES:
        part = f"{table}_{month:%Y%m}"
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {part} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()} 00:00+00') TO ('{nxt.isoformat()} 00:00+00')"
        )


async def ensure_partitions(
    conn: Conn, *, around: dt.datetime, months_ahead: int, months_back: int = 1
) -> None:
    first = month_start(around)
    for offset in range(-months_back, months_ahead + 1):
        await ensure_partition(conn, add_months(first, offset))


async def fetch_chunked(conn: Executor, sql: str, *args: Any, chunk: int = 1000) -> list[Any]:
    """All rows of `sql`, read through a cursor `chunk` rows at a time.

    asyncpg decodes a result on the event loop; tens of thousands of rows in one fetch would
    hold it up for tens of milliseconds, a chunk of 1,000 for a few. A cursor lives in a
    transaction: outside one (or given the pool) the rows are read in a read-only one.
    """
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            return await fetch_chunked(acquired, sql, *args, chunk=chunk)
    if not conn.is_in_transaction():
        async with conn.transaction(readonly=True):
            return await fetch_chunked(conn, sql, *args, chunk=chunk)
    out: list[Any] = []
    cursor = await conn.cursor(sql, *args)
    while rows := await cursor.fetch(chunk):
        out.extend(rows)
    return out
