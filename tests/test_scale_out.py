"""The scale-out path on real programs: three collector processes behind HAProxy with one killed,
pgbouncer in transaction mode between the collectors and PostgreSQL, and a database failover (a
streaming standby promoted while probes push).

Every result a probe makes is counted on the probe's side (pantau_probe_checks_total) and in
check_results: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import yaml

from collector import db
from collector.auth import create_token
from collector.review.rollup import RollupStats, rollup
from tests.collector.conftest import collector_config
from tests.live import LiveCollector, apply_catalog, fetch, free_port, probe_token
from tests.pgcluster import Cluster
from tests.probe.servers import serve_app
from tests.scale import (
    APPS,
    CollectorProcess,
    Process,
    RunningProbe,
    catalog,
    haproxy_config,
    health_app,
    pgbouncer,
    start_probe,
    stored_counts,
    wait_for,
)
from tests.stack import Prometheus, fast_rules
from tests.tools import require_tools

TOKEN_ENV = "PANTAU_SCALE_PROBE_TOKEN"
# Advisory locks held by a server connection outside any transaction: left behind. (A running
# transaction's own lock, say the state evaluator's, is released at its end.)
IDLE_ADVISORY_LOCKS = (
    "SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND a.state = 'idle'"
)


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pantau-scale-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def primary(base: Path) -> Iterator[Cluster]:
    cluster = Cluster.primary(base)
    yield cluster
    cluster.cleanup()


async def create_database(cluster: Cluster) -> str:
    conn = await asyncpg.connect(cluster.url())
    try:
        await conn.execute("CREATE DATABASE pantau")
    finally:
        await conn.close()
    return cluster.url("pantau")


async def seed(direct: str, health_url: str) -> str:
    """Catalogue and a probe token, written straight to the primary; returns the token."""
    await apply_catalog(direct, catalog(health_url))
    return await probe_token(direct, "dc")


async def admin_token(direct: str) -> str:
    conn = await asyncpg.connect(direct)
    try:
        return (await create_token(conn, name="scale-admin", kind="admin"))[1]
    finally:
        await conn.close()


async def test_pgbouncer_transaction_mode_ingest_migrations_and_review(
    base: Path, primary: Cluster
) -> None:
    """Two collectors migrate at once through pgbouncer (pool_mode = transaction) on an empty
    database, a probe pushes through them, the aggregates roll up and the review is served."""
    tools = require_tools({"pgbouncer": "pgbouncer"})
    direct = await create_database(primary)
    async with (
        pgbouncer(tools["pgbouncer"], server_port=primary.port, base=base) as bounced,
        serve_app(health_app()) as health,
    ):
        collectors = [
            LiveCollector(
                bounced,
                database={"pgbouncer": True},
                metrics_refresh_seconds=0.5,
                retention={"rollup_seconds": 0.5},
                state={"evaluate_seconds": 0.5},
            )
            for _ in range(2)
        ]
        await asyncio.gather(*(c.start() for c in collectors))
        try:
            rows = await fetch(direct, "SELECT version FROM schema_migrations ORDER BY version")
            # Every bundled migration, once (numbers may have gaps while branches meet).
            assert [r["version"] for r in rows] == [v for v, _, _ in db.migration_files()]
            # No advisory lock is left behind on any server connection pgbouncer keeps.
            locks = await fetch(direct, IDLE_ADVISORY_LOCKS)
            assert locks[0]["n"] == 0

            os.environ[TOKEN_ENV] = await seed(direct, health)
            admin = await admin_token(direct)
            probes = [
                start_probe(name=f"probe-dc-{i}", collector_url=c.url, token_env=TOKEN_ENV,
                            spool=base / f"spool{i}" / "spool.db")
                for i, c in enumerate(collectors)
            ]  # fmt: skip

            async def enough() -> bool:
                return (await stored_counts(direct))[0] >= 40

            await wait_for("40 results stored through pgbouncer", enough)
            for p in probes:
                await p.finish()
            produced = sum(p.produced() for p in probes)
            rows_stored, distinct = await stored_counts(direct)
            assert (rows_stored, distinct) == (produced, produced)
            assert all(p.counter("pantau_probe_push_failures_total", reason="http_500") == 0
                       for p in probes)  # fmt: skip

            # The rollup (a job lock, then a transaction per app) through pgbouncer, two hours
            # on so that the current hour is complete; twice at once, as two replicas would.
            pool = await db.create_pool(bounced, max_size=4, statement_cache_size=0)
            try:
                later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
                settings = collector_config().state_settings()

                async def roll() -> RollupStats:
                    async with pool.acquire() as conn:
                        return await rollup(conn, settings=settings, now=later)

                first = await asyncio.gather(roll(), roll())
                rolled = sum(s.apps for s in first)
                # An app a collector's own rollup holds at that moment was skipped: roll again.
                for _ in range(50):
                    if rolled >= len(APPS):
                        break
                    rolled += (await roll()).apps
                again = await roll()
            finally:
                await pool.close()
            assert rolled == len(APPS), first  # each app once, never twice
            assert again.apps == 0  # all done already
            hourly = await fetch(direct, "SELECT count(DISTINCT app_id) AS n FROM app_hourly")
            assert hourly[0]["n"] == len(APPS)
            locks = await fetch(direct, IDLE_ADVISORY_LOCKS)
            assert locks[0]["n"] == 0, "a job lock was left held on a pooled server connection"
            month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{collectors[0].url}/api/v1/reports/monthly",
                    params={"month": month},
                    headers={"Authorization": f"Bearer {admin}"},
                ) as resp,
            ):
                assert resp.status == 200, await resp.text()
                review = await resp.json()
            assert {a["app"] for a in review["review"]["apps"]} == set(APPS)
        finally:
            os.environ.pop(TOKEN_ENV, None)
            for c in collectors:
                await c.stop()


async def test_job_lock_stays_exclusive_through_pgbouncer(base: Path, primary: Cluster) -> None:
    """A replica's job lock (the review mail) holds while other clients' transactions, and
    asyncpg's connection resets (pg_advisory_unlock_all), run on the other server connections;
    it is gone when the job ends. A session lock would be released by whichever client's reset
    landed on its server connection."""
    tools = require_tools({"pgbouncer": "pgbouncer"})
    await create_database(primary)
    async with pgbouncer(tools["pgbouncer"], server_port=primary.port, base=base) as bounced:
        replicas = [await db.create_pool(bounced, max_size=3, statement_cache_size=0)
                    for _ in range(2)]  # fmt: skip
        try:
            async with db.job_lock(replicas[0], 7) as mine:
                assert mine
                for _ in range(10):  # traffic and resets on every server connection
                    async with replicas[1].acquire() as conn:
                        await conn.fetchval("SELECT 1")
                    async with db.job_lock(replicas[1], 7) as theirs:
                        assert not theirs
            async with db.job_lock(replicas[1], 7) as theirs:
                assert theirs
            locks = await fetch(
                primary.url("pantau"),
                IDLE_ADVISORY_LOCKS,
            )
            assert locks[0]["n"] == 0
        finally:
            for pool in replicas:
                await pool.close()


async def test_failover_to_a_promoted_standby_loses_nothing(base: Path, primary: Cluster) -> None:
    """The collector reaches PostgreSQL by a multi-host URL (target_session_attrs=read-write).
    The primary stops while a probe pushes: pushes are answered 503 (never 500) until the
    standby is promoted; the collector reconnects by itself; stored == produced."""
    direct = await create_database(primary)
    standby = primary.standby(base)
    try:
        multi = (
            f"postgresql://postgres@{primary.host},{standby.host}/pantau"
            "?target_session_attrs=read-write"
        )
        async with serve_app(health_app()) as health:
            collector = LiveCollector(multi, metrics_refresh_seconds=0.5)
            await collector.start()  # migrates the empty database through the multi-host URL
            os.environ[TOKEN_ENV] = await seed(direct, health)
            probe = start_probe(name="probe-dc-1", collector_url=collector.url,
                                token_env=TOKEN_ENV, spool=base / "spool" / "spool.db")  # fmt: skip
            try:

                async def stored_at_least(n: int, dsn: str) -> bool:
                    return (await stored_counts(dsn))[0] >= n

                await wait_for("results on the primary", lambda: stored_at_least(10, direct))
                primary.stop("fast")

                def refused() -> float:
                    return probe.counter("pantau_probe_push_failures_total", reason="http_503")

                async def pushes_refused() -> bool:
                    return refused() >= 2

                await wait_for("pushes refused with 503 while no primary", pushes_refused)
                before = (await stored_counts(standby.url("pantau")))[0]
                standby.promote()
                await wait_for(
                    "results stored on the promoted standby",
                    lambda: stored_at_least(before + 20, standby.url("pantau")),
                    detail=standby.log,
                )
                await probe.finish()
                produced = probe.produced()
                rows_stored, distinct = await stored_counts(standby.url("pantau"))
                assert (rows_stored, distinct) == (produced, produced)
                assert refused() >= 2
                assert probe.counter("pantau_probe_push_failures_total", reason="http_500") == 0
            finally:
                if not probe.task.done():
                    await probe.finish()
                await collector.stop()
                os.environ.pop(TOKEN_ENV, None)
    finally:
        standby.cleanup()


async def test_three_collectors_behind_haproxy_one_killed_mid_run(
    base: Path, fresh_db: str
) -> None:
    """Three collector processes on one database behind HAProxy (round robin, /readyz checks),
    two probes pushing through it, Prometheus (the real rules) scraping each replica as its own
    target. One collector is SIGKILLed mid-run: nothing lost, nothing stored twice; the
    surviving replicas agree on every app; the app alert fires once, with no `instance`."""
    tools = require_tools({"haproxy": "haproxy", "prometheus": "prometheus"})
    procs: list[Process] = []
    probes: list[RunningProbe] = []
    async with (
        serve_app(health_app(down=frozenset({"ekin"}))) as health,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
    ):
        try:
            os.environ[TOKEN_ENV] = await seed(fresh_db, health)
            collectors = [
                CollectorProcess(f"c{i}", dsn=fresh_db, base=base, metrics_refresh_seconds=0.5,
                                 state={"evaluate_seconds": 0.5})
                for i in (1, 2, 3)
            ]  # fmt: skip
            procs.extend(collectors)
            for c in collectors:
                await wait_for(f"{c.name} ready", lambda c=c: ready(session, f"{c.url}/readyz"),
                               detail=c.tail)  # fmt: skip

            lb_port = free_port()
            cfg = base / "haproxy.cfg"
            cfg.write_text(
                haproxy_config(port=lb_port, backends={c.name: c.port for c in collectors})
            )
            lb = Process("haproxy", [tools["haproxy"], "-f", str(cfg), "-db"], base)
            procs.append(lb)
            lb_url = f"http://127.0.0.1:{lb_port}"
            await wait_for("HAProxy ready", lambda: ready(session, f"{lb_url}/readyz"),
                           detail=lb.tail)  # fmt: skip

            fast_rules(base / "rules")
            prom_port = free_port()
            (base / "prometheus.yml").write_text(yaml.safe_dump({
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                           "evaluation_interval": "1s",
                           "external_labels": {"pantau_url": "https://pantau.test"}},
                "rule_files": [str(base / "rules" / "*.yml")],
                "scrape_configs": [{
                    "job_name": "pantau-collector",
                    "static_configs": [{"targets": [f"127.0.0.1:{c.port}" for c in collectors]}],
                }],
            }))  # fmt: skip
            prom = Process("prometheus", [
                tools["prometheus"], f"--config.file={base / 'prometheus.yml'}",
                f"--storage.tsdb.path={base / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ], base)  # fmt: skip
            procs.append(prom)
            prom_url = f"http://127.0.0.1:{prom_port}"
            await wait_for("Prometheus ready", lambda: ready(session, f"{prom_url}/-/ready"),
                           detail=prom.tail)  # fmt: skip
            prometheus = Prometheus(session, prom_url)

            probes.extend(
                start_probe(name=f"probe-dc-{i}", collector_url=lb_url, token_env=TOKEN_ENV,
                            spool=base / f"spool{i}" / "spool.db")
                for i in (1, 2)
            )  # fmt: skip

            async def stored_at_least(n: int) -> bool:
                return (await stored_counts(fresh_db))[0] >= n

            await wait_for("results stored through HAProxy", lambda: stored_at_least(40))
            killed = collectors[2]
            killed.kill()
            before = (await stored_counts(fresh_db))[0]
            await wait_for("results stored after the kill", lambda: stored_at_least(before + 60))

            killed_target = f"127.0.0.1:{killed.port}"
            survivors = {f"127.0.0.1:{c.port}" for c in collectors[:2]}

            async def replica_down() -> bool:
                got = await prometheus.query('up{job="pantau-collector"} == 0')
                return [r["metric"]["instance"] for r in got] == [killed_target]

            await wait_for("Prometheus sees the killed replica down", replica_down)

            async def replicas_agree() -> bool:
                states: dict[str, dict[str, str]] = {}
                for r in await prometheus.query("pantau_app_state == 1"):
                    m = r["metric"]
                    if m["instance"] in survivors:
                        states.setdefault(m["app"], {})[m["instance"]] = m["state"]
                return (
                    set(states) == set(APPS)
                    and all(
                        set(by.keys()) == survivors and len(set(by.values())) == 1
                        for by in states.values()
                    )
                    and states["ekin"][min(survivors)] == "down"
                )

            await wait_for("the surviving replicas agree on every app", replicas_agree)

            async def one_page_for_ekin() -> bool:
                alerts = [a for a in await prometheus.alerts()
                          if a["labels"]["alertname"] == "PantauAppDown"]  # fmt: skip
                return len(alerts) == 1 and alerts[0]["state"] == "firing"

            await wait_for("PantauAppDown once for ekin", one_page_for_ekin)
            page = next(a for a in await prometheus.alerts()
                        if a["labels"]["alertname"] == "PantauAppDown")  # fmt: skip
            assert page["labels"]["app"] == "ekin"
            assert "instance" not in page["labels"]
            broken = [(g["name"], r["name"], r.get("lastError"))
                      for g in await prometheus.rule_groups() for r in g["rules"]
                      if r.get("health") != "ok"]  # fmt: skip
            assert broken == []

            for p in probes:
                await p.finish()
            produced = sum(p.produced() for p in probes)
            rows_stored, distinct = await stored_counts(fresh_db)
            assert (rows_stored, distinct) == (produced, produced)
        finally:
            for p in probes:
                if not p.task.done():
                    await p.finish()
            for proc in reversed(procs):
                proc.stop()
            os.environ.pop(TOKEN_ENV, None)


async def ready(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


def test_deploy_examples_are_valid() -> None:
    """deploy/haproxy/haproxy.cfg passes `haproxy -c`; the pgbouncer example is transaction
    pooling, as database.pgbouncer expects."""
    import configparser
    import subprocess

    tools = require_tools({"haproxy": "haproxy"})
    root = Path(__file__).resolve().parent.parent / "deploy"
    done = subprocess.run([tools["haproxy"], "-c", "-f", str(root / "haproxy" / "haproxy.cfg")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(root / "pgbouncer" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert "pantau" in ini["databases"]
