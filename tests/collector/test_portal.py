"""The portal at `/`: plain HTTP (status, escaping, filters, languages) and real Chromium.

The database is the synthetic month (last month) plus, pushed through the real ingest path,
a few hours of fresh results (so that every state shows now: up, down with an open incident,
degraded, maintenance, unknown) and two weeks of usage, evaluated and rolled up like the
collector does. One app is called `<script>alert(1)</script>` and carries markup in every field.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page

from collector.config import CollectorConfig
from collector.labels import metric_name, reason_name, state_name
from collector.portal.data import Availability, HourRow
from collector.portal.page import safe_href
from collector.review.rollup import rollup
from collector.templating import environment
from collector.web import keys
from collector.web.app import make_app
from tests.browser import PageLog, open_page
from tests.collector.catalogue_misses import recording_misses
from tests.collector.conftest import bearer, collector_config
from tests.live import apply_catalog, fetch, probe_token

XSS_NAME = "<script>alert(1)</script>"
XSS_PROVIDER = '"><img src=x onerror=alert(2)>'
XSS_URL = "javascript:alert(3)"
XSS_DESCRIPTION = "</script><script>alert(4)</script> & <b>bold</b>"
SETTINGS = CollectorConfig().state_settings()

# What the fixture makes of each app now.
EXPECTED_STATES = {
    "website": "up",  # diskominfo (from the synthetic month), fresh results all fine
    "jdih": "down",  # setda: failing for the last minutes -> an open incident
    "sipd": "unknown",  # setda, central: no checks
    "simpeg": "unknown",  # setda (from the synthetic month): no results since last month
    "e-office": "maintenance",  # setda: inside a maintenance window
    "xss": "degraded",  # dinkes, vendor: answers too slowly
    "simpus": "up",  # dinkes
    "p-care": "unknown",  # dinkes, central: no checks
}
BY_AGENCY = {
    "diskominfo": {"website"},
    "setda": {"jdih", "sipd", "simpeg", "e-office"},
    "dinkes": {"xss", "simpus", "p-care"},
}

# The probe of zone dc pulls these (probe tokens send only usage their app pulls).
PULLED = {"type": "json", "url": "http://127.0.0.1:9/stats", "path": "n"}


def extra_catalog(now: dt.datetime) -> dict[str, object]:
    # Checks every 5 minutes: the results stay fresh for 15, however long Chromium takes to start.
    window = {"name": "upgrade", "start": (now - dt.timedelta(hours=1)).isoformat(),
              "end": (now + dt.timedelta(hours=3)).isoformat()}  # fmt: skip
    return {
        "agencies": [
            {"id": "dinkes", "name": "Dinas Kesehatan", "contact": "dinkes@kotimkab.go.id"}
        ],
        "apps": [
            {
                "id": "xss", "name": XSS_NAME, "agency": "dinkes", "managed_by": "vendor",
                "provider": XSS_PROVIDER, "category": "health", "url": XSS_URL,
                "description": XSS_DESCRIPTION, "tags": ["<i>tag</i>"],
                "owner": {"name": "<b>Owner</b>", "email": "owner@kotimkab.go.id"},
                "zones": ["dc"],
                "checks": [{"type": "http", "url": "http://127.0.0.1:9/", "max_latency_seconds": 1,
                            "interval_seconds": 300}],
            },
            {
                "id": "simpus", "name": "SIMPUS", "agency": "dinkes", "managed_by": "self",
                "category": "health", "url": "https://simpus.kotimkab.go.id",
                "description": "Sistem informasi puskesmas", "tags": ["puskesmas"],
                "owner": {"name": "Sari", "email": "sari@kotimkab.go.id", "phone": "+62 812 0000 0002"},
                "zones": ["dc"], "checks": [{"type": "http", "url": "http://127.0.0.1:9/", "interval_seconds": 300}],
                "usage": [{"metric": "visits", "kind": "counter", "source": PULLED}],
            },
            {
                "id": "p-care", "name": "P-Care BPJS", "agency": "dinkes", "managed_by": "central",
                "provider": "BPJS Kesehatan", "category": "health", "zones": ["dc"],
            },
            {
                "id": "e-office", "name": "e-Office", "agency": "setda", "managed_by": "self",
                "category": "office", "zones": ["dc"], "maintenance": [window],
                "checks": [{"type": "http", "url": "http://127.0.0.1:9/", "interval_seconds": 300}],
            },
        ],
    }  # fmt: skip


def fresh_results(now: float) -> list[dict[str, object]]:
    """Three hours, a result a minute per app; jdih fails for the last five minutes."""
    items: list[dict[str, object]] = []
    for k in range(180, 0, -1):
        ts = now - k * 60
        for app in ("website", "simpus", "e-office", "jdih", "xss"):
            ok = not (app == "xss" or (app == "jdih" and k <= 5))
            item: dict[str, object] = {"app": app, "check": "http", "kind": "http", "ts": ts,
                                       "ok": ok, "duration_seconds": 2.5 if app == "xss" else 0.2,
                                       "status_code": 503 if app == "jdih" and not ok else 200}  # fmt: skip
            if not ok:
                item["reason"] = "latency" if app == "xss" else "status"
            items.append(item)
    return items


def fresh_usage(now: float, visits: float) -> list[dict[str, object]]:
    """Two weeks of hourly usage: website's visits (going on from `visits`) grow by day, its
    active users by hour."""
    items: list[dict[str, object]] = []
    simpus = 1000.0
    for k in range(14 * 24, 0, -1):
        ts = now - k * 3600
        day = k // 24
        visits += 40 + 6 * (day % 7)
        simpus += 3 if day % 2 else 5
        hour = dt.datetime.fromtimestamp(ts, dt.UTC).hour
        items += [
            {"app": "website", "metric": "visits", "kind": "counter", "ts": ts, "value": visits},
            {"app": "website", "metric": "active-users", "kind": "gauge", "ts": ts,
             "value": float(20 + (hour * 7) % 30)},
            {"app": "simpus", "metric": "visits", "kind": "counter", "ts": ts, "value": simpus},
        ]  # fmt: skip
    return items


@dataclass(frozen=True)
class Portal:
    client: TestClient  # type: ignore[type-arg]
    dsn: str

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))


@pytest.fixture(scope="module")
async def portal(month_db: str) -> AsyncIterator[Portal]:
    now = time.time()
    await apply_catalog(month_db, extra_catalog(dt.datetime.fromtimestamp(now, dt.UTC)))
    token = await probe_token(month_db, "dc")
    (latest,) = await fetch(
        month_db, "SELECT value FROM usage_latest WHERE app_id = 'website' AND metric = 'visits'"
    )
    app = make_app(collector_config(), dsn=month_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        results, usage = fresh_results(now), fresh_usage(now, latest["value"])
        for i in range(0, max(len(results), len(usage)), 1500):
            body = {"probe": "probe-dc-1", "batch_id": uuid.uuid4().hex,
                    "results": results[i:i + 1500], "usage": usage[i:i + 1500]}  # fmt: skip
            resp = await client.post("/api/v1/results", json=body, headers=bearer(token))
            assert resp.status == 200, await resp.text()
        while await app[keys.EVALUATOR].run_once() == -1:  # the background round holds the lock
            pass
        async with app[keys.POOL].acquire() as conn:
            await rollup(conn, settings=SETTINGS)
        yield Portal(client=client, dsn=month_db)


class Rows(HTMLParser):
    """The list's rows: every app id, and those shown (not hidden, nor in a hidden group)."""

    def __init__(self) -> None:
        super().__init__()
        self.all: list[str] = []
        self.shown: list[str] = []
        self._group_hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tbody":
            self._group_hidden = "hidden" in a
        if tag == "tr" and "data-app" in a:
            app = a["data-app"] or ""
            self.all.append(app)
            if "hidden" not in a and not self._group_hidden:
                self.shown.append(app)


