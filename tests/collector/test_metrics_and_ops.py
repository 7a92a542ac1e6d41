from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from collector import db
from collector.app_metrics import (
    FAMILIES,
    float_text,
    label_text,
    make_snapshot,
    read_exposition,
)
from collector.audit import acting
from collector.web import keys
from collector.web.app import ALL_ROUTES
from tests.collector.conftest import TEST_ACTOR, Tokens, bearer
from tests.pg import create_test_database, drop_test_database
from tests.tools import ToolUnavailable, require_tools


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (name, frozenset(labels.items()))


async def test_metrics_carry_latest_state_usage_and_catalogue(
    client: TestClient, tokens: Tokens
) -> None:
    now = time.time()
    expiry = now + 30 * 86_400
    batch = {
        "probe": "probe-dc-1", "batch_id": uuid.uuid4().hex,
        "results": [
            {"app": "website", "check": "http", "kind": "http", "ts": now - 60, "ok": False,
             "reason": "status", "duration_seconds": 0.5, "status_code": 503},
            {"app": "website", "check": "http", "kind": "http", "ts": now, "ok": True,
             "duration_seconds": 0.25, "status_code": 200, "tls_expiry": expiry},
            {"app": "simpus", "check": "tcp", "kind": "tcp", "ts": now, "ok": False,
             "reason": "connect", "duration_seconds": 0.01},
        ],
    }  # fmt: skip
    assert (
        await client.post("/api/v1/results", json=batch, headers=bearer(tokens.probe_dc))
    ).status == 200
    usage = {
        "probe": "probe-dinkes", "batch_id": uuid.uuid4().hex,
        "usage": [{"app": "simpus", "metric": "visits", "kind": "counter", "ts": now, "value": 1234}],
    }  # fmt: skip
    assert (
        await client.post("/api/v1/results", json=usage, headers=bearer(tokens.probe_dinkes))
    ).status == 200
    pushed = {"metric": "active_users", "kind": "gauge", "value": 17}
    assert (
        await client.post("/api/v1/usage", json=pushed, headers=bearer(tokens.app_simpus))
    ).status == 202

    await client.app[keys.EVALUATOR].run_once()
    await client.app[keys.APP_METRICS].refresh()
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(await resp.text())
    web = {"app": "website", "agency": "diskominfo"}
    check = {**web, "zone": "dc", "check": "http", "kind": "http"}
    assert got[key("pantau_app_up", **web)] == 1  # one failure is below the threshold
    assert got[key("pantau_app_zone_up", **web, zone="dc")] == 1
    assert got[key("pantau_app_state", **web, state="up")] == 1
    assert got[key("pantau_app_state", **web, state="down")] == 0
    assert got[key("pantau_app_incident_open", **web)] == 0
    assert got[key("pantau_app_in_maintenance", **web)] == 0
    # simpus failed once in one zone and was never seen in the other: unknown, not down
    simpus = {"app": "simpus", "agency": "dinkes"}
    assert got[key("pantau_app_state", **simpus, state="unknown")] == 1
    assert key("pantau_app_up", **simpus) not in got
    assert key("pantau_app_zone_up", **simpus, zone="dinkes-lan") not in got  # never seen there
    assert got[key("pantau_app_check_success", **simpus, zone="dc", check="tcp", kind="tcp")] == 0
    assert got[key("pantau_app_check_duration_seconds", **check)] == 0.25
    assert got[key("pantau_app_http_status_code", **check)] == 200
    assert got[key("pantau_app_last_check_timestamp_seconds", **check)] == pytest.approx(
        now, abs=0.01
    )
    assert got[key("pantau_app_tls_cert_expiry_timestamp_seconds", **check)] == pytest.approx(
        expiry, abs=0.01
    )
    assert (
        got[key("pantau_app_usage_total", app="simpus", agency="dinkes", metric="visits")] == 1234
    )
    assert got[key("pantau_app_usage", app="simpus", agency="dinkes", metric="active_users")] == 17
    info = key("pantau_app_info", app="website", agency="diskominfo", managed_by="self",
               category="information", lifecycle="active", criticality="medium", severity="warning")  # fmt: skip
    assert got[info] == 1
    assert got[
        key("pantau_probe_last_seen_timestamp_seconds", probe="probe-dc-1", zone="dc")
    ] == pytest.approx(now, abs=60)
    assert got[key("pantau_ingest_batches_total", outcome="stored")] == 2
    assert got[key("pantau_ingest_items_total", type="check_result")] == 3
    # every demo app is listed, and nothing secret is
    text = await (await client.get("/metrics")).text()
    assert tokens.probe_dc not in text


async def test_metrics_served_gzipped_when_large(client: TestClient) -> None:
    import gzip

    app_metrics = client.app[keys.APP_METRICS]
    lines = "".join(f'pantau_app_info{{app="app-{i}"}} 1\n' for i in range(5000))
    app_metrics.snapshot = make_snapshot(f"# TYPE pantau_app_info gauge\n{lines}".encode())
    resp = await client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(await resp.read()).decode()
    assert len([s for s in samples(text) if s[0] == "pantau_app_info"]) == 5000
    assert "pantau_ingest_batches_total" in text


