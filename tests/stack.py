"""The whole chain on loopback, for end-to-end tests: demo apps, collector, probe, Prometheus with
the real rules, Alertmanager, and a webhook receiver that records every notification.

Prometheus and Alertmanager are Debian's binaries (tests/tools.py finds or installs them). The
rules are deploy/prometheus/rules/*.yml with every `for:` (but PantauAppDown's, whose delay is
measured) and rule group `interval:` shortened and nothing else changed; the scrape jobs and
external labels are those of deploy/prometheus/prometheus.yml, with loopback targets and 1 s
intervals; Alertmanager routes everything to the webhook with the real grouping, waits and
inhibit rules of deploy/alertmanager/alertmanager.yml.

Everything listens on 127.0.0.1; the processes, the database and the temporary directory are gone
when `run_stack()` exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp
import asyncpg
import msgspec
import yaml
from aiohttp import web

from collector.auth import create_token
from probe.agent import Agent
from probe.config import ProbeConfig
from tests.live import LiveCollector, apply_catalog, free_port, probe_token
from tests.pg import create_test_database, drop_test_database
from tests.probe.servers import closed_port, make_certs, serve_app

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
# binary -> Debian package
TOOLS = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}

ZONE = "dc"
PROBE_NAME = "probe-dc-1"
PANTAU_URL = "https://pantau.test"  # the external label the alert annotations link with
HOLD = "0s"  # every alert's `for:`, except those of REAL_TIMING
# The page whose delay the alerting test measures keeps its real `for:`, and Alertmanager its
# real group_wait and group_interval: they are what made pages slow (issue 9).
REAL_TIMING = frozenset({"PantauAppDown"})
INTERVAL = "1s"  # scrapes, rule evaluation, and the `interval:` of rule groups that set one
TOKEN_ENV = "PANTAU_E2E_PROBE_TOKEN"
CHECK_INTERVAL = 1  # seconds between a probe's checks of an app
SLOW_SECONDS = 0.2  # /slow answers this late; the `lab` app's latency limit is far below

# The estate. `simpus` goes down in the alerting test, `sikda` in maintenance (with `ekin` as
# the control that does alert); `portal` stays healthy and feeds every panel of the app
# dashboard (https with a certificate, usage counter and gauge); `lab` is always degraded (too
# slow) and `arsip` always in maintenance with failing checks and usage reads, so that the
# overview's "down now" and "in maintenance" tables and the probe's failure panels have rows.
AGENCIES = [
    {"id": "dinkes", "name": "Dinas Kesehatan"},
    {"id": "diskominfo", "name": "Dinas Komunikasi dan Informatika"},
]
OWNERS = {
    "simpus": {"name": "Budi Santoso", "email": "budi@dinkes.example.go.id", "phone": "+62 812 1111 0001"},
    "sikda": {"name": "Sari Wulandari", "email": "sari@dinkes.example.go.id", "phone": "+62 812 1111 0002"},
    "ekin": {"name": "Agus Salim", "email": "agus@diskominfo.example.go.id", "phone": "+62 812 1111 0003"},
    "portal": {"name": "Dewi Lestari", "email": "dewi@dinkes.example.go.id"},
    "lab": {"name": "Rina Marlina"},
    "arsip": {"name": "Joko Widodo", "email": "joko@dinkes.example.go.id"},
}  # fmt: skip
# The state every app settles in, untouched.
STEADY = {"simpus": "up", "sikda": "up", "ekin": "up", "portal": "up", "lab": "degraded",
          "arsip": "maintenance"}  # fmt: skip

T = TypeVar("T")


def catalog(http: str, https: str, ca_file: str) -> dict[str, Any]:
    """The catalogue: `http` and `https` are base URLs of the demo app."""
    dead = f"http://127.0.0.1:{closed_port()}"
    now = dt.datetime.now(dt.UTC)

    def app(app_id: str, agency: str, **extra: Any) -> dict[str, Any]:
        return {"id": app_id, "name": app_id.upper(), "agency": agency, "managed_by": "self",
                "zones": [ZONE], "owner": OWNERS[app_id],
                "checks": [{"type": "http", "url": f"{http}/health/{app_id}"}], **extra}  # fmt: skip

    def usage(metric: str, kind: str, base: str) -> dict[str, Any]:
        return {"metric": metric, "kind": kind,
                "source": {"type": "json", "url": f"{base}/stats", "path": metric}}  # fmt: skip

    return {
        "agencies": AGENCIES,
        "apps": [
            app("simpus", "dinkes", criticality="high"),
            app("sikda", "dinkes", managed_by="vendor", provider="PT Sistem Kesehatan"),
            app("ekin", "diskominfo"),
            app("portal", "dinkes", url=f"{https}/", target_uptime=99.5, category="portal",
                checks=[{"type": "http", "url": f"{http}/health/portal"},
                        {"type": "http", "name": "https", "url": f"{https}/health/portal",
                         "ca_file": ca_file}],
                usage=[usage("logins", "counter", http), usage("active_users", "gauge", http)]),
            app("lab", "dinkes", criticality="low",
                checks=[{"type": "http", "url": f"{http}/slow",
                         "max_latency_seconds": SLOW_SECONDS / 4}]),
            app("arsip", "dinkes", lifecycle="deprecated",
                checks=[{"type": "http", "url": f"{dead}/"}], usage=[usage("logins", "counter", dead)],
                maintenance=[{"name": "migrasi", "start": (now - dt.timedelta(days=1)).isoformat(),
                              "end": (now + dt.timedelta(days=1)).isoformat()}]),
        ],
    }  # fmt: skip


class DemoApp:
    """The watched applications: /health/{app} answers 200, or 500 while the app is `down`."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self._logins = 0

    def application(self) -> web.Application:
        async def health(request: web.Request) -> web.Response:
            app_id = request.match_info["app"]
            if app_id in self.down:
                return web.Response(status=500, text=f"{app_id}: database connection refused")
            return web.Response(text=f"{app_id}: ok")

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(SLOW_SECONDS)
            return web.Response(text="slow but fine")

        async def stats(request: web.Request) -> web.Response:
            self._logins += 3
            return web.json_response({"logins": self._logins, "active_users": 7})

        app = web.Application()
        app.router.add_get("/health/{app}", health)
        app.router.add_get("/slow", slow)
        app.router.add_get("/stats", stats)
        return app


