"""The monthly review over HTTP."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from collector.catalog import store
from collector.review.monthly import MONTH_PATTERN
from collector.review.render import RENDERERS
from collector.review.render.pdf import PdfBusy, PdfUnavailable, render_pdf_async
from collector.review.report import MonthlyReport, build_report
from collector.web import keys
from collector.web.errors import ApiError
from collector.web.requests import query_choice, query_of, require_read
from collector.web.routes import Route
from collector.web.security import html_security_headers

_QUERY = ("month", "format", "agency", "lang")
# The review is inline CSS and inline SVG: it loads and runs nothing.
_SECURITY_HEADERS = html_security_headers(own_assets=False)


async def monthly_report(request: web.Request) -> web.Response:
    await require_read(request)
    q = query_of(request, _QUERY)
    month = q.get("month") or _last_month(request)
    if not MONTH_PATTERN.fullmatch(month):
        raise ApiError(
            400, "month must look like 2026-11 (years 2000 to 2099)", field="query.month"
        )
    fmt = query_choice(q, "format", sorted(RENDERERS)) or "json"
    lang = query_choice(q, "lang", ("id", "en")) or "id"
    agency = q.get("agency")
    if agency is not None and await store.get_agency(request.app[keys.POOL], agency) is None:
        raise ApiError(404, f"no agency {agency!r}")
    config = request.app[keys.CONFIG]
    async with request.app[keys.POOL].acquire() as conn:
        report = await build_report(
            conn, month=month, settings=config.state_settings(), agency=q.get("agency")
        )
    render, content_type = RENDERERS[fmt]
    if fmt == "pdf":  # CPU seconds of layout: in the one PDF thread, so other requests go on
        try:
            body = await render_pdf_async(report, lang, bounded=True)  # type: ignore[arg-type]
        except PdfBusy as exc:  # a queue of renders already: 503 with Retry-After
            raise ApiError(503, str(exc)) from exc
        except PdfUnavailable as exc:  # the host lacks Pango: say what to install
            raise ApiError(503, str(exc)) from exc
    else:
        body = render(report, lang)  # type: ignore[arg-type]
    name = f"pantau-{month}{'-' + q['agency'] if q.get('agency') else ''}.{fmt}"
    disposition = "inline" if fmt in ("html", "json") else f'attachment; filename="{name}"'
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            **_SECURITY_HEADERS,  # CSP matters for the HTML; nosniff for all
        },
    )


def _last_month(request: web.Request) -> str:
    import zoneinfo

    local = dt.datetime.now(zoneinfo.ZoneInfo(request.app[keys.CONFIG].timezone))
    return f"{local.year - 1}-12" if local.month == 1 else f"{local.year}-{local.month - 1:02d}"


ROUTES = [
    Route(method="GET", path="/api/v1/reports/monthly", handler=monthly_report,
          summary="The monthly uptime and usage review (month=2026-11, format, agency, lang=id|en)",
          auth="read", tag="reports", response=MonthlyReport, query=_QUERY,
          params={"month": {"type": "string", "pattern": f"^{MONTH_PATTERN.pattern}$"},
                  "format": {"enum": sorted(RENDERERS)}, "lang": {"enum": ["id", "en"]}},
          also_content_types=tuple(t for _, t in RENDERERS.values() if t != "application/json"),
          statuses={404: "No such agency"}),
]  # fmt: skip
