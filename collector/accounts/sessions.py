"""Server-side sessions in PostgreSQL behind an HttpOnly, SameSite, (normally) Secure cookie.

The cookie holds 256 random bits; the table holds only their SHA-256, so a copy of the
database signs nobody in. A session ends when signed out (its row is deleted), after
`session_idle_minutes` without a request, after `session_max_hours` whatever happens, when its
account is disabled, and when the account's password, role or second factor changes (every
session of the account is deleted, or every other one when the person changed it themself).
A new id is issued at every step of signing in (password, then code), so an id planted before
sign-in (fixation) is worth nothing.

Not aiohttp-session: its `Session` is a JSON dict whose `created` moves on every write, while
these sessions are typed rows that must be found and deleted by account (revocation) and
expire on two clocks kept in the database; what would remain of the library is setting a
cookie. Sessions are loaded only for requests that carry the cookie, outside `/api/` (the API
takes bearer tokens, never cookies).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web

from collector.accounts.store import Account
from collector.config import AccountsConfig
from collector.db import Executor

Stage = Literal["full", "code", "enrol"]
# The steps between the password and being signed in are short-lived.
PENDING_LIFETIME: Final = dt.timedelta(minutes=10)
TOUCH_EVERY: Final = dt.timedelta(seconds=60)  # last_seen_at is written at most this often
_CSRF_CONTEXT: Final = b"pantau csrf token"


@dataclass(frozen=True, kw_only=True)
class Session:
    account: Account
    stage: Stage
    id_hash: bytes
    csrf_token: str  # the form token of this session (`csrf`): derived, never stored


def id_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def derive_csrf_token(seed: str) -> str:
    """The form token for a session id (or an anonymous seed): not the id, nor its stored hash."""
    return hmac.new(seed.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def cookie_name(config: AccountsConfig, base: str) -> str:
    # `__Host-`: the browser takes it only Secure, for path /, from this very host (no
    # subdomain can plant or overwrite it).
    return f"__Host-{base}" if config.cookie_secure else base


def session_cookie(config: AccountsConfig) -> str:
    return cookie_name(config, "pantau_session")


def set_cookie(
    resp: web.StreamResponse,
    config: AccountsConfig,
    name: str,
    value: str,
    *,
    samesite: str = "Lax",
) -> None:
    """A cookie for the browser's session (no Max-Age): the server decides when it expires."""
    resp.set_cookie(
        name, value, path="/", secure=config.cookie_secure, httponly=True, samesite=samesite
    )


def delete_cookie(resp: web.StreamResponse, config: AccountsConfig, name: str) -> None:
    resp.set_cookie(
        name, "", path="/", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT",
        secure=config.cookie_secure, httponly=True, samesite="Lax",
    )  # fmt: skip


async def start(
    conn: Executor, account_id: int, stage: Stage, config: AccountsConfig
) -> tuple[str, bytes]:
    """A new session; returns (the id for the cookie, its hash)."""
    session_id = secrets.token_urlsafe(32)
    digest = id_hash(session_id)
    lifetime = dt.timedelta(hours=config.session_max_hours) if stage == "full" else PENDING_LIFETIME
    await conn.execute(
        "INSERT INTO account_sessions (id_hash, account_id, stage, expires_at)"
        " VALUES ($1, $2, $3, now() + $4::interval)",
        digest, account_id, stage, lifetime,
    )  # fmt: skip
    return session_id, digest


async def lookup(conn: Executor, session_id: str, config: AccountsConfig) -> Session | None:
    """The live session of this id, or None (unknown, signed out, expired, account disabled)."""
    if len(session_id) > 100:
        return None
    digest = id_hash(session_id)
    row = await conn.fetchrow(
        "SELECT s.stage, s.last_seen_at < now() - $3::interval AS stale,"
        " a.id, a.username, a.role, a.agency_id, a.email, a.totp_secret IS NOT NULL AS totp"
        " FROM account_sessions s JOIN accounts a ON a.id = s.account_id"
        " WHERE s.id_hash = $1 AND s.expires_at > now() AND a.disabled_at IS NULL"
        " AND s.last_seen_at > now() - $2::interval",
        digest, dt.timedelta(minutes=config.session_idle_minutes), TOUCH_EVERY,
    )  # fmt: skip
    if row is None:
        return None
    if row["stale"]:
        await conn.execute(
            "UPDATE account_sessions SET last_seen_at = now() WHERE id_hash = $1", digest
        )
    account = Account(
        id=row["id"], username=row["username"], role=row["role"], agency=row["agency_id"],
        email=row["email"], totp=row["totp"],
    )  # fmt: skip
    return Session(
        account=account, stage=row["stage"], id_hash=digest,
        csrf_token=derive_csrf_token(session_id),
    )  # fmt: skip


async def end(conn: Executor, digest: bytes) -> None:
    await conn.execute("DELETE FROM account_sessions WHERE id_hash = $1", digest)


async def end_all(conn: Executor, account_id: int, *, keep: bytes | None = None) -> int:
    """End every session of the account (but `keep`, the one making the change)."""
    status = await conn.execute(
        "DELETE FROM account_sessions WHERE account_id = $1 AND id_hash IS DISTINCT FROM $2",
        account_id, keep,
    )  # fmt: skip
    return int(status.split()[-1])


async def set_pending_totp(conn: Executor, digest: bytes, secret: str | None) -> None:
    await conn.execute(
        "UPDATE account_sessions SET totp_pending = $2 WHERE id_hash = $1", digest, secret
    )


async def pending_totp(conn: Executor, digest: bytes) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT totp_pending FROM account_sessions WHERE id_hash = $1", digest
    )


async def purge(conn: Executor, config: AccountsConfig) -> None:
    """Forget sessions that can no longer be used (run at each sign-in: no timer needed)."""
    await conn.execute(
        "DELETE FROM account_sessions WHERE expires_at < now()"
        " OR last_seen_at < now() - $1::interval",
        dt.timedelta(minutes=config.session_idle_minutes),
    )
