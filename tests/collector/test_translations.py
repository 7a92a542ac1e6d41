"""The gettext catalogue: complete for Indonesian, in step with the code, compiled at install."""

from __future__ import annotations

import subprocess
from pathlib import Path

from babel.messages.pofile import read_po

from collector import labels
from collector.i18n_catalog import (
    LANGS,
    LOCALE_DIR,
    compile_all,
    extract_command,
    po_path,
    translate,
)
from collector.templating import environment

ROOT = Path(__file__).resolve().parents[2]


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with po_path(lang).open("rb") as f:
        return read_po(f)


def _keys(catalog) -> set[tuple[str | None, str]]:  # type: ignore[no-untyped-def]
    """(context, singular) of every message: one English text may have two contexts."""
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_every_message_has_an_indonesian_text() -> None:
    def translated(m) -> bool:  # type: ignore[no-untyped-def]
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        return all(strings) and not m.fuzzy

    missing = [m.id for m in _catalog("id") if m.id and not translated(m)]
    assert missing == []


def test_translations_keep_the_placeholders() -> None:
    """Babel's checks: "%(at)s" in the English is "%(at)s" in the Indonesian, and so on."""
    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalog("id").check()]
    assert problems == []


def test_the_catalogue_holds_every_message_of_the_code_and_templates(tmp_path: Path) -> None:
    pot = tmp_path / "pantau.pot"
    subprocess.run(extract_command(pot, ROOT), check=True)
    with pot.open("rb") as f:
        wanted = _keys(read_po(f))
    for lang in LANGS:
        have = _keys(_catalog(lang))
        assert wanted - have == set(), f"{lang}: run `make messages` and translate"
        assert have - wanted == set(), f"{lang}: texts no longer used; run `make messages`"


def test_catalogues_compile(tmp_path: Path) -> None:
    written = compile_all(LOCALE_DIR, tmp_path)
    assert {p.relative_to(tmp_path).parts[0] for p in written} == set(LANGS)
    assert all(p.stat().st_size > 0 for p in written)


def test_english_falls_back_to_the_message_id() -> None:
    assert translate("en", "Not a message anyone wrote %(x)s", x=1) == (
        "Not a message anyone wrote 1"
    )


def test_a_value_is_named_in_words_or_as_written_in_python_and_templates() -> None:
    """collector.labels: one table a kind of value; a value it does not know is shown as is."""
    assert labels.state_name("none", "id") == "Tanpa data"
    assert labels.state_name("none", "en") == "No data"
    assert labels.category_name("pariwisata", "id") == "pariwisata"  # a catalogue's own slug
    template = environment("id").from_string("{{ 'degraded'|state_name }}, {{ 'x'|reason_name }}")
    assert template.render() == "Menurun, x"


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
