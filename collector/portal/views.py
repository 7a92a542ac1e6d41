"""The portal's pages: the list of applications, one application, one agency."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

from aiohttp import web

from collector.portal import data, i18n
from collector.portal.data import AgencyDetail, AppDetail, AppSummary, Clock
from collector.portal.i18n import Lang, t
from collector.portal.page import (
    agency_path,
    app_path,
    badge,
    e,
    href,
    layout,
    message_page,
    safe_href,
)
from collector.portal.script import SCRIPT
from collector.portal.svg import Bar, Cell, daily_chart, state_strip
from collector.review.render import svg as report_svg
from collector.state.incidents import Incident
from collector.web import keys
from collector.web.errors import DB_UNAVAILABLE
from collector.web.security import html_security_headers
from wire.catalog import Lifecycle

log = logging.getLogger(__name__)

# Inline styles are allowed (the page's one stylesheet); scripts only from the portal itself.
SECURITY_HEADERS = html_security_headers(own_assets=True)
FILTERS = ("q", "agency", "managed_by", "lifecycle", "category", "state", "page")
PAGE_SIZE = 100  # rows of the list per page: about 100 KB of HTML


# --- request plumbing ---------------------------------------------------------------------------


def lang_of(request: web.Request) -> Lang:
    """`?lang=en` for English; anything else is the default, Bahasa Indonesia."""
    return "en" if request.query.get("lang") == "en" else i18n.DEFAULT_LANG


def other_lang_href(request: web.Request, lang: Lang) -> str:
    """This page in the other language, with the same parameters."""
    other: Lang = "en" if lang == "id" else "id"
    params = {k: v for k, v in request.query.items() if k != "lang"}
    return href(other, request.path, params)


def public_contacts(request: web.Request) -> bool:
    """The portal has no login: owners' contacts only when the configuration publishes them."""
    return request.app[keys.CONFIG].public_contacts


def clock_of(request: web.Request) -> Clock:
    config = request.app[keys.CONFIG]
    return Clock(now=dt.datetime.now(dt.UTC), tz=zoneinfo.ZoneInfo(config.timezone),
                 settings=config.state_settings())  # fmt: skip


def html_response(text: str, *, status: int = 200) -> web.Response:
    resp = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-cache"
    resp.enable_compression()  # gzip when the client takes it
    return resp


PageHandler = Callable[[web.Request, Lang, Clock], Awaitable[web.Response]]


def message_response(
    lang: Lang,
    clock: Clock,
    *,
    status: int,
    title: str,
    text: str,
    switch_href: str,
    back: bool = True,
) -> web.Response:
    """A page that says one thing (an error, a refusal) in the portal's look."""
    body = message_page(
        lang, title=title, text=text, now=clock.now, tz=clock.tz, switch_href=switch_href,
        back=back,
    )  # fmt: skip
    return html_response(body, status=status)


def page(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An HTML page: 403 when the catalogue is not public, friendly 503/500 pages on failure."""

    async def wrapped(request: web.Request) -> web.Response:
        lang, clock = lang_of(request), clock_of(request)

        def message(status: int, title: str, text: str) -> web.Response:
            return message_response(
                lang, clock, status=status, title=t(lang, title), text=t(lang, text),
                switch_href=other_lang_href(request, lang), back=status != 403,
            )  # fmt: skip

        if not request.app[keys.CONFIG].public_catalog:
            return message(403, "not_public_title", "not_public")
        try:
            return await handler(request, lang, clock)
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable for %s: %s", request.path, exc)
            resp = message(503, "unavailable_title", "unavailable")
            resp.headers["Retry-After"] = "5"
            return resp
        except Exception:
            log.exception("portal page %s failed", request.path)
            return message(500, "error_title", "error_text")

    return wrapped


def error_page(request: web.Request, status: int) -> web.Response | None:
    """The error middleware's answer for a portal page (a URL with a control character): a page
    like the others, not the API's JSON. None for every other route."""
    route = request.match_info.route
    if not (route.name or "").startswith("portal-") or status != 400:
        return None
    lang, clock = lang_of(request), clock_of(request)
    return message_response(
        lang, clock, status=400, title=t(lang, "bad_request_title"), text=t(lang, "bad_request"),
        switch_href=href("en" if lang == "id" else "id", "/"),  # not the hostile URL again
    )  # fmt: skip


def not_found(request: web.Request, lang: Lang, clock: Clock, text: str) -> web.Response:
    return message_response(
        lang, clock, status=404, title=t(lang, "not_found_title"), text=text,
        switch_href=other_lang_href(request, lang),
    )  # fmt: skip


# The brand mark, also for pages that name no icon (the monthly review): browsers ask for it.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#0f4c81"/>'
    '<path d="M11 25V7h7a6 6 0 0 1 0 12h-3v6z M15 11v4h3a2 2 0 0 0 0-4z" fill="#fff"'
    ' fill-rule="evenodd"/></svg>'
)


