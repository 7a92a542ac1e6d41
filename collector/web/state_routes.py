"""App status, incidents and maintenance windows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

import msgspec
from aiohttp import web

from collector.catalog import changes, store
from collector.state.incidents import Incident, find_incidents
from collector.web import keys
from collector.web.errors import ApiError
from collector.web.requests import (
    json_response,
    query_choice,
    query_int,
    query_of,
    query_time,
    read_json,
    require,
    require_read,
)
from collector.web.routes import Route
from wire.catalog import MAX_WINDOWS
from wire.maintenance import MaintenanceWindow

StateName = Literal["up", "down", "degraded", "maintenance", "unknown"]


class CheckStatus(msgspec.Struct, frozen=True, kw_only=True):
    check: str
    state: Literal["up", "down", "degraded", "unknown"]
    since: dt.datetime
    last_result: dt.datetime
    reason: str | None


class ZoneStatus(msgspec.Struct, frozen=True, kw_only=True):
    zone: str
    state: Literal["up", "down", "degraded", "unknown"]
    since: dt.datetime | None
    checks: list[CheckStatus]


class AppStatus(msgspec.Struct, frozen=True, kw_only=True):
    app: str
    agency: str
    state: StateName
    since: dt.datetime | None
    in_maintenance: bool
    open_incident: Incident | None
    zones: list[ZoneStatus]


async def app_status(request: web.Request) -> web.Response:
    await require_read(request)
    pool = request.app[keys.POOL]
    app = await store.get_app(pool, request.match_info["id"])
    if app is None:
        raise ApiError(404, f"no application {request.match_info['id']!r}")
    async with pool.acquire() as conn:
        state = await conn.fetchrow("SELECT state, since FROM app_state WHERE app_id = $1", app.id)
        zones = {
            r["zone"]: r
            for r in await conn.fetch(
                "SELECT zone, state, since FROM app_zone_state WHERE app_id = $1", app.id
            )
        }
        checks = await conn.fetch(
            "SELECT zone, check_name, state, since, ts AS last_ts, reason FROM check_latest"
            " WHERE app_id = $1 ORDER BY zone, check_name",
            app.id,
        )
        open_now = await find_incidents(conn, app=app.id, is_open=True, limit=1)
    zone_list = [
        ZoneStatus(
            zone=z,
            state=zones[z]["state"] if z in zones else "unknown",
            since=zones[z]["since"] if z in zones else None,
            checks=[
                CheckStatus(
                    check=c["check_name"],
                    state=c["state"],
                    since=c["since"],
                    last_result=c["last_ts"],
                    reason=c["reason"],
                )
                for c in checks
                if c["zone"] == z
            ],
        )
        for z in app.zones
    ]
    name: StateName = state["state"] if state else "unknown"
    return json_response(
        AppStatus(
            app=app.id,
            agency=app.agency,
            state=name,
            since=state["since"] if state else None,
            in_maintenance=name == "maintenance",
            open_incident=open_now[0] if open_now else None,
            zones=zone_list,
        )
    )


_INCIDENT_FILTERS = ("app", "agency", "open", "from", "to", "limit")


async def list_incidents(request: web.Request) -> web.Response:
    await require_read(request)
    q = query_of(request, _INCIDENT_FILTERS)
    is_open = {"true": True, "false": False, None: None}[query_choice(q, "open", ("true", "false"))]
    found = await find_incidents(
        request.app[keys.POOL], app=q.get("app"), agency=q.get("agency"), is_open=is_open,
        start=query_time(q, "from"), end=query_time(q, "to"),
        limit=query_int(q, "limit", 1, 5000) or 500,
    )  # fmt: skip
    return json_response(found)


async def _change_windows(
    request: web.Request, change: Callable[[list[MaintenanceWindow]], list[MaintenanceWindow]]
) -> None:
    who = await require(request, "admin", "agency")
    async with request.app[keys.POOL].acquire() as conn:
        await changes.change_windows(conn, request.match_info["id"], change, by=who)
    await request.app[keys.EVALUATOR].run_once(wait=True)  # the state follows before we answer


async def add_window(request: web.Request) -> web.Response:
    await require(request, "admin", "agency")  # before reading a body from anyone
    window = await read_json(request, MaintenanceWindow)

    def add(windows: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        if any(w.name == window.name for w in windows):
            raise ApiError(409, f"window {window.name!r} exists; delete it first", field="$.name")
        if len(windows) >= MAX_WINDOWS:
            raise ApiError(
                400, f"an app has at most {MAX_WINDOWS} maintenance windows; delete one first"
            )
        return [*windows, window]

    await _change_windows(request, add)
    return json_response(window, status=201)


async def list_windows(request: web.Request) -> web.Response:
    await require_read(request)
    app = await store.get_app(request.app[keys.POOL], request.match_info["id"])
    if app is None:
        raise ApiError(404, f"no application {request.match_info['id']!r}")
    return json_response(app.maintenance)


async def delete_window(request: web.Request) -> web.Response:
    name = request.match_info["name"]

    def delete(windows: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        kept = [w for w in windows if w.name != name]
        if len(kept) == len(windows):
            raise ApiError(404, f"no window {name!r}")
        return kept

    await _change_windows(request, delete)
    return web.Response(status=204)


ROUTES = [
    Route(method="GET", path="/api/v1/apps/{id}/status", handler=app_status,
          summary="State of an application now, per zone and check, with its open incident",
          auth="read", tag="state", response=AppStatus, statuses={404: "Not found"}),
    Route(method="GET", path="/api/v1/incidents", handler=list_incidents,
          summary="Incidents, newest first; filter by app, agency, open, from, to (ISO times), limit",
          auth="read", tag="state", response=list[Incident], query=_INCIDENT_FILTERS,
          params={"open": {"enum": ["true", "false"]},
                  "from": {"type": "string", "format": "date-time"},
                  "to": {"type": "string", "format": "date-time"},
                  "limit": {"type": "integer", "minimum": 1, "maximum": 5000}}),
    Route(method="GET", path="/api/v1/apps/{id}/maintenance", handler=list_windows,
          summary="Maintenance windows of an application", auth="read", tag="state",
          response=list[MaintenanceWindow], statuses={404: "Not found"}),
    Route(method="POST", path="/api/v1/apps/{id}/maintenance", handler=add_window,
          summary="Add a maintenance window (one-off: start and end; recurring: cron and duration_minutes)",
          auth="admin_or_agency", tag="state", request=MaintenanceWindow, response=MaintenanceWindow,
          statuses={201: "Created", 404: "Not found", 409: "Exists"}),
    Route(method="DELETE", path="/api/v1/apps/{id}/maintenance/{name}", handler=delete_window,
          summary="Delete a maintenance window", auth="admin_or_agency", tag="state",
          statuses={204: "Deleted", 404: "Not found"}),
]  # fmt: skip