def rows_of(html: str) -> Rows:
    parser = Rows()
    parser.feed(html)
    return parser


async def get_html(portal: Portal, path: str, status: int = 200) -> str:
    resp = await portal.client.get(path)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "text/html"
    return await resp.text()


# --- plain HTTP -----------------------------------------------------------------------------------


async def test_list_shows_every_app_grouped_by_agency_with_state_and_links(portal: Portal) -> None:
    html = await get_html(portal, "/")
    rows = rows_of(html)
    assert sorted(rows.all) == sorted(EXPECTED_STATES)
    assert rows.shown == rows.all
    for agency, apps in BY_AGENCY.items():
        group = html.split(f'<tbody class="agency" data-agency="{agency}"', 1)[1].split("</tbody>")[
            0
        ]
        assert {a for a in EXPECTED_STATES if f'data-app="{a}"' in group} == apps
    for app, state in EXPECTED_STATES.items():
        assert f'data-app="{app}" data-agency=' in html
        row = html.split(f'data-app="{app}"', 1)[1].split("</tr>")[0]
        assert f'data-state="{state}"' in row
        assert f'class="badge st-{state}"' in row  # coloured, and named in words:
    for state in set(EXPECTED_STATES.values()):  # the review's words for the states
        assert f"></span>{state_name(state, 'id')}</span>" in html
    assert 'href="/apps/website"' in html
    assert 'href="/agencies/setda"' in html
    assert 'href="https://simpus.kotimkab.go.id"' in html
    assert 'href="/api/v1/reports/monthly?format=html&amp;lang=id"' in html
    assert 'id="lang-switch"' in html
    assert 'href="/?lang=en"' in html
    assert "BPJS Kesehatan" in html
    assert ">Sari<" in html  # the owner; not the contacts, unpublished (tests/.../test_privacy.py)
    assert "sari@kotimkab.go.id" not in html
    # uptime over 30 days, from the daily aggregates, and usage sparklines
    website = html.split('data-app="website"', 1)[1].split("</tr>")[0]
    assert 'class="upt ' in website  # ok or bad: last month's outage may fall in the 30 days
    assert "%" in website
    assert website.count('class="chart chart-trend"') == 1  # visits: a bar a day
    # 14 days; today's bar comes once its first hour is rolled up (not just after midnight)
    assert website.count("<rect ") in (13, 14)
    assert "chart-trend" not in html.split('data-app="sipd"', 1)[1].split("</tr>")[0]