async def favicon(request: web.Request) -> web.Response:
    return web.Response(
        text=FAVICON,
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=604800"},
    )


async def script(request: web.Request) -> web.Response:
    return web.Response(
        text=SCRIPT,
        content_type="text/javascript",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


# --- pieces shared by the pages -----------------------------------------------------------------


def since_text(lang: Lang, at: dt.datetime | None, clock: Clock) -> str:
    if at is None:
        return ""
    return t(lang, "since", at=i18n.fmt_time(lang, at, clock.tz))


def uptime_cell(lang: Lang, s: AppSummary) -> str:
    uptime = s.availability.uptime
    target = i18n.fmt_target(lang, s.app.target_uptime)
    if uptime is None:
        return f'<span class="muted small">{e(t(lang, "no_data"))}</span>'
    met = uptime >= s.app.target_uptime
    note = t(lang, "meets_target" if met else "below_target", target=target)
    cls = "ok" if met else "bad"
    return (
        f'<span class="upt {cls}" title="{e(note)}">{e(i18n.fmt_percent(lang, uptime))}</span>'
        f'<div class="muted small">{e(note)}</div>'
    )


def usage_cell(lang: Lang, s: AppSummary) -> str:
    """The review's trend sparkline: counters as bars of the day's use, gauges as a line."""
    trend = s.trend
    if trend is None:
        return f'<span class="muted small">{e(t(lang, "no_usage"))}</span>'
    counter = trend.kind == "counter"
    what = t(lang, "per_day" if counter else "daily_avg")
    metric = i18n.metric_name(lang, trend.metric)
    values = [v for _, v in trend.days]
    last_at = next((k for k in range(len(values) - 1, -1, -1) if values[k] is not None), None)
    last = values[last_at] if last_at is not None else None
    last_text = i18n.fmt_compact(lang, last) if last is not None else t(lang, "none")
    # A day's figure is "per day" only for a whole day: not today, nor a day the metric began
    # reporting (no data the day before), such as 37 minutes after registration.
    last_what = what
    if counter and last_at is not None and last_at == len(values) - 1:  # the series ends today
        last_what = t(lang, "so_far_today")
    elif counter and last_at is not None and (last_at == 0 or values[last_at - 1] is None):
        last_what = t(lang, "partial_day")
    chart = report_svg.Trend(
        title=t(lang, "usage_trend", metric=metric, what=what),
        desc=t(
            lang,
            "usage_last",
            day=i18n.fmt_day_month(lang, trend.days[last_at if last_at is not None else -1][0]),
            value=last_text,
        ),
        values=values,
        style="bars" if counter else "line",
    )
    return (
        f'<div class="trend">{report_svg.trend(chart, f"u-{s.app.id}")}'
        f'<span class="muted small">{e(metric)} · {e(last_text)} {e(last_what)}</span></div>'
    )


def owner_cell(s: AppSummary) -> str:
    o = s.app.owner
    parts = []
    if o.name:
        parts.append(f"<div>{e(o.name)}</div>")
    if o.email:
        parts.append(f'<div class="small"><a href="mailto:{e(o.email)}">{e(o.email)}</a></div>')
    return "".join(parts) or '<span class="muted">—</span>'


def app_row(lang: Lang, s: AppSummary, clock: Clock) -> str:
    a = s.app
    tags = []
    if a.lifecycle != "active":
        tags.append(f'<span class="tag life">{e(i18n.lifecycle_name(lang, a.lifecycle))}</span>')
    if a.category:
        tags.append(f'<span class="tag">{e(i18n.category_name(lang, a.category))}</span>')
    site = safe_href(a.url)
    links = []
    if site:
        links.append(
            f'<a href="{e(site)}" rel="noopener noreferrer" target="_blank">'
            f"{e(t(lang, 'open_site'))} ↗</a>"
        )
    links.append(f'<a href="{e(href(lang, app_path(a.id)))}">{e(t(lang, "details"))}</a>')
    provider = f'<div class="muted small">{e(a.provider)}</div>' if a.provider else ""
    since = since_text(lang, s.since, clock)
    attrs = f'data-app="{e(a.id)}" data-agency="{e(a.agency)}" data-state="{e(s.state)}"'
    return (
        f'<tr class="app" {attrs}>'
        f'<td class="c-app"><a class="name" href="{e(href(lang, app_path(a.id)))}">{e(a.name)}</a>'
        f' <span class="id">{e(a.id)}</span><div>{"".join(tags)}</div></td>'
        f'<td class="c-run">{e(i18n.managed_by_name(lang, a.managed_by))}{provider}</td>'
        f'<td class="c-state">{badge(lang, s.state)}'
        f'<div class="muted small">{e(since)}</div></td>'
        f'<td class="c-uptime">{uptime_cell(lang, s)}</td>'
        f'<td class="c-usage">{usage_cell(lang, s)}</td>'
        f'<td class="c-owner">{owner_cell(s)}</td>'
        f'<td class="c-links links">{"".join(links)}</td></tr>'
    )


def table_head(lang: Lang) -> str:
    cols = (
        "col_app",
        "col_run_by",
        "col_state",
        "col_uptime",
        "col_usage",
        "col_owner",
        "col_links",
    )
    return (
        "<thead><tr>"
        + "".join(f'<th scope="col">{e(t(lang, c))}</th>' for c in cols)
        + "</tr></thead>"
    )


def state_summary(lang: Lang, counts: Mapping[str, int], *, link: bool) -> str:
    items = [f'<li class="total">{e(t(lang, "apps_count", n=sum(counts.values())))}</li>']
    for state in i18n.STATES:
        n = counts.get(state, 0)
        if not n:
            continue
        chip = f"{badge(lang, state)} <b>{n}</b>"
        if link:
            chip = f'<a href="{e(href(lang, "/", {"state": state}))}">{chip}</a>'
        items.append(f"<li>{chip}</li>")
    return f'<ul class="summary" aria-label="{e(t(lang, "summary_label"))}">{"".join(items)}</ul>'


def incidents_table(
    lang: Lang, incidents: Sequence[Incident], clock: Clock, *, with_app: bool
) -> str:
    head = [t(lang, "i_app")] if with_app else []
    head += [t(lang, k) for k in ("i_started", "i_ended", "i_duration", "i_cause", "i_zones")]
    rows = []
    for i in incidents:
        app = (
            f'<td><a href="{e(href(lang, app_path(i.app)))}">{e(i.app_name)}</a></td>'
            if with_app
            else ""
        )
        ended = (
            e(i18n.fmt_time(lang, i.ended_at, clock.tz))
            if i.ended_at
            else f'<span class="fail-text">{e(t(lang, "i_ongoing"))}</span>'
        )
        cause = ", ".join(i18n.reason_name(lang, c) for c in i.cause) or t(lang, "none")
        rows.append(
            f"<tr>{app}<td>{e(i18n.fmt_time(lang, i.started_at, clock.tz))}</td><td>{ended}</td>"
            f'<td class="num">{e(i18n.fmt_duration(lang, i.duration_seconds))}</td><td>{e(cause)}</td>'
            f"<td>{e(', '.join(i.zones))}</td></tr>"
        )
    header = "".join(f'<th scope="col">{e(h)}</th>' for h in head)
    return f'<div class="scroll"><table class="plain"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


# --- the list -------------------------------------------------------------------------------------


class BadPage(Exception):
    """`page` is not a whole number from 1."""


@dataclass(frozen=True)
class Criteria:
    """The list's search and filters, and the page; applied by the server (data.catalogue_page)."""

    q: str = ""
    agency: str = ""
    managed_by: str = ""
    lifecycle: str = ""
    category: str = ""
    state: str = ""
    page: int = 1

    def terms(self) -> list[str]:
        return self.q.lower().split()

    def matches(self, x: data.Listed) -> bool:
        return (
            all(term in x.text for term in self.terms())
            and (not self.agency or x.agency == self.agency)
            and (not self.managed_by or x.managed_by == self.managed_by)
            and (not self.lifecycle or x.lifecycle == self.lifecycle)
            and (not self.category or x.category == self.category)
            and (not self.state or x.state == self.state)
        )

    def params(self, **changes: str) -> dict[str, str]:
        """The filters as query parameters (empty ones left out by href())."""
        out = {"q": self.q, "agency": self.agency, "managed_by": self.managed_by,
               "lifecycle": self.lifecycle, "category": self.category, "state": self.state}  # fmt: skip
        return {**out, **changes}

    def page_href(self, lang: Lang, page: int) -> str:
        return href(lang, "/", self.params(page=str(page) if page > 1 else ""))


LIFECYCLES: tuple[str, ...] = get_args(Lifecycle)


def _criteria(request: web.Request) -> Criteria:
    """The filters of the query; a value no option offers matches nothing it could name, so the
    choice lists (agencies, categories) are the catalogue's and checked by equality."""
    q = request.query

    def pick(name: str, allowed: Sequence[str]) -> str:
        value = q.get(name, "")
        return value if value in allowed else ""

    raw_page = q.get("page", "").strip()
    if not raw_page:
        page = 1
    elif not (raw_page.isascii() and raw_page.isdigit()) or len(raw_page) > 9 or int(raw_page) < 1:
        raise BadPage(raw_page)
    else:
        page = int(raw_page)
    return Criteria(
        q=q.get("q", "").strip()[:200],
        agency=q.get("agency", "")[:200],
        managed_by=pick("managed_by", i18n.MANAGED_BY),
        lifecycle=pick("lifecycle", LIFECYCLES),
        category=q.get("category", "")[:200],
        state=pick("state", i18n.STATES),
        page=page,
    )


def _select(
    name: str, label: str, lang: Lang, options: Sequence[tuple[str, str]], chosen: str
) -> str:
    opts = [f'<option value="">{e(t(lang, "f_all"))}</option>']
    opts += [
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(text)}</option>'
        for v, text in options
    ]
    return (
        f'<div><label for="f-{name}">{e(label)}</label>'
        f'<select id="f-{name}" name="{name}">{"".join(opts)}</select></div>'
    )


