"""Revocation takes effect at once on every replica: two collectors on one database."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.auth import TokenCache, create_token, hash_secret, revoke_token
from collector.web import keys
from collector.web.app import make_app
from tests.collector.conftest import Tokens, bearer, collector_config
from tests.collector.test_ingest import batch, result

Client = TestClient  # type: ignore[type-arg]


async def until(cache: TokenCache, predicate: Callable[[TokenCache], bool]) -> None:
    """Wait for the cache's state through its hook (no sleeps)."""
    wait = getattr(cache, "wait_until", None)
    if wait is not None:  # the collector at the branch's start had no such hook
        await wait(predicate)


@pytest.fixture
async def replicas(seeded_db: str) -> AsyncIterator[tuple[Client, Client]]:
    a = TestClient(
        TestServer(make_app(collector_config(), dsn=seeded_db), host="127.0.0.1", port=0)
    )
    b = TestClient(
        TestServer(make_app(collector_config(), dsn=seeded_db), host="127.0.0.1", port=0)
    )
    async with a, b:
        for c in (a, b):
            await until(c.app[keys.TOKENS], lambda t: t.listening)
        yield a, b


async def token_id(url: str, secret: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval("SELECT id FROM tokens WHERE secret_hash = $1", hash_secret(secret))
        )
    finally:
        await conn.close()


def agency(n: int) -> dict[str, str]:
    return {"id": f"ag-{n}-{uuid.uuid4().hex[:8]}", "name": "Agency"}


async def test_a_revoked_token_is_refused_at_once_on_the_other_replica(
    replicas: tuple[Client, Client], tokens: Tokens, seeded_db: str
) -> None:
    a, b = replicas
    simpus = await (await a.get("/api/v1/apps/simpus")).json()
    # Warm both replicas' caches with every token.
    for c in (a, b):
        assert (
            await c.post("/api/v1/agencies", json=agency(0), headers=bearer(tokens.admin))
        ).status == 201
        assert (
            await c.put("/api/v1/apps/simpus", json=simpus, headers=bearer(tokens.dinkes))
        ).status == 200
        assert (
            await c.post("/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dc))
        ).status == 200
    cache_b = b.app[keys.TOKENS]
    seen = getattr(cache_b, "invalidations", 0)

    # Revoke the three through replica a's database pool (what `token revoke` does).
    ids = [await token_id(seeded_db, t) for t in (tokens.admin, tokens.dinkes, tokens.probe_dc)]
    async with a.app[keys.POOL].acquire() as conn:
        for i in ids:
            assert await revoke_token(conn, i)
    answered = time.monotonic()

    # Every admin or agency write started after the revoke answered is refused on replica b.
    resp = await b.post("/api/v1/agencies", json=agency(1), headers=bearer(tokens.admin))
    assert resp.status == 401
    resp = await b.put("/api/v1/apps/simpus", json=simpus, headers=bearer(tokens.dinkes))
    assert resp.status == 401

    # Ingest with the revoked probe token: served from b's cache until the notification arrives.
    accepted = 0
    while True:
        resp = await b.post(
            "/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dc)
        )
        if resp.status == 401:
            break
        assert resp.status == 200
        accepted += 1
        assert accepted < 1000, "the revoked probe token kept working"
    refused_after = time.monotonic() - answered
    await until(cache_b, lambda t: t.invalidations > seen)
    notified_after = cache_b.invalidated_at - answered  # below 0: before the revoke answered
    # Once replica b has the notification, the token is refused: deterministic, no sleep.
    resp = await b.post("/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dc))
    assert resp.status == 401
    print(
        f"\nrevocation on the other replica: probe ingest refused after {refused_after * 1000:.1f} ms"
        f" ({accepted} accepted); notification handled after {notified_after * 1000:.1f} ms"
    )


async def test_the_listener_reconnects_and_the_cache_is_not_trusted_meanwhile(
    replicas: tuple[Client, Client], seeded_db: str
) -> None:
    _a, b = replicas
    cache_b: TokenCache = b.app[keys.TOKENS]
    conn = await asyncpg.connect(seeded_db)
    try:
        tid, secret = await create_token(conn, name="probe-x", kind="probe", zone="dc")
        connects = cache_b.connects
        # The listeners' connections drop (a database restart, a proxy's idle timeout).
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'pantau-token-listener' AND datname = current_database()"
        )
        await cache_b.wait_until(lambda t: not t.listening or t.connects > connects)
        await cache_b.wait_until(lambda t: t.listening and t.connects > connects)
        # Reconnected: a token cached from now on is still dropped at its revocation.
        resp = await b.post("/api/v1/results", json=batch([result()]), headers=bearer(secret))
        assert resp.status == 200
        seen = cache_b.invalidations
        assert await revoke_token(conn, tid)
        await cache_b.wait_until(lambda t: t.invalidations > seen)
        resp = await b.post("/api/v1/results", json=batch([result()]), headers=bearer(secret))
        assert resp.status == 401
    finally:
        await conn.close()
