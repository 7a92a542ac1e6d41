"""Proposal rows in PostgreSQL (migration 0010): the one place that maps proposals to SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import asyncpg
import msgspec

from collector.db import Conn, Executor
from collector.proposals.diff import Action

State = Literal["pending", "approved", "rejected", "withdrawn"]
STATES: tuple[State, ...] = ("pending", "approved", "rejected", "withdrawn")

_COLUMNS = (
    "id, agency_id, app_id, action, proposed::text, base::text, approved::text, state, reason,"
    " proposed_by, decided_by, created_at, decided_at"
)


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    agency: str  # the app's agency: whose proposal it is
    app_id: str
    action: Action
    state: State
    # Applications in the API's JSON form (App): as proposed (none for a deletion), as they
    # were when proposed (none for a creation), and as approved when an admin edited it.
    proposed: dict[str, Any] | None
    base: dict[str, Any] | None
    approved: dict[str, Any] | None
    edited: bool  # approved differs from proposed
    reason: str | None  # why it was rejected
    proposed_by: str  # `token:<name>`, `account:<name>`
    decided_by: str | None  # who approved, rejected or withdrew it
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @property
    def to_apply(self) -> dict[str, Any] | None:
        """The version approving applies (or applied): the admin's edit, else the proposal."""
        return self.approved if self.approved is not None else self.proposed


def _json(raw: str | None) -> dict[str, Any] | None:
    return None if raw is None else msgspec.json.decode(raw)


def _encode(value: object) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _from_row(row: asyncpg.Record) -> Proposal:
    proposed, approved = _json(row["proposed"]), _json(row["approved"])
    return Proposal(
        id=row["id"],
        agency=row["agency_id"],
        app_id=row["app_id"],
        action=row["action"],
        state=row["state"],
        proposed=proposed,
        base=_json(row["base"]),
        approved=approved,
        edited=approved is not None and approved != proposed,
        reason=row["reason"],
        proposed_by=row["proposed_by"],
        decided_by=row["decided_by"],
        created_at=row["created_at"],
        decided_at=row["decided_at"],
    )


async def insert(
    conn: Conn,
    *,
    agency: str,
    app_id: str,
    action: Action,
    proposed: dict[str, Any] | None,
    base: dict[str, Any] | None,
    proposed_by: str,
) -> Proposal:
    row = await conn.fetchrow(
        "INSERT INTO proposals (agency_id, app_id, action, proposed, base, proposed_by)"
        f" VALUES ($1, $2, $3, $4::json, $5::json, $6) RETURNING {_COLUMNS}",
        agency, app_id, action, _encode(proposed), _encode(base), proposed_by,
    )  # fmt: skip
    assert row is not None
    return _from_row(row)


async def pending_for_app(conn: Executor, app_id: str) -> int | None:
    """The id of the app's pending proposal, if it has one."""
    found = await conn.fetchval(
        "SELECT id FROM proposals WHERE app_id = $1 AND state = 'pending'", app_id
    )
    return None if found is None else int(found)


async def get(conn: Executor, proposal_id: int, *, for_update: bool = False) -> Proposal | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM proposals WHERE id = $1{lock}", proposal_id)
    return _from_row(row) if row else None


async def decide(
    conn: Conn,
    proposal_id: int,
    *,
    state: State,
    decided_by: str,
    approved: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Proposal:
    row = await conn.fetchrow(
        "UPDATE proposals SET state = $2, decided_by = $3, decided_at = now(),"
        f" approved = $4::json, reason = $5 WHERE id = $1 RETURNING {_COLUMNS}",
        proposal_id, state, decided_by, _encode(approved), reason,
    )  # fmt: skip
    assert row is not None
    return _from_row(row)


async def find(
    conn: Executor,
    *,
    agency: str | None = None,
    state: State | None = None,
    app_id: str | None = None,
    limit: int = 200,
) -> list[Proposal]:
    """The queue: pending ones first, oldest first; then the decided ones, latest first."""
    where: list[str] = []
    args: list[object] = []
    for column, value in (("agency_id", agency), ("state", state), ("app_id", app_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    sql = f"SELECT {_COLUMNS} FROM proposals"
    if where:
        sql += " WHERE " + " AND ".join(where)
    args.append(limit)
    sql += (
        " ORDER BY state <> 'pending', CASE WHEN state = 'pending' THEN id END,"
        f" decided_at DESC, id DESC LIMIT ${len(args)}"
    )
    return [_from_row(r) for r in await conn.fetch(sql, *args)]
