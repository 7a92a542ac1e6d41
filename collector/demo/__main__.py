"""`make run`: the whole main job on embedded defaults, in one process.

An embedded PostgreSQL (unless DATABASE_URL is set), the collector, the demo applications, the
demo catalogue pointing at them, and a probe watching them. Ctrl-C stops everything; the
embedded server and its data are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import asyncpg
import msgspec
import yaml
from aiohttp import web

from collector import db
from collector.audit import Actor
from collector.auth import create_token
from collector.catalog import sync
from collector.cli import _database
from collector.config import AccountsConfig, CollectorConfig, Listen
from collector.demo.apps import make_demo_app
from collector.demo.history import History, load_history
from wire.catalog import Catalog
from wire.files import run_main, setup_logging

log = logging.getLogger("pantau.demo")
ZONE = "dc"


def demo_catalog(base_url: str) -> Catalog:
    text = resources.files("collector.demo").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return msgspec.convert(yaml.safe_load(text.replace("{demo}", base_url)), Catalog)


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:  # the usual port is taken: any free one will do
        await web.TCPSite(runner, host, 0).start()
    return runner, f"http://{host}:{runner.addresses[-1][1]}"


async def main(dsn: str, workdir: Path) -> None:
    from collector.web.app import make_app
    from collector.web.server import make_runner, start_site

    demo_runner, demo_url = await _start_site(make_demo_app(), "127.0.0.1", 8090)
    catalog = demo_catalog(demo_url)
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn)
        await sync.apply(
            conn, catalog, source="demo catalogue", actor=Actor.system("demo", via="demo")
        )
        _, admin = await create_token(conn, name="demo-admin", kind="admin")
        _, probe_token = await create_token(conn, name="demo-probe", kind="probe", zone=ZONE)
        people = await demo_accounts(conn)
    finally:
        await conn.close()

    port = int(os.environ.get("PANTAU_PORT", "8080"))
    config = CollectorConfig(
        listen=Listen(host="127.0.0.1", port=port),
        metrics_refresh_seconds=2,
        accounts=AccountsConfig(cookie_secure=False),  # plain http on 127.0.0.1
    )
    runner = make_runner(make_app(config, dsn=dsn))
    await runner.setup()
    try:
        url = await start_site(runner, "127.0.0.1", port)
    except OSError:  # the usual port is taken: any free one will do
        url = await start_site(runner, "127.0.0.1", 0)
    history = await load_demo_history(url, dsn, config, catalog=catalog, probe_token=probe_token,
                                      admin_token=admin)  # fmt: skip
    probe_task = await _start_probe(url, probe_token, workdir)

    print(
        f"""
Pantau is running (Ctrl-C stops everything).

  Portal          {url}/
  Catalogue API   {url}/api/v1/apps
  OpenAPI         {url}/api/v1/openapi.json
  Metrics         {url}/metrics
  Monthly review  {url}/api/v1/reports/monthly?format=html  ({history.month}, demo history)
                  as PDF: {url}/api/v1/reports/monthly?format=pdf
  Readiness       {url}/readyz
  Demo apps       {demo_url}/website/  (goes down for 40 s every 3 minutes)
  Admin token     {admin}
                  (for writes: curl -H 'Authorization: Bearer <token>' ...)
  Sign in         {url}/signin  with one of (password: {people})
                  admin (sets up a TOTP second factor at the first sign-in), operator (of dinkes), viewer
""",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping ...", flush=True)
    if probe_task is not None:
        probe_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe_task
    await runner.cleanup()
    await demo_runner.cleanup()


async def demo_accounts(conn: asyncpg.Connection) -> str:
    """An admin, an operator of dinkes and a viewer, sharing one random password (printed)."""
    from collector.accounts import manage
    from collector.accounts.passwords import Passwords

    password = secrets.token_urlsafe(12)
    hashed = await Passwords(AccountsConfig().password_hashing).hash(password)
    for username, role, agency in (
        ("admin", "admin", None), ("operator", "agency", "dinkes"), ("viewer", "viewer", None),
    ):  # fmt: skip
        await manage.create(conn, None, username=username, role=role, agency=agency, email=None,
                            password_hash=hashed)  # fmt: skip
    return password


async def load_demo_history(
    url: str,
    dsn: str,
    config: CollectorConfig,
    *,
    catalog: Catalog,
    probe_token: str,
    admin_token: str,
) -> History:
    """Last month's made-up history through the real ingest path, then rolled up."""
    from collector.review.rollup import rollup

    started = time.monotonic()
    history = await load_history(
        url, catalog=catalog, probe_token=probe_token, admin_token=admin_token,
        probe="demo-history", timezone=config.timezone,
    )  # fmt: skip
    conn = await asyncpg.connect(dsn)
    try:
        await rollup(conn, settings=config.state_settings())
    finally:
        await conn.close()
    log.info(
        "loaded %s's demo history (%d results, %d usage samples) in %.1f s",
        history.month, history.results, history.usage, time.monotonic() - started,
    )  # fmt: skip
    return history


async def _start_probe(collector_url: str, token: str, workdir: Path) -> asyncio.Task[None] | None:
    try:
        from probe.agent import run_demo_probe
    except ImportError:
        log.warning("the probe is not part of this build yet; metrics will not move")
        return None
    return asyncio.create_task(
        run_demo_probe(
            collector_url=collector_url, token=token, zone=ZONE, spool_dir=workdir / "spool"
        )
    )


def run() -> int:
    setup_logging()
    config = CollectorConfig()
    with (
        tempfile.TemporaryDirectory(prefix="pantau-run-") as workdir,
        _database(config) as dsn,
        contextlib.suppress(KeyboardInterrupt),
    ):
        run_main(main(dsn, Path(workdir)))
    print("stopped; the embedded database was removed" if not config.database_url() else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(run())
