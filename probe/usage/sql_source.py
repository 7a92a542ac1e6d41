"""Usage from an SQL query: one row, one number, read-only, with a statement timeout.

The DSN carries a password: it is read from the probe's environment at run time and never put
in a message or a log (messages are scrubbed again in `read_usage`, in case a driver echoes it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import aiomysql
import asyncpg

from probe.checks.base import CheckContext, Failure, env_value
from probe.usage.base import as_number
from wire.messages import FailureReason
from wire.specs import SqlSource

Rows = list[tuple[Any, ...]]
# Error codes of MySQL/MariaDB and their client library (pymysql, used by aiomysql).
_MYSQL_CONNECT_ERRORS: Final = {2002, 2003, 2006, 2013}
_MYSQL_TIMEOUT_ERRORS: Final = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time


async def read_sql(source: SqlSource, *, ctx: CheckContext, seconds: float) -> float:
    dsn = env_value(ctx.env, source.dsn_env)
    # The server should stop working on the query when the probe gives up on it.
    deadline = asyncio.get_running_loop().time() + seconds
    rows = await _DRIVERS[source.driver](
        dsn, query=source.query, dsn_env=source.dsn_env, deadline=deadline
    )
    return _single_number(rows)


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


async def _postgresql(dsn: str, *, query: str, dsn_env: str, deadline: float) -> Rows:
    try:
        conn = await asyncpg.connect(dsn, server_settings={"application_name": "pantau-probe"})
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


def _postgresql_failure(exc: asyncpg.PostgresError) -> Failure:
    if isinstance(exc, asyncpg.QueryCanceledError):
        return Failure("timeout", f"query cancelled by the server: {exc}")
    return Failure("error", f"postgresql error {exc.sqlstate}: {exc}")


# --- MySQL / MariaDB ------------------------------------------------------------------------


async def _mysql(dsn: str, *, query: str, dsn_env: str, deadline: float) -> Rows:
    # aiomysql always enables multi-statements; a second statement could end the read-only
    # transaction (`COMMIT; ...`), so only one statement is accepted.
    if ";" in query.strip().rstrip(";"):
        raise Failure("config", "a mysql query must be a single statement (no ';')")
    params = _mysql_params(dsn, dsn_env=dsn_env)
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
    return Failure("error", f"mysql error {code}: {text}")


_DRIVERS: Final[dict[str, Callable[..., Awaitable[Rows]]]] = {
    "postgresql": _postgresql,
    "mysql": _mysql,
}
