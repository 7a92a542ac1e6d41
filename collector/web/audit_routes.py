"""The catalogue's audit trail in the API: an app's history, and the whole trail filtered.

The trail names who changed what (token names, files, later people's accounts): it is for the
people who manage applications, not for the public catalogue's readers. An admin token reads
all of it; an agency token its own agency's records (an app moved to or from it included).
The records show what the app API would show the same token (collector/audit.py, `visible`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from collector import audit
from collector.access import may_read_trail, reads_all_agencies, shows_contacts
from collector.auth import Principal
from collector.catalog import store
from collector.web import keys
from collector.web.errors import ApiError
from collector.web.requests import json_response, query_int, query_of, query_time, require
from collector.web.routes import Route

_HISTORY_FILTERS = ("actor", "since", "until", "before", "limit")
_AUDIT_FILTERS = ("app", "agency", *_HISTORY_FILTERS)
_PARAMS: dict[str, dict[str, Any]] = {
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
    "before": {"type": "integer", "minimum": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": audit.MAX_LIMIT},
}
_DEFAULT_LIMIT = 100


def _query(q: dict[str, str], *, app: str | None, agency: str | None) -> audit.AuditQuery:
    return audit.AuditQuery(
        app=app,
        agency=agency,
        actor=q.get("actor"),
        since=query_time(q, "since"),
        until=query_time(q, "until"),
        before=query_int(q, "before", 1, 2**63 - 1),
        limit=query_int(q, "limit", 1, audit.MAX_LIMIT) or _DEFAULT_LIMIT,
    )


async def _page(request: web.Request, query: audit.AuditQuery, who: Principal) -> web.Response:
    rows, next_before = await audit.find(request.app[keys.POOL], query)
    contacts = shows_contacts(request.app[keys.CONFIG], who)
    entries = [audit.visible(r, contacts=contacts) for r in rows]
    return json_response(audit.AuditPage(entries=entries, next_before=next_before))


async def list_audit(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency", "viewer")
    q = query_of(request, _AUDIT_FILTERS)
    agency = q.get("agency")
    if not reads_all_agencies(who):
        if agency not in (None, who.agency):
            raise ApiError(
                403, f"this token may read the trail of agency {who.agency!r} only",
                field="query.agency",
            )  # fmt: skip
        agency = who.agency
    return await _page(request, _query(q, app=q.get("app"), agency=agency), who)


async def app_history(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency", "viewer")
    app_id = request.match_info["id"]
    q = query_of(request, _HISTORY_FILTERS)
    pool = request.app[keys.POOL]
    app = await store.get_app(pool, app_id)
    agency = None if reads_all_agencies(who) else who.agency
    if app is not None and not may_read_trail(who, app.agency):  # the portal's rule too
        raise ApiError(403, f"this token may not read the history of agency {app.agency!r}'s apps")
    if app is None:  # gone (its history stays) or never was
        seen, _ = await audit.find(pool, audit.AuditQuery(app=app_id, agency=agency, limit=1))
        if not seen:
            raise ApiError(404, f"no application {app_id!r}, nor any history of one")
    return await _page(request, _query(q, app=app_id, agency=agency), who)


ROUTES = [
    Route(method="GET", path="/api/v1/apps/{id}/history", handler=app_history,
          summary="Changes of an application, newest first: who (token, account or file, and"
                  " through what), when, and the record before and after. A deleted app keeps"
                  " its history. Page with `before` (the answer's `next_before`)",
          auth="staff", tag="catalogue", response=audit.AuditPage,
          query=_HISTORY_FILTERS, params=_PARAMS, statuses={404: "Not found"}),
    Route(method="GET", path="/api/v1/audit", handler=list_audit,
          summary="The catalogue's audit trail, newest first; filter by app, agency, actor"
                  " (its name), since, until (ISO times); page with `before` and `limit`"
                  f" (at most {audit.MAX_LIMIT})",
          auth="staff", tag="catalogue", response=audit.AuditPage,
          query=_AUDIT_FILTERS, params=_PARAMS),
]  # fmt: skip