async def test_every_catalogue_value_is_escaped(portal: Portal) -> None:
    for path in ("/", "/apps/xss", "/agencies/dinkes", "/?q=%3Cscript%3E", "/?lang=en"):
        html = await get_html(portal, path)
        assert XSS_NAME not in html, path
        for raw in ("<img", "<i>tag", "<b>Owner"):
            assert raw not in html, (path, raw)
        assert "</script><script>" not in html, path
        assert 'href="javascript:' not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    app = await get_html(portal, "/apps/xss")
    assert "javascript:alert(3)" in app  # shown as text, not as a link
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in app  # markupsafe's &#34; is a "
    search = await get_html(portal, "/?q=%22%3E%3Cscript%3E")
    assert 'value="&#34;&gt;&lt;script&gt;"' in search


def test_json_for_the_script_cannot_close_its_element() -> None:
    json_script = environment("id").get_template("macros.html").module.json_script  # type: ignore[attr-defined]
    block = str(json_script("d", {"name": "</script><script>alert(1)</script>", "x": "a&b\u2028"}))
    assert block.count("</script>") == 1
    assert block.endswith("</script>")
    assert "\\u003c/script\\u003e" in block
    assert "\\u0026" in block
    assert "\\u2028" in block


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://kotimkab.go.id/", True),
        ("http://10.0.0.5:8080/simpus", True),
        (" HTTPS://Example.go.id ", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example/", False),
        ("/relative", False),
        ("http://", False),
        (None, False),
    ],
)
def test_only_absolute_http_urls_become_links(url: str | None, linked: bool) -> None:
    assert (safe_href(url) is not None) == linked


