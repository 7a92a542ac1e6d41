"""Pieces of the scale-out tests: a counting estate of demo apps, real probes pushing to a URL,
pgbouncer and HAProxy started from configs written here, and the counts that prove nothing was
lost or stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from probe.agent import Agent
from probe.config import ProbeConfig
from tests.live import fetch, free_port

ROOT = Path(__file__).resolve().parent.parent
ZONE = "dc"
POOL_SIZE = 3  # pgbouncer's server connections: fewer than the collectors' pools hold
APPS = ("simpus", "sikda", "ekin", "portal")


def catalog(base_url: str) -> dict[str, Any]:
    """Four apps, each checked over http at the counting demo app `base_url`."""
    return {
        "agencies": [{"id": "dinkes", "name": "Dinas Kesehatan"}],
        "apps": [
            {"id": app, "name": app.upper(), "agency": "dinkes", "managed_by": "self",
             "zones": [ZONE], "checks": [{"type": "http", "url": f"{base_url}/health/{app}"}]}
            for app in APPS
        ],
    }  # fmt: skip


def health_app(*, down: frozenset[str] = frozenset()) -> web.Application:
    """Every app answers 200, but those `down` answer 500."""

    async def health(request: web.Request) -> web.Response:
        if request.match_info["app"] in down:
            return web.Response(status=500, text="database connection refused")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health/{app}", health)
    return app


@dataclass
class RunningProbe:
    agent: Agent
    stop: asyncio.Event
    task: asyncio.Task[None]

    def produced(self) -> int:
        """Check results this probe made (each one is pushed exactly once, or stays spooled)."""
        return int(
            sum(
                s.value
                for metric in self.agent.metrics.checks.collect()
                for s in metric.samples
                if s.name.endswith("_total")
            )
        )

    def counter(self, name: str, **labels: str) -> float:
        value = self.agent.metrics.registry.get_sample_value(name, labels)
        return float(value or 0.0)

    async def finish(self) -> None:
        self.stop.set()
        await self.task


def start_probe(
    *, name: str, collector_url: str, token_env: str, spool: Path, zone: str = ZONE
) -> RunningProbe:
    config = msgspec.convert(
        {
            "collector": {"url": collector_url, "token_env": token_env},
            "zone": zone,
            "name": name,
            "defaults": {"interval_seconds": 1, "timeout_seconds": 2, "usage_interval_seconds": 60},
            "targets": {"refresh_seconds": 1},
            "spool": {"path": str(spool)},
            "batch": {"max_seconds": 0.2, "max_items": 50},
        },
        ProbeConfig,
    )
    agent = Agent(config)
    stop = asyncio.Event()
    return RunningProbe(agent, stop, asyncio.create_task(agent.run(stop), name=name))


async def stored_counts(dsn: str) -> tuple[int, int]:
    """(rows, distinct results) in check_results: equal when nothing was stored twice."""
    row = (
        await fetch(
            dsn,
            "SELECT count(*) AS n, count(DISTINCT (app_id, check_name, zone, probe, ts)) AS d"
            " FROM check_results",
        )
    )[0]
    return int(row["n"]), int(row["d"])


async def wait_for(what: str, predicate: Any, *, timeout: float = 30, detail: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if await predicate():
                return
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"not within {timeout:g} s: {what}{extra}")
        await asyncio.sleep(0.2)


def service_user() -> str | None:
    """pgbouncer refuses to run as root: run it as the embedded PostgreSQL's system user."""
    if os.geteuid() != 0:
        return None
    pwd.getpwnam("embedded_postgres")  # made by tests/pgcluster.py
    return "embedded_postgres"


class Process:
    """A server process writing to `<dir>/<name>.log`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        logs: Path,
        *,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        kw: dict[str, Any] = {"user": user} if user else {}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=str(ROOT), **kw,
        )  # fmt: skip

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the load balancer or the database."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


@contextlib.asynccontextmanager
async def pgbouncer(binary: str, *, server_port: int, base: Path) -> AsyncIterator[str]:
    """pgbouncer in transaction mode in front of 127.0.0.1:`server_port`; yields its URL of
    database `pantau`. Its pool is smaller than the collectors' pools, so server connections are
    shared between clients, as in production."""
    user = service_user()
    conf_dir = base / "pgbouncer"
    conf_dir.mkdir()
    port = free_port()
    (conf_dir / "userlist.txt").write_text('"postgres" ""\n')
    (conf_dir / "pgbouncer.ini").write_text(
        f"""[databases]
pantau = host=127.0.0.1 port={server_port} dbname=pantau user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {conf_dir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
; Spread transactions over the server connections rather than reuse the last one: what a busy
; pool does anyway, and what makes a lock held across transactions show up at once.
server_round_robin = 1
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
"""
    )
    if user:
        entry = pwd.getpwnam(user)
        for p in (conf_dir, *conf_dir.iterdir()):
            os.chown(p, entry.pw_uid, entry.pw_gid)
    proc = Process("pgbouncer", [binary, str(conf_dir / "pgbouncer.ini")], conf_dir, user=user)
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/pantau"
        await wait_for("pgbouncer listening", lambda: _connects(url), detail=proc.tail)
        await _open_server_connections(url, POOL_SIZE)
        yield url
    finally:
        proc.stop()


async def _open_server_connections(url: str, n: int) -> None:
    """Make pgbouncer open all `n` server connections now (n transactions at once)."""
    clients = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(n)]
    try:
        transactions = [c.transaction() for c in clients]
        for t in transactions:
            await t.start()
        pids = {await c.fetchval("SELECT pg_backend_pid()") for c in clients}
        assert len(pids) == n, pids
        for t in transactions:
            await t.commit()
    finally:
        for c in clients:
            await c.close()


async def _connects(url: str) -> bool:
    conn = await asyncpg.connect(url, statement_cache_size=0, timeout=2)
    await conn.close()
    return True


def haproxy_config(*, port: int, backends: dict[str, int]) -> str:
    """Round robin over the collectors, each health-checked on /readyz; a request that cannot
    reach its replica (killed: connection refused) is sent to another one."""
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{p} check inter 500ms fall 1 rise 2"
        for name, p in backends.items()
    )
    return f"""global
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend pantau
    bind 127.0.0.1:{port}
    default_backend collectors

backend collectors
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


class CollectorProcess(Process):
    """`python -m collector serve` on its own port, on database `dsn`."""

    def __init__(self, name: str, *, dsn: str, base: Path, **config: Any) -> None:
        import sys

        import yaml

        self.port = free_port()
        path = base / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"listen": {"host": "127.0.0.1", "port": self.port},
                                        **config}))  # fmt: skip
        env = {**os.environ, "DATABASE_URL": dsn}
        self._env = env
        super().__init__(name, [sys.executable, "-m", "collector", "serve", "--config",
                                str(path)], base, env=env)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