async def test_exposition_escapes_label_values_in_sql(client: TestClient) -> None:
    # Catalogue label values are slugs today; the writer must not depend on it.
    weird = 'we"ird\\name\nx'
    line = await client.app[keys.POOL].fetchval(
        f"SELECT 'pantau_app_info{{app=\"' || {label_text('$1::text')} || '\"}} 1'", weird
    )
    assert samples(f"# TYPE pantau_app_info gauge\n{line}\n") == {
        key("pantau_app_info", app=weird): 1
    }


@pytest.mark.parametrize(
    "value", [0.0, 1.0, 0.25, 1e-05, 0.1 + 0.2, 1796076790.985375, 1e15, 1.5e300, -3.0]
)
async def test_exposition_values_round_trip_in_sql(client: TestClient, value: float) -> None:
    text = await client.app[keys.POOL].fetchval(f"SELECT {float_text('$1::float8')}", value)
    assert float(text) == value


async def test_exposition_infinities_and_nan_in_sql(client: TestClient) -> None:
    pool = client.app[keys.POOL]
    got = [
        await pool.fetchval(f"SELECT {float_text('$1::float8')}", v)
        for v in (math.inf, -math.inf, math.nan)
    ]
    assert got == ["+Inf", "-Inf", "NaN"]


async def test_exposition_is_the_same_whatever_the_session_settings(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    """A role or database may set standard_conforming_strings off or extra_float_digits 0:
    neither may break the queries nor round the values. A quote and a backslash in a label
    value (the catalogue allows only slugs; a row written by hand might not) are escaped."""
    now = time.time() + 0.123456
    batch = {
        "probe": "probe-dc-1", "batch_id": uuid.uuid4().hex,
        "results": [{"app": "website", "check": "http", "kind": "http", "ts": now, "ok": True,
                     "duration_seconds": 0.1 + 0.2, "status_code": 200}],
    }  # fmt: skip
    assert (
        await client.post("/api/v1/results", json=batch, headers=bearer(tokens.probe_dc))
    ).status == 200
    odd = 'x"y\\z'
    plain = await asyncpg.connect(seeded_db)
    other = await asyncpg.connect(
        seeded_db,
        server_settings={"standard_conforming_strings": "off", "extra_float_digits": "0"},
    )
    try:
        async with acting(plain, TEST_ACTOR):
            await plain.execute("UPDATE apps SET category = $1 WHERE id = 'website'", odd)
        text = await read_exposition(plain)
        assert await read_exposition(other) == text
    finally:
        await plain.close()
        await other.close()
    got = samples(text.decode())
    check = {
        "app": "website",
        "agency": "diskominfo",
        "zone": "dc",
        "check": "http",
        "kind": "http",
    }
    assert got[key("pantau_app_check_duration_seconds", **check)] == 0.1 + 0.2
    assert got[key("pantau_app_last_check_timestamp_seconds", **check)] == pytest.approx(
        now, abs=1e-6
    )
    info = [k for k in got if k[0] == "pantau_app_info" and ("app", "website") in k[1]]
    assert ("category", odd) in info[0][1]


async def test_exposition_passes_promtool_lint(client: TestClient, tokens: Tokens) -> None:
    """Every family once, HELP and TYPE before its samples, counters named `_total`."""
    try:
        promtool = require_tools({"promtool": "prometheus"})["promtool"]
    except ToolUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    now = time.time()
    batch = {
        "probe": "probe-dc-1", "batch_id": uuid.uuid4().hex,
        "results": [{"app": "website", "check": "http", "kind": "http", "ts": now, "ok": True,
                     "duration_seconds": 0.25, "status_code": 200, "tls_expiry": now + 86_400}],
    }  # fmt: skip
    assert (
        await client.post("/api/v1/results", json=batch, headers=bearer(tokens.probe_dc))
    ).status == 200
    await client.app[keys.EVALUATOR].run_once()
    await client.app[keys.APP_METRICS].refresh()
    text = await (await client.get("/metrics")).read()
    for family in FAMILIES:
        assert text.count(f"# TYPE {family.name} ".encode()) == 1, family.name
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    # promtool exits 1 on lint findings as on errors; both are written out.
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["schema_version"] == db.latest_version()


async def test_migrations_from_empty_and_concurrently(migrated_template: str) -> None:
    url = await create_test_database(migrated_template, migrated=False)
    try:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        try:
            applied = await asyncio.gather(*(db.migrate(c) for c in conns))
            assert sorted(len(a) for a in applied) == [0, 0, 0, len(db.migration_files())]
            assert await db.current_version(conns[0]) == db.latest_version()
            assert await db.migrate(conns[0]) == []
            parts = await conns[0].fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'check_results'::regclass"
            )
            assert parts >= 4  # last month, this month and three ahead
        finally:
            for c in conns:
                await c.close()
    finally:
        await drop_test_database(migrated_template, url)


async def test_openapi_document_matches_routes(client: TestClient) -> None:
    from openapi_spec_validator import validate

    doc = await (await client.get("/api/v1/openapi.json")).json()
    validate(json.loads(json.dumps(doc)))
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    api_paths = ("/api/", "/metrics", "/healthz", "/readyz")  # the rest is the HTML portal
    registered = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.method != "HEAD"
        and r.resource is not None
        and r.resource.canonical.startswith(api_paths)
    }
    assert documented == registered == {(r.method, r.path) for r in ALL_ROUTES}
    results = doc["paths"]["/api/v1/results"]["post"]
    assert {"200", "400", "401", "403", "413", "503"} <= set(results["responses"])
