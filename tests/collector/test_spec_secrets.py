"""The collector refuses, at write time, specs that would steal or store secrets (issue 8).

The rules live in wire/specs.py, so the API, `catalog apply` and the CSV import answer alike:
400 (or a CatalogError), naming the field and saying why; nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
import yaml
from aiohttp.test_utils import TestClient

from collector import db
from collector.audit import Actor, acting
from collector.catalog import spreadsheet, store, sync
from tests.collector.conftest import TEST_ACTOR, Tokens, bearer
from wire.catalog import Catalog
from wire.specs import HttpCheck, JsonSource, SqlSource, TcpCheck, overlapping_namespace

APP = {
    "id": "sikda",
    "name": "SIKDA",
    "agency": "dinkes",
    "managed_by": "self",
    "zones": ["dinkes-lan"],
}
URL = "http://sikda.dinkes.lan/"


def http(**fields: Any) -> dict[str, Any]:
    return {"checks": [{"type": "http", "url": URL, **fields}]}


def sql(query: str, dsn_env: str = "PANTAU_SECRET_DINKES_SIKDA_DSN") -> dict[str, Any]:
    source = {"type": "sql", "driver": "postgresql", "dsn_env": dsn_env, "query": query}
    return {"usage": [{"metric": "visits", "kind": "counter", "source": source}]}


def json_source(**fields: Any) -> dict[str, Any]:
    source = {"type": "json", "url": URL, "path": "n", **fields}
    return {"usage": [{"metric": "visits", "kind": "gauge", "source": source}]}


# (what the app carries, words the 400 must say, the field it must name)
REFUSED = [
    # The probe's own variables, and anything outside the documented pattern.
    (http(bearer_token_env="PANTAU_PROBE_TOKEN"), "'PANTAU_PROBE_TOKEN' is not a catalogue secret", "$.checks[0]"),
    (http(basic_auth={"username": "u", "password_env": "DATABASE_URL"}), "password_env: 'DATABASE_URL'", "$.checks[0].basic_auth"),
    (sql("SELECT 1", dsn_env="DATABASE_URL"), "dsn_env: 'DATABASE_URL'", "$.usage[0].source"),
    (json_source(bearer_token_env="HOME"), "bearer_token_env: 'HOME'", "$.usage[0].source"),
    (http(headers_env={"X-Api-Key": "SIKDA_KEY"}), "headers_env.X-Api-Key: 'SIKDA_KEY'", "$.checks[0]"),
    (http(bearer_token_env="PANTAU_SECRET_lower"), "PANTAU_SECRET_[A-Z0-9_]+", "$.checks[0]"),
    # Secrets in query strings and headers would be readable by every reader of the catalogue.
    (http(url=f"{URL}?api_key=abc123"), "query parameter 'api_key'", "$.checks[0]"),
    (http(url=f"{URL}status?x=1&Signature=zz&sig=1"), "query parameter 'Signature'", "$.checks[0]"),
    (http(url=f"{URL}?sig=zz"), "query parameter 'sig'", "$.checks[0]"),
    (http(url=f"{URL}?access_token=zz"), "query parameter 'access_token'", "$.checks[0]"),
    (http(headers={"X-Signature": "abc"}), "headers: 'X-Signature'", "$.checks[0]"),
    (http(headers={"X-Api-Key": "abc"}), "headers: 'X-Api-Key'", "$.checks[0]"),
    (http(headers={"X-Auth-Token": "abc"}), "headers: 'X-Auth-Token'", "$.checks[0]"),
    (http(headers={"Cookie": "s=1"}), "headers: 'Cookie'", "$.checks[0]"),
    (http(headers={"Authorization": "Bearer s3cret"}), "headers: 'Authorization'", "$.checks[0]"),
    (http(url=f"{URL}?Authorization=x"), "query parameter 'Authorization'", "$.checks[0]"),
    (json_source(headers={"X-Credential": "abc"}), "headers: 'X-Credential'", "$.usage[0].source"),
    (json_source(url=f"{URL}?password=x"), "query parameter 'password'", "$.usage[0].source"),
    (http(headers_env={"Authorization": "PANTAU_SECRET_A"}), "headers_env: 'Authorization'", "$.checks[0]"),
    # SQL: one read-only SELECT, and no catalogue of passwords.
    (sql("DELETE FROM visits RETURNING 1"), "must be a single SELECT", "$.usage[0].source"),
    (sql("SELECT usename, passwd FROM pg_shadow"), "'pg_shadow' is refused", "$.usage[0].source"),
    (sql('SELECT count(*) FROM pg_catalog."pg_authid"'), "'pg_authid' is refused", "$.usage[0].source"),
    (sql("SELECT count(*) FROM `mysql`.`user`"), "'mysql.user' is refused", "$.usage[0].source"),
    (sql("SELECT 1; DELETE FROM visits"), "one statement only", "$.usage[0].source"),
    (sql("WITH d AS (DELETE FROM visits RETURNING 1) SELECT count(*) FROM d"), "'DELETE' is refused", "$.usage[0].source"),
    (sql("SELECT count(*) INTO copy_of_visits FROM visits"), "'INTO' is refused", "$.usage[0].source"),
    (sql("SELECT id FROM visits FOR UPDATE"), "'UPDATE' is refused", "$.usage[0].source"),
    (sql("update visits set n = 0"), "must be a single SELECT", "$.usage[0].source"),
    (sql("/*!50000 DELETE FROM visits */ SELECT 1"), "must be a single SELECT", "$.usage[0].source"),
    (sql("SELECT pg_read_file('/etc/passwd')::int"), "'pg_read_file' is refused", "$.usage[0].source"),
    # Dynamic SQL: a query given as text (or a relation by name) assembles a refused name.
    (sql("SELECT ascii(substr(query_to_xml('select passwd from pg_' || 'shadow',true,false,'')::text,1,1))"), "'query_to_xml' is refused", "$.usage[0].source"),
    (sql("SELECT length(table_to_xml(('pg_'||'authid')::regclass, true, false, '')::text)"), "'table_to_xml' is refused", "$.usage[0].source"),
    (sql("SELECT count(*) FROM ts_stat('select to_tsvector(rolpassword) from pg_' || 'authid')"), "'ts_stat' is refused", "$.usage[0].source"),
    (sql("SELECT length(query_to_xml('select pg_read' || '_file(''/etc/passwd'')',true,false,'')::text)"), "'query_to_xml' is refused", "$.usage[0].source"),
    (sql("SELECT count(*) FROM ts_rewrite('a'::tsquery, 'select 1')"), "'ts_rewrite' is refused", "$.usage[0].source"),
    (sql("SELECT length(query_to_xml_and_xmlschema('select 1', true, false, '')::text)"), "is refused", "$.usage[0].source"),
    (sql("SELECT length(cursor_to_xml('c', 1, true, false, '')::text)"), "'cursor_to_xml' is refused", "$.usage[0].source"),
    (sql("SELECT length(schema_to_xml('public', true, false, '')::text)"), "'schema_to_xml' is refused", "$.usage[0].source"),
    (sql("SELECT length(database_to_xmlschema(true, false, '')::text)"), "'database_to_xmlschema' is refused", "$.usage[0].source"),
    (sql("SELECT to_regclass('pg_' || 'authid')::oid::int"), "'to_regclass' is refused", "$.usage[0].source"),
    (sql("SELECT length(pg_read_binary_file('/etc/passwd'))"), "'pg_read_binary_file' is refused", "$.usage[0].source"),
    (sql("SELECT (pg_stat_file('/etc/passwd')).size"), "'pg_stat_file' is refused", "$.usage[0].source"),
    (sql("SELECT lo_from_bytea(0, 'x')"), "'lo_from_bytea' is refused", "$.usage[0].source"),
    (sql("SELECT count(*) FROM dblink('host=x', 'select 1') AS t(n int)"), "'dblink' is refused", "$.usage[0].source"),
    (sql("SELECT LENGTH(LOAD_FILE('/etc/passwd'))"), "'LOAD_FILE' is refused", "$.usage[0].source"),
    (sql("SELECT BENCHMARK(100000000, MD5('x'))"), "'BENCHMARK' is refused", "$.usage[0].source"),
    (sql("SELECT pg_sleep(60)"), "'pg_sleep' is refused", "$.usage[0].source"),
    (sql("SELECT SLEEP (60)"), "'SLEEP' is refused", "$.usage[0].source"),
    (sql('SELECT length("query_to_xml"(\'select 1\', true, false, \'\')::text)'), "'query_to_xml' is refused", "$.usage[0].source"),
    # Many comments and no end: a naive comment pattern backtracks for hours on this.
    (sql("/*a*/ " * 600 + "/*"), "must be a single SELECT", "$.usage[0].source"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "words", "field"), REFUSED)
async def test_api_refuses(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    extra: dict[str, Any],
    words: str,
    field: str,
) -> None:
    for token in (tokens.admin, tokens.dinkes):
        resp = await client.post("/api/v1/apps", json={**APP, **extra}, headers=bearer(token))
        assert resp.status == 400
        body = await resp.json()
        assert words in body["message"]
        assert body["field"] == field
    resp = await client.get("/api/v1/apps/sikda", headers=bearer(tokens.admin))
    assert resp.status == 404  # nothing stored


ACCEPTED = [
    http(bearer_token_env="PANTAU_SECRET_DINKES_SIKDA_TOKEN"),
    http(
        headers_env={"X-Api-Key": "PANTAU_SECRET_DINKES_SIKDA_KEY"}, headers={"Accept": "text/html"}
    ),
    http(url=f"{URL}search?keyword=x&author=y&authors=z&author_id=1&page=2"),
    json_source(headers_env={"X-Signature": "PANTAU_SECRET_DINKES_SIKDA_SIG"}),
    sql("SELECT count(*) FROM visits WHERE created_at > now() - interval '1 day'"),
    sql("-- visits today\nWITH v AS (SELECT 1 AS n FROM visits) SELECT count(*) FROM v;"),
    sql("(SELECT count(*) FROM updates_log)"),
    sql("SELECT count(*) FROM sleep_log WHERE xml_export IS NULL AND profile_id > 0"),
]


@pytest.mark.parametrize("extra", ACCEPTED)
async def test_api_accepts(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    extra: dict[str, Any],
) -> None:
    resp = await client.post("/api/v1/apps", json={**APP, **extra}, headers=bearer(tokens.dinkes))
    assert resp.status == 201, await resp.text()
    stored = await (await client.get("/api/v1/apps/sikda", headers=bearer(tokens.admin))).json()
    assert stored["checks"] == extra.get("checks", [])
    assert stored["usage"] == extra.get("usage", [])


# An app of agency dinkes names only PANTAU_SECRET_DINKES_... (the agency id upper-cased).
FOREIGN = [
    (http(bearer_token_env="PANTAU_SECRET_SIMPUS_DSN"), "checks[0].bearer_token_env: 'PANTAU_SECRET_SIMPUS_DSN'"),
    (http(bearer_token_env="PANTAU_SECRET_DISKOMINFO_WEB_TOKEN"), "checks[0].bearer_token_env"),
    (http(basic_auth={"username": "u", "password_env": "PANTAU_SECRET_SETDA_PW"}), "checks[0].basic_auth.password_env"),
    (http(headers_env={"X-Api-Key": "PANTAU_SECRET_SETDA_KEY"}), "checks[0].headers_env.X-Api-Key"),
    (sql("SELECT 1", dsn_env="PANTAU_SECRET_SIMPUS_DSN"), "usage[0].source.dsn_env"),
    (json_source(bearer_token_env="PANTAU_SECRET_DINKESX_T"), "usage[0].source.bearer_token_env"),
    (json_source(bearer_token_env="PANTAU_SECRET_DINKES_"), "usage[0].source.bearer_token_env"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "words"), FOREIGN)
async def test_api_refuses_another_agencys_secret(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    extra: dict[str, Any],
    words: str,
) -> None:
    for token in (tokens.admin, tokens.dinkes):
        resp = await client.post("/api/v1/apps", json={**APP, **extra}, headers=bearer(token))
        assert resp.status == 400
        body = await resp.json()
        assert words in body["message"]
        assert "must" in body["message"] or "may only name" in body["message"]
        assert "PANTAU_SECRET_DINKES_" in body["message"]  # the prefix it may use
    resp = await client.get("/api/v1/apps/sikda", headers=bearer(tokens.admin))
    assert resp.status == 404  # nothing stored


async def test_moving_an_app_to_another_agency_needs_that_agencys_secrets(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    app = {**APP, **http(bearer_token_env="PANTAU_SECRET_DINKES_SIKDA_TOKEN")}
    resp = await client.post("/api/v1/apps", json=app, headers=bearer(tokens.admin))
    assert resp.status == 201
    moved = {**app, "agency": "diskominfo"}
    resp = await client.put("/api/v1/apps/sikda", json=moved, headers=bearer(tokens.admin))
    assert resp.status == 400
    assert "PANTAU_SECRET_DISKOMINFO_" in (await resp.json())["message"]


def test_catalog_apply_refuses_another_agencys_secret(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    app = {**APP, "agency": "dinas-pu", **sql("SELECT 1", dsn_env="PANTAU_SECRET_DINKES_DSN")}
    path.write_text(yaml.safe_dump({"apps": [app]}), encoding="utf-8")
    with pytest.raises(sync.CatalogError) as err:
        sync.load_yaml(path)
    assert "$.apps[0]" in str(err.value)
    assert "usage[0].source.dsn_env: 'PANTAU_SECRET_DINKES_DSN'" in str(err.value)
    assert "PANTAU_SECRET_DINAS_PU_" in str(err.value)  # `-` becomes `_`


def test_catalog_apply_refuses(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    app = {**APP, **http(bearer_token_env="PANTAU_PROBE_TOKEN")}
    path.write_text(yaml.safe_dump({"apps": [app]}), encoding="utf-8")
    with pytest.raises(sync.CatalogError) as err:
        sync.load_yaml(path)
    assert "PANTAU_PROBE_TOKEN" in str(err.value)
    assert "$.apps[0].checks[0]" in str(err.value)


def test_csv_import_refuses_a_secret_in_the_check_url(tmp_path: Path) -> None:
    path = tmp_path / "apps.csv"
    path.write_text(
        "id,name,agency,managed_by,check_url\n"
        "sikda,SIKDA,dinkes,self,https://sikda.dinkes.lan/health?api_key=abc123\n",
        encoding="utf-8",
    )
    with pytest.raises(sync.CatalogError) as err:
        spreadsheet.load_file(path)
    assert "row 2" in str(err.value)
    assert "query parameter 'api_key'" in str(err.value)
    assert "abc123" not in str(err.value)


# --- specs stored before these rules ----------------------------------------------------------

OLD_CHECKS = [
    {"type": "http", "url": URL, "bearer_token_env": "PANTAU_PROBE_TOKEN"},
    {"type": "http", "url": URL, "name": "login",
     "basic_auth": {"username": "u", "password_env": "sikda-pw"}},
    {"type": "tcp", "host": "10.0.0.5", "port": 443},
    {"type": "http", "url": URL, "name": "keyed",
     "headers_env": {"X-Api-Key": "PANTAU_SECRET_DINKES_KEY", "X-Sig": "sikda_sig"}},
]  # fmt: skip
OLD_USAGE = [
    {"metric": "visits", "kind": "counter",
     "source": {"type": "sql", "driver": "mysql", "dsn_env": "SIKDA_DSN",
                "query": "SELECT count(*) FROM visits"}},
    {"metric": "logins", "kind": "counter",
     "source": {"type": "json", "url": URL, "path": "n",
                "bearer_token_env": "PANTAU_SECRET_SIKDA_TOKEN"}},
]  # fmt: skip


async def insert_raw_app(url: str, *, checks: list[Any], usage: list[Any]) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with acting(conn, TEST_ACTOR):
            await conn.execute(
                "INSERT INTO apps (id, name, agency_id, managed_by, lifecycle, zones, checks,"
                " usage) VALUES ('sikda', 'SIKDA', 'dinkes', 'self', 'active', '{dc}', $1::jsonb,"
                " $2::jsonb)",
                json.dumps(checks),
                json.dumps(usage),
            )
    finally:
        await conn.close()


async def test_migration_renames_stored_env_names(seeded_db: str) -> None:
    await insert_raw_app(seeded_db, checks=OLD_CHECKS, usage=OLD_USAGE)
    (sql_text,) = [text for version, _, text in db.migration_files() if version == 7]
    conn = await asyncpg.connect(seeded_db)
    try:
        before = await conn.fetchval("SELECT version FROM catalog_version")
        async with acting(conn, Actor.system("0007_secret_env_names.sql", via="migration")):
            await conn.execute(sql_text)  # as `migrate` ran it (the database is already at 7)
        assert await conn.fetchval("SELECT version FROM catalog_version") == before + 1
        app = await store.get_app(conn, "sikda")
    finally:
        await conn.close()
    assert app is not None
    http_check, login, tcp, keyed = app.checks
    assert isinstance(http_check, HttpCheck)
    assert isinstance(login, HttpCheck)
    # Every name in the app's agency's namespace: PANTAU_SECRET_<AGENCY>_<NAME>, a name that
    # had the prefix keeps its rest, a name already in the namespace is left alone.
    assert http_check.bearer_token_env == "PANTAU_SECRET_DINKES_PANTAU_PROBE_TOKEN"
    assert login.basic_auth is not None
    assert login.basic_auth.password_env == "PANTAU_SECRET_DINKES_SIKDA_PW"
    assert isinstance(tcp, TcpCheck)
    assert isinstance(keyed, HttpCheck)
    assert keyed.headers_env == {
        "X-Api-Key": "PANTAU_SECRET_DINKES_KEY",
        "X-Sig": "PANTAU_SECRET_DINKES_SIKDA_SIG",
    }
    dsn, token = (u.source for u in app.usage)
    assert isinstance(dsn, SqlSource)
    assert isinstance(token, JsonSource)
    assert dsn.dsn_env == "PANTAU_SECRET_DINKES_SIKDA_DSN"
    assert token.bearer_token_env == "PANTAU_SECRET_DINKES_SIKDA_TOKEN"


async def test_stored_specs_the_rules_now_refuse_are_skipped(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    seeded_db: str,
) -> None:
    checks = [
        {"type": "http", "url": f"{URL}?api_key=abc123"},
        {"type": "http", "url": URL, "name": "signed", "headers": {"X-Signature": "s3cr3t"}},
        {"type": "tcp", "host": "10.0.0.5", "port": 443},
    ]
    usage = [
        {"metric": "visits", "kind": "counter",
         "source": {"type": "sql", "driver": "postgresql", "dsn_env": "PANTAU_SECRET_DINKES_D",
                    "query": "DELETE FROM visits RETURNING 1"}},
    ]  # fmt: skip
    await insert_raw_app(seeded_db, checks=checks, usage=usage)
    resp = await client.get("/api/v1/apps/sikda", headers=bearer(tokens.admin))
    assert resp.status == 200
    body = await resp.text()
    assert "abc123" not in body
    assert "s3cr3t" not in body
    app = json.loads(body)
    assert app["checks"] == [checks[2]]
    assert app["usage"] == []
    resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dc))
    assert resp.status == 200
    assert "abc123" not in await resp.text()


# Namespaces are prefixes: a new agency whose namespace nests with another's is refused.
@pytest.mark.parametrize("new_id", ["dinkes-kota", "dinkes_kota", "dinkes-"])
async def test_a_new_agency_cannot_share_another_agencys_namespace(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
    new_id: str,
) -> None:
    agency = {"id": new_id, "name": "Dinas Kesehatan Kota"}
    for send in (
        client.post("/api/v1/agencies", json=agency, headers=bearer(tokens.admin)),
        client.put(f"/api/v1/agencies/{new_id}", json=agency, headers=bearer(tokens.admin)),
    ):
        resp = await send
        assert resp.status == 400
        body = await resp.json()
        assert body["field"] == "$.id"
        assert "'dinkes'" in body["message"]
    resp = await client.post(
        "/api/v1/agencies", json={"id": "dinkeskota", "name": "X"}, headers=bearer(tokens.admin)
    )  # PANTAU_SECRET_DINKESKOTA_ does not nest with PANTAU_SECRET_DINKES_
    assert resp.status == 201


async def test_catalog_apply_refuses_a_new_agency_in_another_agencys_namespace(
    seeded_db: str,
) -> None:
    catalog = msgspec.convert(
        {"agencies": [{"id": "dinkes", "name": "Dinas Kesehatan"},  # stored: may stay
                      {"id": "dinkes-kota", "name": "Dinkes Kota"}]},
        Catalog,
    )  # fmt: skip
    conn = await asyncpg.connect(seeded_db)
    try:
        with pytest.raises(sync.CatalogError) as err:
            await sync.apply(conn, catalog, source="c.yaml", actor=TEST_ACTOR)
    finally:
        await conn.close()
    assert "c.yaml: $.agencies[1].id: agency id 'dinkes-kota'" in str(err.value)
    assert "PANTAU_SECRET_DINKES_" in str(err.value)
    assert overlapping_namespace("dinkes", ["setda", "dinkes-kota"]) == "dinkes-kota"
    assert overlapping_namespace("dinkes", ["dinkeskota", "dinkes"]) is None
