"""Reading large results in chunks (so decoding never holds the event loop) loses no row."""

from __future__ import annotations

import asyncpg
import pytest

from collector.db import fetch_chunked


@pytest.mark.parametrize("chunk", [1, 3, 10, 11, 2000])
async def test_fetch_chunked_returns_every_row_in_order(fresh_db: str, chunk: int) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        sql = "SELECT i, 'r' || i AS name FROM generate_series(1, $1) AS i ORDER BY i"
        async with conn.transaction(readonly=True):
            got = await fetch_chunked(conn, sql, 10, chunk=chunk)
            empty = await fetch_chunked(conn, sql, 0, chunk=chunk)
        assert [tuple(r) for r in got] == [tuple(r) for r in await conn.fetch(sql, 10)]
        assert got[0]["name"] == "r1"
        assert empty == []
    finally:
        await conn.close()
