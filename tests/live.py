"""A real collector (on a real database) that a test can stop and start on the same port."""

from __future__ import annotations

import socket

import asyncpg
import msgspec
from aiohttp import web

from collector.auth import create_token
from collector.catalog import sync
from collector.config import CollectorConfig
from collector.web.app import make_app
from tests.collector.conftest import TEST_ACTOR
from wire.catalog import Catalog


class LiveCollector:
    def __init__(self, dsn: str, **config: object) -> None:
        self.dsn = dsn
        self.config = {"metrics_refresh_seconds": 3600, **config}
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.extra_middlewares: list[web._Middleware] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = msgspec.convert(self.config, CollectorConfig)
        app = make_app(config, dsn=self.dsn)
        app.middlewares.extend(self.extra_middlewares)
        self.app = app
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def apply_catalog(dsn: str, data: dict[str, object]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await sync.apply(conn, msgspec.convert(data, Catalog), source="test", actor=TEST_ACTOR)
    finally:
        await conn.close()


async def probe_token(dsn: str, zone: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return (await create_token(conn, name=f"probe-{zone}", kind="probe", zone=zone))[1]
    finally:
        await conn.close()


async def fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()
