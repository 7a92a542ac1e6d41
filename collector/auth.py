"""API tokens: random, shown once, stored as SHA-256 hashes, with a kind that scopes them.

The secret has 256 bits of entropy, so a plain SHA-256 (no slow KDF) is safe to store and lets a
request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import asyncpg

from collector.db import Executor

TokenKind = Literal["admin", "agency", "probe", "app"]
TOKEN_PREFIX = "pantau_"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: what a valid token grants."""

    token_id: int
    name: str
    kind: TokenKind
    agency: str | None = None
    zone: str | None = None
    app: str | None = None

    def may_manage_app(self, agency: str) -> bool:
        return self.kind == "admin" or (self.kind == "agency" and self.agency == agency)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_token(
    conn: Executor,
    *,
    name: str,
    kind: TokenKind,
    agency: str | None = None,
    zone: str | None = None,
    app: str | None = None,
) -> tuple[int, str]:
    """Returns (id, secret). The secret is not stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await conn.fetchval(
        "INSERT INTO tokens (name, kind, agency_id, zone, app_id, secret_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        name, kind, agency, zone, app, hash_secret(secret),
    )  # fmt: skip
    return int(token_id), secret


async def revoke_token(conn: Executor, token_id: int) -> bool:
    status = await conn.execute(
        "UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return bool(status.endswith(" 1"))


async def list_tokens(conn: Executor) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, name, kind, agency_id, zone, app_id, created_at, last_used_at, revoked_at"
            " FROM tokens ORDER BY id"
        )
    )


class TokenCache:
    """Authenticates bearer secrets; remembers answers briefly so ingest is one lookup a minute.

    A revoked token stops working within `ttl` seconds.
    """

    def __init__(self, *, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, pool: asyncpg.Pool, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await pool.fetchrow(
            "UPDATE tokens SET last_used_at = now() WHERE secret_hash = $1 AND revoked_at IS NULL"
            " RETURNING id, name, kind, agency_id, zone, app_id",
            digest,
        )
        principal = (
            Principal(
                token_id=row["id"],
                name=row["name"],
                kind=row["kind"],
                agency=row["agency_id"],
                zone=row["zone"],
                app=row["app_id"],
            )
            if row
            else None
        )
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal
