"""API tokens: random, shown once, stored as SHA-256 hashes, with a kind that scopes them.

The secret has 256 bits of entropy, so a plain SHA-256 (no slow KDF) is safe to store and lets a
request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import asyncpg

from collector.db import Executor

if TYPE_CHECKING:
    from collector.audit import Actor

TokenKind = Literal["admin", "agency", "viewer", "probe", "app"]
TOKEN_PREFIX = "pantau_"  # noqa: S105 (a prefix, not a secret)
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: what a valid token grants."""

    token_id: int
    name: str
    kind: TokenKind
    agency: str | None = None
    zone: str | None = None
    app: str | None = None

    @property
    def identity(self) -> str:
        """Who, as recorded with a change (collector/catalog/changes.py `Editor`)."""
        return f"token:{self.name}"

    @property
    def role(self) -> str:
        """The token's kind, as the access rules read it (`collector.access`)."""
        return self.kind

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def actor(self) -> Actor:
        """The token as the audit trail records it (name and id, never the secret)."""
        from collector.audit import Actor  # collector.audit reads Principal: imported late

        return Actor.of_token(self)

    def may_manage_app(self, agency: str) -> bool:
        """The rule is `collector.access.may_manage_app` (tokens and accounts alike)."""
        from collector import access

        return access.may_manage_app(self, agency)


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


# Revocations (and any change of a token) are announced here by a trigger (migration 0004).
REVOCATION_CHANNEL = "pantau_tokens"
# Ingest kinds: many requests a minute from few tokens, worth one lookup a minute. Admin and agency
# tokens are looked up on every request, so their revocation holds for the very next request.
CACHED_KINDS: frozenset[TokenKind] = frozenset({"probe", "app"})


class TokenCache:
    """Authenticates bearer secrets; remembers probe and app tokens for up to `ttl` seconds.

    The cache is trusted only while `listen()` holds a LISTEN connection: every revocation,
    whichever replica or command made it, clears it at once. While that connection is down,
    nothing is served from the cache.
    """

    def __init__(self, *, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self.listening = False  # a LISTEN connection is up: the cache may be used
        self.invalidations = 0  # clearings so far: a lookup caches only if none came meanwhile
        self.connects = 0
        self.invalidated_at = 0.0  # time.monotonic() of the last clearing
        self._changed = asyncio.Event()

    def invalidate(self) -> None:
        """Forget every cached answer; a lookup already under way is not cached either."""
        self._cache.clear()
        self.invalidations += 1
        self.invalidated_at = time.monotonic()
        self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[TokenCache], bool]) -> None:
        """Wait until `predicate(self)` holds; it is checked after every change (a test hook)."""
        while not predicate(self):
            await self._changed.wait()

    async def authenticate(self, pool: asyncpg.Pool, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._cache.get(digest) if self.listening else None
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self.invalidations
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
        # A revocation that arrived while we looked may concern this very answer: not cached.
        cacheable = principal is None or principal.kind in CACHED_KINDS
        if self.listening and generation == self.invalidations and cacheable:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, principal)
        return principal

    async def listen(
        self, dsn: str, *, check_seconds: float = 10.0, retry_seconds: float = 1.0
    ) -> None:
        """Hold a LISTEN connection for the app's life, reconnecting when it drops.

        A connection that dies silently is found by a query every `check_seconds`; until then
        the cache's `ttl` still bounds how long a revoked token works.
        """
        wait = 0.0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    dsn, server_settings={"application_name": "pantau-token-listener"}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(REVOCATION_CHANNEL, lambda *_: self.invalidate())
                self.invalidate()  # anything revoked while nobody listened
                self.listening = True
                self.connects += 1
                self._signal()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), check_seconds)
                    if not lost.is_set():
                        await conn.execute("SELECT 1", timeout=check_seconds)
                log.warning("token revocation listener: connection lost; reconnecting")
                wait = 0.0  # it was up: try again at once
            except Exception as exc:  # the database is away: no caching until it is back
                wait = min(30.0, max(retry_seconds, 2 * wait))
                log.warning("token revocation listener: %s; reconnecting in %.0f s", exc, wait)
            finally:
                self.listening = False
                self._cache.clear()
                self._signal()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(wait)
