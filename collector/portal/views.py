"""The portal's pages: the list of applications, one application, one agency.

Each page is a template under templates/portal/ (list.html, app.html, agency.html, message.html,
all on layout.html, with the pieces they share in macros.html). The handlers here read the data
(collector.portal.data) and hand the templates what takes more than a filter to say: the hourly
strip and the usage charts (collector.portal.svg), the days of the uptime list, the trend cell.
The templates get, besides the shared filters (collector.templating), the globals `href(path,
params)` (a portal link in the page's language), `app_path`, `agency_path`, `safe_href(url)`,
`usage_cell(summary)` and `STATES`, and the filters `since(tz)` and `target_note(target)`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import jinja2
from aiohttp import web
from markupsafe import Markup

from collector import access, formats, labels, templating
from collector.accounts import current_account
from collector.i18n_catalog import DEFAULT_LANG, N_, Lang, translate, translate_in, translate_plural
from collector.portal import data, trail
from collector.portal.data import AppDetail, AppSummary, Clock
from collector.portal.page import (
    SCRIPT_PATH,
    SCRIPT_VERSION,
    agency_path,
    app_path,
    href,
    review_href,
    safe_href,
)
from collector.portal.script import SCRIPT
from collector.portal.svg import Bar, Cell, daily_chart, state_strip
from collector.review.render import svg as report_svg
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
    return "en" if request.query.get("lang") == "en" else DEFAULT_LANG


def other_lang_href(request: web.Request, lang: Lang) -> str:
    """This page in the other language, with the same parameters."""
    other: Lang = "en" if lang == "id" else "id"
    params = {k: v for k, v in request.query.items() if k != "lang"}
    return href(other, request.path, params)


def public_contacts(request: web.Request) -> bool:
    """Owners' contacts: when the configuration publishes them, or to a signed-in person the
    access rules let see them."""
    return access.shows_contacts(request.app[keys.CONFIG], current_account(request))


def clock_of(request: web.Request) -> Clock:
    config = request.app[keys.CONFIG]
    return Clock(now=dt.datetime.now(dt.UTC), tz=zoneinfo.ZoneInfo(config.timezone),
                 settings=config.state_settings())  # fmt: skip


def html_response(
    request: web.Request,
    template: str,
    lang: Lang,
    clock: Clock,
    context: Mapping[str, Any],
    *,
    title: str,
    switch_href: str,
    status: int = 200,
) -> web.Response:
    """A page of the portal: `template` in the frame (layout.html), locked down and gzipped."""
    frame = {
        "title": title,
        "switch_href": switch_href,
        "home_href": href(lang, "/"),
        "review_href": review_href(lang),
        "tz_label": formats.tz_label(clock.tz, clock.now),
        "made_at": formats.moment(clock.now, clock.tz, lang),
        "tz": clock.tz,
    }
    resp = templating.render_response(request, template, lang, {**frame, **context}, status=status)
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-cache"
    resp.enable_compression()  # gzip when the client takes it
    return resp


PageHandler = Callable[[web.Request, Lang, Clock], Awaitable[web.Response]]


def message_response(
    request: web.Request,
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
    return html_response(
        request, "portal/message.html", lang, clock, {"text": text, "back": back},
        title=title, switch_href=switch_href, status=status,
    )  # fmt: skip


def page(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An HTML page: 403 when the catalogue is not public, friendly 503/500 pages on failure."""

    async def wrapped(request: web.Request) -> web.Response:
        lang, clock = lang_of(request), clock_of(request)

        def message(status: int, title: str, text: str) -> web.Response:
            return message_response(
                request, lang, clock, status=status, title=translate(lang, title),
                text=translate(lang, text), switch_href=other_lang_href(request, lang),
                back=status != 403,
            )  # fmt: skip

        if not access.may_read_catalog(request.app[keys.CONFIG], current_account(request)):
            return message(
                403,
                N_("The portal is not public"),
                N_("The application catalogue on this server is not public. Staff can read it"
                   " through the API with a token; ask Diskominfo."),
            )  # fmt: skip
        try:
            return await handler(request, lang, clock)
        except DB_UNAVAILABLE as exc:
            log.warning("database unavailable for %s: %s", request.path, exc)
            resp = message(
                503,
                N_("Temporarily unavailable"),
                N_("The database cannot be reached. Please try again shortly."),
            )
            resp.headers["Retry-After"] = "5"
            return resp
        except Exception:
            log.exception("portal page %s failed", request.path)
            return message(
                500,
                N_("Something went wrong"),
                N_("This page could not be made; the error is in the collector's log."),
            )

    return wrapped