def _form(lang: Lang, crit: Criteria, cat: data.CataloguePage) -> str:
    agencies = sorted(cat.agencies, key=lambda a: a.name.casefold())
    return (
        '<form id="filters" class="card filters" method="get" action="/" role="search">'
        f'<div class="q"><label for="f-q">{e(t(lang, "search"))}</label>'
        f'<input id="f-q" name="q" type="search" value="{e(crit.q)}" autocomplete="off"'
        f' placeholder="{e(t(lang, "search_hint"))}"></div>'
        + _select(
            "agency", t(lang, "f_agency"), lang, [(a.id, a.name) for a in agencies], crit.agency
        )
        + _select(
            "managed_by",
            t(lang, "f_managed_by"),
            lang,
            [(m, i18n.managed_by_name(lang, m)) for m in i18n.MANAGED_BY],
            crit.managed_by,
        )
        + _select(
            "lifecycle",
            t(lang, "f_lifecycle"),
            lang,
            [(v, i18n.lifecycle_name(lang, v)) for v in LIFECYCLES],
            crit.lifecycle,
        )
        + _select(
            "category",
            t(lang, "f_category"),
            lang,
            sorted(
                ((c, i18n.category_name(lang, c)) for c in cat.categories),
                key=lambda o: o[1].casefold(),
            ),
            crit.category,
        )
        + _select(
            "state",
            t(lang, "f_state"),
            lang,
            [(s, i18n.state_name(lang, s)) for s in i18n.STATES],
            crit.state,
        )
        + (f'<input type="hidden" name="lang" value="{lang}">' if lang != i18n.DEFAULT_LANG else "")
        + f'<div class="actions"><button class="btn btn-apply" type="submit">{e(t(lang, "f_apply"))}</button>'
        f'<a href="{e(href(lang, "/"))}">{e(t(lang, "f_clear"))}</a></div></form>'
    )


