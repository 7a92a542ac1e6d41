"""Usage from an SQL query: one row, one number, read-only, with a statement timeout.

The DSN carries a password: it is read from the probe's environment at run time and never put
in a message or a log (messages are scrubbed again in `read_usage`, in case a driver echoes it).
The DSN's host is resolved and checked against the probe's deny list, and the connection is
made to the checked address (so DNS cannot route around the list).

Read-only is the server's doing (a READ ONLY transaction); `wire.specs.check_sql` refuses the
obvious writes earlier, at the API. A query that writes anyway fails with reason `config`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import asyncpg

from probe.checks.base import CheckContext, Failure, env_value
from probe.netguard import NetworkGuard
from probe.usage.base import as_number
from wire.messages import FailureReason
from wire.specs import SqlSource

Rows = list[tuple[Any, ...]]
# Error codes of MySQL/MariaDB and their client library (pymysql, used by aiomysql).
_MYSQL_CONNECT_ERRORS: Final = {2002, 2003, 2006, 2013}
_MYSQL_TIMEOUT_ERRORS: Final = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_MYSQL_READ_ONLY_ERRORS: Final = {1792}  # "Cannot execute statement in a READ ONLY transaction"
_READ_ONLY: Final = "the query tried to write; usage queries run in a read-only transaction"


async def read_sql(source: SqlSource, *, ctx: CheckContext, seconds: float) -> float:
    dsn = env_value(ctx, source.dsn_env)
    # The server should stop working on the query when the probe gives up on it.
    deadline = asyncio.get_running_loop().time() + seconds
    rows = await _DRIVERS[source.driver](
        dsn, query=source.query, dsn_env=source.dsn_env, deadline=deadline, guard=ctx.guard
    )
    return _single_number(rows)


async def _checked_host(guard: NetworkGuard, host: str, port: int, *, every: bool = False) -> str:
    """The address to connect to for `host`: resolved, and not in the deny list."""
    infos = await guard.resolve(host, port, every=every)
    if not infos:
        raise Failure("dns", f"{host} has no address")
    return str(infos[0][4][0])


def _single_number(rows: Sequence[Sequence[object]]) -> float:
    if not rows:
        raise Failure("body", "query returned no row, expected one")
    if len(rows) > 1:
        raise Failure("body", "query returned more than one row, expected one")
    if len(rows[0]) != 1:
        raise Failure("body", f"query returned {len(rows[0])} columns, expected one")
    value = rows[0][0]
    number = as_number(value)
    if number is None:
        # The type only: a wrong query could return personal data.
        what = "NULL" if value is None else f"a {type(value).__name__}"
        raise Failure("body", f"query returned {what}, expected a finite number")
    return number


def _remaining(deadline: float) -> float:
    return max(0.001, deadline - asyncio.get_running_loop().time())


# --- PostgreSQL -----------------------------------------------------------------------------


async def _postgresql(
    dsn: str, *, query: str, dsn_env: str, deadline: float, guard: NetworkGuard
) -> Rows:
    host, port, verify_name = _postgresql_host(dsn, dsn_env=dsn_env)
    target: dict[str, Any] = {}
    if host is not None:  # None: a Unix socket, no network involved
        # verify-full checks the certificate against the name, so the name it must stay: then
        # every address the name resolves to must pass.
        address = await _checked_host(guard, host, port, every=verify_name)
        if not verify_name:
            target = {"host": address, "port": port}
    try:
        conn = await asyncpg.connect(
            dsn, server_settings={"application_name": "pantau-probe"}, **target
        )
    except ValueError as exc:  # asyncpg's DSN and client configuration errors
        raise Failure("config", f"{dsn_env} is not a usable PostgreSQL DSN") from exc
    except asyncpg.PostgresError as exc:
        raise _postgresql_failure(exc) from exc
    try:
        # Not `async with`: its rollback after a cancelled query can replace the cancellation.
        await conn.transaction(readonly=True).start()
        timeout_ms = max(1, int(_remaining(deadline) * 1000))  # 0 would mean no limit
        await conn.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
        # A cursor fetches two rows at most, whatever the query returns.
        cursor = await conn.cursor(query)
        rows = [tuple(record) for record in await cursor.fetch(2)]
    except BaseException as exc:
        conn.terminate()  # no polite goodbye to a connection in an unknown state
        if isinstance(exc, asyncpg.PostgresError):
            raise _postgresql_failure(exc) from exc
        raise
    await conn.close()  # the read-only transaction ends with the session
    return rows


def _postgresql_host(dsn: str, *, dsn_env: str) -> tuple[str | None, int, bool]:
    """The DSN's network host (None for a Unix socket), port, and whether TLS checks the name."""
    problem = f"{dsn_env} is not a usable PostgreSQL DSN"
    try:
        url = urlsplit(dsn)
        port = url.port or 5432
    except ValueError as exc:
        raise Failure("config", problem) from exc
    if url.scheme not in ("postgresql", "postgres"):
        raise Failure("config", problem)
    query = parse_qs(url.query)
    hosts = [*query.get("host", []), url.hostname or ""]
    host = next((h for h in hosts if h), None)
    if host is not None and "," in url.netloc + ",".join(query.get("host", [])):
        raise Failure("config", f"{dsn_env}: one host per DSN (the probe checks where it goes)")
    if host is None or host.startswith("/"):
        return None, port, False
    return host, port, query.get("sslmode", [""])[0] == "verify-full"


