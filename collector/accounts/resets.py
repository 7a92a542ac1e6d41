"""Password reset links: issued by an admin (portal or `user reset-link`), used once.

The link carries 256 random bits; the table keeps their SHA-256. A link expires after
`reset_link_hours`, is spent by setting a password, and is replaced by the next link issued for
the same account. Setting the password ends every session of the account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Final

from collector.db import Conn, Executor

PATH_PREFIX: Final = "/reset/"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def link(base_url: str | None, token: str) -> str:
    """The link to hand over: absolute when the portal's `base_url` is configured."""
    return (base_url or "").rstrip("/") + PATH_PREFIX + token


async def issue(conn: Conn, account_id: int, *, by: int | None, hours: int) -> str:
    """A new link's token for the account; earlier unused links of the account stop working."""
    token = secrets.token_urlsafe(32)
    async with conn.transaction():
        await conn.execute("DELETE FROM password_resets WHERE account_id = $1", account_id)
        await conn.execute(
            "INSERT INTO password_resets (token_hash, account_id, issued_by, expires_at)"
            " VALUES ($1, $2, $3, now() + $4::interval)",
            token_hash(token), account_id, by, dt.timedelta(hours=hours),
        )  # fmt: skip
    return token


async def valid_account(conn: Executor, token: str) -> int | None:
    """The account a live link is for (unused, unexpired, account enabled), else None."""
    if len(token) > 100:
        return None
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT r.account_id FROM password_resets r JOIN accounts a ON a.id = r.account_id"
        " WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()"
        " AND a.disabled_at IS NULL",
        token_hash(token),
    )


async def spend(conn: Conn, token: str) -> int | None:
    """Use the link up (inside the caller's transaction); its account, or None if it was not
    live. Two requests racing with one link: one gets the account, the other None."""
    if len(token) > 100:
        return None
    return await conn.fetchval(  # type: ignore[no-any-return]
        "UPDATE password_resets r SET used_at = now() FROM accounts a"
        " WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()"
        " AND a.id = r.account_id AND a.disabled_at IS NULL RETURNING r.account_id",
        token_hash(token),
    )


async def purge(conn: Executor) -> None:
    await conn.execute("DELETE FROM password_resets WHERE expires_at < now() - interval '30 days'")
