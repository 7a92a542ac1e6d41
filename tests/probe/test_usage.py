"""Usage sources against real local servers and databases."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiomysql
import asyncpg
import msgspec
import pytest
from aiohttp import web

from probe.checks.base import CheckContext
from probe.usage import SOURCES, UsageReading, read_usage
from tests.probe.servers import closed_port, serve_app
from wire.specs import JsonSource, PrometheusSource, PushSource, SqlSource, UsageSource, UsageSpec

TOKEN = "usage-token-77"
DOC = {
    "data": {"stats": {"logins": 42, "ratio": 0.5, "negative": -5}, "status": "up"},
    "items": [{"count": 3}, {"count": 4}],
    "flag": True,
}
EXPOSITION = """\
# HELP logins_total Logins.
# TYPE logins_total counter
logins_total{app="a",zone="x"} 3
logins_total{app="a",zone="y"} 4
logins_total{app="b"} 10
logins_created{app="a",zone="x"} 1.7e+09
# HELP active_users Active users.
# TYPE active_users gauge
active_users{app="a"} 7
active_users{app="b"} 2.5
# TYPE request_seconds histogram
request_seconds_bucket{le="0.1"} 1
request_seconds_bucket{le="+Inf"} 2
request_seconds_sum 0.3
request_seconds_count 2
"""


def usage_app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/json")
    async def json(request: web.Request) -> web.Response:
        return web.json_response(DOC)

    @routes.get("/private.json")
    async def private(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized()
        return web.json_response({"count": 12})

    @routes.get("/tenant.json")
    async def tenant(request: web.Request) -> web.Response:
        return web.json_response({"count": int(request.headers.get("X-Tenant", "0"))})

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=EXPOSITION, content_type="text/plain")

    @routes.get("/text")
    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>")

    @routes.get("/broken")
    async def broken(request: web.Request) -> web.Response:
        raise web.HTTPInternalServerError()

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest.fixture(scope="module")
async def base() -> AsyncIterator[str]:
    async with serve_app(usage_app()) as url:
        yield url


async def read(
    ctx: CheckContext, source: UsageSource, *, timeout_seconds: float | None = None
) -> UsageReading:
    spec = UsageSpec(
        metric="logins", kind="counter", source=source, timeout_seconds=timeout_seconds
    )
    reading = await read_usage(spec, app="portal", ctx=ctx)
    assert (reading.value is None) == (reading.reason is not None)
    assert reading.ts <= time.time()
    return reading


def test_table_covers_every_source_type() -> None:
    tags = {t.__struct_config__.tag for t in (JsonSource, PrometheusSource, SqlSource, PushSource)}
    assert set(SOURCES) == tags


async def test_push_is_not_pulled(ctx: CheckContext) -> None:
    reading = await read(ctx, PushSource())
    assert (reading.value, reading.reason) == (None, "config")
    assert reading.message == "push sources are not pulled"


# --- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [("data.stats.logins", 42), ("data.stats.ratio", 0.5), ("items.1.count", 4)],
)
async def test_json_number(ctx: CheckContext, base: str, path: str, value: float) -> None:
    reading = await read(ctx, JsonSource(url=f"{base}/json", path=path))
    assert (reading.value, reading.reason, reading.message) == (value, None, None)


@pytest.mark.parametrize(
    ("path", "reason", "words"),
    [
        ("data.status", "json", "not a number"),
        ("flag", "json", "not a number"),  # JSON true is no count
        ("data", "json", "not a number"),
        ("data.stats.missing", "json", "missing"),
        ("items.5.count", "json", "missing"),
        ("data.stats.negative", "body", "outside"),  # the wire cannot carry it
    ],
)
async def test_json_not_a_usable_number(
    ctx: CheckContext, base: str, path: str, reason: str, words: str
) -> None:
    reading = await read(ctx, JsonSource(url=f"{base}/json", path=path))
    assert (reading.value, reading.reason) == (None, reason)
    assert words in (reading.message or "")


async def test_json_answer_not_json(ctx: CheckContext, base: str) -> None:
    reading = await read(ctx, JsonSource(url=f"{base}/text", path="count"))
    assert (reading.reason, reading.message) == ("json", "answer is not JSON")


async def test_json_error_status(ctx: CheckContext, base: str) -> None:
    reading = await read(ctx, JsonSource(url=f"{base}/broken", path="count"))
    assert reading.reason == "status"
    assert "500" in (reading.message or "")


async def test_json_bearer_from_env(ctx: CheckContext, env: dict[str, str], base: str) -> None:
    source = JsonSource(
        url=f"{base}/private.json",
        path="count",
        bearer_token_env="PANTAU_SECRET_PORTAL_USAGE_TOKEN",
    )
    missing = await read(ctx, source)
    assert missing.reason == "config"
    assert "PANTAU_SECRET_PORTAL_USAGE_TOKEN" in (missing.message or "")
    env["PANTAU_SECRET_PORTAL_USAGE_TOKEN"] = TOKEN
    assert (await read(ctx, source)).value == 12


async def test_json_headers(ctx: CheckContext, base: str) -> None:
    source = JsonSource(url=f"{base}/tenant.json", path="count", headers={"X-Tenant": "31"})
    assert (await read(ctx, source)).value == 31


async def test_json_unreachable(ctx: CheckContext) -> None:
    reading = await read(ctx, JsonSource(url=f"http://127.0.0.1:{closed_port()}/", path="a"))
    assert reading.reason == "connect"


# --- Prometheus -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "labels", "value"),
    [
        ("logins", {"app": "a"}, 7),  # `_total` appended, as client libraries do
        ("logins_total", {}, 17),  # every series summed
        ("logins", {"app": "a", "zone": "y"}, 4),
        ("logins", {"zone": ""}, 10),  # an empty matcher matches a missing label
        ("active_users", {}, 9.5),
        ("active_users", {"app": "b"}, 2.5),
        ("request_seconds_count", {}, 2),
    ],
)
async def test_prometheus_sum(
    ctx: CheckContext, base: str, metric: str, labels: dict[str, str], value: float
) -> None:
    source = PrometheusSource(url=f"{base}/metrics", metric=metric, labels=labels)
    reading = await read(ctx, source)
    assert (reading.value, reading.reason) == (value, None)


@pytest.mark.parametrize(
    ("metric", "labels"),
    [
        ("logouts", {}),
        ("logins", {"app": "c"}),
        ("request_seconds", {}),  # a histogram's buckets are not its value
    ],
)
async def test_prometheus_no_series(
    ctx: CheckContext, base: str, metric: str, labels: dict[str, str]
) -> None:
    source = PrometheusSource(url=f"{base}/metrics", metric=metric, labels=labels)
    reading = await read(ctx, source)
    assert (reading.value, reading.reason) == (None, "body")
    assert f"no series {metric}" in (reading.message or "")


async def test_prometheus_not_an_exposition(ctx: CheckContext, base: str) -> None:
    reading = await read(ctx, PrometheusSource(url=f"{base}/text", metric="logins"))
    assert reading.reason == "body"
    assert "not a Prometheus exposition" in (reading.message or "")


# --- SQL: PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def pg_env(env: dict[str, str], database_url: str) -> dict[str, str]:
    env["PANTAU_SECRET_PORTAL_USAGE_PG_DSN"] = database_url
    return env


def unchecked_sql(driver: Literal["postgresql", "mysql"], dsn_env: str, query: str) -> SqlSource:
    """A source with a query the API would refuse: the probe must hold on its own."""
    source = SqlSource(driver=driver, dsn_env=dsn_env, query="SELECT 1")
    msgspec.structs.force_setattr(source, "query", query)
    return source


def pg(query: str) -> SqlSource:
    return unchecked_sql("postgresql", "PANTAU_SECRET_PORTAL_USAGE_PG_DSN", query)


@pytest.fixture
async def pg_table(database_url: str) -> AsyncIterator[str]:
    name = f"probe_usage_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE TABLE {name} (n integer)")
        await conn.execute(f"INSERT INTO {name} VALUES (2), (3)")
        yield name
        await conn.execute(f"DROP TABLE {name}")
    finally:
        await conn.close()


@pytest.mark.usefixtures("pg_env")
@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("SELECT 42", 42),
        ("SELECT count(*) FROM generate_series(1, 5)", 5),
        ("SELECT 1.5::numeric", 1.5),
        ("SELECT sum(g)::numeric FROM generate_series(1, 4) g;", 10),
    ],
)
async def test_postgresql_number(ctx: CheckContext, query: str, value: float) -> None:
    reading = await read(ctx, pg(query))
    assert (reading.value, reading.reason) == (value, None)


@pytest.mark.usefixtures("pg_env")
async def test_postgresql_table(ctx: CheckContext, pg_table: str) -> None:
    assert (await read(ctx, pg(f"SELECT sum(n) FROM {pg_table}"))).value == 5


@pytest.mark.usefixtures("pg_env")
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT 1 WHERE false", "no row"),
        ("SELECT g FROM generate_series(1, 3) g", "more than one row"),
        ("SELECT 1, 2", "2 columns"),
        ("SELECT NULL::integer", "NULL"),
        ("SELECT 'secret@example.org'", "a str"),
        ("SELECT 'NaN'::float8", "a float"),
        ("SELECT -1", "outside"),
    ],
)
async def test_postgresql_not_one_number(ctx: CheckContext, query: str, words: str) -> None:
    reading = await read(ctx, pg(query))
    assert (reading.value, reading.reason) == (None, "body")
    assert reading.message is not None
    assert words in reading.message
    assert "secret@example.org" not in reading.message


async def pg_rows(database_url: str, table: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r[0] for r in await conn.fetch(f"SELECT n FROM {table} ORDER BY n")]
    finally:
        await conn.close()


# Writes the API refuses (wire.specs.check_sql), run as if they had got through: the probe's
# read-only transaction stops each, with a reason of its own, and nothing changes.
PG_WRITES = [
    "DELETE FROM {t} RETURNING 1",
    "WITH d AS (DELETE FROM {t} RETURNING n) SELECT count(*) FROM d",
    "WITH w AS (INSERT INTO {t} VALUES (100) RETURNING n) SELECT sum(n) FROM w",
    "UPDATE {t} SET n = 0 RETURNING 1",
    "SELECT count(*) INTO {t}_copy FROM {t}",
    "SELECT n FROM {t} LIMIT 1 FOR UPDATE",
    "TRUNCATE {t}",
]


@pytest.mark.usefixtures("pg_env")
@pytest.mark.parametrize("query", PG_WRITES)
async def test_postgresql_write_fails_read_only(
    ctx: CheckContext, pg_table: str, database_url: str, query: str
) -> None:
    reading = await read(ctx, pg(query.format(t=pg_table)))
    assert (reading.value, reading.reason) == (None, "config")
    assert "read-only transaction" in (reading.message or "")
    assert await pg_rows(database_url, pg_table) == [2, 3]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass($1)", f"{pg_table}_copy") is None
    finally:
        await conn.close()


@pytest.mark.usefixtures("pg_env")
async def test_postgresql_runs_read_only_with_a_statement_timeout(ctx: CheckContext) -> None:
    # What the server itself says about the transaction the query runs in.
    ro = "SELECT CASE WHEN current_setting('transaction_read_only') = 'on' THEN 1 ELSE 0 END"
    assert (await read(ctx, pg(ro))).value == 1
    limit = "SELECT extract(epoch FROM current_setting('statement_timeout')::interval)"
    seconds = (await read(ctx, pg(limit), timeout_seconds=3)).value
    assert seconds is not None
    assert 0 < seconds <= 3


@pytest.mark.usefixtures("pg_env")
async def test_postgresql_single_statement(ctx: CheckContext) -> None:
    reading = await read(ctx, pg("SELECT 1; SELECT 2"))
    assert reading.reason == "error"


@pytest.mark.usefixtures("pg_env")
async def test_postgresql_query_error(ctx: CheckContext) -> None:
    reading = await read(ctx, pg("SELECT * FROM no_such_table_here"))
    assert reading.reason == "error"
    assert "42P01" in (reading.message or "")


@pytest.mark.usefixtures("pg_env")
async def test_postgresql_timeout(ctx: CheckContext) -> None:
    started = time.perf_counter()
    reading = await read(ctx, pg("SELECT pg_sleep(5)"), timeout_seconds=0.5)
    assert reading.reason == "timeout"
    assert time.perf_counter() - started < 1.5


async def test_sql_missing_env_is_config(ctx: CheckContext) -> None:
    reading = await read(ctx, pg("SELECT 1"))
    assert reading.reason == "config"
    assert "PANTAU_SECRET_PORTAL_USAGE_PG_DSN" in (reading.message or "")


async def test_postgresql_bad_dsn_is_config(ctx: CheckContext, env: dict[str, str]) -> None:
    env["PANTAU_SECRET_PORTAL_USAGE_PG_DSN"] = "mysql://user:pw-9f8e7d@127.0.0.1/db"
    reading = await read(ctx, pg("SELECT 1"))
    assert reading.reason == "config"
    assert "pw-9f8e7d" not in (reading.message or "")
    assert "PANTAU_SECRET_PORTAL_USAGE_PG_DSN" in (reading.message or "")


async def test_postgresql_unreachable_keeps_the_password(
    ctx: CheckContext, env: dict[str, str]
) -> None:
    env["PANTAU_SECRET_PORTAL_USAGE_PG_DSN"] = (
        f"postgresql://probe:pw-1a2b3c@127.0.0.1:{closed_port()}/db"
    )
    reading = await read(ctx, pg("SELECT 1"))
    assert reading.reason == "connect"
    assert "pw-1a2b3c" not in (reading.message or "")


# --- SQL: MySQL / MariaDB -------------------------------------------------------------------

MYSQL = ("127.0.0.1", 3306)


@pytest.fixture(scope="module")
def mysql_dsn() -> str:
    with contextlib.suppress(OSError), socket.create_connection(MYSQL, timeout=0.5):
        return "mysql://root@127.0.0.1:3306/test"
    pytest.skip("no MySQL/MariaDB server reachable on 127.0.0.1:3306")


@pytest.fixture
def mysql_env(env: dict[str, str], mysql_dsn: str) -> dict[str, str]:
    env["PANTAU_SECRET_PORTAL_USAGE_MY_DSN"] = mysql_dsn
    return env


def my(query: str) -> SqlSource:
    return unchecked_sql("mysql", "PANTAU_SECRET_PORTAL_USAGE_MY_DSN", query)


@contextlib.asynccontextmanager
async def mysql_conn() -> AsyncIterator[Any]:
    conn = await aiomysql.connect(
        host=MYSQL[0], port=MYSQL[1], user="root", password="", db="test", autocommit=True
    )
    try:
        yield conn
    finally:
        await conn.ensure_closed()


@pytest.fixture
async def mysql_table(mysql_dsn: str) -> AsyncIterator[str]:
    name = f"probe_usage_{uuid.uuid4().hex[:12]}"
    async with mysql_conn() as conn, conn.cursor() as cur:
        await cur.execute(f"CREATE TABLE {name} (n INTEGER) ENGINE=InnoDB")
        await cur.execute(f"INSERT INTO {name} VALUES (2), (3)")
        try:
            yield name
        finally:
            await cur.execute(f"DROP TABLE {name}")


async def mysql_sum(table: str) -> tuple[int, int]:
    async with mysql_conn() as conn, conn.cursor() as cur:
        await cur.execute(f"SELECT COUNT(*), SUM(n) FROM {table}")
        count, total = await cur.fetchone()
    return int(count), int(total)


async def mysql_count(table: str) -> int:
    async with mysql_conn() as conn, conn.cursor() as cur:
        await cur.execute(f"SELECT COUNT(*) FROM {table}")
        (count,) = await cur.fetchone()
        return int(count)


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
@pytest.mark.parametrize(("query", "value"), [("SELECT 42", 42), ("SELECT 2.5;", 2.5)])
async def test_mysql_number(ctx: CheckContext, query: str, value: float) -> None:
    reading = await read(ctx, my(query))
    assert (reading.value, reading.reason) == (value, None), reading.message


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
async def test_mysql_table_sum(ctx: CheckContext, mysql_table: str) -> None:
    reading = await read(ctx, my(f"SELECT SUM(n) FROM {mysql_table}"))  # a Decimal
    assert reading.value == 5


MYSQL_WRITES = [
    "INSERT INTO {t} VALUES (100)",
    "DELETE FROM {t}",
    "UPDATE {t} SET n = 0",
    "REPLACE INTO {t} VALUES (7)",
    "SELECT COUNT(*) FROM {t} FOR UPDATE",
]


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
@pytest.mark.parametrize("query", MYSQL_WRITES)
async def test_mysql_write_fails_read_only(ctx: CheckContext, mysql_table: str, query: str) -> None:
    reading = await read(ctx, my(query.format(t=mysql_table)))
    assert (reading.value, reading.reason) == (None, "config")
    assert "read-only transaction" in (reading.message or "")
    assert "READ ONLY" in (reading.message or "")  # the server's own words follow
    assert await mysql_sum(mysql_table) == (2, 5)


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
async def test_mysql_runs_read_only_with_a_statement_timeout(ctx: CheckContext) -> None:
    assert (await read(ctx, my("SELECT @@session.tx_read_only"))).value == 1
    seconds = (await read(ctx, my("SELECT @@session.max_statement_time"), timeout_seconds=3)).value
    assert seconds is not None
    assert 0 < seconds <= 3


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
async def test_mysql_single_statement(ctx: CheckContext, mysql_table: str) -> None:
    query = f"SELECT 1; COMMIT; INSERT INTO {mysql_table} VALUES (100)"
    reading = await read(ctx, my(query))
    assert reading.reason == "config"
    assert await mysql_count(mysql_table) == 2


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
@pytest.mark.parametrize(
    ("query", "words"),
    [("SELECT 1 UNION SELECT 2", "more than one row"), ("SELECT 1, 2", "2 columns")],
)
async def test_mysql_not_one_number(ctx: CheckContext, query: str, words: str) -> None:
    reading = await read(ctx, my(query))
    assert reading.reason == "body"
    assert words in (reading.message or "")


@pytest.mark.mysql
@pytest.mark.usefixtures("mysql_env")
async def test_mysql_timeout(ctx: CheckContext) -> None:
    started = time.perf_counter()
    reading = await read(ctx, my("SELECT SLEEP(5)"), timeout_seconds=0.5)
    assert reading.reason == "timeout"
    assert time.perf_counter() - started < 1.5


@pytest.mark.mysql
async def test_mysql_unreachable_keeps_the_password(
    ctx: CheckContext, env: dict[str, str], mysql_dsn: str
) -> None:
    env["PANTAU_SECRET_PORTAL_USAGE_MY_DSN"] = (
        f"mysql://root:pw-5e6f7a@127.0.0.1:{closed_port()}/test"
    )
    reading = await read(ctx, my("SELECT 1"))
    assert reading.reason == "connect"
    assert "pw-5e6f7a" not in (reading.message or "")


@pytest.mark.parametrize(
    "dsn", ["postgresql://u:pw-0c0d@127.0.0.1/db", "mysql://u:pw-0c0d@127.0.0.1:notaport/db"]
)
async def test_mysql_bad_dsn_is_config(ctx: CheckContext, env: dict[str, str], dsn: str) -> None:
    env["PANTAU_SECRET_PORTAL_USAGE_MY_DSN"] = dsn
    reading = await read(ctx, my("SELECT 1"))
    assert reading.reason == "config"
    assert "pw-0c0d" not in (reading.message or "")
