from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
import yaml
from aiohttp.test_utils import TestClient

from collector.catalog import spreadsheet, store, sync
from tests.collector.conftest import CATALOG, TEST_ACTOR, Tokens, bearer


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


def write(tmp_path: Path, data: object, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def test_apply_export_round_trip_is_idempotent(fresh_db: str, tmp_path: Path) -> None:
    conn = await connect(fresh_db)
    try:
        catalog = sync.load_yaml(write(tmp_path, CATALOG))
        first = await sync.apply(conn, catalog, source="catalog.yaml", actor=TEST_ACTOR)
        assert "app simpus" in first.created
        assert "agency setda" in first.created
        again = await sync.apply(conn, catalog, source="catalog.yaml", actor=TEST_ACTOR)
        assert again.empty
        exported = await sync.export(conn)
        reloaded = sync.load_yaml(write(tmp_path, yaml.safe_load(exported), "exported.yaml"))
        assert (await sync.apply(conn, reloaded, source="exported.yaml", actor=TEST_ACTOR)).empty
        assert {a.id: a for a in reloaded.apps} == {a.id: a for a in catalog.apps}
        assert {a.id: a for a in reloaded.agencies} == {a.id: a for a in catalog.agencies}
    finally:
        await conn.close()


async def test_dry_run_and_prune(fresh_db: str, tmp_path: Path) -> None:
    conn = await connect(fresh_db)
    try:
        await sync.apply(
            conn, sync.load_yaml(write(tmp_path, CATALOG)), source="c", actor=TEST_ACTOR
        )
        smaller = {**CATALOG, "apps": [a for a in CATALOG["apps"] if a["id"] != "p-care"]}  # type: ignore[union-attr]
        changed = [dict(a) for a in smaller["apps"]]
        changed[0]["target_uptime"] = 98.0
        smaller["apps"] = changed
        catalog = sync.load_yaml(write(tmp_path, smaller))
        diff = await sync.apply(
            conn, catalog, source="c", actor=TEST_ACTOR, prune=True, dry_run=True
        )
        assert diff.updated == ["app website: target_uptime"]
        assert diff.retired == ["app p-care"]
        assert (await store.get_app(conn, "website")).target_uptime == 99.5  # type: ignore[union-attr]
        await sync.apply(conn, catalog, source="c", actor=TEST_ACTOR, prune=True)
        assert (await store.get_app(conn, "p-care")).lifecycle == "retired"  # type: ignore[union-attr]
        assert (await store.get_app(conn, "website")).target_uptime == 98.0  # type: ignore[union-attr]
        assert (await sync.apply(conn, catalog, source="c", actor=TEST_ACTOR, prune=True)).empty
    finally:
        await conn.close()


async def test_errors_name_the_file_and_field_and_nothing_is_half_applied(
    fresh_db: str, tmp_path: Path
) -> None:
    bad = yaml.safe_load(yaml.safe_dump(CATALOG))
    bad["apps"][1]["target_uptime"] = 150
    with pytest.raises(sync.CatalogError) as err:
        sync.load_yaml(write(tmp_path, bad))
    assert "catalog.yaml" in str(err.value)
    assert "$.apps[1].target_uptime" in str(err.value)

    dangling = yaml.safe_load(yaml.safe_dump(CATALOG))
    dangling["apps"][2]["agency"] = "no-such-agency"
    catalog = sync.load_yaml(write(tmp_path, dangling))
    conn = await connect(fresh_db)
    try:
        with pytest.raises(sync.CatalogError) as err:
            await sync.apply(conn, catalog, source="catalog.yaml", actor=TEST_ACTOR)
        assert "$.apps[2].agency: unknown agency 'no-such-agency'" in str(err.value)
        assert await conn.fetchval("SELECT count(*) FROM agencies") == 0
    finally:
        await conn.close()


def test_plain_secrets_are_refused_in_specs(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(CATALOG))
    data["apps"][0]["checks"][0]["basic_auth"] = {"username": "u", "password": "hunter2"}
    with pytest.raises(sync.CatalogError) as err:
        sync.load_yaml(write(tmp_path, data))
    assert "unknown field `password`" in str(err.value)
    assert "$.apps[0].checks[0].basic_auth" in str(err.value)


CSV_OK = """id,name,agency,agency_name,managed_by,provider,category,url,owner_name,owner_email,owner_phone,target_uptime,tags,zones,check_url
simpeg,e-Kinerja/SIMPEG,bkpsdm,BKPSDM,self,,personnel,https://simpeg.kotimkab.go.id,Sari,sari@kotimkab.go.id,+62 811 111 111,99.5,personnel;core,dc,https://simpeg.kotimkab.go.id/login
srikandi,SRIKANDI,diskominfo,,central,ANRI,archive,https://srikandi.arsip.go.id,,,,98,,dc,
"""

CSV_BAD = """id,name,agency,managed_by,target_uptime,owner_email
ok-app,OK,diskominfo,self,99,
bad-one,Bad,diskominfo,outsourced,99,
bad-two,Bad 2,diskominfo,self,lots,
bad-three,Bad 3,diskominfo,self,99,not-an-email
"""


async def test_csv_import(seeded_db: str, tmp_path: Path) -> None:
    path = tmp_path / "apps.csv"
    path.write_text("\ufeff" + CSV_OK, encoding="utf-8")  # as Excel saves it
    catalog = spreadsheet.load_file(path)
    conn = await connect(seeded_db)
    try:
        diff = await sync.apply(conn, catalog, source=str(path), actor=TEST_ACTOR)
        assert "agency bkpsdm" in diff.created
        assert "app simpeg" in diff.created
        simpeg = await store.get_app(conn, "simpeg")
        assert simpeg is not None
        assert simpeg.owner.email == "sari@kotimkab.go.id"
        assert simpeg.tags == ["personnel", "core"]
        assert simpeg.checks[0].kind == "http"
        srikandi = await store.get_app(conn, "srikandi")
        assert srikandi is not None
        assert srikandi.provider == "ANRI"
        assert srikandi.checks == []
    finally:
        await conn.close()


def test_csv_import_reports_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "apps.csv"
    path.write_text(CSV_BAD, encoding="utf-8")
    with pytest.raises(sync.CatalogError) as err:
        spreadsheet.load_file(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}: row 3:")
    assert "column `managed_by`" in lines[0]
    assert "row 4:" in lines[1]
    assert "column `target_uptime`" in lines[1]
    assert "row 5:" in lines[2]
    assert "column `owner_email`" in lines[2]


async def test_rest_crud_and_filters(client: TestClient, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    resp = await client.get("/api/v1/apps", params={"agency": "dinkes"})
    assert [a["id"] for a in await resp.json()] == ["p-care", "simpus"]
    resp = await client.get("/api/v1/apps", params={"managed_by": "central"})
    assert [a["id"] for a in await resp.json()] == ["p-care"]
    resp = await client.get("/api/v1/apps", params={"q": "bpjs"})
    assert [a["id"] for a in await resp.json()] == ["p-care"]
    assert (await client.get("/api/v1/apps", params={"managed_by": "aliens"})).status == 400
    assert (await client.get("/api/v1/apps", params={"colour": "red"})).status == 400

    new = {
        "id": "sipd",
        "name": "SIPD",
        "agency": "setda",
        "managed_by": "central",
        "provider": "Kemendagri",
    }
    resp = await client.post("/api/v1/apps", json=new, headers=admin)
    assert resp.status == 201
    assert (await client.post("/api/v1/apps", json=new, headers=admin)).status == 409
    resp = await client.put(
        "/api/v1/apps/sipd", json={**new, "lifecycle": "deprecated"}, headers=admin
    )
    assert resp.status == 200
    assert (await (await client.get("/api/v1/apps/sipd")).json())["lifecycle"] == "deprecated"
    resp = await client.put("/api/v1/apps/other", json=new, headers=admin)
    assert resp.status == 400
    resp = await client.post(
        "/api/v1/apps", json={**new, "id": "x", "agency": "nowhere"}, headers=admin
    )
    assert resp.status == 400
    assert (await resp.json())["field"] == "$.agency"
    assert (await client.delete("/api/v1/apps/sipd", headers=admin)).status == 204
    assert (await client.get("/api/v1/apps/sipd")).status == 404
    # An agency with applications cannot be deleted.
    resp = await client.delete("/api/v1/agencies/dinkes", headers=admin)
    assert resp.status == 409
    resp = await client.post(
        "/api/v1/agencies", json={"id": "rsud", "name": "RSUD", "parent": "dinkes"}, headers=admin
    )
    assert resp.status == 201
    assert (await (await client.get("/api/v1/agencies/rsud")).json())["parent"] == "dinkes"
    resp = await client.post(
        "/api/v1/apps", data=b"{not json", headers={**admin, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad_request"


async def test_windows_made_through_the_api_survive_an_apply(
    client: TestClient, tokens: Tokens, seeded_db: str, tmp_path: Path
) -> None:
    """Regression (issue 9): `catalog apply` silently removed a window added through the API."""
    file_window = {"name": "weekly", "cron": "0 23 * * 0", "duration_minutes": 60}
    with_window = yaml.safe_load(yaml.safe_dump(CATALOG))
    with_window["apps"][0]["maintenance"] = [file_window]
    path = write(tmp_path, with_window)
    conn = await connect(seeded_db)
    try:
        await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        api_window = {"name": "db-upgrade", "start": "2030-01-05T22:00:00+07:00",
                      "end": "2030-01-06T01:00:00+07:00"}  # fmt: skip
        resp = await client.post(
            "/api/v1/apps/website/maintenance", json=api_window, headers=bearer(tokens.admin)
        )
        assert resp.status == 201, await resp.text()

        dry = await sync.apply(
            conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR, dry_run=True
        )
        assert dry.lines() == []  # nothing of the file changed: nothing to do
        assert dry.kept == ["app website: maintenance window db-upgrade (made through the API)"]
        await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        names = [w.name for w in (await store.get_app(conn, "website")).maintenance]  # type: ignore[union-attr]
        assert names == ["weekly", "db-upgrade"]

        # The file changes its own window: only that is said and done; the API's stays.
        file_window["duration_minutes"] = 90
        path = write(tmp_path, with_window)
        dry = await sync.apply(
            conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR, dry_run=True
        )
        assert dry.lines() == ["~ app website: maintenance window weekly"]
        await sync.apply(conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR)
        app = await store.get_app(conn, "website")
        assert app is not None
        assert [(w.name, w.duration_minutes) for w in app.maintenance] == [
            ("weekly", 90),
            ("db-upgrade", None),
        ]

        # --prune makes the file the whole truth, and says what it removes.
        dry = await sync.apply(
            conn,
            sync.load_yaml(path),
            source="catalog.yaml",
            actor=TEST_ACTOR,
            prune=True,
            dry_run=True,
        )
        assert "- app website: maintenance window db-upgrade (made through the API)" in dry.lines()
        await sync.apply(
            conn, sync.load_yaml(path), source="catalog.yaml", actor=TEST_ACTOR, prune=True
        )
        names = [w.name for w in (await store.get_app(conn, "website")).maintenance]  # type: ignore[union-attr]
        assert names == ["weekly"]
    finally:
        await conn.close()