def error_page(request: web.Request, status: int) -> web.Response | None:
    """The error middleware's answer for a portal page (a URL with a control character): a page
    like the others, not the API's JSON. None for every other route."""
    route = request.match_info.route
    if not (route.name or "").startswith("portal-") or status != 400:
        return None
    lang, clock = lang_of(request), clock_of(request)
    return message_response(
        request, lang, clock, status=400, title=translate(lang, "Invalid address"),
        text=translate(lang, "This address holds a control character (such as NUL or a line"
                             " break) that the portal does not use."),
        switch_href=href("en" if lang == "id" else "id", "/"),  # not the hostile URL again
    )  # fmt: skip


def not_found(request: web.Request, lang: Lang, clock: Clock, text: str) -> web.Response:
    return message_response(
        request, lang, clock, status=404, title=translate(lang, "Page not found"), text=text,
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


# --- what the templates call --------------------------------------------------------------------


@dataclass(frozen=True)
class UsageCell:
    """The list's usage column: the trend sparkline and the last day's figure in words."""

    chart: Markup
    metric: str
    last: str  # the figure of the last day with data
    what: str  # per day, daily average, today so far, partial day


def usage_cell(lang: Lang, s: AppSummary) -> UsageCell | None:
    """The review's trend sparkline: counters as bars of the day's use, gauges as a line."""
    trend = s.trend
    if trend is None:
        return None
    counter = trend.kind == "counter"
    what = translate(lang, "per day") if counter else translate(lang, "daily average")
    metric = labels.metric_name(trend.metric, lang)
    values = [v for _, v in trend.days]
    last_at = next((k for k in range(len(values) - 1, -1, -1) if values[k] is not None), None)
    last = values[last_at] if last_at is not None else None
    last_text = formats.compact(last, lang) if last is not None else formats.NONE
    # A day's figure is "per day" only for a whole day: not today, nor a day the metric began
    # reporting (no data the day before), such as 37 minutes after registration.
    last_what = what
    if counter and last_at is not None and last_at == len(values) - 1:  # the series ends today
        last_what = translate(lang, "today so far")
    elif counter and last_at is not None and (last_at == 0 or values[last_at - 1] is None):
        last_what = translate(lang, "partial day")
    day = trend.days[last_at if last_at is not None else -1][0]
    chart = report_svg.Trend(
        title=translate(lang, "%(metric)s: %(what)s, last 14 days", metric=metric, what=what),
        desc=f"{formats.short_date(day, lang)}: {last_text}",
        values=values,
        style="bars" if counter else "line",
    )
    return UsageCell(chart=report_svg.trend(chart, f"u-{s.app.id}"), metric=metric,
                     last=last_text, what=last_what)  # fmt: skip


def since(lang: Lang, at: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """ "since 29 Nov 2026 08:05", or nothing without a moment."""
    return "" if at is None else translate(lang, "since %(at)s", at=formats.moment(at, tz, lang))


def target_note(lang: Lang, uptime: float | None, target: float) -> str:
    """ "meets its target of 99.5%", "below ...", or "no data" when nothing was monitored."""
    if uptime is None:
        return translate_in(lang, "portal", "no data")
    if uptime >= target:
        return translate(
            lang, "meets its target of %(target)s", target=formats.target(target, lang)
        )
    return translate(lang, "below its target of %(target)s", target=formats.target(target, lang))


@templating.extend
def _portal_globals(env: jinja2.Environment) -> None:
    """What the portal's templates use besides the shared filters. Its filters (since,
    target_note) are needed only once a portal template compiles, which happens here, in the
    portal's views: Python, not macros, as a list calls them on each of its hundred rows."""
    lang: Lang = env.globals["lang"]  # type: ignore[assignment]
    env.globals.update(
        href=lambda path, params=None: href(lang, path, params),
        app_path=app_path,
        agency_path=agency_path,
        usage_cell=lambda s: usage_cell(lang, s),
        safe_href=safe_href,
        STATES=labels.STATES,
    )
    env.filters["since"] = lambda at, tz: since(lang, at, tz)
    env.filters["target_note"] = lambda uptime, target: target_note(lang, uptime, target)


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
        managed_by=pick("managed_by", labels.MANAGED_BY),
        lifecycle=pick("lifecycle", LIFECYCLES),
        category=q.get("category", "")[:200],
        state=pick("state", labels.STATES),
        page=page,
    )


def _options(lang: Lang, cat: data.CataloguePage) -> dict[str, list[tuple[str, str]]]:
    """The choices of the filters, as (value, words)."""
    by_name = sorted(cat.agencies, key=lambda a: a.name.casefold())
    categories = [(c, labels.category_name(c, lang)) for c in cat.categories]
    return {
        "agencies": [(a.id, a.name) for a in by_name],
        "managed_by": [(m, labels.managed_by_name(m, lang)) for m in labels.MANAGED_BY],
        "lifecycles": [(v, labels.lifecycle_name(v, lang)) for v in LIFECYCLES],
        "categories": sorted(categories, key=lambda o: o[1].casefold()),
        "states": [(s, labels.state_name(s, lang)) for s in labels.STATES],
    }


async def list_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    switch = other_lang_href(request, lang)
    try:
        crit = _criteria(request)
    except BadPage:
        return message_response(
            request, lang, clock, status=400, title=translate(lang, "Invalid page number"),
            text=translate(lang, "The page number must be a whole number from 1."),
            switch_href=switch,
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
    groups = [
        (agency_id, names.get(agency_id, agency_id), list(members))
        for agency_id, members in itertools.groupby(cat.rows, key=lambda s: s.app.agency)
    ]
    count = translate_plural(lang, "%(shown)s of %(num)d application",
                             "%(shown)s of %(num)d applications", cat.total, shown=cat.matched)  # fmt: skip
    if cat.rows:
        showing = translate(
            lang,
            "Showing %(first)s\u2013%(last)s of %(of)s",
            first=formats.number(cat.offset + 1, lang),
            last=formats.number(cat.offset + len(cat.rows), lang),
            of=formats.number(cat.matched, lang),
        )
        count = f"{showing} · {count}"
    more = cat.offset + len(cat.rows) < cat.matched
    done = {"deleted": N_("The application is deleted.")}.get(request.query.get("done", ""))
    context = {
        "notice": translate(lang, done) if done else None,
        "crit": crit,
        "cat": cat,
        "groups": groups,
        "count": count,
        "prev_href": crit.page_href(lang, crit.page - 1) if crit.page > 1 and cat.rows else "",
        "next_href": crit.page_href(lang, crit.page + 1) if more else "",
        "script_src": f"{SCRIPT_PATH}?v={SCRIPT_VERSION}",
        **_options(lang, cat),
    }
    return html_response(request, "portal/list.html", lang, clock, context,
                         title=translate(lang, "Regency Application Portal"), switch_href=switch)  # fmt: skip


# --- one application ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCell:
    """A day of the uptime list: its tone (good, warn, bad, or "" without data) and words."""

    tone: str
    title: str
    label: str
    text: str


@dataclass(frozen=True)
class UsageBox:
    title: str
    chart: Markup
    facts: str


def _timeline(lang: Lang, d: AppDetail, clock: Clock) -> Markup:
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
                state, detail = None, labels.state_name("none", lang)
            else:
                state = row.dominant()
                detail = labels.state_name(state, lang)
                if row.down_s > 0:
                    detail += f" ({formats.duration(row.down_s, lang)})"
            cells.append(
                Cell(state=state, start=f"{local:%H:%M}", end=f"{end:%H:%M}", detail=detail)
            )
        rows.append((formats.weekday_date(day, lang), cells))
    return state_strip(
        rows,
        label=translate(lang, "Last 7 days (hourly)"),
        hour_labels=[(h, f"{h:02d}:00") for h in (0, 6, 12, 18)],
    )


def _days(lang: Lang, d: AppDetail, clock: Clock) -> list[DayCell]:
    by_day = {r.day: r.availability for r in d.days}
    target = d.summary.app.target_uptime
    downtime = translate_in(lang, "portal", "Downtime")
    out = []
    for day in clock.days_back(data.UPTIME_DAYS):
        av = by_day.get(day)
        uptime = av.uptime if av else None
        if uptime is None:
            tone, text = "", formats.NONE
        else:
            tone = "good" if uptime >= target else "warn" if uptime >= target - 1 else "bad"
            text = formats.uptime(uptime, lang)
        title = formats.date(day, lang)
        if av is not None:
            title += (
                f": {formats.uptime(uptime, lang)} · {downtime} {formats.duration(av.down_s, lang)}"
            )
        out.append(DayCell(tone=tone, title=title, label=formats.short_date(day, lang), text=text))
    return out


def _usage(lang: Lang, d: AppDetail) -> list[UsageBox]:
    boxes = []
    for u in d.usage:
        known = [v for _, v in u.days if v is not None]
        if not known:
            continue
        counter = u.kind == "counter"
        metric = labels.metric_name(u.metric, lang)
        title = (translate(lang, "%(metric)s — increase per day", metric=metric) if counter
                 else translate(lang, "%(metric)s — daily average", metric=metric))  # fmt: skip
        decimals = 0 if counter else 1
        no_data = translate_in(lang, "portal", "no data")
        bars = [
            Bar(value=v, title=f"{formats.date(day, lang)}: "
                + (formats.number(v, lang, decimals) if v is not None else no_data))
            for day, v in u.days
        ]  # fmt: skip
        n = len(u.days)
        chart = daily_chart(
            bars,
            label=title,
            top_label=formats.compact(max(known), lang),
            x_labels=[(k, formats.short_date(u.days[k][0], lang)) for k in (0, n // 2, n - 1)],
            line=not counter,
        )
        highest = translate(lang, "Highest day")
        whole = translate(lang, "30-day total") if counter else translate(lang, "Average")
        figure = sum(known) if counter else sum(known) / len(known)
        facts = (f"{whole}: {formats.number(figure, lang, decimals)} · "
                 f"{highest}: {formats.number(max(known), lang, decimals)}")  # fmt: skip
        boxes.append(UsageBox(title=title, chart=chart, facts=facts))
    return boxes


def _certificate(lang: Lang, expiry: dt.datetime | None, clock: Clock) -> str:
    """When a check's certificate expires: "29 November 2026 (in 12 days)"."""
    if expiry is None:
        return formats.NONE
    left = int((expiry - clock.now).total_seconds() / 86_400)
    if expiry < clock.now:
        when = translate(lang, "expired")
    else:
        when = translate_plural(lang, "in %(num)d day", "in %(num)d days", left)
    return f"{formats.date(expiry.astimezone(clock.tz).date(), lang)} ({when})"


async def app_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    app_id = request.match_info["id"]
    async with request.app[keys.POOL].acquire() as conn:
        d = await data.app_detail(conn, app_id, clock, contacts=public_contacts(request))
        found = None
        if d is not None:
            found = await trail.entries(conn, request, app_id, d.summary.app.agency, clock, lang,
                                        limit=trail.LATEST)  # fmt: skip
    if d is None:
        text = translate(lang, "There is no application “%(id)s” in the catalogue.", id=app_id)
        return not_found(request, lang, clock, text)
    account = current_account(request)
    done = {"saved": N_("Saved.")}.get(request.query.get("done", ""))
    context = {
        "trail": found[0] if found is not None else None,
        "manage": access.may_manage_app(account, d.summary.app.agency),
        "direct": account is not None and account.is_admin,
        "notice": translate(lang, done) if done else None,
        "d": d,
        "open_incident": next((i for i in d.incidents if i.ended_at is None), None),
        "timeline": _timeline(lang, d, clock),
        "days": _days(lang, d, clock),
        "usage_boxes": _usage(lang, d),
        "checks": [(c, _certificate(lang, c.tls_expiry, clock)) for c in d.checks],
    }
    return html_response(request, "portal/app.html", lang, clock, context,
                         title=d.summary.app.name, switch_href=other_lang_href(request, lang))  # fmt: skip


# --- one agency -----------------------------------------------------------------------------------


async def agency_page(request: web.Request, lang: Lang, clock: Clock) -> web.Response:
    agency_id = request.match_info["id"]
    async with request.app[keys.POOL].acquire() as conn:
        d = await data.agency_detail(conn, agency_id, clock, contacts=public_contacts(request))
    if d is None:
        text = translate(lang, "There is no agency “%(id)s” in the catalogue.", id=agency_id)
        return not_found(request, lang, clock, text)
    rows = sorted(d.apps, key=lambda s: s.app.name.casefold())
    context = {
        "d": d,
        "rows": rows,
        "counts": data.count_states(rows),
        "total": data.total_availability(rows),
    }
    return html_response(request, "portal/agency.html", lang, clock, context,
                         title=d.agency.name, switch_href=other_lang_href(request, lang))  # fmt: skip
