"""Rendering the account pages in the portal's frame (templates/portal/layout.html)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from collector import templating
from collector.i18n_catalog import DEFAULT_LANG, Lang, translate
from collector.web import keys
from collector.web.security import html_security_headers

SECURITY_HEADERS = html_security_headers(own_assets=True)


def lang_of(request: web.Request) -> Lang:
    """`?lang=en` for English, else Bahasa Indonesia: the portal's rule."""
    return "en" if request.query.get("lang") == "en" else DEFAULT_LANG


def href(lang: Lang, path: str, **params: str | None) -> str:
    """A link that keeps the language; empty parameters are left out."""
    query = {k: v for k, v in params.items() if v}
    if lang != DEFAULT_LANG:
        query["lang"] = lang
    return path + ("?" + urlencode(query) if query else "")


def form_text(form: Mapping[str, object], name: str, limit: int = 300) -> str:
    """A form field's text, cut at `limit` characters ("" when absent or a file)."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def local_target(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never `//host` or a URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\r\n\\") or len(target) > 2000:
        return "/"
    return target


def render(
    request: web.Request,
    template: str,
    *,
    title: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    """A page of the account area: never cached (it is about one person)."""
    lang = lang_of(request)
    config = request.app[keys.CONFIG]
    tz = zoneinfo.ZoneInfo(config.timezone)
    now = dt.datetime.now(tz)
    other: Lang = "en" if lang == "id" else "id"
    params = {k: v for k, v in request.query.items() if k != "lang"}
    frame = {
        "title": title,
        "switch_href": href(other, request.path, **params),
        "home_href": href(lang, "/"),
        "review_href": "/api/v1/reports/monthly?" + urlencode({"format": "html", "lang": lang}),
        "tz_label": now.tzname() or config.timezone,
        "made_at": now.strftime("%Y-%m-%d %H:%M"),
        "href": lambda path, **p: href(lang, path, **p),
    }
    resp = templating.render_response(
        request, template, lang, {**frame, **(context or {})}, status=status
    )
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def message(
    request: web.Request,
    status: int,
    title: str,
    text: str,
    *,
    link: tuple[str, str] | None = None,
    **values: object,
) -> web.Response:
    """A page that says one thing: `title` and `text` are msgids, `link` is (msgid, href)."""
    lang = lang_of(request)
    return render(
        request,
        "accounts/message.html",
        title=translate(lang, title),
        context={
            "text": translate(lang, text, **values),
            "link": (translate(lang, link[0]), link[1]) if link else None,
        },
        status=status,
    )


def redirect(location: str) -> web.Response:
    """After a form: 303, so reloading the next page does not send the form again."""
    resp = web.Response(status=303, headers={"Location": location})
    resp.headers["Cache-Control"] = "no-store"
    return resp
