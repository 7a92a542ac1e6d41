"""The catalogue's audit trail: every change, from every path, says who, when, before and after;
the database refuses a change without an actor; the API shows the trail only to those who may
read it, as they may read the app."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from aiohttp.test_utils import TestClient

from collector.audit import Actor, acting, set_actor
from tests.collector.conftest import CATALOG, Tokens, bearer
from tests.test_cli import run

ADMIN = "admin"  # the names make_tokens gives the tokens
DINKES = "dinkes"
TOKEN_ACTOR = Actor(kind="system", name="test by hand", via="test")


async def db_now(url: str) -> dt.datetime:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT clock_timestamp()")  # type: ignore[no-any-return]
    finally:
        await conn.close()


async def history(client: TestClient, app_id: str, token: str, **params: str) -> Any:  # type: ignore[type-arg]
    resp = await client.get(f"/api/v1/apps/{app_id}/history", params=params, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def audit(client: TestClient, token: str, **params: str) -> Any:  # type: ignore[type-arg]
    resp = await client.get("/api/v1/audit", params=params, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def app_body(app_id: str, **changes: object) -> dict[str, Any]:
    (app,) = [a for a in CATALOG["apps"] if a["id"] == app_id]  # type: ignore[index]
    return {**app, **changes}


async def test_api_writes_record_who_when_before_and_after(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    start = await db_now(seeded_db)
    resp = await client.put(
        "/api/v1/apps/website", json=app_body("website", target_uptime=98.0),
        headers=bearer(tokens.admin),
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    new = {"id": "sik", "name": "SIK", "agency": "dinkes", "managed_by": "self", "zones": ["dc"]}
    assert (
        await client.post("/api/v1/apps", json=new, headers=bearer(tokens.dinkes))
    ).status == 201
    assert (await client.delete("/api/v1/apps/p-care", headers=bearer(tokens.dinkes))).status == 204
    end = await db_now(seeded_db)

    page = await history(client, "website", tokens.admin)
    latest, seeded = page["entries"][0], page["entries"][-1]
    assert latest["action"] == "update"
    assert latest["changed"] == ["target_uptime"]
    assert latest["before"]["target_uptime"] == 99.5
    assert latest["after"]["target_uptime"] == 98.0
    assert latest["after"]["name"] == "Website Kabupaten"  # the whole record, not just the change
    assert latest["actor"]["kind"] == "token"
    assert latest["actor"]["name"] == ADMIN
    assert latest["actor"]["via"] == "api"
    assert start <= dt.datetime.fromisoformat(latest["at"]) <= end
    assert seeded["action"] == "insert"  # the seed, by the test's own actor
    assert seeded["before"] is None
    assert seeded["actor"]["kind"] == "system"
    assert page["next_before"] is None

    (created,) = (await history(client, "sik", tokens.admin))["entries"]
    assert (created["action"], created["actor"]["name"]) == ("insert", DINKES)
    assert created["after"]["zones"] == ["dc"]

    # A deleted app keeps its history, with what it was.
    deleted = (await history(client, "p-care", tokens.admin))["entries"][0]
    assert deleted["action"] == "delete"
    assert deleted["after"] is None
    assert deleted["before"]["provider"] == "BPJS Kesehatan"
    assert deleted["actor"]["name"] == DINKES
    missing = await client.get("/api/v1/apps/never-was/history", headers=bearer(tokens.admin))
    assert missing.status == 404


async def test_the_token_actor_is_its_id_and_name(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    resp = await client.put(
        "/api/v1/apps/simpus", json=app_body("simpus", name="SIMPUS 2"),
        headers=bearer(tokens.dinkes),
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    entry = (await history(client, "simpus", tokens.admin))["entries"][0]
    conn = await asyncpg.connect(seeded_db)
    try:
        token_id = await conn.fetchval("SELECT id FROM tokens WHERE name = 'dinkes'")
    finally:
        await conn.close()
    assert entry["actor"] == {"kind": "token", "name": DINKES, "id": str(token_id), "via": "api"}


async def test_maintenance_windows_through_the_api_are_recorded(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    window = {"name": "upgrade", "start": "2030-01-01T00:00:00+07:00",
              "end": "2030-01-01T02:00:00+07:00"}  # fmt: skip
    resp = await client.post(
        "/api/v1/apps/simpus/maintenance", json=window, headers=bearer(tokens.dinkes)
    )
    assert resp.status == 201, await resp.text()
    resp = await client.delete(
        "/api/v1/apps/simpus/maintenance/upgrade", headers=bearer(tokens.admin)
    )
    assert resp.status == 204
    removed, added = (await history(client, "simpus", tokens.admin))["entries"][:2]
    assert added["changed"] == ["maintenance"]
    assert added["before"]["maintenance"] == []
    assert [w["name"] for w in added["after"]["maintenance"]] == ["upgrade"]
    assert added["actor"]["name"] == DINKES
    assert removed["changed"] == ["maintenance"]
    assert removed["after"]["maintenance"] == []
    assert removed["actor"]["name"] == ADMIN


async def test_agency_writes_and_their_cascades_are_recorded(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    dinkes = {**CATALOG["agencies"][2], "contact": "kantor@dinkes.go.id"}  # type: ignore[index]
    resp = await client.put("/api/v1/agencies/dinkes", json=dinkes, headers=bearer(tokens.admin))
    assert resp.status == 200, await resp.text()
    entry = (await audit(client, tokens.admin, agency="dinkes"))["entries"][0]
    assert (entry["subject"], entry["subject_id"], entry["action"]) == (
        "agency",
        "dinkes",
        "update",
    )
    assert entry["changed"] == ["contact"]
    assert entry["after"]["contact"] == "kantor@dinkes.go.id"

    # Deleting setda sets diskominfo's parent to none: that change has the same actor.
    assert (
        await client.delete("/api/v1/agencies/setda", headers=bearer(tokens.admin))
    ).status == 204
    latest = (await audit(client, tokens.admin, limit="2"))["entries"]
    by_subject = {e["subject_id"]: e for e in latest}
    assert by_subject["setda"]["action"] == "delete"
    assert by_subject["diskominfo"]["changed"] == ["parent"]
    assert by_subject["diskominfo"]["before"]["parent"] == "setda"
    assert by_subject["diskominfo"]["after"]["parent"] is None
    assert {e["actor"]["name"] for e in latest} == {ADMIN}


async def test_catalog_apply_and_csv_import_record_the_file(
    seeded_db: str,
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    tmp_path: Path,
) -> None:
    changed = yaml.safe_load(yaml.safe_dump(CATALOG))
    changed["apps"][0]["target_uptime"] = 97.0
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(changed), encoding="utf-8")
    env = {"DATABASE_URL": seeded_db}
    code, _, err = await run("-m", "collector", "catalog", "apply", str(catalog), env=env)
    assert code == 0, err
    sheet = tmp_path / "apps.csv"
    sheet.write_text("id,name,agency,managed_by,zones\nsik,SIK,dinkes,self,dc\n", encoding="utf-8")
    code, _, err = await run("-m", "collector", "catalog", "import", str(sheet), env=env)
    assert code == 0, err

    applied = (await history(client, "website", tokens.admin))["entries"][0]
    assert applied["actor"] == {
        "kind": "file", "name": str(catalog), "via": "apply",
        "id": hashlib.sha256(catalog.read_bytes()).hexdigest(),
    }  # fmt: skip
    assert applied["changed"] == ["target_uptime"]
    (imported,) = (await history(client, "sik", tokens.admin))["entries"]
    assert imported["actor"]["kind"] == "file"
    assert imported["actor"]["name"] == str(sheet)
    assert imported["actor"]["via"] == "import"
    assert imported["action"] == "insert"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE apps SET name = 'Renamed' WHERE id = 'website'",
        "UPDATE apps SET checks = '[]' WHERE id = 'website'",
        "INSERT INTO agencies (id, name) VALUES ('bkpsdm', 'BKPSDM')",
        "UPDATE agencies SET contact = 'x' WHERE id = 'dinkes'",
        "DELETE FROM apps WHERE id = 'p-care'",
        "TRUNCATE apps, agencies CASCADE",
    ],
)
async def test_a_change_without_an_actor_is_refused_by_the_database(
    seeded_db: str, sql: str
) -> None:
    conn = await asyncpg.connect(seeded_db)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="actor"):
            await conn.execute(sql)
        assert await conn.fetchval("SELECT name FROM apps WHERE id = 'website'") == (
            "Website Kabupaten"
        )
        assert await conn.fetchval("SELECT count(*) FROM apps") == 3
    finally:
        await conn.close()


async def test_the_actor_holds_for_its_transaction_only(seeded_db: str) -> None:
    conn = await asyncpg.connect(seeded_db)
    try:
        with pytest.raises(RuntimeError, match="transaction"):
            await set_actor(conn, TOKEN_ACTOR)  # outside a transaction it would be lost at once
        async with acting(conn, TOKEN_ACTOR):
            await conn.execute("UPDATE apps SET name = 'Renamed' WHERE id = 'website'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the next one has none
            await conn.execute("UPDATE apps SET name = 'Again' WHERE id = 'website'")
        # Bookkeeping that is not the catalogue (when the row was made) needs no actor.
        await conn.execute("UPDATE apps SET created_at = created_at - interval '1 day'")
        rows = await conn.fetch(
            "SELECT actor_kind, actor, via, changed FROM catalog_audit WHERE subject_id = 'website'"
            " ORDER BY id"
        )
        assert [tuple(r) for r in rows][-1] == ("system", "test by hand", "test", ["name"])
        assert (
            len(rows) == 2
        )  # the seed, and the rename: nothing for the refused or the bookkeeping
    finally:
        await conn.close()


async def test_an_agency_token_reads_its_own_agencys_trail_only(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    assert (
        await client.get("/api/v1/apps/website/history", headers=bearer(tokens.dinkes))
    ).status == 403
    assert (await client.get("/api/v1/audit", params={"agency": "diskominfo"},
                             headers=bearer(tokens.dinkes))).status == 403  # fmt: skip
    own = await audit(client, tokens.dinkes)
    assert own["entries"]
    assert all("dinkes" in e["agencies"] for e in own["entries"])
    assert {e["subject_id"] for e in own["entries"]} == {"dinkes", "simpus", "p-care"}
    everything = await audit(client, tokens.admin)
    assert {e["subject_id"] for e in everything["entries"]} >= {"website", "setda", "simpus"}
    # An app moved by an admin: both agencies see the move.
    resp = await client.put(
        "/api/v1/apps/website", json=app_body("website", agency="dinkes"),
        headers=bearer(tokens.admin),
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    moved = (await history(client, "website", tokens.dinkes))["entries"]
    assert [e["changed"] for e in moved] == [["agency"]]  # its history from the move on
    # Machines and strangers read no trail at all, however public the catalogue is.
    for headers in ({}, bearer(tokens.probe_dc), bearer(tokens.app_simpus)):
        for path in ("/api/v1/audit", "/api/v1/apps/simpus/history"):
            resp = await client.get(path, headers=headers)
            assert resp.status == (403 if headers else 401), path


async def test_the_trail_shows_what_the_app_api_would_and_nothing_more(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    # A check stored before the secret-header rule, by hand: the app API skips it, so does the trail.
    leaked = {"type": "http", "url": "https://x/", "headers": {"X-Api-Key": "k-secret-123"}}
    conn = await asyncpg.connect(seeded_db)
    try:
        async with acting(conn, TOKEN_ACTOR):
            await conn.execute(
                "UPDATE apps SET checks = checks || $1::jsonb WHERE id = 'simpus'",
                json.dumps([leaked]),
            )
    finally:
        await conn.close()
    app = await (await client.get("/api/v1/apps/simpus", headers=bearer(tokens.admin))).text()
    assert "k-secret-123" not in app
    for token in (tokens.admin, tokens.dinkes):
        text = await (await client.get("/api/v1/apps/simpus/history", headers=bearer(token))).text()
        assert "k-secret-123" not in text
        assert "X-Api-Key" not in text
        assert (
            "k-secret-123"
            not in await (await client.get("/api/v1/audit", headers=bearer(token))).text()
        )
    # Owners' contacts as the app API shows them to the same token (admin and agency: shown).
    entry = (await history(client, "website", tokens.admin))["entries"][-1]
    assert entry["after"]["owner"]["email"] == "budi@kotimkab.go.id"


async def test_paging_and_filters(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    marks = []
    for uptime in (95.0, 96.0, 97.0, 98.0):
        marks.append(await db_now(seeded_db))
        resp = await client.put(
            "/api/v1/apps/website", json=app_body("website", target_uptime=uptime),
            headers=bearer(tokens.admin),
        )  # fmt: skip
        assert resp.status == 200
    seen: list[float] = []
    params = {"app": "website", "limit": "2"}
    while True:
        page = await audit(client, tokens.admin, **params)
        assert len(page["entries"]) <= 2
        seen += [e["after"]["target_uptime"] for e in page["entries"] if e["after"]]
        if page["next_before"] is None:
            break
        params["before"] = str(page["next_before"])
    assert seen == [98.0, 97.0, 96.0, 95.0, 99.5]  # newest first, each once
    since = await audit(client, tokens.admin, app="website", since=marks[2].isoformat())
    assert [e["after"]["target_uptime"] for e in since["entries"]] == [98.0, 97.0]
    until = await audit(client, tokens.admin, app="website", until=marks[1].isoformat())
    assert [e["after"]["target_uptime"] for e in until["entries"]] == [95.0, 99.5]
    by_actor = await audit(client, tokens.admin, actor=ADMIN)
    assert len(by_actor["entries"]) == 4
    for bad in ({"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"since": "yesterday"},
                {"before": "x"}, {"colour": "red"}):  # fmt: skip
        resp = await client.get("/api/v1/audit", params=bad, headers=bearer(tokens.admin))
        assert resp.status == 400, bad
        assert (await resp.json())["field"].startswith("query"), bad


async def test_a_migration_that_changes_the_catalogue_is_its_actor(
    seeded_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import db

    later = (9999, "9999_rename.sql", "UPDATE apps SET name = 'SIMPUS 2' WHERE id = 'simpus'")
    monkeypatch.setattr(db, "migration_files", lambda: [later])
    conn = await asyncpg.connect(seeded_db)
    try:
        assert await db.migrate(conn) == ["9999_rename.sql"]
        row = await conn.fetchrow(
            "SELECT actor_kind, actor, via, changed FROM catalog_audit ORDER BY id DESC LIMIT 1"
        )
    finally:
        await conn.close()
    assert tuple(row) == ("system", "9999_rename.sql", "migration", ["name"])  # type: ignore[arg-type]
