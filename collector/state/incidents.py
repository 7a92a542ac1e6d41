"""Reading incidents: one query for the API and the portal."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from collector.db import Executor


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    app: str
    app_name: str
    agency: str
    started_at: dt.datetime
    ended_at: dt.datetime | None  # open while None
    duration_seconds: float  # up to now while open
    cause: list[str]  # the failure reasons seen
    zones: list[str]  # the zones that saw it down


def _incident(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"], app=row["app_id"], app_name=row["app_name"], agency=row["agency_id"],
        started_at=row["started_at"], ended_at=row["ended_at"],
        duration_seconds=max(0.0, row["duration"]), cause=list(row["cause"]), zones=list(row["zones"]),
    )  # fmt: skip


async def find_incidents(
    conn: Executor,
    *,
    app: str | None = None,
    agency: str | None = None,
    is_open: bool | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 500,
    now: dt.datetime | None = None,
) -> list[Incident]:
    """Newest first; `start`/`end` keep the incidents that overlap [start, end)."""
    args: list[object] = [now or dt.datetime.now(dt.UTC)]
    where: list[str] = []
    for column, value in (("i.app_id", app), ("a.agency_id", agency)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if is_open is not None:
        where.append("i.ended_at IS NULL" if is_open else "i.ended_at IS NOT NULL")
    if start is not None:
        args.append(start)
        where.append(f"coalesce(i.ended_at, 'infinity') > ${len(args)}")
    if end is not None:
        args.append(end)
        where.append(f"i.started_at < ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        "SELECT i.id, i.app_id, a.name AS app_name, a.agency_id, i.started_at, i.ended_at, i.cause,"
        " i.zones, extract(epoch FROM coalesce(i.ended_at, $1) - i.started_at)::float8 AS duration"
        " FROM incidents i JOIN apps a ON a.id = i.app_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY i.started_at DESC LIMIT ${len(args)}",
        *args,
    )
    return [_incident(r) for r in rows]
