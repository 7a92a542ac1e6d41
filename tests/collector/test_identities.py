"""Who may claim what: probe names and batch ids, an agency's zones, an app's pushed metrics,
and what a client that goes away mid-body counts as."""

from __future__ import annotations

import asyncio
import gzip
import time
from pathlib import Path

import aiohttp
import asyncpg
import msgspec
import yaml
from aiohttp.test_utils import TestClient

from collector.catalog import spreadsheet, store, sync
from tests.collector.conftest import CATALOG, TEST_ACTOR, Tokens, bearer, seed
from tests.collector.test_ingest import batch, count, result
from tests.live import LiveCollector


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# --- probe names and batch ids belong to the zone of the token that sent them ---------------


async def test_another_zones_token_can_neither_move_a_probe_nor_pre_empt_its_batch(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    # The real zone-a (dc) probe is known to the collector.
    first = await client.post(
        "/api/v1/results", json=batch([result()]), headers=bearer(tokens.probe_dc)
    )
    assert first.status == 200
    # A zone-b (dinkes-lan) token sends an empty batch under the zone-a probe's name and the id
    # the real probe will use next.
    hijack = {
        "schema": 1,
        "probe": "probe-dc-1",
        "batch_id": "hijack-1",
        "results": [],
        "usage": [],
    }
    await client.post("/api/v1/results", json=hijack, headers=bearer(tokens.probe_dinkes))
    probes = await fetch(seeded_db, "SELECT zone FROM probes WHERE name = 'probe-dc-1'")
    assert "dc" in [p["zone"] for p in probes]  # the zone-a probe was not moved away
    # The real batch with that id is stored, not answered as a duplicate.
    real = batch([result()], batch_id="hijack-1")
    resp = await client.post("/api/v1/results", json=real, headers=bearer(tokens.probe_dc))
    assert resp.status == 200, await resp.text()
    ack = await resp.json()
    assert ack["duplicate"] is False
    assert ack["results"] == 1
    assert await count(seeded_db, "check_results") == 2
    stored = await fetch(seeded_db, "SELECT zone, probe FROM check_results ORDER BY ts")
    assert [(r["zone"], r["probe"]) for r in stored] == [("dc", "probe-dc-1")] * 2
    # Its own retry is still a duplicate, within its zone.
    again = await client.post("/api/v1/results", json=real, headers=bearer(tokens.probe_dc))
    assert (await again.json())["duplicate"] is True
    zones = await fetch(
        seeded_db, "SELECT zone FROM probes WHERE name = 'probe-dc-1' ORDER BY zone"
    )
    assert [z["zone"] for z in zones] == ["dc", "dinkes-lan"]  # two probes, each of its zone


async def test_a_batch_id_sent_again_with_other_content_is_a_conflict(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    headers = bearer(tokens.probe_dc)
    body = batch([result(), result(ok=False)])
    assert (await client.post("/api/v1/results", json=body, headers=headers)).status == 200
    # A true retry (same content, even gzipped and spaced differently) is the idempotent 200.
    raw = msgspec.json.format(msgspec.json.encode(body), indent=2)
    retry = await client.post(
        "/api/v1/results",
        data=gzip.compress(raw),
        headers={**headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert retry.status == 200, await retry.text()
    assert (await retry.json())["duplicate"] is True
    # Same id, other content: refused with a message, and nothing of it is stored.
    other = {**body, "results": [result(ok=False)]}
    resp = await client.post("/api/v1/results", json=other, headers=headers)
    assert resp.status == 409, await resp.text()
    err = await resp.json()
    assert err["error"] == "conflict"
    assert body["batch_id"] in err["message"]
    assert "different content" in err["message"]
    assert err["field"] == "$.batch_id"
    assert await count(seeded_db, "check_results") == 2
    metrics = await (await client.get("/metrics")).text()
    assert 'pantau_ingest_rejected_batches_total{reason="conflict"} 1.0' in metrics


# --- an agency's apps go only to the zones an admin opened to it ----------------------------


async def test_an_agency_token_places_apps_only_in_zones_opened_to_it(
    client: TestClient, tokens: Tokens
) -> None:
    # simpus (dinkes) is watched from dinkes-lan and dc. An agency token may not add the zone
    # of another agency's LAN, on update ...
    simpus = await (await client.get("/api/v1/apps/simpus")).json()
    moved = {**simpus, "zones": ["setda-lan"]}
    resp = await client.put("/api/v1/apps/simpus", json=moved, headers=bearer(tokens.dinkes))
    assert resp.status == 403, await resp.text()
    err = await resp.json()
    assert "zones" in err["message"]
    assert "setda-lan" in err["message"]
    assert err["field"] == "$.zones"
    assert (await (await client.get("/api/v1/apps/simpus")).json())["zones"] == simpus["zones"]
    # ... nor on create.
    new = {
        "id": "sik",
        "name": "SIK",
        "agency": "dinkes",
        "managed_by": "self",
        "zones": ["setda-lan"],
    }
    resp = await client.post("/api/v1/apps", json=new, headers=bearer(tokens.dinkes))
    assert resp.status == 403
    assert "setda-lan" in (await resp.json())["message"]
    assert (await client.get("/api/v1/apps/sik")).status == 404
    # Zones opened to it are fine; and it may still edit an app an admin placed elsewhere.
    ok = {**new, "zones": ["dinkes-lan", "dc"]}
    assert (await client.post("/api/v1/apps", json=ok, headers=bearer(tokens.dinkes))).status == 201
    # The agency may not open zones to itself: agencies are the admin's.
    dinkes = await (await client.get("/api/v1/agencies/dinkes")).json()
    opened = {**dinkes, "zones": [*dinkes["zones"], "setda-lan"]}
    assert (
        await client.put("/api/v1/agencies/dinkes", json=opened, headers=bearer(tokens.dinkes))
    ).status == 403
    # The admin assigns anything, and may open the zone to the agency.
    resp = await client.put("/api/v1/apps/simpus", json=moved, headers=bearer(tokens.admin))
    assert resp.status == 200
    back = {**simpus, "tags": ["edited"], "zones": ["setda-lan", "dc"]}
    # setda-lan is already on the app (the admin put it there): the agency keeps it when editing.
    resp = await client.put("/api/v1/apps/simpus", json=back, headers=bearer(tokens.dinkes))
    assert resp.status == 200, await resp.text()
    resp = await client.put("/api/v1/agencies/dinkes", json=opened, headers=bearer(tokens.admin))
    assert resp.status == 200
    assert (await (await client.get("/api/v1/agencies/dinkes")).json())["zones"] == opened["zones"]
    sik = {**ok, "zones": ["setda-lan"]}
    assert (
        await client.put("/api/v1/apps/sik", json=sik, headers=bearer(tokens.dinkes))
    ).status == 200


async def test_agency_zones_come_from_the_catalogue_file(fresh_db: str, tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(CATALOG))
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    conn = await asyncpg.connect(fresh_db)
    try:
        await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        agency = await store.get_agency(conn, "dinkes")
        assert agency is not None
        assert agency.zones == ["dinkes-lan", "dc"]
        data["agencies"][2]["zones"] = ["dinkes-lan"]
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        diff = await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        assert diff.updated == ["agency dinkes: zones"]
        exported = yaml.safe_load(await sync.export(conn))
        by_id = {a["id"]: a for a in exported["agencies"]}
        assert by_id["dinkes"]["zones"] == ["dinkes-lan"]
        assert by_id["setda"]["zones"] == []
    finally:
        await conn.close()


# --- an app pushes only the metrics declared for it as pushed --------------------------------


async def test_an_app_pushes_only_its_declared_push_metrics(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    headers = bearer(tokens.app_simpus)

    async def push(metric: str, kind: str) -> tuple[int, dict[str, object]]:
        resp = await client.post(
            "/api/v1/usage", json={"metric": metric, "kind": kind, "value": 5}, headers=headers
        )
        return resp.status, await resp.json()

    status, err = await push("bogus", "counter")  # never declared
    assert status == 400
    assert "bogus" in str(err["message"])
    assert "not declared" in str(err["message"])
    assert err["field"] == "$.metric"
    status, err = await push("visits", "counter")  # declared, but read by the probe over SQL
    assert status == 400
    assert "visits" in str(err["message"])
    assert "sql" in str(err["message"])
    status, err = await push("logins", "gauge")  # declared as a counter
    assert status == 400
    assert "counter" in str(err["message"])
    assert err["field"] == "$.kind"
    assert await count(seeded_db, "usage_samples") == 0
    status, _ = await push("logins", "counter")
    assert status == 202
    # An app with no usage entries at all may push nothing.
    conn = await asyncpg.connect(seeded_db)
    try:
        from collector.auth import create_token

        _, pcare = await create_token(conn, name="p-care", kind="app", app="p-care")
    finally:
        await conn.close()
    resp = await client.post(
        "/api/v1/usage", json={"metric": "logins", "kind": "counter", "value": 1},
        headers=bearer(pcare),
    )  # fmt: skip
    assert resp.status == 400
    assert "p-care" in (await resp.json())["message"]
    assert await count(seeded_db, "usage_samples") == 1


# --- a client that goes away mid-body is not a database outage -------------------------------


async def _send_half_and_close(port: int, token: str, *, chunked: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = msgspec.json.encode(batch([result() for _ in range(20)]))
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        "POST /api/v1/results HTTP/1.1\r\nHost: collector\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()
    half = body[: len(body) // 2]
    if chunked:
        half = f"{len(body):x}\r\n".encode() + half
    writer.write(head + half)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader


def _rejected(text: str, reason: str) -> float:
    line = f'pantau_ingest_rejected_batches_total{{reason="{reason}"}} '
    found = [x for x in text.splitlines() if x.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def _half_bodies_then_metrics(session: aiohttp.ClientSession, url: str, token: str) -> str:
    """Two requests that stop mid-body (length-delimited, chunked); the metrics once both ended."""
    ok = await session.post(f"{url}/api/v1/results", json=batch([result()]), headers=bearer(token))
    assert ok.status == 200  # authenticated once: the half bodies fail at the body, not the token
    port = int(url.rsplit(":", 1)[1])
    for chunked in (False, True):
        await _send_half_and_close(port, token, chunked=chunked)
    deadline = time.monotonic() + 30  # a bound on waiting for the server's side, not a timing goal
    while True:
        text = await (await session.get(f"{url}/metrics")).text()
        seen = sum(_rejected(text, r) for r in ("db_unavailable", "client_disconnected"))
        if seen >= 2 or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)


async def test_a_client_that_disconnects_mid_body_is_not_a_database_outage(
    tokens: Tokens, seeded_db: str
) -> None:
    # Served as `pantau-collector serve` serves it (a client gone shows as ConnectionResetError).
    collector = LiveCollector(seeded_db)
    await collector.start()
    try:
        async with aiohttp.ClientSession() as session:
            text = await _half_bodies_then_metrics(session, collector.url, tokens.probe_dc)
    finally:
        await collector.stop()
    assert _rejected(text, "db_unavailable") == 0
    assert _rejected(text, "client_disconnected") == 2
    assert await count(seeded_db, "check_results") == 1


async def test_a_cancelled_handler_of_a_gone_client_is_counted_the_same(
    client: TestClient, tokens: Tokens, seeded_db: str
) -> None:
    # The test server cancels the handler when its client goes away (handler_cancellation).
    url = str(client.make_url("")).rstrip("/")
    text = await _half_bodies_then_metrics(client.session, url, tokens.probe_dc)
    assert _rejected(text, "db_unavailable") == 0
    assert _rejected(text, "client_disconnected") == 2
    assert await count(seeded_db, "check_results") == 1


async def test_a_csv_import_leaves_an_existing_agencys_zones_alone(
    seeded_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "apps.csv"
    path.write_text(
        "id,name,agency,agency_name,managed_by,zones\n"
        "sik,SIK,dinkes,Dinkes (from a spreadsheet),self,dc\n",
        encoding="utf-8",
    )
    conn = await asyncpg.connect(seeded_db)
    try:
        before = await store.get_agency(conn, "dinkes")
        diff = await sync.apply(
            conn,
            spreadsheet.load_file(path),
            source=str(path),
            actor=TEST_ACTOR,
            create_agencies_only=True,
        )
        assert diff.created == ["app sik"]
        assert diff.updated == []
        assert await store.get_agency(conn, "dinkes") == before
    finally:
        await conn.close()


async def test_upgrading_keeps_stored_batches_acknowledged_as_retries(
    migrated_template: str,
) -> None:
    from collector import db
    from collector.ingest import Ingestor
    from tests.pg import create_test_database, drop_test_database
    from wire.messages import ResultBatch

    url = await create_test_database(migrated_template, migrated=False)
    try:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version, name, sql in db.migration_files():
                if version < 4:  # the schema as it was before this migration
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES ($1, $2)", version, name
                    )
            await conn.execute("INSERT INTO probes (name, zone) VALUES ('probe-dc-1', 'dc')")
            await conn.execute(
                "INSERT INTO ingested_batches (probe, batch_id, results, usage)"
                " VALUES ('probe-dc-1', 'old-1', 1, 0), ('gone', 'old-2', 1, 0)"
            )
            assert (await db.migrate(conn))[0] == "0004_identities.sql"
            rows = await conn.fetch("SELECT zone, probe FROM ingested_batches ORDER BY batch_id")
            assert [(r["zone"], r["probe"]) for r in rows] == [("dc", "probe-dc-1"), ("", "gone")]
        finally:
            await conn.close()
        await seed(url)
        pool = await db.create_pool(url)
        try:
            old = msgspec.convert(batch([result()], batch_id="old-1"), ResultBatch)
            ack = await Ingestor(pool).store_batch(old, zone="dc")
            assert ack.duplicate is True  # stored before the upgrade: no hash, taken as a retry
            assert ack.results == 1
        finally:
            await pool.close()
    finally:
        await drop_test_database(migrated_template, url)
