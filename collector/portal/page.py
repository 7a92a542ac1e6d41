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


CSS = """
:root{--ink:#1c2733;--muted:#5b6876;--line:#dde3ea;--bg:#f4f6f9;--card:#fff;--brand:#0f4c81;
--up:#1b7f4c;--up-bg:#e3f4ea;--degraded:#a86600;--degraded-bg:#fdf0d5;--down:#c0262d;
--down-bg:#fde4e4;--maintenance:#3a5fc8;--maintenance-bg:#e4eafb;--unknown:#6b7785;
--unknown-bg:#eceff3;--none:#e3e7ec}
*{box-sizing:border-box}[hidden]{display:none!important}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",
"DejaVu Sans",Arial,sans-serif;color:var(--ink);background:var(--bg)}
a{color:#0b5cad}a:hover{color:#083f78}
.wrap{max-width:1320px;margin:0 auto;padding:0 20px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
.top{background:var(--brand);color:#fff}
.top-in{display:flex;align-items:center;justify-content:space-between;gap:16px;flex-wrap:wrap;
padding-top:10px;padding-bottom:10px}
.brand{display:flex;align-items:center;gap:10px;color:#fff;text-decoration:none}
.brand b{display:block;font-size:18px;letter-spacing:.02em}.brand small{display:block;opacity:.85}
.logo{width:34px;height:34px;border-radius:8px;background:#fff;color:var(--brand);display:grid;
place-items:center;font-weight:800;font-size:20px}
.top nav{display:flex;gap:6px;flex-wrap:wrap}
.top nav a{color:#fff;text-decoration:none;padding:6px 10px;border-radius:6px}
.top nav a:hover{background:rgba(255,255,255,.14)}
.top nav a.lang{border:1px solid rgba(255,255,255,.55)}
main.wrap{padding-top:20px;padding-bottom:8px}
.crumbs+h1{margin-top:6px}
h1{font-size:24px;margin:4px 0 4px}h2{font-size:18px;margin:0 0 10px}
.lead{color:var(--muted);margin:0 0 14px}
.muted{color:var(--muted)}.small{font-size:13px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px;
margin-bottom:16px}
.message{max-width:640px}
.crumbs{font-size:14px;color:var(--muted);margin-bottom:4px}
.crumbs a{color:var(--muted)}
.badge{display:inline-flex;align-items:center;gap:6px;padding:2px 9px 2px 7px;border-radius:999px;
font-size:13px;font-weight:600;white-space:nowrap;border:1px solid transparent}
.badge .dot{width:9px;height:9px;border-radius:50%;background:currentColor}
.badge-big{font-size:15px;padding:4px 12px 4px 10px}
.badge.st-up{color:var(--up);background:var(--up-bg)}
.badge.st-degraded{color:var(--degraded);background:var(--degraded-bg)}
.badge.st-down{color:#fff;background:var(--down)}
.badge.st-maintenance{color:var(--maintenance);background:var(--maintenance-bg)}
.badge.st-unknown{color:var(--unknown);background:var(--unknown-bg);border-color:#d3d9e0}
.badge.st-unknown .dot{background:transparent;border:2px solid currentColor;width:10px;height:10px}
.tag{display:inline-block;background:#eef2f6;border-radius:4px;padding:0 6px;font-size:12px;
color:#41505f;margin:1px 2px 1px 0}
.tag.life{background:#fff3cd;color:#6a4c00}
.summary{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 14px;padding:0;list-style:none}
.summary a{text-decoration:none}
.summary .total{font-weight:700;padding:3px 4px}
.filters{display:grid;grid-template-columns:minmax(220px,2fr) repeat(4,minmax(140px,1fr)) auto;
gap:10px;align-items:end}
.filters label{display:block;font-size:13px;font-weight:600;color:#33414f;margin-bottom:3px}
.filters input,.filters select{width:100%;font:inherit;padding:7px 9px;border:1px solid #b9c3ce;
border-radius:6px;background:#fff;color:var(--ink)}
.filters input:focus,.filters select:focus{outline:2px solid #6aa5e0;outline-offset:1px}
.actions{display:flex;gap:8px;align-items:center;white-space:nowrap}
.btn{font:inherit;padding:7px 14px;border-radius:6px;border:1px solid var(--brand);
background:var(--brand);color:#fff;cursor:pointer}
.js .btn-apply{display:none}
.count{margin:12px 0 0;color:var(--muted);font-size:14px}
.pager{display:flex;gap:16px;justify-content:center;margin:0 0 16px;font-size:15px}
.pager a{padding:6px 12px;border:1px solid var(--line);border-radius:6px;background:#fff}
table{width:100%;border-collapse:collapse}
.apps th,.apps td{padding:9px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
.apps thead th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);
background:#f9fafc;position:sticky;top:0;z-index:1}
.apps .group th{background:#eef3f8;font-size:15px;text-transform:none;letter-spacing:0;color:var(--ink);
padding-top:10px}
.apps .group small{font-weight:400;color:var(--muted);margin-left:8px}
.apps tr.app:hover td{background:#fafcff}
.name{font-weight:650;font-size:15.5px}.id{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12px;color:var(--muted)}
.upt{font-variant-numeric:tabular-nums;font-weight:600;white-space:nowrap}
.upt.bad{color:var(--down)}.upt.ok{color:var(--up)}
.links a{display:inline-block;margin-right:8px;white-space:nowrap}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;fill:#5b6876}
.trend{display:flex;flex-direction:column;gap:2px}
.grid2{display:grid;grid-template-columns:minmax(0,1.1fr) minmax(0,1fr);gap:16px}
.grid2>.card{margin-bottom:0}
.stack>*+*{margin-top:16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0}
dl.facts dt{color:var(--muted);font-size:14px}dl.facts dd{margin:0}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:12px 0 0}
.now .figures{grid-template-columns:1fr 1fr}
.figure{background:#f7f9fb;border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.figure b{display:block;font-size:20px;font-variant-numeric:tabular-nums}
.figure span{font-size:13px;color:var(--muted)}
.banner{border-radius:8px;padding:10px 14px;margin:0 0 16px;font-weight:600}
.banner.down{background:var(--down-bg);color:#8c1419;border:1px solid #f3b6b6}
.plain th,.plain td{padding:7px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.plain th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto}
.strip{width:100%;max-width:860px;height:auto;display:block}
rect.st-up{fill:#2e9d62}rect.st-degraded{fill:#e0a21b}rect.st-down{fill:#d0343b}
rect.st-maintenance{fill:#5a7fe0}rect.st-unknown{fill:#9aa5b1}rect.st-none{fill:#e8ecf0}
.legend{display:flex;gap:14px;flex-wrap:wrap;list-style:none;padding:0;margin:10px 0 0;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:5px;vertical-align:-1px}
.legend .st-up{background:#2e9d62}.legend .st-degraded{background:#e0a21b}.legend .st-down{background:#d0343b}
.legend .st-maintenance{background:#5a7fe0}.legend .st-unknown{background:#9aa5b1}.legend .st-none{background:#e8ecf0}
.days{display:grid;grid-template-columns:repeat(auto-fill,minmax(62px,1fr));gap:6px;list-style:none;
padding:0;margin:0}
.days li{border-radius:6px;padding:4px 6px;font-size:12px;border:1px solid var(--line);background:#f7f9fb}
.days b{display:block;font-size:11px;color:var(--muted);font-weight:600}
.days span{font-variant-numeric:tabular-nums;font-weight:650}
.days .good{background:var(--up-bg);border-color:#bfe3cd}.days .good span{color:var(--up)}
.days .warn{background:var(--degraded-bg);border-color:#f1d59a}.days .warn span{color:var(--degraded)}
.days .bad{background:var(--down-bg);border-color:#f3b6b6}.days .bad span{color:var(--down)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.daychart{width:100%;height:auto;display:block}
.daychart .bar{fill:#3d7cc2}.daychart .bar-none{fill:#d5dbe2}.daychart .axis{stroke:#9aa5b1}
.daychart .grid{stroke:#e3e7ec;stroke-dasharray:3 3}
.daychart .line{fill:none;stroke:#3d7cc2;stroke-width:2}.daychart .dot{fill:#3d7cc2}
.chart-trend{display:block;width:130px;height:auto}
.chart-box h3{font-size:15px;margin:0 0 4px}
.chart-box p{margin:4px 0 0;font-size:13px;color:var(--muted)}
.ok-text{color:var(--up);font-weight:600}.fail-text{color:var(--down);font-weight:600}
.foot{color:var(--muted);font-size:13px;padding-bottom:24px}.foot p{margin:4px 0}
@media (max-width:1000px){.filters{grid-template-columns:1fr 1fr}.filters .q{grid-column:1/-1}
.grid2{grid-template-columns:1fr}}
@media (max-width:760px){.wrap{padding:0 12px}
.apps thead{display:none}.apps tr.app{display:grid;grid-template-columns:1fr auto;gap:4px 10px;
padding:10px 4px;border-bottom:1px solid var(--line)}.apps tr.app td{border:0;padding:0}
.apps td.c-app{grid-column:1/-1}.apps .group th{display:block}}
@media print{.top,.filters,.foot{display:none}body{background:#fff}}
"""
