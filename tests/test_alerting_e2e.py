"""End to end with the real tools: an app goes down, the page arrives; maintenance keeps it quiet;
every Grafana panel has data.

One stack for the module (tests/stack.py): demo apps, the collector on its own database, a probe
with 1 s intervals, Debian's Prometheus with the real rules of deploy/prometheus/rules (every
`for:` cut to 0 s) and Alertmanager delivering to a webhook receiver in this process. Waits are
bounded polls; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from collector.config import CollectorConfig
from tests.grafana_queries import load_dashboards, prometheus_queries, sql_queries, variable_queries
from tests.stack import (
    CHECK_INTERVAL,
    PANTAU_URL,
    RULES_DIR,
    TOOLS,
    Stack,
    eventually,
    run_stack,
)
from tests.tools import ToolUnavailable, require_tools

# From a fault to a notification: probe (3 failures at 1 s), collector (0.5 s), scrape and
# evaluation (1 s each), Alertmanager's real group_wait (10 s). Fifteen seconds is typical.
DELIVERY_TIMEOUT = 60
# Dashboard variables: an agency and an app of the stack that has every kind of data.
VARIABLES = {"agency": "dinkes", "app": "portal"}
# Panels whose query cannot have data in a young Prometheus, with the reason. The check of every
# other panel stays strict. (None today: no panel reads `offset` or needs a past event.)
NEEDS_HISTORY: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    try:
        return require_tools(TOOLS)
    except ToolUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
async def stack(migrated_template: str, tools: dict[str, str]) -> AsyncIterator[Stack]:
    async with run_stack(migrated_template, tools) as running:
        yield running


async def test_rules_load_and_evaluate_without_errors(stack: Stack) -> None:
    """Every real rule group is loaded, and every rule evaluates cleanly against real data."""
    expected = sorted(p.name for p in RULES_DIR.glob("*.yml"))

    async def evaluated() -> list[dict[str, Any]] | None:
        groups = await stack.prometheus.rule_groups()
        rules = [r for g in groups for r in g["rules"]]
        return groups if rules and all(r["health"] != "unknown" for r in rules) else None

    groups = await eventually(evaluated, timeout=30, what="every rule evaluated once")
    assert sorted({g["file"].rsplit("/", 1)[-1] for g in groups}) == expected
    broken = [
        (g["name"], r["name"], r.get("lastError"))
        for g in groups
        for r in g["rules"]
        if r["health"] != "ok"
    ]
    assert not broken, broken


async def test_healthy_estate_pages_nobody(stack: Stack) -> None:
    """Degraded `lab` and `arsip` (failing, but in maintenance) raise nothing."""

    async def quiet() -> bool:
        return not await stack.prometheus.alerts() and not await stack.alertmanager_alerts()

    await eventually(quiet, timeout=30, what="no alert in Prometheus or Alertmanager")
    delivered = [
        (a["labels"]["alertname"], a["labels"].get("app"))
        for p in stack.webhook.payloads
        for a in p["alerts"]
        if a["labels"]["alertname"].startswith("PantauApp")
    ]
    assert not delivered, delivered


async def test_app_down_pages_its_agency_and_recovery_resolves(stack: Stack) -> None:
    webhook = stack.webhook
    since = len(webhook.payloads)
    failed_from = time.monotonic()  # the first failed check is at most one interval later
    stack.demo.down.add("simpus")
    try:
        firing = await eventually(
            lambda: webhook.notifications(
                alertname="PantauAppDown", app="simpus", status="firing", since=since
            ),
            timeout=DELIVERY_TIMEOUT,
            what="a firing PantauAppDown for simpus at the webhook",
            detail=stack.diagnostics,
        )
        payload, alert = firing[0]
        assert payload["status"] == "firing"
        assert payload["groupLabels"] == {
            "alertname": "PantauAppDown",
            "agency": "dinkes",
            "app": "simpus",
        }
        labels = alert["labels"]
        assert {k: labels.get(k) for k in ("app", "agency", "managed_by", "severity")} == {
            "app": "simpus", "agency": "dinkes", "managed_by": "self", "severity": "critical",
        }  # fmt: skip
        assert not {k for k in labels if k.startswith("owner")}  # people stay out of metrics
        assert labels.get("pantau_url") == PANTAU_URL  # the external label travels along
        annotations = alert["annotations"]
        assert "contact" not in annotations
        assert annotations["app_url"] == f"{PANTAU_URL}/apps/simpus"
        assert annotations["summary"].startswith("simpus (dinkes) ")
        assert await stack.in_state("simpus", "down")
        paged_after = webhook.arrived[webhook.payloads.index(payload)] - failed_from
    finally:
        since = len(webhook.payloads)
        good_from = time.monotonic()
        stack.demo.down.discard("simpus")

    resolved = await eventually(
        lambda: webhook.notifications(
            alertname="PantauAppDown", app="simpus", status="resolved", since=since
        ),
        timeout=DELIVERY_TIMEOUT,
        what="the resolved PantauAppDown for simpus at the webhook",
        detail=stack.diagnostics,
    )
    payload, done = resolved[0]
    resolved_after = webhook.arrived[webhook.payloads.index(payload)] - good_from
    # Regression (issue 9): the page took 177 s and "resolved" 90 s with checks every 20 s. The
    # design's bounds, from the first failed (good) check, with this stack's thresholds and
    # interval; measured from the fault itself, so a little on the strict side.
    thresholds = CollectorConfig().state
    assert paged_after <= thresholds.failure_threshold * CHECK_INTERVAL + 45, paged_after
    assert resolved_after <= thresholds.success_threshold * CHECK_INTERVAL + 45, resolved_after
    print(f"PantauAppDown: paged after {paged_after:.1f} s, resolved after {resolved_after:.1f} s")
    assert payload["status"] == "resolved"
    assert done["fingerprint"] == alert["fingerprint"]
    assert done["startsAt"] == alert["startsAt"]
    assert _time(done["endsAt"]) > _time(done["startsAt"])
    await eventually(lambda: stack.in_state("simpus", "up"), timeout=30, what="simpus up again")


async def test_maintenance_keeps_a_down_app_quiet(stack: Stack) -> None:
    """`sikda` goes down inside a maintenance window, and `ekin` (no window) at the same moment
    as the control: ekin's page arrives, sikda's alert never exists, not even pending."""
    prom, webhook = stack.prometheus, stack.webhook
    now = dt.datetime.now(dt.UTC)
    window = {"name": "e2e-upgrade", "start": (now - dt.timedelta(minutes=1)).isoformat(),
              "end": (now + dt.timedelta(hours=1)).isoformat()}  # fmt: skip
    code, body = await stack.api("POST", "/api/v1/apps/sikda/maintenance", window)
    assert code == 201, body
    try:
        await eventually(
            lambda: stack.in_state("sikda", "maintenance"), timeout=10, what="sikda in maintenance"
        )
        await eventually(
            lambda: prom.query('pantau_app_in_maintenance{app="sikda"} == 1'),
            timeout=15,
            what="Prometheus sees sikda in maintenance",
        )
        since = len(webhook.payloads)
        stack.demo.down |= {"sikda", "ekin"}

        async def sikda_check_down() -> bool:
            # A check is `down` once it failed failure_threshold (3) times in a row.
            return "down" in await stack.check_states("sikda")

        await eventually(sikda_check_down, timeout=30, what="sikda's check down")
        await eventually(
            lambda: prom.query('pantau_app_check_success{app="sikda"} == 0'),
            timeout=15,
            what="Prometheus sees sikda's check failing",
        )
        seen_failing = time.time()
        await eventually(
            lambda: webhook.notifications(
                alertname="PantauAppDown", app="ekin", status="firing", since=since
            ),
            timeout=DELIVERY_TIMEOUT,
            what="the control's (ekin) page at the webhook",
            detail=stack.diagnostics,
        )

        async def evaluated_since() -> bool:
            return await prom.last_evaluation("pantau-apps") > seen_failing + 3

        await eventually(evaluated_since, timeout=15, what="3 more evaluations of pantau-apps")
        assert await prom.query('pantau_app_in_maintenance{app="sikda"} == 1')
        assert not await prom.query('pantau_app_up{app="sikda"}')  # absent in maintenance
        # ALERTS holds pending and firing alerts: sikda's never was, ekin's was.
        history = 'count_over_time(ALERTS{{alertname="PantauAppDown", app="{}"}}[10m])'
        assert await prom.query(history.format("ekin"))
        assert not await prom.query(history.format("sikda"))
        assert not [a for a in await prom.alerts() if a["labels"].get("app") == "sikda"]
        held = await stack.alertmanager_alerts()
        assert not [a for a in held if a["labels"].get("app") == "sikda"]
        assert not webhook.notifications(alertname="PantauAppDown", app="sikda", status="firing")
        assert await stack.in_state("sikda", "maintenance")
    finally:
        stack.demo.down -= {"sikda", "ekin"}

        async def sikda_checks_up() -> bool:
            return await stack.check_states("sikda") == {"up"}

        # The window goes only once the checks are up again, or it would end in an outage.
        await eventually(sikda_checks_up, timeout=30, what="sikda's check up again")
        code, body = await stack.api("DELETE", "/api/v1/apps/sikda/maintenance/e2e-upgrade")
        assert code == 204, body
    for app in ("sikda", "ekin"):
        await eventually(lambda app=app: stack.in_state(app, "up"), timeout=30, what=f"{app} up")
    assert not webhook.notifications(alertname="PantauAppDown", app="sikda", status="firing")


async def test_every_grafana_panel_has_data(stack: Stack) -> None:
    """Each Prometheus query of the dashboards, variables filled in, returns samples from this
    Prometheus; each variable query offers the chosen values; each SQL query runs."""
    prom = stack.prometheus
    dashboards = load_dashboards()
    assert dashboards
    stale = set(NEEDS_HISTORY) - {
        (name, title) for name, d in dashboards.items() for title, _ in prometheus_queries(d, VARIABLES)
    }  # fmt: skip
    assert not stale, f"NEEDS_HISTORY names panels that do not exist: {stale}"
    # The push-failure panels show failed pushes: make one, without stopping the collector.
    stack.faults.fail_next = 1
    await eventually(
        lambda: prom.query("pantau_probe_push_failures_total > 0"), timeout=20,
        what="a failed push scraped from the probe",
    )  # fmt: skip

    pending = {
        (name, title, expr)
        for name, d in dashboards.items()
        for title, expr in prometheus_queries(d, VARIABLES)
        if (name, title) not in NEEDS_HISTORY
    }
    # rate() and increase() need two scrapes of a series in their window: poll a little.
    deadline = time.monotonic() + 20
    while pending and time.monotonic() < deadline:
        pending = {q for q in pending if not await prom.query(q[2])}
        if pending:
            await asyncio.sleep(0.5)
    assert not pending, "queries without data:\n" + "\n".join(
        f"  {name} / {title}: {expr}" for name, title, expr in sorted(pending)
    )

    for name, d in dashboards.items():
        for var, expr in variable_queries(d, VARIABLES):
            offered = {next(iter(s["metric"].values()), None) for s in await prom.query(expr)}
            wanted = VARIABLES[var.lstrip("$")]
            assert wanted in offered, f"{name} {var}: {expr} offers {offered}"

    conn = await asyncpg.connect(stack.dsn)
    failed: list[str] = []
    try:
        for name, d in dashboards.items():
            for title, sql in sql_queries(d, VARIABLES):
                try:
                    async with conn.transaction(readonly=True):
                        await conn.fetch(sql)
                except asyncpg.PostgresError as exc:
                    failed.append(f"  {name} / {title}: {type(exc).__name__}: {exc}\n{sql}")
    finally:
        await conn.close()
    assert not failed, "SQL queries that fail:\n" + "\n".join(failed)


def _time(stamp: str) -> dt.datetime:
    """An RFC 3339 time of Alertmanager's (Go trims trailing zeros: compare as times)."""
    return dt.datetime.fromisoformat(stamp)
