"""The catalogue's audit trail: who changed which agency or app, when, and from what to what.

Triggers of migration 0009 record every change of the `agencies` and `apps` tables, whatever
made it, into `catalog_audit`, with the transaction's actor. The database refuses a change
without an actor, so a writer (API route, portal form, `catalog apply`, import, migration)
opens its transaction with `acting(conn, actor)`, or calls `set_actor` inside one:

    async with pool.acquire() as conn, audit.acting(conn, audit.Actor.of_token(principal)):
        await store.upsert_apps(conn, [app])

An `Actor` is who (`kind`, `name`, `id`) and through which path (`via`). A person's account
maps the same way as a token: `Actor(kind="account", name=user.name, id=str(user.id),
via="portal")`.

Reading: `find` pages the trail newest first; `visible` gives an entry as a reader may see it,
with the same rules as the app itself (a spec refused by today's rules is left out, contacts
only for those who may see them: collector/catalog/contacts.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import msgspec

from collector.auth import Principal
from collector.catalog import store
from collector.catalog.contacts import agency_without_contacts, without_contacts
from collector.db import Conn, Executor
from wire.text import CONTROL, ONE_LINE

ActorKind = Literal["token", "account", "file", "cli", "system"]
_ONE_LINE = re.compile(ONE_LINE)
_CONTROL = re.compile(f"[{CONTROL}]")
_NAME_MAX, _VIA_MAX = 200, 32


def one_line(text: str, most: int) -> str:
    """`text` fit for an actor's field: controls shown as `?`, at most `most` characters (the
    end: a path's file name), never empty. Token names and paths are whatever was typed."""
    return _CONTROL.sub("?", text)[-most:] or "?"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who made a change of the catalogue, and through which path (`via`: api, portal, apply,
    import, migration, ...). `id` is what tells two of a name apart: a token's or an account's
    id, a file's SHA-256."""

    kind: ActorKind
    name: str
    via: str
    id: str | None = None

    def __post_init__(self) -> None:
        for field, value, most in (("name", self.name, _NAME_MAX), ("via", self.via, _VIA_MAX)):
            if not 1 <= len(value) <= most or not _ONE_LINE.match(value):
                raise ValueError(f"actor {field} must be 1-{most} characters of one line")

    @classmethod
    def of_token(cls, who: Principal, *, via: str = "api") -> Actor:
        """The holder of an API token (its name and id; never its secret or hash)."""
        return cls(kind="token", name=one_line(who.name, _NAME_MAX), id=str(who.token_id), via=via)

    @classmethod
    def of_file(cls, path: Path | str, content: bytes, *, via: str) -> Actor:
        """A catalogue file, named as given and told apart by the SHA-256 of its content."""
        digest = hashlib.sha256(content).hexdigest()
        return cls(kind="file", name=one_line(str(path), _NAME_MAX), id=digest, via=via)

    @classmethod
    def system(cls, name: str, *, via: str) -> Actor:
        """Pantau itself: a migration, the demo's made-up catalogue."""
        return cls(kind="system", name=name, via=via)


async def set_actor(conn: Conn, actor: Actor) -> None:
    """Make `actor` the author of every catalogue change for the rest of this transaction."""
    if not conn.is_in_transaction():
        # A transaction-local setting outside a transaction is gone with the statement.
        raise RuntimeError("the actor is set for a transaction: open one first")
    await conn.execute(
        "SELECT set_config('pantau.actor', $1, true)", msgspec.json.encode(actor).decode()
    )


@contextlib.asynccontextmanager
async def acting(conn: Conn, actor: Actor) -> AsyncIterator[Conn]:
    """A transaction whose catalogue changes are `actor`'s."""
    async with conn.transaction():
        await set_actor(conn, actor)
        yield conn


# --- reading --------------------------------------------------------------------------------