def _pager(lang: Lang, crit: Criteria, cat: data.CataloguePage) -> str:
    """Links to the previous and next pages, with the same filters; none on a single page."""
    links = []
    if crit.page > 1 and cat.rows:
        links.append(f'<a rel="prev" href="{e(crit.page_href(lang, crit.page - 1))}">'
                     f"← {e(t(lang, 'page_prev'))}</a>")  # fmt: skip
    if cat.offset + len(cat.rows) < cat.matched:
        links.append(f'<a rel="next" href="{e(crit.page_href(lang, crit.page + 1))}">'
                     f"{e(t(lang, 'page_next'))} →</a>")  # fmt: skip
    if not links:
        return ""
    return f'<nav class="pager" aria-label="{e(t(lang, "pages"))}">{"".join(links)}</nav>'


async def list_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    try:
        crit = _criteria(request)
    except BadPage:
        return message_response(
            lang, clock, status=400, title=t(lang, "bad_page_title"), text=t(lang, "bad_page"),
            switch_href=other_lang_href(request, lang),
        )  # fmt: skip
    async with request.app[keys.POOL].acquire() as conn:
        cat = await data.catalogue_page(
            conn,
            clock,
            keep=crit.matches,
            offset=(crit.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            contacts=public_contacts(request),
        )
    names = {a.id: a.name for a in cat.agencies}
    groups = []
    for agency_id, members in itertools.groupby(cat.rows, key=lambda s: s.app.agency):
        groups.append(
            f'<tbody class="agency" data-agency="{e(agency_id)}">'
            f'<tr class="group"><th colspan="7" scope="rowgroup">'
            f'<a href="{e(href(lang, agency_path(agency_id)))}">'
            f"{e(names.get(agency_id, agency_id))}</a></th></tr>"
            + "".join(app_row(lang, s, clock) for s in members)
            + "</tbody>"
        )
    count = t(lang, "shown", shown=cat.matched, total=cat.total)
    if cat.rows:
        showing = t(
            lang,
            "showing",
            first=i18n.fmt_number(lang, cat.offset + 1),
            last=i18n.fmt_number(lang, cat.offset + len(cat.rows)),
            of=i18n.fmt_number(lang, cat.matched),
        )
        count = f"{showing} · {count}"
        table = (
            f'<div class="card scroll" style="padding:0;margin-top:8px"><table class="apps">'
            f"{table_head(lang)}{''.join(groups)}</table></div>"
        )
    elif cat.matched:  # a page past the end: the way back to the first
        table = (
            f'<p id="no-match" class="card muted">{e(t(lang, "page_empty"))} '
            f'<a href="{e(crit.page_href(lang, 1))}">{e(t(lang, "page_first"))}</a></p>'
        )
    else:
        table = (
            f'<p id="no-match" class="card muted">'
            f"{e(t(lang, 'no_match') if cat.total else t(lang, 'no_apps'))}</p>"
        )
    body = (
        f'<h1>{e(t(lang, "portal_title"))}</h1><p class="lead">{e(t(lang, "portal_tagline"))}</p>'
        + state_summary(lang, cat.states, link=True)
        + _form(lang, crit, cat)
        + f'<p id="count" class="count" aria-live="polite">{e(count)}</p>'
        + table
        + _pager(lang, crit, cat)
    )
    html = layout(
        lang,
        title=t(lang, "portal_title"),
        body=body,
        now=clock.now,
        tz=clock.tz,
        switch_href=other_lang_href(request, lang),
        script=True,
    )
    return html_response(html)


# --- one application ------------------------------------------------------------------------------


def _facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return (
        '<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
    )


def _details(lang: Lang, d: AppDetail) -> str:
    a = d.summary.app
    none = f'<span class="muted">{e(t(lang, "none"))}</span>'
    agency = f'<a href="{e(href(lang, agency_path(a.agency)))}">{e(d.summary.agency_name)}</a>'
    site = safe_href(a.url)
    url = (
        f'<a href="{e(site)}" rel="noopener noreferrer" target="_blank">{e(a.url)}</a>'
        if site
        else e(a.url)
        if a.url
        else none
    )
    o = a.owner
    owner = [e(o.name)] if o.name else []
    if o.email:
        owner.append(f'<a href="mailto:{e(o.email)}">{e(o.email)}</a>')
    if o.phone:
        owner.append(f'<a href="tel:{e(o.phone.replace(" ", ""))}">{e(o.phone)}</a>')
    checks = ", ".join(f"{e(c.check_name)} ({e(c.kind)})" for c in a.checks)
    usage = ", ".join(f"{e(u.metric)} ({e(u.kind)})" for u in a.usage)
    items = [
        (t(lang, "d_id"), f'<span class="id">{e(a.id)}</span>'),
        (t(lang, "d_agency"), agency),
        (t(lang, "d_managed_by"), e(i18n.managed_by_name(lang, a.managed_by))),
        (t(lang, "d_provider"), e(a.provider) if a.provider else none),
        (t(lang, "d_category"), e(i18n.category_name(lang, a.category)) if a.category else none),
        (t(lang, "d_lifecycle"), e(i18n.lifecycle_name(lang, a.lifecycle))),
        (t(lang, "d_url"), url),
        (t(lang, "d_owner"), "<br>".join(owner) or none),
        (t(lang, "d_target"), e(i18n.fmt_target(lang, a.target_uptime))),
        (t(lang, "d_criticality"), e(i18n.criticality_name(lang, a.criticality))),
        (t(lang, "d_tags"), "".join(f'<span class="tag">{e(x)}</span>' for x in a.tags) or none),
        (t(lang, "d_zones"), e(", ".join(a.zones)) or none),
        (t(lang, "d_checks"), checks or f'<span class="muted">{e(t(lang, "not_checked"))}</span>'),
        (t(lang, "d_usage"), usage or none),
    ]
    if a.description:
        items.append((t(lang, "d_description"), e(a.description)))
    return f'<section class="card"><h2>{e(t(lang, "details_title"))}</h2>{_facts(items)}</section>'


def _now_panel(lang: Lang, d: AppDetail, clock: Clock) -> str:
    s = d.summary
    av = s.availability
    zones = "".join(
        f"<tr><td>{e(z.zone)}</td><td>{badge(lang, z.state)}</td>"
        f'<td class="muted small">{e(since_text(lang, z.since, clock))}</td></tr>'
        for z in d.zones
    )
    uptime = av.uptime
    target_note = (
        t(
            lang,
            "meets_target" if uptime >= s.app.target_uptime else "below_target",
            target=i18n.fmt_target(lang, s.app.target_uptime),
        )
        if uptime is not None
        else t(lang, "no_data")
    )
    figures = [
        (i18n.fmt_percent(lang, uptime), f"{t(lang, 'uptime_30')} · {target_note}"),
        (i18n.fmt_duration(lang, av.down_s), t(lang, "downtime_30")),
        (i18n.fmt_duration(lang, av.maintenance_s), t(lang, "maintenance_30")),
        (i18n.fmt_duration(lang, av.unknown_s), t(lang, "unknown_30")),
    ]
    fig_html = "".join(
        f'<div class="figure"><b>{e(v)}</b><span>{e(k)}</span></div>' for v, k in figures
    )
    return (
        f'<section class="card now"><h2>{e(t(lang, "state_now"))}</h2>'
        f"<p>{badge(lang, s.state, big=True)} "
        f'<span class="muted">{e(since_text(lang, s.since, clock))}</span></p>'
        f'<h3 class="small muted">{e(t(lang, "per_zone"))}</h3>'
        f'<table class="plain"><tbody>{zones}</tbody></table>'
        f'<div class="figures">{fig_html}</div></section>'
    )


def _timeline(lang: Lang, d: AppDetail, clock: Clock) -> str:
    by_hour = {h.hour.astimezone(dt.UTC): h for h in d.hours}
    current = clock.now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    rows: list[tuple[str, list[Cell]]] = []
    for day in clock.days_back(data.TIMELINE_DAYS):
        start = clock.local_midnight(day).astimezone(dt.UTC)
        cells = []
        for h in range(24):
            hour = start + dt.timedelta(hours=h)
            if hour >= current:
                break
            row = by_hour.get(hour)
            local = hour.astimezone(clock.tz)
            end = (hour + dt.timedelta(hours=1)).astimezone(clock.tz)
            if row is None:
                state, detail = None, i18n.state_name(lang, "none")
            else:
                state = row.dominant()
                detail = i18n.state_name(lang, state)
                if row.down_s > 0:
                    detail += f" ({i18n.fmt_duration(lang, row.down_s)})"
            cells.append(
                Cell(state=state, start=f"{local:%H:%M}", end=f"{end:%H:%M}", detail=detail)
            )
        rows.append((i18n.fmt_day_short(lang, day), cells))
    strip = state_strip(
        rows,
        label=t(lang, "timeline_title"),
        hour_labels=[(h, f"{h:02d}:00") for h in (0, 6, 12, 18)],
    )
    legend = "".join(
        f'<li><i class="st-{s}"></i>{e(i18n.state_name(lang, s))}</li>'
        for s in (*i18n.STATES, "none")
    )
    return (
        f'<section class="card"><h2>{e(t(lang, "timeline_title"))}</h2>'
        f'<p class="muted small">{e(t(lang, "timeline_note"))}</p><div class="scroll">{strip}</div>'
        f'<ul class="legend">{legend}</ul></section>'
    )


def _daily(lang: Lang, d: AppDetail, clock: Clock) -> str:
    by_day = {r.day: r.availability for r in d.days}
    target = d.summary.app.target_uptime
    items = []
    for day in clock.days_back(data.UPTIME_DAYS):
        av = by_day.get(day)
        uptime = av.uptime if av else None
        if uptime is None:
            cls, text = "", t(lang, "none")
        else:
            cls = "good" if uptime >= target else "warn" if uptime >= target - 1 else "bad"
            text = i18n.fmt_percent(lang, uptime)
        title = i18n.fmt_date(lang, day)
        if av is not None:
            title += (
                f": {i18n.fmt_percent(lang, uptime)} · {t(lang, 'downtime')}"
                f" {i18n.fmt_duration(lang, av.down_s)}"
            )
        items.append(
            f'<li class="{cls}" title="{e(title)}"><b>{e(i18n.fmt_day_month(lang, day))}</b>'
            f"<span>{e(text)}</span></li>"
        )
    return (
        f'<section class="card"><h2>{e(t(lang, "daily_title"))}</h2>'
        f'<ol class="days">{"".join(items)}</ol></section>'
    )


def _usage(lang: Lang, d: AppDetail) -> str:
    app = d.summary.app
    boxes = []
    for u in d.usage:
        values = [v for _, v in u.days]
        known = [v for v in values if v is not None]
        if not known:
            continue
        counter = u.kind == "counter"
        title = t(
            lang, "u_counter" if counter else "u_gauge", metric=i18n.metric_name(lang, u.metric)
        )
        bars = [
            Bar(
                value=v,
                title=f"{i18n.fmt_date(lang, day)}: "
                + (
                    i18n.fmt_number(lang, v, 0 if counter else 1)
                    if v is not None
                    else t(lang, "no_data")
                ),
            )
            for day, v in u.days
        ]
        n = len(u.days)
        chart = daily_chart(
            bars,
            label=title,
            top_label=i18n.fmt_compact(lang, max(known)),
            x_labels=[
                (0, i18n.fmt_day_month(lang, u.days[0][0])),
                (n // 2, i18n.fmt_day_month(lang, u.days[n // 2][0])),
                (n - 1, i18n.fmt_day_month(lang, u.days[-1][0])),
            ],
            line=not counter,
        )
        if counter:
            facts = (
                f"{t(lang, 'u_total')}: {i18n.fmt_number(lang, sum(known), 0)} · "
                f"{t(lang, 'u_peak')}: {i18n.fmt_number(lang, max(known), 0)}"
            )
        else:
            facts = (
                f"{t(lang, 'u_average')}: {i18n.fmt_number(lang, sum(known) / len(known), 1)} · "
                f"{t(lang, 'u_peak')}: {i18n.fmt_number(lang, max(known), 1)}"
            )
        boxes.append(f'<div class="chart-box"><h3>{e(title)}</h3>{chart}<p>{e(facts)}</p></div>')
    if not boxes:
        note = t(lang, "u_none") if app.usage else t(lang, "u_no_source")
        inner = f'<p class="muted">{e(note)}</p>'
    else:
        inner = f'<div class="charts">{"".join(boxes)}</div>'
    return f'<section class="card"><h2>{e(t(lang, "usage_title"))}</h2>{inner}</section>'


def _checks(lang: Lang, d: AppDetail, clock: Clock) -> str:
    if not d.checks:
        return (
            f'<section class="card"><h2>{e(t(lang, "checks_title"))}</h2>'
            f'<p class="muted">{e(t(lang, "c_none"))}</p></section>'
        )
    head = "".join(
        f'<th scope="col">{e(t(lang, k))}</th>'
        for k in (
            "c_zone",
            "c_check",
            "c_result",
            "c_at",
            "c_duration",
            "c_status",
            "c_tls",
            "c_probe",
        )
    )
    rows = []
    for c in d.checks:
        if c.ok:
            result = f'<span class="ok-text">{e(t(lang, "c_ok"))}</span>'
        else:
            why = i18n.reason_name(lang, c.reason) if c.reason else ""
            result = f'<span class="fail-text">{e(t(lang, "c_failed"))}</span>'
            if why:
                result += f'<div class="small">{e(why)}</div>'
        if c.message:
            result += f'<div class="small muted">{e(c.message)}</div>'
        tls = t(lang, "none")
        if c.tls_expiry is not None:
            left = (c.tls_expiry - clock.now).total_seconds() / 86_400
            when = t(lang, "c_expired") if left < 0 else t(lang, "c_expires_in", days=int(left))
            tls = f"{i18n.fmt_date(lang, c.tls_expiry.astimezone(clock.tz).date())} ({when})"
        rows.append(
            f"<tr><td>{e(c.zone)}</td><td>{e(c.check_name)} <span class='muted small'>{e(c.kind)}</span></td>"
            f"<td>{result}</td><td>{e(i18n.fmt_time(lang, c.ts, clock.tz))}</td>"
            f'<td class="num">{e(i18n.fmt_seconds_short(lang, c.duration_s))}</td>'
            f'<td class="num">{e(c.status_code if c.status_code is not None else t(lang, "none"))}</td>'
            f"<td>{e(tls)}</td><td class='small'>{e(c.probe)}</td></tr>"
        )
    return (
        f'<section class="card"><h2>{e(t(lang, "checks_title"))}</h2><div class="scroll">'
        f'<table class="plain"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table></div></section>"
    )


async def app_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    app_id = request.match_info["id"]
    async with request.app[keys.POOL].acquire() as conn:
        d = await data.app_detail(conn, app_id, clock, contacts=public_contacts(request))
    if d is None:
        return not_found(request, lang, clock, t(lang, "app_not_found", id=app_id))
    a = d.summary.app
    open_incident = next((i for i in d.incidents if i.ended_at is None), None)
    banner = (
        f'<p class="banner down" role="status">'
        f"{e(t(lang, 'open_incident', at=i18n.fmt_time(lang, open_incident.started_at, clock.tz)))}"
        f" · {e(i18n.fmt_duration(lang, open_incident.duration_seconds))}"
        f" · {e(', '.join(i18n.reason_name(lang, c) for c in open_incident.cause))}</p>"
        if open_incident
        else ""
    )
    incidents = (
        incidents_table(lang, d.incidents, clock, with_app=False)
        if d.incidents
        else f'<p class="muted">{e(t(lang, "i_none"))}</p>'
    )
    body = (
        f'<nav class="crumbs" aria-label="breadcrumb"><a href="{e(href(lang, "/"))}">'
        f'{e(t(lang, "nav_apps"))}</a> &rsaquo; <a href="{e(href(lang, agency_path(a.agency)))}">'
        f"{e(d.summary.agency_name)}</a></nav>"
        f"<h1>{e(a.name)} {badge(lang, d.summary.state, big=True)}</h1>"
        + (f'<p class="lead">{e(a.description)}</p>' if a.description else "")
        + banner
        + f'<div class="grid2">{_details(lang, d)}{_now_panel(lang, d, clock)}</div>'
        + '<div class="stack" style="margin-top:16px">'
        + _timeline(lang, d, clock)
        + _daily(lang, d, clock)
        + _usage(lang, d)
        + f'<section class="card"><h2>{e(t(lang, "incidents_title"))}</h2>{incidents}</section>'
        + _checks(lang, d, clock)
        + "</div>"
    )
    html = layout(
        lang,
        title=a.name,
        body=body,
        now=clock.now,
        tz=clock.tz,
        switch_href=other_lang_href(request, lang),
    )
    return html_response(html)


# --- one agency -----------------------------------------------------------------------------------


async def agency_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    agency_id = request.match_info["id"]
    async with request.app[keys.POOL].acquire() as conn:
        d = await data.agency_detail(conn, agency_id, clock, contacts=public_contacts(request))
    if d is None:
        return not_found(request, lang, clock, t(lang, "agency_not_found", id=agency_id))
    html = layout(
        lang,
        title=d.agency.name,
        body=_agency_body(lang, d, clock),
        now=clock.now,
        tz=clock.tz,
        switch_href=other_lang_href(request, lang),
    )
    return html_response(html)


def _agency_body(lang: Lang, d: AgencyDetail, clock: Clock) -> str:
    ag = d.agency
    facts = []
    if d.parent is not None:
        facts.append(
            f'{e(t(lang, "d_parent"))}: <a href="{e(href(lang, agency_path(d.parent.id)))}">'
            f"{e(d.parent.name)}</a>"
        )
    if ag.contact:
        facts.append(f"{e(t(lang, 'd_contact'))}: {e(ag.contact)}")
    rows = sorted(d.apps, key=lambda s: s.app.name.casefold())
    total = data.total_availability(rows)
    figures = [
        (i18n.fmt_percent(lang, total.uptime), t(lang, "agency_uptime")),
        (str(len(d.open_incidents)), t(lang, "open_incidents")),
        (i18n.fmt_duration(lang, total.down_s), t(lang, "downtime_30")),
    ]
    fig_html = "".join(
        f'<div class="figure"><b>{e(v)}</b><span>{e(k)}</span></div>' for v, k in figures
    )
    table = (
        f'<div class="card scroll" style="padding:0"><table class="apps">{table_head(lang)}<tbody>'
        + "".join(app_row(lang, s, clock) for s in rows)
        + "</tbody></table></div>"
        if rows
        else f'<p class="card muted">{e(t(lang, "no_apps"))}</p>'
    )
    incidents = (
        incidents_table(lang, d.open_incidents, clock, with_app=True)
        if d.open_incidents
        else f'<p class="muted">{e(t(lang, "no_open_incidents"))}</p>'
    )
    return (
        f'<nav class="crumbs" aria-label="breadcrumb"><a href="{e(href(lang, "/"))}">'
        f"{e(t(lang, 'nav_apps'))}</a></nav><h1>{e(ag.name)}</h1>"
        + (f'<p class="lead">{" · ".join(facts)}</p>' if facts else "")
        + f'<section class="card"><h2>{e(t(lang, "by_state"))}</h2>'
        + state_summary(lang, data.count_states(rows), link=False)
        + f'<div class="figures">{fig_html}</div></section>'
        + f"<h2>{e(t(lang, 'agency_apps'))}</h2>"
        + table
        + f'<section class="card"><h2>{e(t(lang, "open_incidents"))}</h2>{incidents}</section>'
    )
