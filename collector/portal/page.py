"""The page frame (header, language switch, footer), the stylesheet and the escaping helpers.

Everything that comes from the catalogue goes through `e()` (text and attribute values alike) or
`json_script()` (data for the script); links from the catalogue go through `safe_href()`, which
keeps only http(s) URLs, so a `javascript:` URL is shown as text and never followed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from collections.abc import Mapping
from html import escape
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from collector.portal import i18n
from collector.portal.i18n import Lang, t
from collector.portal.script import SCRIPT

SCRIPT_VERSION = hashlib.sha256(SCRIPT.encode()).hexdigest()[:12]
SCRIPT_PATH = "/portal.js"


def e(value: object) -> str:
    """Escaped for HTML text and for attribute values in double quotes."""
    return escape(str(value), quote=True)


def safe_href(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None (shown as text, not linked)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def json_script(element_id: str, data: object) -> str:
    """Data for the script in a non-executed JSON block; `<`, `>`, `&` and line separators are
    written as \\u escapes, so no value can close the element or open a new one."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def href(lang: Lang, path: str, params: Mapping[str, str] | None = None) -> str:
    """A portal link that keeps the language; empty parameters are left out."""
    query = {k: v for k, v in (params or {}).items() if v}
    if lang != i18n.DEFAULT_LANG:
        query["lang"] = lang
    return path + ("?" + urlencode(query) if query else "")


def app_path(app_id: str) -> str:
    return "/apps/" + quote(app_id, safe="")


def agency_path(agency_id: str) -> str:
    return "/agencies/" + quote(agency_id, safe="")


def review_href(lang: Lang) -> str:
    return "/api/v1/reports/monthly?" + urlencode({"format": "html", "lang": lang})


def badge(lang: Lang, state: str, *, big: bool = False) -> str:
    """The state as a coloured badge with its name in words (never colour alone)."""
    size = " badge-big" if big else ""
    return (
        f'<span class="badge st-{e(state)}{size}"><span class="dot" aria-hidden="true"></span>'
        f"{e(i18n.state_name(lang, state))}</span>"
    )


def layout(
    lang: Lang,
    *,
    title: str,
    body: str,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    switch_href: str,
    script: bool = False,
    data: str = "",
) -> str:
    """A whole page; `switch_href` is this page in the other language."""
    other: Lang = "en" if lang == "id" else "id"
    script_tag = f'<script src="{SCRIPT_PATH}?v={SCRIPT_VERSION}" defer></script>' if script else ""
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · {e(t(lang, "brand"))}</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>{CSS}</style>
{script_tag}
</head>
<body>
<a class="skip" href="#main">{e(t(lang, "skip"))}</a>
<header class="top"><div class="wrap top-in">
<a class="brand" href="{e(href(lang, "/"))}"><span class="logo" aria-hidden="true">P</span>
<span><b>{e(t(lang, "brand"))}</b><small>{e(t(lang, "portal_title"))}</small></span></a>
<nav aria-label="Pantau"><a href="{e(href(lang, "/"))}">{e(t(lang, "nav_apps"))}</a>
<a href="{e(review_href(lang))}">{e(t(lang, "nav_review"))}</a>
<a id="lang-switch" class="lang" href="{e(switch_href)}" hreflang="{other}" lang="{other}"
 title="{e(t(lang, "switch_lang_title"))}">{e(t(lang, "switch_lang"))}</a></nav>
</div></header>
<main id="main" class="wrap">
{body}
</main>
<footer class="wrap foot"><p>{e(t(lang, "footer_times", tz=i18n.tz_label(tz, now), at=i18n.fmt_time(lang, now, tz)))}</p>
<p>{e(t(lang, "footer_uptime"))}</p></footer>
{data}
</body>
</html>
"""


def message_page(
    lang: Lang,
    *,
    title: str,
    text: str,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    switch_href: str,
    back: bool = True,
) -> str:
    """A short page for 403, 404 and 503: what happened, and the way back."""
    link = (
        f'<p><a href="{e(href(lang, "/"))}">← {e(t(lang, "back_to_list"))}</a></p>' if back else ""
    )
    body = f'<section class="card message"><h1>{e(title)}</h1><p>{e(text)}</p>{link}</section>'
    return layout(lang, title=title, body=body, now=now, tz=tz, switch_href=switch_href)


# One stylesheet for the hand-built pages and the templates (templates/portal/layout.html).
CSS = (Path(__file__).parent.parent / "templates" / "portal" / "portal.css").read_text()