def _postgresql_failure(exc: asyncpg.PostgresError) -> Failure:
    if isinstance(exc, asyncpg.QueryCanceledError):
        return Failure("timeout", f"query cancelled by the server: {exc}")
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return Failure("config", f"{_READ_ONLY}: {exc}")
    return Failure("error", f"postgresql error {exc.sqlstate}: {exc}")


# --- MySQL / MariaDB ------------------------------------------------------------------------


async def _mysql(
    dsn: str, *, query: str, dsn_env: str, deadline: float, guard: NetworkGuard
) -> Rows:
    # aiomysql always enables multi-statements; a second statement could end the read-only
    # transaction (`COMMIT; ...`), so only one statement is accepted.
    if ";" in query.strip().rstrip(";"):
        raise Failure("config", "a mysql query must be a single statement (no ';')")
    params = _mysql_params(dsn, dsn_env=dsn_env)
    params["host"] = await _checked_host(guard, params["host"], params["port"])
    try:
        conn = await aiomysql.connect(**params, autocommit=False)
    except aiomysql.MySQLError as exc:
        raise _mysql_failure(exc) from exc
    try:
        cursor = await conn.cursor()
        left = _remaining(deadline)
        if "mariadb" in str(conn.get_server_info()).lower():
            await cursor.execute(f"SET SESSION max_statement_time = {left:.3f}")
        else:  # MySQL: milliseconds, and for SELECT only
            await cursor.execute(f"SET SESSION max_execution_time = {max(1, int(left * 1000))}")
        await cursor.execute("SET SESSION TRANSACTION READ ONLY")
        await cursor.execute("START TRANSACTION READ ONLY")
        await cursor.execute(query)
        rows: Rows = [tuple(row) for row in await cursor.fetchmany(2)]
    except BaseException as exc:
        conn.close()  # no polite goodbye to a connection in an unknown state
        if isinstance(exc, aiomysql.MySQLError):
            raise _mysql_failure(exc) from exc
        raise
    await conn.ensure_closed()  # the read-only transaction ends with the session
    return rows


def _mysql_params(dsn: str, *, dsn_env: str) -> dict[str, Any]:
    """Connection parameters from `mysql://user:password@host:port/db`."""
    problem = f"{dsn_env} is not a mysql://user:password@host:port/db URL"
    try:
        url = urlsplit(dsn)
        port = url.port or 3306
    except ValueError as exc:
        raise Failure("config", problem) from exc
    if url.scheme not in ("mysql", "mariadb") or not url.hostname:
        raise Failure("config", problem)
    return {
        "host": url.hostname,
        "port": port,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "db": unquote(url.path.lstrip("/")) or None,
    }


def _mysql_failure(exc: Exception) -> Failure:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code in _MYSQL_CONNECT_ERRORS:
        # aiomysql wraps every connect error in 2003; a name that did not resolve is the cause.
        reason: FailureReason = "dns" if isinstance(exc.__cause__, socket.gaierror) else "connect"
        return Failure(reason, text)
    if code in _MYSQL_TIMEOUT_ERRORS:
        return Failure("timeout", text)
    if code in _MYSQL_READ_ONLY_ERRORS:
        return Failure("config", f"{_READ_ONLY}: {text}")
    return Failure("error", f"mysql error {code}: {text}")


_DRIVERS: Final[dict[str, Callable[..., Awaitable[Rows]]]] = {
    "postgresql": _postgresql,
    "mysql": _mysql,
}
