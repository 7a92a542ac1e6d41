"""The portal's links: to its pages, keeping the language, and to the catalogue's own sites.

The pages are templates (templates/portal/), which escape every value; links from the catalogue
go through `safe_href` (a filter of the templates too), which keeps only http(s) URLs, so a
`javascript:` URL is shown as text and never followed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

from collector.i18n_catalog import DEFAULT_LANG, Lang
from collector.portal.script import SCRIPT

SCRIPT_VERSION = hashlib.sha256(SCRIPT.encode()).hexdigest()[:12]
SCRIPT_PATH = "/portal.js"


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


def href(lang: Lang, path: str, params: Mapping[str, str] | None = None) -> str:
    """A portal link that keeps the language; empty parameters are left out."""
    query = {k: v for k, v in (params or {}).items() if v}
    if lang != DEFAULT_LANG:
        query["lang"] = lang
    return path + ("?" + urlencode(query) if query else "")


def app_path(app_id: str) -> str:
    return "/apps/" + quote(app_id, safe="")


def agency_path(agency_id: str) -> str:
    return "/agencies/" + quote(agency_id, safe="")


def review_href(lang: Lang) -> str:
    return "/api/v1/reports/monthly?" + urlencode({"format": "html", "lang": lang})
