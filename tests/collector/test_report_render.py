"""The monthly report's renderers (HTML, CSV, Markdown, JSON) over the synthetic month, and the API.

The expected figures come from tests/collector/review_month.py (29 minutes down on the 10th, one
incident, two hours of maintenance, 118 minutes unknown, a registered app without checks).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import Counter
from html.parser import HTMLParser

import asyncpg
import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector import formats, labels
from collector.i18n_catalog import Lang
from collector.review.monthly import AppReview
from collector.review.render import RENDERERS, svg
from collector.review.render.csv_report import COLUMNS, render_csv
from collector.review.render.html import render_html
from collector.review.render.markdown import render_markdown
from collector.review.report import MonthlyReport, build_report
from collector.web.app import make_app
from tests.collector import review_month as rm
from tests.collector.catalogue_misses import recording_misses
from tests.collector.conftest import collector_config
from tests.collector.review_month import MONTH, NOW, SETTINGS, WIB
from tests.live import apply_catalog

MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
WORDS = {  # what a reader looks for, per language
    "id": {"minutes": "menit", "incidents": "Jumlah gangguan", "met": "Memenuhi target",
           "uptime": "Uptime kabupaten", "downtime": "Total waktu henti", "of": "dari",
           "consolidation": "Kandidat konsolidasi", "not_monitored": "Belum dipantau penuh",
           "summary": "Ringkasan", "running": "Bulan masih berjalan", "none": "Tidak ada temuan."},
    "en": {"minutes": "min", "incidents": "Incidents", "met": "Met their target",
           "uptime": "Regency uptime", "downtime": "Total downtime", "of": "of",
           "consolidation": "Consolidation candidates", "not_monitored": "Not monitored",
           "summary": "Summary", "running": "Month still running", "none": "Nothing found."},
}  # fmt: skip
LANGS: tuple[Lang, ...] = ("id", "en")


@pytest.fixture(scope="module")
async def report(month_db: str) -> MonthlyReport:
    conn = await asyncpg.connect(month_db)
    try:
        return await build_report(conn, month=MONTH.label, settings=SETTINGS, now=NOW)
    finally:
        await conn.close()


def app_of(report: MonthlyReport, app: str) -> AppReview:
    return next(a for a in report.review.apps if a.app == app)


def shown_uptime(value: float, lang: Lang) -> str:
    """Two decimals, rounded down; the month's length moves the figure, so it is computed."""
    text = f"{math.floor(value * 100) / 100:.2f}%"
    return text.replace(".", ",") if lang == "id" else text