def test_an_hour_with_any_downtime_shows_as_down() -> None:
    def hour(**seconds: float) -> HourRow:
        base = {"up_s": 0.0, "down_s": 0.0, "degraded_s": 0.0, "maintenance_s": 0.0,
                "unknown_s": 0.0}  # fmt: skip
        return HourRow(hour=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), **{**base, **seconds})

    assert hour(up_s=3599, down_s=1).dominant() == "down"
    assert hour(up_s=3000, maintenance_s=600).dominant() == "up"
    assert hour(up_s=1800, unknown_s=1800).dominant() == "unknown"  # equal: the worse
    assert hour(degraded_s=2000, up_s=1600).dominant() == "degraded"
    assert Availability(up_s=97406.062786).uptime == 100.0  # never 99.99 from rounding
    assert Availability().uptime is None


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("state=down", {"jdih"}),
        ("state=maintenance", {"e-office"}),
        ("agency=dinkes", {"xss", "simpus", "p-care"}),
        ("managed_by=central", {"sipd", "p-care"}),
        ("category=health&q=simpus", {"simpus"}),
        ("q=BPJS", {"p-care"}),  # the provider, any case
        ("q=puskesmas", {"simpus"}),  # a tag and the description
        ("q=sistem+puskesmas", {"simpus"}),  # every word must match
        ("q=nothing-like-this", set()),
        ("state=bogus", set(EXPECTED_STATES)),  # a value no option offers is ignored
    ],
)
async def test_filters_work_as_query_parameters(
    portal: Portal, query: str, shown: set[str]
) -> None:
    html = await get_html(portal, f"/?{query}")
    rows = rows_of(html)
    assert set(rows.shown) == shown
    assert sorted(rows.all) == sorted(shown)  # the server sends only the matching rows
    assert ('id="no-match"' in html) == (not shown)
    assert f"{len(shown)} dari {len(EXPECTED_STATES)} aplikasi" in html
    assert "data-search=" not in html  # nothing left for a script to filter


async def test_app_page_shows_catalogue_state_history_usage_and_checks(portal: Portal) -> None:
    html = await get_html(portal, "/apps/website")
    assert "<h1>Website " in html
    assert "Diskominfo" in html
    assert 'class="strip"' in html
    assert 'rect class="st-up"' in html
    assert html.count('<li class="good"') >= 1  # uptime per day: at least the fresh hours
    assert html.count('class="daychart"') == 2  # visits and active-users
    assert f"{metric_name('visits', 'id')} — bertambah per hari" in html
    assert f"{metric_name('active-users', 'id')} — rata-rata harian" in html
    assert "Hasil pemeriksaan terakhir" in html
    assert "probe-dc-1" in html
    jdih = await get_html(portal, "/apps/jdih")
    assert 'class="banner down"' in jdih
    assert "Insiden terbuka sejak" in jdih
    assert "masih berlangsung" in jdih
    assert reason_name("status", "id") in jdih
    assert '<td class="num">503</td>' in jdih
    xss = await get_html(portal, "/apps/xss")
    assert reason_name("latency", "id") in xss
    assert state_name("degraded", "id") in xss
    sipd = await get_html(portal, "/apps/sipd")
    assert "belum dipantau" in sipd
    assert "Belum ada hasil pemeriksaan." in sipd


