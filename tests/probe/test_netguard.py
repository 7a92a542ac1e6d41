"""The probe's deny list, checked on the address actually connected to.

Real listeners on 127.0.0.1 stand in for what an agency must not reach: with 127.0.0.0/8 (and
::1) denied, every check kind and pulled usage source is refused, by IP literal and by a name
that resolves there (`localhost`), and the listener never sees a connection. With the default
list loopback stays reachable (the demo and the other tests use it), and link-local and cloud
metadata addresses are refused without a packet sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import web

from probe.checks import run_check
from probe.checks.base import CheckContext
from probe.netguard import NetworkGuard, networks
from probe.usage import read_usage
from tests.probe.servers import Certs, probe_context, serve_app, serve_tcp
from wire.messages import CheckResult
from wire.specs import (
    CheckSpec,
    HttpCheck,
    JsonSource,
    PrometheusSource,
    SqlSource,
    TcpCheck,
    TlsCheck,
    UsageSource,
    UsageSpec,
)

LOOPBACK = NetworkGuard(deny=NetworkGuard().deny + networks(["127.0.0.0/8", "::1/128"]))
METADATA = "169.254.169.254"


class Hits:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
async def target() -> AsyncIterator[tuple[int, Hits]]:
    """An HTTP listener on 127.0.0.1 that counts connections; yields its port."""
    hits = Hits()

    async def any_path(request: web.Request) -> web.Response:
        if request.path == "/to-metadata":
            raise web.HTTPFound(f"http://{METADATA}/latest/meta-data/")
        if request.path == "/metrics":
            return web.Response(text="# TYPE logins counter\nlogins 3\n")
        return web.json_response({"count": 3})

    @web.middleware
    async def count(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        hits.count += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    app.router.add_get("/{tail:.*}", any_path)
    async with serve_app(app) as base:
        yield int(base.rsplit(":", 1)[1]), hits


@pytest.fixture
async def denied_ctx() -> AsyncIterator[CheckContext]:
    async with probe_context({}, guard=LOOPBACK) as ctx:
        yield ctx


async def check(ctx: CheckContext, spec: CheckSpec) -> CheckResult:
    result = await run_check(spec, app="portal", ctx=ctx)
    return msgspec.json.decode(msgspec.json.encode(result), type=CheckResult)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2"])
async def test_http_to_a_denied_address_is_blocked(
    denied_ctx: CheckContext, target: tuple[int, Hits], host: str
) -> None:
    port, hits = target
    result = await check(denied_ctx, HttpCheck(url=f"http://{host}:{port}/", retries=2))
    assert (result.ok, result.reason) == (False, "blocked")
    assert "deny list" in (result.message or "")
    assert "127.0.0." in (result.message or "") or "::1" in (result.message or "")
    assert result.attempts == 1
    assert hits.count == 0


async def test_default_list_leaves_loopback_alone(
    ctx: CheckContext, target: tuple[int, Hits]
) -> None:
    port, hits = target
    for host in ("127.0.0.1", "localhost"):
        assert (await check(ctx, HttpCheck(url=f"http://{host}:{port}/"))).ok
        assert (await check(ctx, TcpCheck(host=host, port=port))).ok
    assert hits.count == 2


async def test_an_exception_in_allow_networks_wins(target: tuple[int, Hits]) -> None:
    port, _ = target
    guard = NetworkGuard(deny=LOOPBACK.deny, allow=networks(["127.0.0.1/32"]))
    async with probe_context({}, guard=guard) as ctx:
        assert (await check(ctx, HttpCheck(url=f"http://127.0.0.1:{port}/"))).ok
        blocked = await check(ctx, HttpCheck(url=f"http://127.0.0.2:{port}/"))
    assert blocked.reason == "blocked"


@pytest.mark.parametrize(
    "url",
    [
        f"http://{METADATA}/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        f"http://[::ffff:{METADATA}]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://169.254.1.1:8080/",
    ],
)
async def test_metadata_is_blocked_by_default(ctx: CheckContext, url: str) -> None:
    started = time.perf_counter()
    result = await check(ctx, HttpCheck(url=url, timeout_seconds=5))
    assert (result.ok, result.reason) == (False, "blocked")
    assert "deny list" in (result.message or "")
    # Refused before connecting: no wait for an address that does not answer here.
    assert time.perf_counter() - started < 5


async def test_a_redirect_to_metadata_is_blocked(
    ctx: CheckContext, target: tuple[int, Hits]
) -> None:
    port, hits = target
    result = await check(ctx, HttpCheck(url=f"http://127.0.0.1:{port}/to-metadata"))
    assert (result.reason, hits.count) == ("blocked", 1)
    assert METADATA in (result.message or "")


async def test_tcp_to_a_denied_address_is_blocked(denied_ctx: CheckContext) -> None:
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    async with serve_tcp(handler=counted) as port:
        for host in ("127.0.0.1", "localhost"):
            result = await check(denied_ctx, TcpCheck(host=host, port=port))
            assert (result.ok, result.reason) == (False, "blocked"), host
    assert connections == 0


async def test_tcp_and_tls_to_metadata_are_blocked_by_default(ctx: CheckContext) -> None:
    for spec in (TcpCheck(host=METADATA, port=80), TlsCheck(host=METADATA, port=443)):
        result = await check(ctx, spec)
        assert (result.ok, result.reason) == (False, "blocked")
        assert METADATA in (result.message or "")


async def test_tls_to_a_denied_address_is_blocked(denied_ctx: CheckContext, certs: Certs) -> None:
    async with serve_tcp(tls=certs.valid) as port:
        result = await check(denied_ctx, TlsCheck(host="localhost", port=port))
    assert (result.ok, result.reason) == (False, "blocked")


async def read(ctx: CheckContext, source: UsageSource) -> tuple[float | None, str | None]:
    reading = await read_usage(
        UsageSpec(metric="visits", kind="gauge", source=source), app="portal", ctx=ctx
    )
    return reading.value, reading.reason


async def test_pulled_usage_to_a_denied_address_is_blocked(
    denied_ctx: CheckContext, ctx: CheckContext, target: tuple[int, Hits]
) -> None:
    port, hits = target
    json_src = JsonSource(url=f"http://localhost:{port}/n", path="count")
    prom_src = PrometheusSource(url=f"http://127.0.0.1:{port}/metrics", metric="logins")
    assert await read(denied_ctx, json_src) == (None, "blocked")
    assert await read(denied_ctx, prom_src) == (None, "blocked")
    assert hits.count == 0
    assert await read(ctx, json_src) == (3, None)  # the default list lets both through
    assert await read(ctx, prom_src) == (3, None)
    meta = JsonSource(url=f"http://{METADATA}/latest/meta-data/", path="x")
    assert await read(ctx, meta) == (None, "blocked")


@pytest.mark.parametrize("driver", ["postgresql", "mysql"])
async def test_sql_to_metadata_is_blocked_by_default(ctx: CheckContext, driver: str) -> None:
    env = ctx.env
    assert isinstance(env, dict)
    env["PANTAU_SECRET_PORTAL_DSN"] = f"{driver}://u:pw-4c4c@{METADATA}:5432/db"
    source = SqlSource(driver=driver, dsn_env="PANTAU_SECRET_PORTAL_DSN", query="SELECT 1")  # type: ignore[arg-type]
    assert await read(ctx, source) == (None, "blocked")


async def test_postgresql_to_a_denied_name_is_blocked(denied_ctx: CheckContext) -> None:
    env = denied_ctx.env
    assert isinstance(env, dict)
    env["PANTAU_SECRET_PORTAL_DSN"] = "postgresql://u:pw-4c4c@localhost:5432/db"
    source = SqlSource(driver="postgresql", dsn_env="PANTAU_SECRET_PORTAL_DSN", query="SELECT 1")
    assert await read(denied_ctx, source) == (None, "blocked")


MYSQL = ("127.0.0.1", 3306)


@pytest.mark.mysql
async def test_mysql_to_a_denied_address_is_blocked(
    ctx: CheckContext, denied_ctx: CheckContext
) -> None:
    with contextlib.suppress(OSError), socket.create_connection(MYSQL, timeout=0.5):
        for context in (ctx, denied_ctx):
            assert isinstance(context.env, dict)
            context.env["PANTAU_SECRET_PORTAL_DSN"] = "mysql://root@localhost:3306/test"
        source = SqlSource(driver="mysql", dsn_env="PANTAU_SECRET_PORTAL_DSN", query="SELECT 7")
        assert await read(ctx, source) == (7, None)  # the real MariaDB answers by default
        assert await read(denied_ctx, source) == (None, "blocked")
        return
    pytest.skip("no MySQL/MariaDB server reachable on 127.0.0.1:3306")


async def test_postgresql_verify_full_needs_every_address_allowed() -> None:
    # Connected to by name (the certificate is checked against it): no address may be denied.
    guard = NetworkGuard(deny=networks(["127.0.0.0/8"]))
    env = {"PANTAU_SECRET_PORTAL_DSN": "postgresql://u:pw@localhost:5432/db?sslmode=verify-full"}
    async with probe_context(env, guard=guard) as ctx:
        source = SqlSource(
            driver="postgresql", dsn_env="PANTAU_SECRET_PORTAL_DSN", query="SELECT 1"
        )
        assert await read(ctx, source) == (None, "blocked")
