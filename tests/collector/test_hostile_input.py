"""Hostile text: NUL and other control characters, unbounded fields, forged log lines.

Every such input answers 400 (or 404) naming the field; nothing answers 500, and nothing a
client sends can start a new line in the log.
"""

from __future__ import annotations

import copy
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from collector.catalog import spreadsheet, sync
from collector.portal.views import FILTERS as PORTAL_FILTERS
from collector.web.app import ALL_ROUTES
from tests.collector.conftest import CATALOG, Tokens, bearer
from wire.catalog import App

HOSTILE = ("x\x00", "\x00", "x\ny", "x\x1b[31m", "x\ry")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _get_routes(client: TestClient) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """Every GET route the collector registers: (path template, path params, query params)."""
    queries = {r.path: r.query for r in ALL_ROUTES if r.method == "GET"}
    found = []
    for route in client.server.app.router.routes():  # type: ignore[union-attr]
        if route.method != "GET" or route.resource is None:
            continue
        template = route.resource.canonical
        params = re.findall(r"{(\w+)}", template)
        # Portal pages take the list's filters and `lang`; API routes the query their route names.
        query = queries.get(template, (*PORTAL_FILTERS, "lang"))
        found.append((template, params, (*query, "unknown")))  # one any route may be sent
    assert len(found) >= 15, found  # the walk really covers the route table
    return found


async def test_every_get_route_survives_control_characters_in_every_parameter(
    client: TestClient, tokens: Tokens
) -> None:
    checked = 0
    for template, params, query in _get_routes(client):
        for bad in HOSTILE:
            urls = []
            for p in params:
                path = template
                for other in params:
                    path = path.replace(f"{{{other}}}", _quote(bad) if other == p else "simpus")
                urls.append((path, "path"))
            base = template
            for p in params:
                base = base.replace(f"{{{p}}}", "simpus")
            urls += [(f"{base}?{q}={_quote(bad)}", f"query.{q}") for q in query]
            for url, field in urls:
                for headers in ({}, bearer(tokens.admin)):
                    resp = await client.get(url, headers=headers)
                    body = await resp.read()
                    assert resp.status in (400, 404), (url, resp.status, body[:300])
                    if resp.content_type == "application/json":
                        assert msgspec.json.decode(body)["field"] == field, (url, body)
                    else:
                        assert resp.content_type == "text/html", (url, resp.content_type)
                    checked += 1
    assert checked > 300


async def test_nul_in_the_examples_of_the_report(client: TestClient) -> None:
    for url, field in (
        ("/api/v1/apps?q=%00", "query.q"),
        ("/api/v1/apps/%00", "path"),
        ("/api/v1/apps/x%00/status", "path"),
        ("/api/v1/incidents?app=%00", "query.app"),
        ("/api/v1/agencies/%00", "path"),
        ("/api/v1/reports/monthly?agency=%00", "query.agency"),
        ("/api/v1/apps?%00=1", "query"),
    ):
        resp = await client.get(url)
        assert resp.status == 400, url
        body = await resp.json()
        assert body["field"] == field, (url, body)
        assert "control character" in body["message"]


async def test_portal_answers_a_page_for_control_characters(client: TestClient) -> None:
    for url in ("/apps/%00", "/agencies/a%0Ab", "/?q=%00", "/?lang=%00", "/apps/simpus?x=%1b"):
        resp = await client.get(url)
        assert resp.status == 400, url
        assert resp.content_type == "text/html"
        text = await resp.text()
        assert "<h1>" in text
        assert "\x00" not in text


# --- JSON bodies ---------------------------------------------------------------------------------


def _app(**changes: Any) -> dict[str, Any]:
    app = copy.deepcopy(CATALOG["apps"][0])  # type: ignore[index]
    app.update({"id": "newapp", **changes})
    return app