async def test_agency_page_counts_states_and_lists_open_incidents(portal: Portal) -> None:
    html = await get_html(portal, "/agencies/setda")
    assert "<h1>Setda</h1>" in html
    assert set(rows_of(html).shown) == BY_AGENCY["setda"]
    summary = html.split('class="summary"', 1)[1].split("</ul>")[0]
    assert "4 aplikasi" in summary
    for state in ("down", "maintenance", "unknown"):
        assert f"st-{state}" in summary
    incidents = html.split("<h2>Insiden terbuka</h2>", 1)[1]
    assert 'href="/apps/jdih"' in incidents
    assert "masih berlangsung" in incidents
    dinkes = await get_html(portal, "/agencies/dinkes")
    assert "Tidak ada insiden terbuka." in dinkes
    assert "dinkes@kotimkab.go.id" in dinkes


async def test_unknown_pages_are_friendly_404_pages(portal: Portal) -> None:
    for path, text in (
        ("/apps/no-such-app", "Aplikasi “no-such-app” tidak terdaftar"),
        ("/agencies/nowhere", "Perangkat daerah “nowhere” tidak terdaftar"),
        ("/apps/%3Cscript%3E?lang=en", "There is no application “&lt;script&gt;”"),
    ):
        html = await get_html(portal, path, status=404)
        assert text in html
        assert 'href="/' in html


async def test_english_on_request_and_links_keep_the_language(portal: Portal) -> None:
    html = await get_html(portal, "/?lang=en&state=down")
    assert '<html lang="en">' in html
    assert f"{state_name('down', 'en')}</span>" in html
    assert "Applications" in html
    assert 'href="/apps/jdih?lang=en"' in html
    assert 'href="/agencies/setda?lang=en"' in html
    assert 'name="lang" value="en"' in html  # the form keeps it too
    assert 'href="/?state=down"' in html  # the switch back to Indonesian keeps the filter
    assert "format=html&amp;lang=en" in html
    assert "1 of 8 applications" in html
    app = await get_html(portal, "/apps/jdih?lang=en")
    assert "Open incident since" in app
    assert reason_name("status", "en") in app
    indonesian = await get_html(portal, "/?lang=xx")
    assert '<html lang="id">' in indonesian


