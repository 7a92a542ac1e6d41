"""Slow and greedy clients, on real loopback sockets against the collector as `serve` starts it.

Timeouts are made short here so the tests are quick; the assertions only bound them generously
("closed well before this"), never measure them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from collector import cli
from tests.collector.conftest import Tokens, collector_config

GENEROUS = 15.0  # seconds: far above the test timeouts, far below "never"

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@contextlib.asynccontextmanager
async def running(dsn: str, **limits: float) -> AsyncIterator[tuple[str, int]]:
    """The collector served by `cli.serve` on a free loopback port; yields (host, port)."""
    config = collector_config(listen={"host": "127.0.0.1", "port": 0}, limits=limits)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(cli.serve(config, dsn, ready=ready.set_result))
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), GENEROUS)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield host, int(port)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def request(host: str, port: int, head: bytes) -> bytes:
    """One request on a fresh connection; the answer's status line."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), GENEROUS)
    finally:
        writer.close()


async def request_all(host: str, port: int, head: bytes) -> bytes:
    """One request on a fresh connection (`Connection: close` is added); the whole answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head + b"Connection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), GENEROUS)
    finally:
        writer.close()


async def test_a_half_sent_request_head_is_cut_off(seeded_db: str) -> None:
    async with running(seeded_db, header_timeout_seconds=0.5) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ... and never the rest
        await writer.drain()
        # EOF (b"") means the server closed the connection; a timeout here fails the test.
        assert await asyncio.wait_for(reader.read(), GENEROUS) == b""
        writer.close()
        # A connection that sends nothing at all is closed too.
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), GENEROUS) == b""
        writer.close()
        # Normal requests are unaffected.
        assert await request(host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == (
            b"HTTP/1.1 200 OK\r\n"
        )


async def test_a_body_that_stalls_gets_408(seeded_db: str, tokens: Tokens) -> None:
    async with running(seeded_db, body_timeout_seconds=0.5) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tokens.admin.encode() + b"\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"id"\r\n'  # a chunked body never finished
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GENEROUS)
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"\r\nConnection: close\r\n" in head, head  # the rest may never come
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        body = await asyncio.wait_for(reader.readexactly(length), GENEROUS)
        assert b'"error":"timeout"' in body, body
        assert b"0.5 seconds" in body, body
        writer.close()
        # Same with a Content-Length larger than what is sent.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tokens.admin.encode() + b"\r\n"
            b'Content-Length: 1000\r\n\r\n{"id": '
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), GENEROUS)
        assert status.startswith(b"HTTP/1.1 408 "), status
        writer.close()
        # The size limit still answers 413 at once.
        status = await request(
            host, port,
            b"POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + tokens.admin.encode() + b"\r\nContent-Length: 999999999\r\n\r\n",
        )  # fmt: skip
        assert status.startswith(b"HTTP/1.1 413 "), status


async def test_connections_beyond_the_cap_are_refused(seeded_db: str) -> None:
    cap = 3
    async with running(seeded_db, max_connections=cap, header_timeout_seconds=60) as (host, port):
        idle = []
        for _ in range(cap):  # N keep-alive connections, each proven open by one request
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.readline(), GENEROUS) == b"HTTP/1.1 200 OK\r\n"
            idle.append((reader, writer))
        # The N+1st is answered 503 and closed before it can send anything.
        reader, writer = await asyncio.open_connection(host, port)
        answer = await asyncio.wait_for(reader.read(), GENEROUS)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"Connection: close" in answer
        assert b"Retry-After:" in answer
        writer.close()
        # Once one of the N leaves, new connections are served again (as soon as the server
        # has seen it go), and the refusals were counted.
        idle.pop()[1].close()
        for _ in range(100):
            answer = await request_all(host, port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            if answer.startswith(b"HTTP/1.1 200 OK\r\n"):
                break
            await asyncio.sleep(0.05)
        refused = re.search(rb"^pantau_http_connections_refused_total (\S+)$", answer, re.M)
        assert refused is not None, answer
        assert float(refused[1]) >= 1
        for _, w in idle:
            w.close()


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"header_timeout_seconds": 0}, "header_timeout_seconds"),
        ({"body_timeout_seconds": -1}, "body_timeout_seconds"),
        ({"max_connections": 0}, "max_connections"),
    ],
)
def test_bad_limits_are_refused_with_their_field(
    tmp_path: object, limits: dict[str, float], field: str
) -> None:
    import pathlib

    import yaml

    from collector.config import ConfigError, load_config

    assert isinstance(tmp_path, pathlib.Path)
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump({"limits": limits}), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"at `\$\.limits\.{field}`"):
        load_config(path)
