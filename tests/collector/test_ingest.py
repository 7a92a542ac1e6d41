from __future__ import annotations

import gzip
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import msgspec
from aiohttp.test_utils import TestClient, TestServer

from collector.web import keys
from collector.web.app import make_app
from tests.collector.conftest import Tokens, bearer, collector_config, make_tokens, seed
from tests.pg import StoppableServer


def result(
    app: str = "website", *, ok: bool = True, ts: float | None = None, **kw: object
) -> dict[str, object]:
    item: dict[str, object] = {
        "app": app, "check": "http", "kind": "http", "ts": ts or time.time(), "ok": ok,
        "duration_seconds": 0.12, "status_code": 200 if ok else 503,
    }  # fmt: skip
    if not ok:
        item["reason"] = "status"
    item.update(kw)
    return item


def batch(results: list[dict[str, object]], usage: list[dict[str, object]] | None = None,
          *, batch_id: str | None = None) -> dict[str, object]:  # fmt: skip
    return {
        "schema": 1, "probe": "probe-dc-1", "batch_id": batch_id or uuid.uuid4().hex,
        "results": results, "usage": usage or [],
    }  # fmt: skip


async def count(url: str, table: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_batch_is_stored_and_a_retry_is_acknowledged_but_stored_once(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    body = batch([result(), result(ok=False)])
    for expect_duplicate in (False, True):
        resp = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
        assert resp.status == 200, await resp.text()
        ack = await resp.json()
        assert ack == {
            "batch_id": body["batch_id"],
            "duplicate": expect_duplicate,
            "results": 2,
            "usage": 0,
            "dropped": 0,
        }
    assert await count(seeded_db, "check_results") == 2
    assert await count(seeded_db, "ingested_batches") == 1
    conn = await asyncpg.connect(seeded_db)
    try:
        probe = await conn.fetchrow("SELECT zone, last_seen FROM probes WHERE name = 'probe-dc-1'")
        latest = await conn.fetch(
            "SELECT ok, status_code FROM check_latest WHERE app_id = 'website'"
        )
    finally:
        await conn.close()
    assert probe["zone"] == "dc"
    assert len(latest) == 1


async def test_one_bad_item_rejects_the_whole_batch(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    items = [result(), result(), result(duration_seconds=-1)]
    resp = await client.post("/api/v1/results", json=batch(items), headers=bearer(tokens.probe_dc))
    assert resp.status == 400
    err = await resp.json()
    assert err["error"] == "bad_request"
    assert err["field"] == "$.results[2].duration_seconds"
    assert await count(seeded_db, "check_results") == 0
    assert await count(seeded_db, "ingested_batches") == 0


async def test_items_for_apps_the_zone_does_not_watch_are_dropped_not_the_batch(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    # "nope" was deleted (or never existed); the rest of the batch must still count.
    body = batch([result(), result("nope"), result()])
    resp = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {
        "batch_id": body["batch_id"],
        "duplicate": False,
        "results": 2,
        "usage": 0,
        "dropped": 1,
    }
    again = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
    assert (await again.json())["dropped"] == 1  # a retry is acknowledged the same way
    # website is watched from zone "dc" only: the dinkes LAN probe's results for it are not stored.
    resp = await client.post(
        "/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dinkes)
    )
    assert (await resp.json())["dropped"] == 1
    assert await count(seeded_db, "check_results") == 2
    metrics = await (await client.get("/metrics")).text()
    assert "pantau_ingest_items_dropped_total 2.0" in metrics


async def test_a_nul_character_is_refused_with_its_field(
    client: TestClient, tokens: Tokens
) -> None:
    resp = await client.post(
        "/api/v1/results",
        json=batch([result(ok=False, message="bad\x00byte")]),
        headers=bearer(tokens.probe_dc),
    )
    assert resp.status == 400
    assert (await resp.json())["field"] == "$.results[0].message"


async def test_pushed_usage_from_the_future_is_refused(client: TestClient, tokens: Tokens) -> None:
    ahead = time.time() + 7 * 3600  # local time sent as if it were UTC
    resp = await client.post(
        "/api/v1/usage", json={"metric": "logins", "kind": "counter", "value": 1, "ts": ahead},
        headers=bearer(tokens.app_simpus),
    )  # fmt: skip
    assert resp.status == 400
    assert (await resp.json())["field"] == "$.ts"


async def test_clock_far_ahead_is_rejected(client: TestClient, tokens: Tokens) -> None:
    resp = await client.post(
        "/api/v1/results",
        json=batch([result(ts=time.time() + 86_400)]),
        headers=bearer(tokens.probe_dc),
    )
    assert resp.status == 400
    assert (await resp.json())["field"] == "$.results[0].ts"


async def test_gzip_body_is_accepted(client: TestClient, tokens: Tokens, seeded_db: str) -> None:
    raw = msgspec.json.encode(batch([result() for _ in range(50)]))
    resp = await client.post(
        "/api/v1/results",
        data=gzip.compress(raw),
        headers={
            **bearer(tokens.probe_dc),
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert resp.status == 200, await resp.text()
    assert await count(seeded_db, "check_results") == 50


async def test_size_limits_answer_413_before_and_after_decompression(seeded_db: str) -> None:
    tokens = await make_tokens(seeded_db)
    config = collector_config(
        limits={"max_body_bytes": 64 * 1024, "max_decompressed_bytes": 256 * 1024}
    )
    async with TestClient(
        TestServer(make_app(config, dsn=seeded_db), host="127.0.0.1", port=0)
    ) as c:
        big = msgspec.json.encode(batch([result(message="x" * 1000) for _ in range(100)]))
        assert len(big) > 64 * 1024
        headers = {**bearer(tokens.probe_dc), "Content-Type": "application/json"}
        resp = await c.post("/api/v1/results", data=big, headers=headers)
        assert resp.status == 413
        # A gzip bomb: 20 MB of spaces is a few KB compressed, well under the body limit.
        bomb = gzip.compress(b" " * 20_000_000)
        assert len(bomb) < 64 * 1024
        resp = await c.post(
            "/api/v1/results", data=bomb, headers={**headers, "Content-Encoding": "gzip"}
        )
        assert resp.status == 413
        assert "decompressed" in (await resp.json())["message"]
        resp = await c.post(
            "/api/v1/results", data=b"not gzip", headers={**headers, "Content-Encoding": "gzip"}
        )
        assert resp.status == 400
        metrics = await (await c.get("/metrics")).text()
        assert 'pantau_ingest_rejected_batches_total{reason="too_large"} 2.0' in metrics
    assert await count(seeded_db, "check_results") == 0


async def test_counter_resets_never_make_totals_go_backwards(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    now = time.time() - 100
    readings = [100, 150, 30, 50]  # the app restarted between 150 and 30
    usage = [
        {"app": "simpus", "metric": "visits", "kind": "counter", "ts": now + i, "value": v}
        for i, v in enumerate(readings)
    ]
    for sample in usage:  # one batch each, as a probe would send them over time
        resp = await client.post(
            "/api/v1/results", json=batch([], [sample]), headers=bearer(tokens.probe_dinkes)
        )
        assert resp.status == 200, await resp.text()
    conn = await asyncpg.connect(seeded_db)
    try:
        totals = [
            r["total"] for r in await conn.fetch("SELECT total FROM usage_samples ORDER BY ts")
        ]
        latest = await conn.fetchval("SELECT total FROM usage_latest WHERE app_id = 'simpus'")
    finally:
        await conn.close()
    assert totals == [100, 150, 180, 200]
    assert latest == 200


async def test_usage_pushed_by_the_app_itself(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    resp = await client.post(
        "/api/v1/usage", json={"metric": "logins", "kind": "counter", "value": 42},
        headers=bearer(tokens.app_simpus),
    )  # fmt: skip
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["app"] == "simpus"
    # A probe token may not push usage as an app.
    resp = await client.post(
        "/api/v1/usage", json={"metric": "logins", "kind": "counter", "value": 43},
        headers=bearer(tokens.probe_dc),
    )  # fmt: skip
    assert resp.status == 403
    assert await count(seeded_db, "usage_samples") == 1


async def test_targets_follow_the_zone_with_etag(client: TestClient, tokens: Tokens) -> None:
    resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dinkes))
    assert resp.status == 200
    body = await resp.json()
    assert [t["app"] for t in body["targets"]] == ["simpus"]
    assert body["targets"][0]["usage"][0]["metric"] == "visits"  # dinkes-lan is simpus' first zone
    etag = resp.headers["ETag"]
    resp = await client.get(
        "/api/v1/probe/targets", headers={**bearer(tokens.probe_dinkes), "If-None-Match": etag}
    )
    assert resp.status == 304
    dc = await (await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dc))).json()
    by_app = {t["app"]: t for t in dc["targets"]}
    assert set(by_app) == {"website", "simpus", "p-care"}
    assert by_app["simpus"]["usage"] == []  # usage is pulled by the first zone only
    # A catalogue change gives a new ETag.
    app = await (await client.get("/api/v1/apps/simpus")).json()
    app["tags"] = ["changed"]
    resp = await client.put("/api/v1/apps/simpus", json=app, headers=bearer(tokens.admin))
    assert resp.status == 200
    resp = await client.get(
        "/api/v1/probe/targets", headers={**bearer(tokens.probe_dinkes), "If-None-Match": etag}
    )
    assert resp.status == 200


async def test_database_outage_answers_503_then_recovers() -> None:
    # Its own server, so stopping it does not disturb the other tests.
    server = StoppableServer(Path(tempfile.mkdtemp(prefix="pantau-outage-")))
    try:
        await seed_after_migrate(server.url)
        tokens = await make_tokens(server.url)
        app = make_app(collector_config(), dsn=server.url)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
            # Authenticate once while the database is up (the token cache then holds it).
            ok = await c.post(
                "/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dc)
            )
            assert ok.status == 200
            server.stop()
            body = batch([result()])
            resp = await c.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
            assert resp.status == 503
            assert resp.headers["Retry-After"]
            ready = await c.get("/readyz")
            assert ready.status == 503
            metrics = await (await c.get("/metrics")).text()
            assert 'pantau_ingest_rejected_batches_total{reason="db_unavailable"} 1.0' in metrics
            server.start()
            resp = await c.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
            assert resp.status == 200, await resp.text()
            assert (await c.get("/readyz")).status == 200
            assert app[keys.POOL] is not None
        assert await count(server.url, "check_results") == 2
    finally:
        server.cleanup()


async def seed_after_migrate(url: str) -> None:
    from collector import db

    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    await seed(url)


async def test_a_probe_keeps_only_the_usage_it_pulls(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    # simpus (zones dinkes-lan, dc) declares visits (counter, pulled by SQL), and logins /
    # active_users pushed by the app itself. Only its first zone's probe pulls usage.
    now = time.time() - 100

    def sample(metric: str, kind: str = "counter", app: str = "simpus") -> dict[str, object]:
        return {"app": app, "metric": metric, "kind": kind, "ts": now, "value": 7}

    forged = [
        sample("logins"),  # declared `push`: only the app's token may send it
        sample("active_users", "gauge"),  # push, of the declared kind
        sample("revenue"),  # not declared at all
        sample("visits", "gauge"),  # declared, of the other kind
        sample("anything", app="website"),  # website declares no usage
    ]
    body = batch([], [*forged, sample("visits")])
    resp = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dinkes))
    assert resp.status == 200, await resp.text()
    ack = await resp.json()
    assert (ack["usage"], ack["dropped"]) == (1, 5)
    # The app's second zone watches it (its results count) but never pulls its usage.
    body = batch([result("simpus", check="tcp", kind="tcp")], [sample("visits")])
    resp = await client.post("/api/v1/results", json=body, headers=bearer(tokens.probe_dc))
    ack = await resp.json()
    assert (ack["results"], ack["usage"], ack["dropped"]) == (1, 0, 1)
    conn = await asyncpg.connect(seeded_db)
    try:
        stored = await conn.fetch("SELECT app_id, metric, kind, zone FROM usage_samples")
    finally:
        await conn.close()
    assert [tuple(r) for r in stored] == [("simpus", "visits", "counter", "dinkes-lan")]
    metrics = await (await client.get("/metrics")).text()
    assert "pantau_ingest_items_dropped_total 6.0" in metrics