class Webhook:
    """Alertmanager's webhook receiver: keeps every payload, in arrival order."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each payload's arrival

    def application(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            self.payloads.append(await request.json())
            self.arrived.append(time.monotonic())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app

    def notifications(
        self, *, alertname: str, app: str, status: str, since: int = 0
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(payload, alert) for each alert of that name and app, in that status, delivered at
        or after position `since` of `payloads`."""
        return [
            (payload, alert)
            for payload in self.payloads[since:]
            for alert in payload.get("alerts", [])
            if alert["labels"].get("alertname") == alertname
            and alert["labels"].get("app") == app
            and alert["status"] == status
        ]


class PushFaults:
    """Makes the collector answer the probe's next pushes with 503 (a failed push, no outage)."""

    def __init__(self) -> None:
        self.fail_next = 0

    def middleware(self) -> Any:
        @web.middleware
        async def fail_pushes(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if request.path == "/api/v1/results" and self.fail_next > 0:
                self.fail_next -= 1
                return web.Response(status=503, text="test: collector busy")
            return await handler(request)

        return fail_pushes


class Daemon:
    """A real server process; its output goes to `<name>.log` in the stack's directory."""

    def __init__(self, name: str, argv: list[str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    await asyncio.to_thread(self.proc.wait, 15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    await asyncio.to_thread(self.proc.wait, 15)
        finally:
            self._log.close()


class Prometheus:
    """Prometheus' HTTP API, as the tests use it."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def _get(self, path: str, **params: str) -> Any:
        async with self.session.get(f"{self.url}{path}", params=params) as resp:
            body = await resp.json()
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (scalars and strings as one element)."""
        data = await self._get("/api/v1/query", query=expr)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"value": result}]

    async def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts."""
        return list((await self._get("/api/v1/alerts"))["alerts"])

    async def rule_groups(self) -> list[dict[str, Any]]:
        return list((await self._get("/api/v1/rules"))["groups"])

    async def last_evaluation(self, group: str) -> float:
        """When the rule group last ran (unix seconds; 0 before its first run)."""
        for g in await self.rule_groups():
            if g["name"] == group:
                stamp = dt.datetime.fromisoformat(g["lastEvaluation"])
                return max(0.0, stamp.timestamp())
        raise AssertionError(f"no rule group {group!r}")


@dataclass
class Stack:
    dsn: str
    collector: LiveCollector
    demo: DemoApp
    webhook: Webhook
    faults: PushFaults
    prometheus: Prometheus
    alertmanager_url: str
    admin_token: str
    session: aiohttp.ClientSession
    agent: Agent
    probe_task: asyncio.Task[None]
    daemons: list[Daemon] = field(default_factory=list)

    def logs(self) -> str:
        """The tails of Prometheus' and Alertmanager's logs, for failure messages."""
        return "\n".join(f"--- {d.name} ---\n{d.tail()}" for d in self.daemons)

    async def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the collector's API as admin; (status, decoded JSON or None)."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with self.session.request(
            method, f"{self.collector.url}{path}", json=body, headers=headers
        ) as resp:
            text = await resp.text()
            return resp.status, (msgspec.json.decode(text) if text else None)

    async def status(self, app_id: str) -> dict[str, Any]:
        code, body = await self.api("GET", f"/api/v1/apps/{app_id}/status")
        assert code == 200, body
        assert isinstance(body, dict)
        return body

    async def in_state(self, app_id: str, state: str) -> bool:
        return bool((await self.status(app_id))["state"] == state)

    async def check_states(self, app_id: str) -> set[str]:
        """The states of the app's checks, over its zones."""
        status = await self.status(app_id)
        return {c["state"] for zone in status["zones"] for c in zone["checks"]}

    def diagnostics(self) -> str:
        """What the webhook got and the daemons' log tails, for failure messages."""
        return f"webhook payloads: {self.webhook.payloads}\n{self.logs()}"

    async def alertmanager_alerts(self) -> list[dict[str, Any]]:
        """Active alerts Alertmanager holds (resolved ones excluded)."""
        async with self.session.get(f"{self.alertmanager_url}/api/v2/alerts") as resp:
            assert resp.status == 200, await resp.text()
            return list(await resp.json())


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    *,
    timeout: float,
    what: str,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` (sync or async) until it returns something truthy, and return that.

    On timeout an AssertionError names `what`, the last value and `detail()` if given.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return cast(T, value)
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            raise AssertionError(f"not within {timeout:g} s: {what} (last: {value!r}){extra}")
        await asyncio.sleep(0.2)


def fast_rules(dest: Path) -> None:
    """Copy the real rule files to `dest`, every `for:` set to HOLD (except the alerts of
    REAL_TIMING) and group `interval:` to INTERVAL; fails if the rewrite changed anything else."""
    dest.mkdir()
    for_line = re.compile(r"(?m)^(\s+for:\s*)\S+[ \t]*$")
    interval_line = re.compile(r"(?m)^(\s+interval:\s*)\S+[ \t]*$")
    alert = re.compile(r"\s+- alert:\s*(\S+)")

    def hold(chunk: str) -> str:
        named = alert.match(chunk)
        kept = named is not None and named.group(1) in REAL_TIMING
        return chunk if kept else for_line.sub(rf"\g<1>{HOLD}", chunk)

    for path in sorted(RULES_DIR.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        held = "".join(hold(c) for c in re.split(r"(?m)^(?=\s+- alert: )", text))
        fast = interval_line.sub(rf"\g<1>{INTERVAL}", held)
        expected = yaml.safe_load(text)
        for group in expected["groups"]:
            if "interval" in group:
                group["interval"] = INTERVAL
            for rule in group["rules"]:
                if "for" in rule and rule.get("alert") not in REAL_TIMING:
                    rule["for"] = HOLD
        assert yaml.safe_load(fast) == expected, (
            f"{path.name}: the rewrite changed more than durations"
        )
        (dest / path.name).write_text(fast, encoding="utf-8")


def prometheus_config(*, rules: Path, alertmanager: str, targets: dict[str, str]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml made local: same jobs and external labels, `targets`
    (job -> host:port) for the targets, 1 s intervals, the copied rules."""
    real = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in real["scrape_configs"]}
    assert set(jobs) == set(targets), f"jobs of prometheus.yml: {sorted(jobs)}"
    external = real["global"]["external_labels"]
    assert "pantau_url" in external, "the alert annotations link with $externalLabels.pantau_url"
    # What probes/*.yml must give each probe target (see prometheus.yml).
    labels = {"pantau-probe": {"probe": PROBE_NAME, "zone": ZONE}}
    return {
        "global": {
            "scrape_interval": INTERVAL,
            "scrape_timeout": INTERVAL,
            "evaluation_interval": INTERVAL,
            "external_labels": {**external, "pantau_url": PANTAU_URL},
        },
        "rule_files": [str(rules / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": job.get("metrics_path", "/metrics"),
                "scrape_interval": INTERVAL,
                "scrape_timeout": INTERVAL,
                "static_configs": [{"targets": [targets[name]], "labels": labels.get(name, {})}],
            }
            for name, job in jobs.items()
        ],
    }


def alertmanager_config(hook_url: str) -> dict[str, Any]:
    """Everything to the webhook, grouped, timed and inhibited as
    deploy/alertmanager/alertmanager.yml says."""
    real = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    return {
        "route": {
            "receiver": "hook",
            "group_by": real["route"]["group_by"],
            "group_wait": real["route"]["group_wait"],
            "group_interval": real["route"]["group_interval"],
            "repeat_interval": "1h",
        },
        "inhibit_rules": real.get("inhibit_rules", []),
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": hook_url, "send_resolved": True}]}
        ],
    }


async def wait_ready(session: aiohttp.ClientSession, url: str, daemon: Daemon) -> None:
    deadline = time.monotonic() + 60
    while True:
        if daemon.proc.poll() is not None:
            raise AssertionError(
                f"{daemon.name} exited with {daemon.proc.returncode}:\n{daemon.tail()}"
            )
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{url}/-/ready") as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise AssertionError(f"{daemon.name} not ready within 60 s:\n{daemon.tail()}")
        await asyncio.sleep(0.1)


async def start_daemon(
    stack: contextlib.AsyncExitStack,
    session: aiohttp.ClientSession,
    name: str,
    argv: list[str],
    logs: Path,
    url: str,
) -> Daemon:
    daemon = Daemon(name, argv, logs)
    stack.push_async_callback(daemon.stop)
    await wait_ready(session, url, daemon)
    return daemon


async def serve(stack: contextlib.AsyncExitStack, app: web.Application, **kw: Any) -> str:
    return await stack.enter_async_context(serve_app(app, **kw))


@contextlib.asynccontextmanager
async def run_stack(server_url: str, tools: dict[str, str]) -> AsyncIterator[Stack]:
    """Start everything (database from the migrated template on `server_url`), wait until the
    estate is in its steady state as Prometheus sees it, yield, and take it all down again."""
    base = Path(tempfile.mkdtemp(prefix="pantau-e2e-"))
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        )
        dsn = await create_test_database(server_url)
        stack.push_async_callback(drop_test_database, server_url, dsn)

        certs = make_certs(base)
        demo, webhook, faults = DemoApp(), Webhook(), PushFaults()
        http = await serve(stack, demo.application())
        https = await serve(stack, demo.application(), tls=certs.valid)
        hook = await serve(stack, webhook.application())

        await apply_catalog(dsn, catalog(http, https, str(certs.valid.cert)))
        conn = await asyncpg.connect(dsn)
        try:
            admin = (await create_token(conn, name="e2e-admin", kind="admin"))[1]
        finally:
            await conn.close()
        collector = LiveCollector(
            dsn, metrics_refresh_seconds=0.5, base_url=PANTAU_URL, state={"evaluate_seconds": 0.5}
        )
        collector.extra_middlewares.append(faults.middleware())
        await collector.start()
        stack.push_async_callback(collector.stop)

        os.environ[TOKEN_ENV] = await probe_token(dsn, ZONE)
        stack.callback(os.environ.pop, TOKEN_ENV, None)
        probe_port = free_port()
        agent = Agent(
            msgspec.convert(
                {
                    "collector": {"url": collector.url, "token_env": TOKEN_ENV},
                    "zone": ZONE,
                    "name": PROBE_NAME,
                    "defaults": {"interval_seconds": CHECK_INTERVAL, "timeout_seconds": 2,
                                 "usage_interval_seconds": 1},
                    "targets": {"refresh_seconds": 1},
                    "spool": {"path": str(base / "spool" / "spool.db")},
                    "batch": {"max_seconds": 0.2, "max_items": 100},
                    "metrics_listen": {"host": "127.0.0.1", "port": probe_port},
                },
                ProbeConfig,
            )
        )  # fmt: skip
        stop = asyncio.Event()
        probe_task = asyncio.create_task(agent.run(stop), name="e2e-probe")

        async def stop_probe() -> None:
            stop.set()
            await probe_task

        stack.push_async_callback(stop_probe)

        am_port, prom_port = free_port(), free_port()
        am_config = base / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(f"{hook}/hook")), encoding="utf-8")
        am_url = f"http://127.0.0.1:{am_port}"
        am = await start_daemon(stack, session, "alertmanager", [
            tools["prometheus-alertmanager"],
            f"--config.file={am_config}",
            f"--storage.path={base / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip: notifications go out at once
        ], base, am_url)  # fmt: skip

        fast_rules(base / "rules")
        prom_config = base / "prometheus.yml"
        config = prometheus_config(
            rules=base / "rules",
            alertmanager=f"127.0.0.1:{am_port}",
            targets={"pantau-collector": f"127.0.0.1:{collector.port}",
                     "pantau-probe": f"127.0.0.1:{probe_port}"},
        )  # fmt: skip
        prom_config.write_text(yaml.safe_dump(config), encoding="utf-8")
        prom_url = f"http://127.0.0.1:{prom_port}"
        prom = await start_daemon(stack, session, "prometheus", [
            tools["prometheus"],
            f"--config.file={prom_config}",
            f"--storage.tsdb.path={base / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ], base, prom_url)  # fmt: skip

        result = Stack(
            dsn=dsn, collector=collector, demo=demo, webhook=webhook, faults=faults,
            prometheus=Prometheus(session, prom_url), alertmanager_url=am_url,
            admin_token=admin, session=session, agent=agent, probe_task=probe_task,
            daemons=[prom, am],
        )  # fmt: skip
        await wait_steady(result)
        yield result


async def wait_steady(stack: Stack, *, timeout: float = 45) -> None:
    """Both targets scraped and every app in its STEADY state, as Prometheus sees it."""
    prom = stack.prometheus
    wanted = [f'up{{job="{job}"}} == 1' for job in ("pantau-collector", "pantau-probe")]
    wanted += [f'pantau_app_state{{app="{a}", state="{s}"}} == 1' for a, s in STEADY.items()]

    deadline = time.monotonic() + timeout
    while left := [expr for expr in wanted if not await prom.query(expr)]:
        if stack.probe_task.done():
            raise AssertionError(f"the probe stopped: {stack.probe_task.exception()!r}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the stack did not settle: still no {left}\n{stack.logs()}")
        await asyncio.sleep(0.2)