Subject = Literal["agency", "app"]
Action = Literal["insert", "update", "delete"]
MAX_LIMIT = 500
# A page stops early past this much record JSON (a record may be up to ~400 KB: docs/security.md),
# so one answer stays a few MiB whatever the catalogue holds.
PAGE_BYTES = 4 << 20


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: dt.datetime
    actor: Actor
    subject: Subject
    subject_id: str
    agencies: list[str]  # whose record it is (an app moved between agencies: both)
    action: Action
    changed: list[str]  # fields whose value differs; all of them for an insert or a delete
    # The agency or app before and after, as GET /api/v1/apps/{id} or /agencies/{id} shows it
    # to the same reader; null before an insert and after a delete.
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[AuditEntry]  # newest first
    next_before: int | None  # pass as `before` for the next (older) page; null at the end


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    app: str | None = None
    agency: str | None = None  # entries whose record is this agency's (or is this agency)
    actor: str | None = None  # the actor's name
    since: dt.datetime | None = None  # at or after
    until: dt.datetime | None = None  # before
    before: int | None = None  # entries older than this id (paging)
    limit: int = 100


_COLUMNS = (
    "id, at, actor_kind, actor, actor_id, via, subject, subject_id, agencies, action, changed,"
    " before, after"
)


async def find(conn: Executor, query: AuditQuery) -> tuple[list[asyncpg.Record], int | None]:
    """A page of the trail, newest first, and the `before` of the next page."""
    where: list[str] = []
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.app is not None:
        where.append(f"subject = 'app' AND subject_id = {arg(query.app)}")
    if query.agency is not None:
        where.append(f"agencies @> ARRAY[{arg(query.agency)}]::text[]")  # the GIN index
    if query.actor is not None:
        where.append(f"actor = {arg(query.actor)}")
    if query.since is not None:
        where.append(f"at >= {arg(query.since)}")
    if query.until is not None:
        where.append(f"at < {arg(query.until)}")
    if query.before is not None:
        where.append(f"id < {arg(query.before)}")
    sql = f"SELECT {_COLUMNS} FROM catalog_audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await conn.fetch(f"{sql} ORDER BY id DESC LIMIT {arg(query.limit + 1)}", *args)
    page: list[asyncpg.Record] = []
    size = 0
    for row in rows[: query.limit]:
        size += len(row["before"] or "") + len(row["after"] or "")
        if page and size > PAGE_BYTES:
            break
        page.append(row)
    more = len(page) < len(rows)
    return page, page[-1]["id"] if more else None


def visible(row: asyncpg.Record, *, contacts: bool) -> AuditEntry:
    """One stored entry as a reader sees the record itself: a spec today's rules refuse is left
    out (it may hold a secret stored before the rule), contacts only with `contacts`."""
    convert = _app if row["subject"] == "app" else _agency

    def record(raw: str | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        out: dict[str, Any] = msgspec.to_builtins(convert(msgspec.json.decode(raw), contacts))
        return out

    return AuditEntry(
        id=row["id"],
        at=row["at"],
        # As stored: an actor set by hand (psql) is shown, not refused.
        actor=Actor(
            kind=row["actor_kind"],
            name=one_line(row["actor"], _NAME_MAX),
            id=row["actor_id"],
            via=one_line(row["via"], _VIA_MAX),
        ),
        subject=row["subject"],
        subject_id=row["subject_id"],
        agencies=list(row["agencies"]),
        action=row["action"],
        changed=list(row["changed"]),
        before=record(row["before"]),
        after=record(row["after"]),
    )


def _app(rec: dict[str, Any], contacts: bool) -> msgspec.Struct:
    enc = msgspec.json.encode
    row = {
        **rec,
        "agency_id": rec.get("agency"),
        "owner": enc(rec.get("owner") or {}).decode(),
        **{k: enc(rec.get(k) or []).decode() for k in ("checks", "usage", "maintenance")},
        **{k: rec.get(k) or [] for k in ("tags", "zones")},
    }
    for key in ("provider", "category", "url", "description", "failure_threshold",
                "success_threshold", "quorum"):  # fmt: skip
        row.setdefault(key, None)
    app = store.app_from_row(row)
    return app if contacts else without_contacts(app)


def _agency(rec: dict[str, Any], contacts: bool) -> msgspec.Struct:
    row = {
        "parent_id": rec.get("parent"),
        "contact": rec.get("contact"),
        "email": rec.get("email"),
        "zones": rec.get("zones") or [],
        **rec,
    }
    agency = store.agency_from_row(row)
    return agency if contacts else agency_without_contacts(agency)