class Page(HTMLParser):
    """Checks that tags nest and close, and collects the text, the key figures and the tags."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                      "source", "track", "wbr"})  # fmt: skip

    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.figures: dict[str, str] = {}  # label -> value, first occurrence (the summary's)
        self.words: list[str] = []
        self._capture: str | None = None
        self._buffer: list[str] = []
        self._label = ""
        self.feed(body)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.words).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag not in self.VOID:
            self.stack.append(tag)
        classes = (dict(attrs).get("class") or "").split()
        if tag == "dt" or (tag == "dd" and "value" in classes):
            self._capture, self._buffer = tag, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == self._capture:
            value = " ".join("".join(self._buffer).split())
            if tag == "dt":
                self._label = value
            else:
                self.figures.setdefault(self._label, value)
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self.stack[-1:] == ["style"]:
            return
        self.words.append(data)
        if self._capture:
            self._buffer.append(data)


# --- formatting -------------------------------------------------------------------------------


def test_formats_per_language() -> None:
    at = dt.datetime(2026, 10, 10, 3, 2, tzinfo=dt.UTC)
    assert formats.date_time(at, "Asia/Jakarta", "id") == "10 Oktober 2026 10:02 WIB"
    assert formats.date_time(at, "Asia/Jakarta", "en") == "10 October 2026 10:02 WIB"
    assert formats.date_time(at, "Asia/Makassar", "id") == "10 Oktober 2026 11:02 WITA"
    assert formats.duration(29 * 60, "id") == "29 menit"
    assert formats.duration(29 * 60, "en") == "29 min"
    assert formats.duration(118 * 60, "id") == "1 jam 58 menit"
    assert formats.duration(118 * 60, "en") == "1 h 58 min"
    assert formats.duration(2 * 86_400 + 3 * 3600, "id") == "2 hari 3 jam"
    assert formats.duration(20, "en") == "20 s"
    assert formats.duration(None, "en") == "—"
    assert formats.number(89_275.5, "id", 1) == "89.275,5"
    assert formats.number(89_275.5, "en", 1) == "89,275.5"
    assert formats.quantity(11.5, "id") == "11,5"
    assert formats.uptime(99.9347, "id") == "99,93%"
    assert formats.uptime(99.94999, "en") == "99.94%"  # never rounded up onto a 99.95 target
    assert formats.uptime(99.99999, "en") == "99.99%"  # and never up to a perfect month
    assert formats.uptime(100.0, "id") == "100%"
    assert formats.change(-30.24, "id") == "-30,2%"
    assert formats.change(12.0, "en") == "+12.0%"
    assert formats.month_name("2026-10", "id") == "Oktober 2026"


def test_compact_figures_are_cldrs() -> None:
    """The portal's short figures say what Babel's format_compact_decimal says (it is slower)."""
    from babel.numbers import format_compact_decimal

    for lang in LANGS:
        for v in (1000, 1234, 12_345, 99_999, 123_456, 999_999, 4.5e6, 1.2e9, 3e12, -1500):
            assert formats.compact(v, lang) == format_compact_decimal(
                v, locale=lang, fraction_digits=1
            ), (lang, v)
    assert formats.compact(950.5, "id") == "950,5"


async def test_every_text_of_the_indonesian_review_is_in_the_catalogue(
    report: MonthlyReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector import templating

    with recording_misses(monkeypatch) as misses:
        render_html(report, "id")
        render_markdown(report, "id")
        templating.render("mail/review.txt", "id", {"title": "T", "month": "M"})
    assert sorted(set(misses)) == []


def test_svg_escapes_and_titles() -> None:
    chart = svg.Trend(title="<b>x</b>", desc="a & b", values=[1.0, None, 3.0], style="line")
    out = svg.trend(chart, "c1")
    assert "<b>" not in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out
    assert "a &amp; b" in out
    assert out.count("<polyline") == 2  # a day without data breaks the line
    assert 'aria-labelledby="c1-t c1-d"' in out
    assert Page(out).errors == []
    assert svg.text_sparkline([0.0, 5.0, None, 10.0]) == "▁▅ █"


# --- HTML -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_html_summary(report: MonthlyReport, lang: Lang) -> None:
    body = render_html(report, lang).decode("utf-8")
    words = WORDS[lang]
    assert body.startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}">' in body
    page = Page(body)
    assert page.errors == []
    regency = report.review.regency
    assert page.figures[words["uptime"]] == shown_uptime(
        regency.availability.uptime_percent or 0, lang
    )
    assert page.figures[words["incidents"]] == "2"  # website's, and simpeg's across the month end
    assert page.figures[words["met"]] == f"2 {words['of']} 3"
    assert page.figures[words["downtime"]] == ("1 jam 27 menit" if lang == "id" else "1 h 27 min")
    text = page.text
    month = MONTHS[lang][MONTH.month - 1]
    assert f"{month} {MONTH.year}" in text
    # the worst outage, in local time, with its length
    assert f"10 {month} {MONTH.year} 10:02 WIB" in text
    assert f"10 {month} {MONTH.year} 10:31 WIB" in text
    website = app_of(report, "website")
    assert shown_uptime(website.availability.uptime_percent or 0, lang) in text
    assert ("2 jam" if lang == "id" else "2 h") in text  # the maintenance window
    assert ("1 jam 58 menit" if lang == "id" else "1 h 58 min") in text  # the probe's silence
    assert ("89.275" if lang == "id" else "89,275") in text  # visits, thousands separated
    # the summary comes first, then the insights, then the agencies
    order = ['id="summary"', 'id="insights"', 'id="agency-diskominfo"', 'id="agency-setda"']
    assert [body.index(x) for x in order] == sorted(body.index(x) for x in order)
    assert words["running"] not in text


@pytest.mark.parametrize("lang", LANGS)
async def test_html_insights_show_their_figures(report: MonthlyReport, lang: Lang) -> None:
    text = Page(render_html(report, lang).decode("utf-8")).text
    words = WORDS[lang]
    not_monitored = text[text.index(words["not_monitored"]) :]
    not_monitored = not_monitored[: not_monitored.index(words["consolidation"])]
    assert "SIPD" in not_monitored
    assert "JDIH" in not_monitored
    consolidation = text[text.index(words["consolidation"]) :]  # listed, with nothing found
    assert consolidation.startswith(f"{words['consolidation']} 0 ")
    assert words["none"] in consolidation[: consolidation.index("Diskominfo")]


async def test_html_is_self_contained_with_inline_charts(report: MonthlyReport) -> None:
    body = render_html(report, "id").decode("utf-8")
    page = Page(body)
    assert page.tags["script"] == 0
    assert page.tags["link"] == 0
    assert page.tags["img"] == 0
    assert "url(" not in body
    assert "@import" not in body
    assert 'src="' not in body
    assert "@media print" in body
    assert "size: A4" in body
    assert "break-before: page" in body
    # bars per agency (2), a daily strip per checked app (3), a trend per usage metric (3)
    assert body.count('class="chart chart-bars"') == 2
    assert body.count('class="chart chart-strip"') == 3
    assert body.count('class="chart chart-trend"') == 3
    assert page.tags["svg"] == 8
    assert page.tags["title"] >= 1 + 8  # the page's, and one per chart at least
    strip = body[body.index("chart-strip") :]
    day10 = f"10 {MONTHS['id'][MONTH.month - 1][:3]}"
    assert re.search(rf"<title>{day10}: [0-9,]+% · Waktu henti 29 menit</title>", strip)


async def test_html_marks_a_month_still_running(month_db: str) -> None:
    local = NOW.astimezone(WIB)
    conn = await asyncpg.connect(month_db)
    try:
        running = await build_report(conn, month=f"{local:%Y-%m}", settings=SETTINGS, now=NOW)
    finally:
        await conn.close()
    assert running.review.period.complete is False
    for lang in LANGS:
        body = render_html(running, lang).decode("utf-8")
        assert 'role="alert"' in body
        assert WORDS[lang]["running"] in Page(body).text
        assert WORDS[lang]["running"] in render_markdown(running, lang).decode("utf-8")
    if (local + dt.timedelta(days=1)).month == local.month:  # days yet to come, but for the last
        assert "belum berlalu" in render_html(running, "id").decode("utf-8")


HOSTILE = "<script>alert(1)</script>"


async def test_catalogue_text_is_escaped(fresh_db: str) -> None:
    await apply_catalog(fresh_db, {
        "agencies": [{"id": "dinkes", "name": "<b>Dinas</b> Kesehatan & Co"},
                     {"id": "setda", "name": "Setda"}],
        "apps": [
            {"id": "evil", "name": HOSTILE, "agency": "dinkes", "managed_by": "vendor",
             "provider": '<img src=x onerror="alert(2)">', "category": "health",
             "owner": {"name": '=HYPERLINK("http://x")'},
             "checks": [{"type": "http", "url": "http://127.0.0.1:9/"}]},
            {"id": "simpus", "name": "SIMPUS | *tebal* [tautan](http://x)", "agency": "setda",
             "managed_by": "self", "category": "health"},
        ],
    })  # fmt: skip
    conn = await asyncpg.connect(fresh_db)
    try:
        rep = await build_report(conn, month=MONTH.label, settings=SETTINGS, now=NOW)
    finally:
        await conn.close()
    assert [i.items[0].figures["apps"] for i in rep.insights if i.kind == "consolidation"] == [
        "evil, simpus"
    ]
    for lang in LANGS:
        body = render_html(rep, lang).decode("utf-8")
        page = Page(body)
        assert page.errors == []
        assert "<script" not in body
        assert "<img" not in body
        assert "<b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert HOSTILE in page.text  # shown as text, to the letter
        assert "<b>Dinas</b> Kesehatan & Co" in page.text
        assert page.tags["script"] == page.tags["img"] == page.tags["b"] == 0
        consolidation = page.text[page.text.index(WORDS[lang]["consolidation"]) :]
        assert f"{HOSTILE}, SIMPUS" in consolidation  # names, not ids

        md = render_markdown(rep, lang).decode("utf-8")
        quoted = re.sub(r"^> ", "", md, flags=re.MULTILINE)  # a blockquote's marker is markup
        assert not re.search(r"(?<!\\)[<>\[\]]", quoted)  # no raw HTML, no links
        assert r"\<script\>alert(1)\</script\>" in md
        assert r"SIMPUS \| \*tebal\* \[tautan\](http://x)" in md
        for table in _md_tables(md):
            assert len({_md_columns(line) for line in table}) == 1, table

    rows = {
        r["app"]: r for r in csv.DictReader(io.StringIO(render_csv(rep, "id").decode("utf-8-sig")))
    }
    assert rows["evil"]["name"] == HOSTILE  # CSV is data: the name as it is
    assert rows["evil"]["owner"] == "'" + '=HYPERLINK("http://x")'  # but no formula
    assert rows["evil"]["agency_name"] == "<b>Dinas</b> Kesehatan & Co"
    assert rows["evil"]["insights"] == "not_monitored;consolidation"


# --- CSV --------------------------------------------------------------------------------------


async def test_csv_parses_back_to_the_review(report: MonthlyReport) -> None:
    body = render_csv(report, "id")
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    assert body == render_csv(report, "en")  # machine-readable whatever the language
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    rows = {r["app"]: r for r in reader}
    assert set(rows) == {a.app for a in report.review.apps}
    for a in report.review.apps:
        row, av = rows[a.app], a.availability
        assert row["month"] == MONTH.label
        assert row["month_complete"] == "true"
        assert row["name"] == a.name
        assert row["agency"] == a.agency
        assert row["managed_by"] == a.managed_by
        assert row["checked"] == str(a.checked).lower()
        assert float(row["target_uptime"]) == a.target_uptime
        for column, seconds in (("up_minutes", av.up_seconds),
                                ("degraded_minutes", av.degraded_seconds),
                                ("down_minutes", av.down_seconds),
                                ("maintenance_minutes", av.maintenance_seconds),
                                ("unknown_minutes", av.unknown_seconds)):  # fmt: skip
            assert round(float(row[column])) == round(seconds / 60), column
        assert int(row["incidents"]) == a.incidents
        if av.uptime_percent is None:
            assert row["uptime_percent"] == row["target_met"] == ""
        else:
            assert float(row["uptime_percent"]) == pytest.approx(av.uptime_percent, abs=1e-4)
            assert row["target_met"] == str(a.target_met).lower()

    web = rows["website"]
    assert web["down_minutes"] == "29"
    assert web["longest_outage_minutes"] == "29"
    assert web["mttr_minutes"] == "29"
    assert web["maintenance_minutes"] == "120"
    assert web["unknown_minutes"] == "118"
    assert web["target_met"] == "false"
    usage = dict(p.split("=", 1) for p in web["usage"].split(";"))
    assert float(usage["visits"]) == 10 * (rm.visits_samples_in_month(MONTH) - 1) + 5
    assert float(usage["active-users"]) == 11.5
    assert web["usage_peak"] == "active-users=23"
    assert "most_downtime" in web["insights"].split(";")
    assert rows["jdih"]["degraded_minutes"] == "60"
    assert rows["jdih"]["target_met"] == "true"
    assert rows["sipd"]["checked"] == "false"
    assert rows["sipd"]["usage"] == ""
    assert rows["sipd"]["insights"] == "not_monitored"


# --- Markdown ---------------------------------------------------------------------------------


def _md_tables(md: str) -> list[list[str]]:
    tables: list[list[str]] = []
    previous = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    return tables


def _md_columns(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1  # escaped pipes are text


@pytest.mark.parametrize("lang", LANGS)
async def test_markdown_has_the_tables(report: MonthlyReport, lang: Lang) -> None:
    md = render_markdown(report, lang).decode("utf-8")
    words = WORDS[lang]
    assert md.startswith("# ")
    assert f"## {words['summary']}" in md
    assert f"- **{words['downtime']}:** 29 {words['minutes']}" in md
    assert f"- **{words['incidents']}:** 1" in md
    assert f"### {words['not_monitored']} (3)" in md
    assert f"### {words['consolidation']} (0)" in md
    tables = _md_tables(md)
    assert len(tables) >= 8
    for table in tables:
        assert len(table) >= 3  # header, rule, at least one row
        assert re.fullmatch(r"\|( -{3}:? \|)+", table[1])
        assert len({_md_columns(line) for line in table}) == 1, table
    assert "| Website | Diskominfo |" in md
    assert "🟥" in md  # the 10th in the daily strip
    assert re.search(r"`[▁▂▃▄▅▆▇█ ]+`", md)  # usage trends as sparklines
    assert "<svg" not in md


# --- JSON and the registry --------------------------------------------------------------------


async def test_json_round_trips(report: MonthlyReport) -> None:
    render, content_type = RENDERERS["json"]
    assert content_type == "application/json"
    assert msgspec.json.decode(render(report, "id"), type=MonthlyReport) == report


def test_renderers_are_registered() -> None:
    assert {fmt: ct for fmt, (_, ct) in RENDERERS.items()} == {
        "json": "application/json",
        "html": "text/html; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
        "md": "text/markdown; charset=utf-8",
        "pdf": "application/pdf",
    }


# --- over HTTP --------------------------------------------------------------------------------


async def test_report_route_serves_every_format(month_db: str, pdf_tools: dict[str, str]) -> None:
    app = make_app(collector_config(), dsn=month_db)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        url = "/api/v1/reports/monthly"
        for fmt, (_, content_type) in RENDERERS.items():
            resp = await client.get(url, params={"month": MONTH.label, "format": fmt, "lang": "en"})
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"] == content_type
            body = await resp.read()
            if fmt == "html":
                assert resp.headers["Content-Disposition"] == "inline"
                assert b'<html lang="en">' in body
                assert b"29 min" in body
            elif fmt == "csv":
                assert resp.headers["Content-Disposition"] == (
                    f'attachment; filename="pantau-{MONTH.label}.csv"'
                )
                assert body.startswith(b"\xef\xbb\xbf")
            elif fmt == "md":
                assert "## Summary" in body.decode("utf-8")
            elif fmt == "pdf":  # read back in tests/collector/test_report_pdf.py
                assert body.startswith(b"%PDF-")
            else:
                assert (
                    msgspec.json.decode(body, type=MonthlyReport).review.period.month == MONTH.label
                )
        resp = await client.get(url, params={"month": MONTH.label, "format": "html"})
        assert b'<html lang="id">' in await resp.read()  # Bahasa Indonesia unless asked
        resp = await client.get(
            url, params={"month": MONTH.label, "format": "md", "agency": "setda"}
        )
        one = (await resp.read()).decode("utf-8")
        assert one.startswith("# Tinjauan Bulanan Aplikasi: Setda")
        assert "JDIH" in one
        assert "Website" not in one
        for bad in ({"month": "2026-13"}, {"month": "Oktober"}, {"format": "docx"},
                    {"format": "html", "lang": "fr"}, {"month": "9999-12"}, {"month": "0001-01"}):  # fmt: skip
            resp = await client.get(url, params={"month": MONTH.label, **bad})
            assert resp.status == 400, bad
        resp = await client.get(
            url, params={"month": MONTH.label, "format": "md", "agency": 'x"; filename*=a'}
        )
        assert resp.status == 404  # only agencies of the catalogue: nothing to smuggle into headers


def test_csv_uptime_is_rounded_down_like_the_other_formats() -> None:
    from collector.review.render.csv_report import _uptime

    assert _uptime(99.949959) == "99.9499"  # not 99.95: that would read as meeting a 99.95 target
    assert _uptime(99.99999) == "99.9999"
    assert _uptime(100.0) == "100"
    assert _uptime(None) == ""


def test_every_failure_reason_has_words_in_both_languages() -> None:
    from wire.messages import FAILURE_REASONS

    missing = [r for r in FAILURE_REASONS if r not in labels.REASONS]
    assert not missing, f"no review wording for reasons {missing}"
    untranslated = [r for r in FAILURE_REASONS if labels.reason_name(r, "id") == labels.REASONS[r]]
    assert not untranslated, f"no Indonesian wording for reasons {untranslated}"