NUL_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/api/v1/apps", _app(name="SIM\x00PUS"), "$.name"),
    ("POST", "/api/v1/apps", _app(description="a\x00b"), "$.description"),
    ("POST", "/api/v1/apps", _app(provider="a\x00"), "$.provider"),
    ("POST", "/api/v1/apps", _app(url="https://a/\x00"), "$.url"),
    ("POST", "/api/v1/apps", _app(owner={"name": "Bu\x00di"}), "$.owner.name"),
    ("POST", "/api/v1/apps", _app(owner={"email": "bu\x00di@a.go.id"}), "$.owner.email"),
    ("POST", "/api/v1/apps", _app(tags=["ok", "b\x00d"]), "$.tags[1]"),
    (
        "POST",
        "/api/v1/apps",
        _app(checks=[{"type": "http", "url": "https://a/", "headers": {"X-A": "v\x00"}}]),
        "$.checks[0].headers",
    ),
    (
        "POST",
        "/api/v1/apps",
        _app(checks=[{"type": "http", "url": "https://a/", "headers": {"X-\x00": "v"}}]),
        "$.checks[0].headers",
    ),
    (
        "POST",
        "/api/v1/apps",
        _app(checks=[{"type": "http", "url": "https://a/", "headers": {"X-A": "v\r\nX-B: w"}}]),
        "$.checks[0].headers",
    ),
    ("POST", "/api/v1/agencies", {"id": "newag", "name": "Dinas\x00"}, "$.name"),
    ("POST", "/api/v1/agencies", {"id": "newag", "name": "D", "contact": "\x00"}, "$.contact"),
    ("PUT", "/api/v1/agencies/dinkes", {"id": "dinkes", "name": "a\nb"}, "$.name"),
    (
        "POST",
        "/api/v1/apps/simpus/maintenance",
        {
            "name": "upgrade",
            "title": "Upgrade\x00",
            "start": "2026-12-01T22:00:00+07:00",
            "end": "2026-12-01T23:00:00+07:00",
        },
        "$.title",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_BODIES)
