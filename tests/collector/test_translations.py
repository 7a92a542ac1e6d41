"""The gettext catalogue: complete for Indonesian, in step with the code, compiled at install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from collector.i18n_catalog import LANGS, LOCALE_DIR, compile_all, po_path, translate
from collector.templating import environment

ROOT = Path(__file__).resolve().parents[2]


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with po_path(lang).open("rb") as f:
        return read_po(f)


def test_every_message_has_an_indonesian_text() -> None:
    missing = [m.id for m in _catalog("id") if m.id and (not m.string or m.fuzzy)]
    assert missing == []


def test_the_catalogue_holds_every_message_of_the_code_and_templates(tmp_path: Path) -> None:
    pot = tmp_path / "pantau.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg",
         "-k", "translate", "-k", "translate_plural:2,3", "-o", str(pot), "collector"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    with pot.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    for lang in LANGS:
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(lang) if m.id}
        assert wanted - have == set(), f"{lang}: run `make messages` and translate"


def test_catalogues_compile(tmp_path: Path) -> None:
    written = compile_all(LOCALE_DIR, tmp_path)
    assert {p.relative_to(tmp_path).parts[0] for p in written} == set(LANGS)
    assert all(p.stat().st_size > 0 for p in written)


def test_english_falls_back_to_the_message_id() -> None:
    assert translate("en", "Not a message anyone wrote %(x)s", x=1) == (
        "Not a message anyone wrote 1"
    )


def test_templates_escape_by_default() -> None:
    template = environment("en").from_string("<p>{{ value }}</p>")
    assert template.render(value="<script>") == "<p>&lt;script&gt;</p>"


async def test_a_page_renders_through_the_app(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    from collector import templating

    async def handler(request: web.Request) -> web.Response:
        return templating.render_response(
            request, "portal/layout.html", "id",
            {"title": "<b>", "switch_href": "/?lang=en", "home_href": "/", "review_href": "/r",
             "tz_label": "WIB", "made_at": "1 Des 2026 08.00"},
        )  # fmt: skip

    app = web.Application()
    templating.setup(app)
    app.router.add_get("/", handler)
    client = await aiohttp_client(app)
    resp = await client.get("/")
    text = await resp.text()
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "<title>&lt;b&gt; · Pantau</title>" in text
    assert "Langsung ke isi" in text
