"""Retention: raw results are dropped by whole monthly partitions; aggregates stay."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from collector import db
from collector.db import Conn
from collector.review.rollup import rollup
from collector.state.rules import StateSettings


@dataclass(frozen=True)
class PartitionInfo:
    name: str
    table: str
    month: dt.date
    rows_estimate: int
    drop: bool


async def partitions(
    conn: Conn, *, raw_days: int, now: dt.datetime | None = None
) -> list[PartitionInfo]:
    """Every monthly partition of the raw tables, and whether the policy drops it."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=raw_days)
    rows = await conn.fetch(
        "SELECT c.relname AS name, p.relname AS parent, c.reltuples::bigint AS rows"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = ANY ($1::text[]) ORDER BY c.relname",
        list(db.PARTITIONED_TABLES),
    )
    out = []
    for r in rows:
        m = re.fullmatch(r".*_(\d{4})(\d{2})", r["name"])
        if not m:
            continue
        month = dt.date(int(m[1]), int(m[2]), 1)
        upper = dt.datetime.combine(db.add_months(month, 1), dt.time(), dt.UTC)
        out.append(PartitionInfo(r["name"], r["parent"], month, max(0, r["rows"]), upper <= cutoff))
    return out


async def apply_retention(conn: Conn, *, raw_days: int, settings: StateSettings,
                          now: dt.datetime | None = None) -> list[str]:  # fmt: skip
    """Roll up first (so nothing is lost from the aggregates), then drop old partitions."""
    await rollup(conn, settings=settings, now=now)
    dropped = []
    for p in await partitions(conn, raw_days=raw_days, now=now):
        if p.drop:
            await conn.execute(f'DROP TABLE IF EXISTS "{p.name}"')
            dropped.append(p.name)
    return dropped