async def test_control_characters_in_json_bodies_answer_400_naming_the_field(
    client: TestClient, tokens: Tokens, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    resp = await client.request(method, path, json=body, headers=bearer(tokens.admin))
    got = await resp.json()
    assert resp.status == 400, got
    assert got["field"] is not None
    assert got["field"].startswith(field), got
    if field in ("$.name", "$.description", "$.title"):  # said in words, not as a regex
        assert "without control characters" in got["message"], got


async def test_a_multi_line_description_is_still_fine(client: TestClient, tokens: Tokens) -> None:
    body = _app(description="Line one.\nLine two.\r\n\tIndented.")
    resp = await client.post("/api/v1/apps", json=body, headers=bearer(tokens.admin))
    assert resp.status == 201, await resp.text()


# --- bounds --------------------------------------------------------------------------------------

TOO_BIG: list[tuple[dict[str, Any], str]] = [
    (_app(tags=[f"t{i}" for i in range(51)]), "$.tags"),
    (_app(tags=["x" * 65]), "$.tags[0]"),
    (_app(name="x" * 201), "$.name"),
    (_app(description="x" * 2001), "$.description"),
    (_app(url="https://a/" + "x" * 2048), "$.url"),
    (_app(zones=[f"z{i}" for i in range(21)]), "$.zones"),
    (
        _app(checks=[{"type": "http", "url": "https://a/", "headers": {"X-A": "v" * 513}}]),
        "$.checks[0].headers",
    ),
    (
        _app(
            checks=[
                {"type": "http", "url": "https://a/", "headers": {f"X-{i}": "v" for i in range(11)}}
            ]
        ),
        "$.checks[0].headers",
    ),
    (
        _app(checks=[{"type": "tcp", "name": f"c{i}", "host": "h", "port": 1} for i in range(21)]),
        "$.checks",
    ),
    (
        _app(checks=[{"type": "http", "url": "https://a/", "expect_status": [200] * 21}]),
        "$.checks[0].expect_status",
    ),
    (
        _app(checks=[{"type": "dns", "hostname": "a", "expect_addresses": ["1.2.3.4"] * 17}]),
        "$.checks[0].expect_addresses",
    ),
    (
        _app(
            usage=[
                {
                    "metric": "m",
                    "kind": "gauge",
                    "source": {
                        "type": "prometheus",
                        "url": "https://a/",
                        "metric": "up",
                        "labels": {f"l{i}": "v" for i in range(17)},
                    },
                }
            ]
        ),
        "$.usage[0].source.labels",
    ),
    (
        _app(
            maintenance=[
                {"name": f"w{i}", "cron": "0 23 * * sun", "duration_minutes": 60} for i in range(51)
            ]
        ),
        "$.maintenance",
    ),
]


@pytest.mark.parametrize(("body", "field"), TOO_BIG)
async def test_fields_past_their_limit_answer_400_naming_the_field(
    client: TestClient, tokens: Tokens, body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/api/v1/apps", json=body, headers=bearer(tokens.admin))
    got = await resp.json()
    assert resp.status == 400, got
    assert got["field"] is not None
    assert got["field"].startswith(field), got


async def test_fields_at_their_limit_are_accepted(client: TestClient, tokens: Tokens) -> None:
    body = _app(
        name="n" * 200,
        description="d" * 2000,
        tags=[f"{i:02d}" + "t" * 62 for i in range(50)],
        checks=[
            {
                "type": "http",
                "url": "https://a/",
                "headers": {f"X-{i}": "v" * 512 for i in range(10)},
            }
        ],
    )
    resp = await client.post("/api/v1/apps", json=body, headers=bearer(tokens.admin))
    assert resp.status == 201, await resp.text()


# --- catalogue files refuse the same ----------------------------------------------------------


def test_catalog_yaml_refuses_nul_and_oversized_fields(tmp_path: Path) -> None:
    import yaml

    for changes, field in (
        ({"name": "a\x00"}, "$.apps[0].name"),
        ({"tags": ["t"] * 51}, "$.apps[0].tags"),
    ):
        data = copy.deepcopy(CATALOG)
        data["apps"][0].update(changes)  # type: ignore[index]
        path = tmp_path / "catalog.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        with pytest.raises(sync.CatalogError, match=re.escape(field)):
            sync.load_yaml(path)


def test_csv_import_refuses_nul_in_every_column_including_the_agency_name(tmp_path: Path) -> None:
    header = "id,name,agency,agency_name,managed_by,tags\n"
    for row, column in (
        ("simpus,SIM\x00PUS,dinkes,Dinas Kesehatan,self,a", "name"),
        ("simpus,SIMPUS,dinkes,Dinas\x00Kesehatan,self,a", "agency_name"),
        ("simpus,SIMPUS,dinkes,Dinas Kesehatan,self,a;b\x00", "tags"),
    ):
        path = tmp_path / "apps.csv"
        path.write_text(header + row + "\n", encoding="utf-8")
        with pytest.raises(sync.CatalogError, match=rf"row 2: .*column `{column}"):
            spreadsheet.load_file(path)


def test_the_wire_types_refuse_nul_alike() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.owner\.name"):
        msgspec.convert(
            {**_app(), "owner": {"name": "\x00"}},
            App,
        )


# --- the log --------------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The root logger writes through the programs' own formatter into a buffer."""
    from wire.files import LOG_FORMAT, LogFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(LogFormatter(LOG_FORMAT))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


FORGED = "x\n2026-11-30 10:00:00,000 CRITICAL pantau.collector: database wiped\x00\x1b[2J\u2028y"


async def test_a_hostile_path_cannot_forge_a_log_line(
    client: TestClient, log_lines: io.StringIO
) -> None:
    resp = await client.get(f"/api/v1/apps/{_quote(FORGED)}")
    assert resp.status == 400
    lines = log_lines.getvalue().splitlines()
    ours = [line for line in lines if "database wiped" in line]
    assert len(ours) == 1, lines  # the refusal is logged, on one line
    assert not any(line.startswith("2026-11-30 10:00:00,000 CRITICAL") for line in lines), lines
    line = ours[0]
    assert "x\\n2026-11-30" in line
    assert "\\x00" in line
    assert "\\x1b[2J" in line
    assert "\\u2028" in line
    assert not re.search(
        r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", log_lines.getvalue().replace("\n", "")
    )


def test_log_messages_are_escaped_but_tracebacks_stay_multi_line() -> None:
    from wire.files import LOG_FORMAT, LogFormatter

    formatter = LogFormatter(LOG_FORMAT)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "pantau.test",
            logging.ERROR,
            __file__,
            1,
            "bad %s",
            ("a\r\nb\x85c\x7f",),
            sys.exc_info(),
        )
    text = formatter.format(record)
    first, *rest = text.split("\n")
    assert first.endswith("bad a\\r\\nb\\x85c\\x7f")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


# --- query parameters found by fuzzing -------------------------------------------------------


async def test_a_time_that_leaves_the_calendar_in_utc_answers_400(client: TestClient) -> None:
    for name, value in (("to", "0001-01-01T00:00:00+14:00"), ("from", "9999-12-31T23:59:59-12:00")):
        resp = await client.get("/api/v1/incidents", params={name: value})
        body = await resp.json()
        assert resp.status == 400, body
        assert body["field"] == f"query.{name}"


async def test_bad_query_values_name_their_parameter(client: TestClient) -> None:
    for url, field in (
        ("/api/v1/apps?lifecycle=gone", "query.lifecycle"),
        ("/api/v1/apps?managed_by=x", "query.managed_by"),
        ("/api/v1/apps?colour=red", "query"),
        ("/api/v1/incidents?open=maybe", "query.open"),
        ("/api/v1/incidents?limit=x", "query.limit"),
        ("/api/v1/incidents?limit=0", "query.limit"),
        ("/api/v1/incidents?from=yesterday", "query.from"),
        ("/api/v1/reports/monthly?month=1999-01", "query.month"),
        ("/api/v1/reports/monthly?format=docx", "query.format"),
        ("/api/v1/reports/monthly?lang=fr", "query.lang"),
    ):
        resp = await client.get(url)
        body = await resp.json()
        assert resp.status == 400, (url, body)
        assert body["field"] == field, (url, body)


async def test_search_text_is_literal_not_a_like_pattern(client: TestClient) -> None:
    for q in ("%", "_", "p_care", "%BPJS"):
        resp = await client.get("/api/v1/apps", params={"q": q})
        assert resp.status == 200
        assert await resp.json() == [], q
    resp = await client.get("/api/v1/apps", params={"q": "p-care"})
    assert [a["id"] for a in await resp.json()] == ["p-care"]


def test_an_exception_message_cannot_forge_a_record_inside_a_traceback() -> None:
    import sys

    from wire.files import LOG_FORMAT, LogFormatter

    try:
        raise ValueError(FORGED)
    except ValueError:
        record = logging.LogRecord(
            "pantau.test", logging.ERROR, __file__, 1, "unhandled", (), sys.exc_info()
        )
    text = LogFormatter(LOG_FORMAT).format(record)
    lines = text.split("\n")
    assert lines[1] == "Traceback (most recent call last):"
    assert not any(line.startswith("2026-11-30 10:00:00,000 CRITICAL") for line in lines), text
    assert "    2026-11-30 10:00:00,000 CRITICAL pantau.collector: database wiped\\x00" in text
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", text)


def test_the_largest_possible_app_stays_under_half_a_megabyte() -> None:
    """Every list full and every field at its limit (docs/configuration.md, "Limits")."""
    # The app's agency's own secrets (PANTAU_SECRET_<AGENCY>_...), 128 characters in all.
    own_secret = "PANTAU_SECRET_" + "A" * 63 + "_"
    headers = {f"X-H{i:02d}-" + "a" * 121: "v" * 512 for i in range(10)}
    url = "https://a/" + "x" * 2038
    check = {
        "type": "http",
        "url": url,
        "headers": headers,
        "expect_status": [200] * 20,
        "body_contains": "b" * 1024,
        "body_regex": "r" * 1024,
        "json": {"path": "p" * 256, "value": "v" * 1024},
        "ca_file": "c" * 1024,
        "basic_auth": {"username": "u" * 256, "password_env": own_secret + "P" * 50},
        "bearer_token_env": own_secret + "B" * 50,
    }
    source = {"type": "json", "url": url, "path": "p" * 256, "headers": headers}
    app = {
        "id": "a" * 63,
        "name": "n" * 200,
        "agency": "a" * 63,
        "managed_by": "self",
        "provider": "p" * 200,
        "category": "c" * 63,
        "url": "u" * 2048,
        "description": "d" * 2000,
        "owner": {"name": "n" * 200, "email": "e" * 245 + "@a.go.id", "phone": "1" * 32},
        "tags": [f"{i:02d}" + "t" * 62 for i in range(50)],
        "zones": [f"z{i:02d}" + "z" * 60 for i in range(20)],
        "checks": [{**check, "name": f"c{i:02d}" + "n" * 60} for i in range(20)],
        "usage": [
            {"metric": f"m{i:02d}" + "m" * 60, "kind": "gauge", "source": source}
            for i in range(10)
        ],
        "maintenance": [
            {"name": f"w{i:02d}" + "w" * 60, "title": "t" * 200, "cron": "0 23 * * sun",
             "duration_minutes": 60, "timezone": "Asia/Jakarta"}
            for i in range(50)
        ],
    }  # fmt: skip
    size = len(msgspec.json.encode(msgspec.convert(app, App)))
    assert 300_000 < size < 512 * 1024, size


async def test_a_row_stored_before_the_limits_does_not_blind_the_zone(
    client: TestClient, tokens: Tokens, seeded_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An app written before these limits (here: 12 headers) still loads everywhere; the spec
    past a limit is skipped with a warning (collector/catalog/store.py), so the probes, which
    validate what they receive, still get the zone's whole list."""
    import asyncpg

    from collector.audit import acting
    from tests.collector.conftest import TEST_ACTOR
    from wire.messages import TargetList

    headers = {f"X-{i}": "v" for i in range(12)}
    checks = [{"type": "http", "url": "https://old/", "headers": headers}]
    conn = await asyncpg.connect(seeded_db)
    try:
        async with acting(conn, TEST_ACTOR):
            await conn.execute(
                "INSERT INTO apps (id, name, agency_id, managed_by, lifecycle, zones, checks) VALUES"
                " ('legacy', 'Legacy', 'dinkes', 'self', 'active', '{dinkes-lan}', $1::jsonb)",
                msgspec.json.encode(checks).decode(),
            )
        await conn.execute("UPDATE catalog_version SET version = version + 1")
    finally:
        await conn.close()
    with caplog.at_level(logging.WARNING):
        resp = await client.get("/api/v1/apps/legacy")
        assert resp.status == 200  # readable, so it can be fixed with a PUT
        assert (await resp.json())["checks"] == []
        resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dinkes))
        assert resp.status == 200
        targets = msgspec.json.decode(await resp.read(), type=TargetList)  # as the probe does
    by_app = {t.app: t for t in targets.targets}
    assert sorted(by_app) == ["legacy", "simpus"]
    assert by_app["legacy"].checks == []
    assert any(
        "legacy" in r.getMessage() and "checks[0]" in r.getMessage() and "headers" in r.getMessage()
        for r in caplog.records
    ), caplog.records
    # Everything else still reads it, and a PUT within the limits fixes it.
    listed = await (await client.get("/api/v1/apps")).json()
    assert "legacy" in [a["id"] for a in listed]
    assert (await client.get("/apps/legacy")).status == 200
    fixed = {
        "id": "legacy",
        "name": "Legacy",
        "agency": "dinkes",
        "managed_by": "self",
        "zones": ["dinkes-lan"],
        "checks": [{"type": "http", "url": "https://old/", "headers": {"X-0": "v"}}],
    }
    resp = await client.put("/api/v1/apps/legacy", json=fixed, headers=bearer(tokens.admin))
    assert resp.status == 200, await resp.text()
    resp = await client.get("/api/v1/probe/targets", headers=bearer(tokens.probe_dinkes))
    targets = msgspec.json.decode(await resp.read(), type=TargetList)
    assert sorted(t.app for t in targets.targets) == ["legacy", "simpus"]