async def test_pages_are_gzipped_and_locked_down(portal: Portal) -> None:
    resp = await portal.client.get("/", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    raw = await resp.read()
    assert len(raw) < 20_000, len(raw)  # small on a slow connection
    assert b"<!doctype html>" in gzip.decompress(raw)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    js = await portal.client.get("/portal.js")
    assert js.status == 200
    assert js.content_type == "text/javascript"


async def test_every_text_of_the_indonesian_pages_is_in_the_catalogue(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    with recording_misses(monkeypatch) as misses:
        app = make_app(collector_config(), dsn=portal.dsn)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            for path in ("/", "/?q=nothing-like-this", "/?page=9", "/?page=x", "/apps/website",
                         "/apps/jdih", "/apps/xss", "/apps/sipd", "/apps/no-such-app",
                         "/agencies/setda", "/agencies/dinkes", "/agencies/nowhere"):  # fmt: skip
                resp = await client.get(path)
                assert resp.status in (200, 400, 404), path
    assert sorted(set(misses)) == []


async def test_portal_answers_403_when_the_catalogue_is_not_public(portal: Portal) -> None:
    app = make_app(collector_config(public_catalog=False), dsn=portal.dsn)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        for path in ("/", "/apps/website", "/agencies/setda?lang=en"):
            resp = await client.get(path)
            assert resp.status == 403
            assert resp.content_type == "text/html"
            text = await resp.text()
            assert "tidak publik" in text or "not public" in text
            assert "Website" not in text.split("<main", 1)[1]


# --- a big catalogue: paged on the server ---------------------------------------------------------

PAGE_SIZE = 100


def big_catalog(n: int, agencies: int) -> dict[str, object]:
    """`n` apps over `agencies` agencies; every tenth retired, half of them health apps."""
    return {
        "agencies": [{"id": f"ag-{k:02d}", "name": f"Agency {k:02d}"} for k in range(agencies)],
        "apps": [
            {"id": f"app-{i:03d}", "name": f"App {i:03d}", "agency": f"ag-{i % agencies:02d}",
             "managed_by": ("self", "central", "vendor")[i % 3],
             "lifecycle": "retired" if i % 10 == 0 else "active",
             "category": "health" if i % 2 else "office"}
            for i in range(n)
        ],
    }  # fmt: skip


class Links(HTMLParser):
    """The hrefs of a page's `a` elements, by rel (prev, next) or text."""

    def __init__(self) -> None:
        super().__init__()
        self.rel: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("rel") in ("prev", "next"):
            self.rel[a["rel"] or ""] = (a.get("href") or "").replace("&amp;", "&")


def links_of(html: str) -> dict[str, str]:
    parser = Links()
    parser.feed(html)
    return parser.rel


@pytest.fixture
async def big(fresh_db: str) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await apply_catalog(fresh_db, big_catalog(250, 5))
    app = make_app(collector_config(), dsn=fresh_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


async def _page(client: TestClient, path: str, status: int = 200) -> str:  # type: ignore[type-arg]
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, (path, text[:500])
    assert resp.content_type == "text/html"
    return text


async def test_a_big_catalogue_is_paged_on_the_server(big: TestClient) -> None:  # type: ignore[type-arg]
    first = await _page(big, "/")
    rows = rows_of(first).all
    assert len(rows) == PAGE_SIZE  # not 250 rows, some hidden
    assert len(first.encode()) < 300_000
    # grouped by agency name, then by app name: Agency 00 holds app-000, app-005, ...
    assert rows[:3] == ["app-000", "app-005", "app-010"]
    assert "Menampilkan 1\u2013100 dari 250" in first
    links = links_of(first)
    assert "prev" not in links
    assert links["next"] == "/?page=2"
    second = await _page(big, links["next"])
    assert len(rows_of(second).all) == PAGE_SIZE
    assert not set(rows_of(second).all) & set(rows)
    assert links_of(second) == {"prev": "/", "next": "/?page=3"}  # page 1: the plain list
    third = await _page(big, "/?page=3&lang=en")
    assert len(rows_of(third).all) == 50
    assert "Showing 201\u2013250 of 250" in third
    assert links_of(third) == {"prev": "/?page=2&lang=en"}
    every = rows + rows_of(second).all + rows_of(third).all
    assert sorted(every) == [f"app-{i:03d}" for i in range(250)]


async def test_paging_links_keep_the_filters(big: TestClient) -> None:  # type: ignore[type-arg]
    # health apps (odd numbers), active (not a multiple of ten): 125 - 0 = 125 (odd never ends in 0)
    html = await _page(big, "/?category=health&lifecycle=active&lang=en")
    assert len(rows_of(html).all) == PAGE_SIZE
    assert "Showing 1\u2013100 of 125" in html
    assert "125 of 250 applications" in html
    nxt = links_of(html)["next"]
    assert nxt == "/?lifecycle=active&category=health&page=2&lang=en"
    rest = await _page(big, nxt)
    assert len(rows_of(rest).all) == 25
    assert all(int(a[4:]) % 2 == 1 for a in rows_of(rest).all)
    retired = await _page(big, "/?lifecycle=retired&managed_by=self")
    # multiples of ten run by self: i % 30 == 0 -> 0, 30, ..., 240
    assert sorted(rows_of(retired).all) == [f"app-{i:03d}" for i in range(0, 250, 30)]
    assert links_of(retired) == {}
    found = await _page(big, "/?q=app-12&agency=ag-01")
    assert sorted(rows_of(found).all) == ["app-121", "app-126"]  # app-12x in agency 1


@pytest.mark.parametrize(
    "value", ["0", "-1", "abc", "1.5", "", "99999999999999999999999", "%C2%B2", "%2B2"]
)
async def test_a_bad_page_number_is_a_clear_400_page(
    big: TestClient,
    value: str,  # type: ignore[type-arg]
) -> None:
    if value == "":
        assert len(rows_of(await _page(big, "/?page=")).all) == PAGE_SIZE  # empty: the first
        return
    html = await _page(big, f"/?page={value}&state=up", status=400)
    assert "<h1>" in html
    assert "Nomor halaman tidak valid" in html
    assert 'href="/"' in html  # the way back


def test_pages_render_in_a_fresh_collector_process(fresh_db: str) -> None:
    """As `pantau-collector serve` starts: nothing imported before make_app, whose templates
    must still know the portal's own globals (registered when the portal's views load)."""
    script = (
        "import asyncio, sys\n"
        "from aiohttp.test_utils import TestClient, TestServer\n"
        "from collector.web.app import make_app\n"
        "from tests.collector.conftest import collector_config\n"
        "async def main():\n"
        "    app = make_app(collector_config(), dsn=sys.argv[1])\n"
        "    async with TestClient(TestServer(app, host='127.0.0.1', port=0)) as client:\n"
        "        for path in ('/', '/?page=x'):\n"
        "            resp = await client.get(path)\n"
        "            print(resp.status, (await resp.text()).count('href=\"/\"'))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, fresh_db], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.stdout.split("\n")[:2] == ["200 3", "400 3"], done.stdout + done.stderr


async def test_a_page_past_the_end_is_empty_with_a_link_back(big: TestClient) -> None:  # type: ignore[type-arg]
    html = await _page(big, "/?page=4&managed_by=vendor")
    assert rows_of(html).all == []
    assert 'href="/?managed_by=vendor"' in html  # back to the first page, filters kept
    assert links_of(html) == {}


# --- in Chromium (tests/browser.py: the browser, page and page_log fixtures) -------------------


VISIBLE_IDS = """[...document.querySelectorAll('tr.app')]
  .filter(r => r.offsetParent !== null).map(r => r.dataset.app).sort()"""


async def shot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    shutil.copy(path, f"/tmp/pantau-portal-{name}.png")
    assert path.stat().st_size > 10_000
    return path


async def assert_clean(page: Page, log: PageLog) -> None:
    log.assert_clean()
    assert await page.evaluate("window.__xss === undefined")


async def test_list_page_filters_on_change_in_chromium(
    portal: Portal, page: Page, page_log: PageLog, tmp_path: Path
) -> None:
    """The script only submits the form when a filter changes: the server filters."""
    await page.goto(portal.url("/"))
    assert await page.evaluate("document.documentElement.classList.contains('js')")
    assert await page.evaluate(VISIBLE_IDS) == sorted(EXPECTED_STATES)
    names = await page.evaluate("[...document.querySelectorAll('a.name')].map(a => a.textContent)")
    assert XSS_NAME in names  # the name is text, not markup
    assert await page.evaluate("document.querySelectorAll('script').length") == 1  # ours only
    await shot(page, tmp_path, "list")

    async def search(text: str) -> None:
        """Type into the search field and leave it (Tab): its change event submits."""
        async with page.expect_navigation():
            await page.fill("#f-q", text)
            await page.press("#f-q", "Tab")

    async def choose(select: str, value: str) -> None:
        async with page.expect_navigation():
            await page.select_option(select, value)

    await search("simpus")
    assert await page.evaluate(VISIBLE_IDS) == ["simpus"]
    assert await page.evaluate("document.querySelectorAll('tr.app').length") == 1  # not hidden
    assert "1 dari 8 aplikasi" in await page.evaluate(
        "document.getElementById('count').textContent"
    )
    assert await page.evaluate("location.search") == "?q=simpus"  # no empty parameters
    assert await page.evaluate("document.getElementById('lang-switch').search") == (
        "?q=simpus&lang=en"
    )
    await search("")
    await choose("#f-state", "down")
    assert await page.evaluate(VISIBLE_IDS) == ["jdih"]
    await choose("#f-state", "")
    await choose("#f-agency", "dinkes")
    assert await page.evaluate(VISIBLE_IDS) == ["p-care", "simpus", "xss"]
    await choose("#f-managed_by", "central")
    assert await page.evaluate(VISIBLE_IDS) == ["p-care"]
    assert await page.evaluate("location.search") == "?agency=dinkes&managed_by=central"
    await search("zzz")
    assert await page.evaluate(VISIBLE_IDS) == []
    assert await page.evaluate("document.getElementById('no-match') !== null")
    await search("<script>")
    assert await page.evaluate(VISIBLE_IDS) == []  # dinkes + central: p-care only, no match
    await choose("#f-managed_by", "")
    assert await page.evaluate(VISIBLE_IDS) == ["xss"]
    await assert_clean(page, page_log)


async def test_filters_without_javascript_in_chromium(
    portal: Portal, browser: Browser, tmp_path: Path
) -> None:
    async with open_page(browser, java_script_enabled=False) as (page, log):
        await page.goto(portal.url("/?lang=en"))
        assert await page.evaluate("document.documentElement.classList.contains('js')") is False
        await page.select_option("#f-state", "degraded")  # nothing submits on change
        await page.fill("#f-q", "script")
        async with page.expect_navigation():
            await page.click("#filters button[type=submit]")
        query = "Object.fromEntries([...new URLSearchParams(location.search)].filter(p => p[1]))"
        assert await page.evaluate(query) == {"q": "script", "state": "degraded", "lang": "en"}
        assert await page.evaluate(VISIBLE_IDS) == ["xss"]
        await shot(page, tmp_path, "list-nojs-en")
        await assert_clean(page, log)


async def test_app_pages_in_chromium(
    portal: Portal, page: Page, page_log: PageLog, tmp_path: Path
) -> None:
    await page.goto(portal.url("/apps/website"))
    assert await page.evaluate("document.querySelectorAll('svg.daychart').length") == 2
    assert await page.evaluate("document.querySelector('svg.strip rect') !== null")
    await shot(page, tmp_path, "app")
    await page.goto(portal.url("/apps/jdih?lang=en"))
    assert "Open incident" in await page.evaluate("document.querySelector('.banner').textContent")
    await shot(page, tmp_path, "app-down-en")
    await page.goto(portal.url("/apps/xss"))
    assert await page.evaluate("document.querySelector('h1').textContent") == (
        f"{XSS_NAME} {state_name('degraded', 'id')}"
    )
    assert await page.evaluate("document.title") == f"{XSS_NAME} · Pantau"
    assert await page.evaluate("document.querySelectorAll('img').length") == 0
    await shot(page, tmp_path, "app-xss")
    await assert_clean(page, page_log)
    await page.goto(portal.url("/apps/no-such-app"))
    assert "tidak terdaftar" in await page.evaluate("document.body.textContent")
    await shot(page, tmp_path, "not-found")


async def test_agency_page_in_chromium(
    portal: Portal, page: Page, page_log: PageLog, tmp_path: Path
) -> None:
    await page.goto(portal.url("/agencies/setda"))
    assert await page.evaluate(VISIBLE_IDS) == sorted(BY_AGENCY["setda"])
    await shot(page, tmp_path, "agency")
    await page.goto(portal.url("/agencies/dinkes?lang=en"))
    assert await page.evaluate(VISIBLE_IDS) == sorted(BY_AGENCY["dinkes"])
    await shot(page, tmp_path, "agency-en")
    await assert_clean(page, page_log)


async def test_list_page_fits_a_phone_in_chromium(
    portal: Portal, browser: Browser, tmp_path: Path
) -> None:
    async with open_page(browser, viewport={"width": 390, "height": 844}) as (page, log):
        await page.goto(portal.url("/?agency=dinkes"))
        assert await page.evaluate(VISIBLE_IDS) == sorted(BY_AGENCY["dinkes"])
        # no sideways scrolling of the page: the rows stack on a narrow screen
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await shot(page, tmp_path, "list-phone")
        await assert_clean(page, log)
