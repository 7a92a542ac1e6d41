"""Catalogue REST API: agencies and applications."""

from __future__ import annotations

from aiohttp import web

from collector import access
from collector.audit import Actor, acting
from collector.auth import Principal
from collector.catalog import changes, spreadsheet, store
from collector.catalog.contacts import (
    agency_without_contacts,
    without_contacts,
)
from collector.catalog.sync import CatalogError
from collector.web import keys
from collector.web.errors import ApiError
from collector.web.requests import (
    json_response,
    principal,
    query_choice,
    query_of,
    read_body,
    read_json,
    require,
    require_read,
)
from collector.web.routes import Route
from wire.catalog import Agency, App, Lifecycle, ManagedBy
from wire.specs import namespace_clash, overlapping_namespace

_APP_FILTERS = ("agency", "managed_by", "lifecycle", "category", "zone", "q")


async def list_agencies(request: web.Request) -> web.Response:
    await require_read(request)
    agencies = await store.list_agencies(request.app[keys.POOL])
    return json_response(await _visible_agencies(request, agencies))


async def get_agency(request: web.Request) -> web.Response:
    await require_read(request)
    agency = await store.get_agency(request.app[keys.POOL], request.match_info["id"])
    if agency is None:
        raise ApiError(404, f"no agency {request.match_info['id']!r}")
    (agency,) = await _visible_agencies(request, [agency])
    return json_response(agency)


async def _visible_agencies(request: web.Request, agencies: list[Agency]) -> list[Agency]:
    """The agencies as this caller may read them: the review's mailbox is a contact (its
    `zones` are the network's map, not personal data, and stay public like the apps' zones)."""
    if access.shows_contacts(request.app[keys.CONFIG], await principal(request)):
        return agencies
    return [agency_without_contacts(a) for a in agencies]


async def _save_agency(
    request: web.Request, agency: Agency, who: Principal, *, created: bool
) -> web.Response:
    pool = request.app[keys.POOL]
    async with pool.acquire() as conn, acting(conn, Actor.of_token(who)):
        if agency.parent is not None and await store.get_agency(conn, agency.parent) is None:
            raise ApiError(400, f"unknown parent agency {agency.parent!r}", field="$.parent")
        await store.upsert_agencies(conn, [agency])
    return json_response(agency, status=201 if created else 200)


async def create_agency(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    agency = await read_json(request, Agency)
    if await store.get_agency(request.app[keys.POOL], agency.id) is not None:
        raise ApiError(409, f"agency {agency.id!r} exists; PUT /api/v1/agencies/{agency.id}")
    await _check_namespace(request, agency)
    return await _save_agency(request, agency, who, created=True)


async def put_agency(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    agency = await read_json(request, Agency)
    if agency.id != request.match_info["id"]:
        raise ApiError(400, "id in the body differs from the path", field="$.id")
    existed = await store.get_agency(request.app[keys.POOL], agency.id) is not None
    if not existed:
        await _check_namespace(request, agency)
    return await _save_agency(request, agency, who, created=not existed)


async def _check_namespace(request: web.Request, agency: Agency) -> None:
    """A new agency's secrets (PANTAU_SECRET_<ID>_*) must not nest with another agency's."""
    others = [a.id for a in await store.list_agencies(request.app[keys.POOL])]
    other = overlapping_namespace(agency.id, others)
    if other is not None:
        raise ApiError(400, namespace_clash(agency.id, other), field="$.id")


async def delete_agency(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    async with request.app[keys.POOL].acquire() as conn, acting(conn, Actor.of_token(who)):
        if not await store.delete_agency(conn, request.match_info["id"]):
            raise ApiError(404, f"no agency {request.match_info['id']!r}")
    return web.Response(status=204)


async def list_apps(request: web.Request) -> web.Response:
    await require_read(request)
    q = query_of(request, _APP_FILTERS)
    managed_by = query_choice(q, "managed_by", ManagedBy.__args__)  # type: ignore[attr-defined]
    lifecycle = query_choice(q, "lifecycle", Lifecycle.__args__)  # type: ignore[attr-defined]
    flt = store.AppFilter(
        agency=q.get("agency"),
        managed_by=managed_by,
        lifecycle=lifecycle,
        category=q.get("category"),
        zone=q.get("zone"),
        text=q.get("q"),
    )
    return json_response(
        await _visible(request, await store.list_apps(request.app[keys.POOL], flt))
    )


async def get_app(request: web.Request) -> web.Response:
    await require_read(request)
    app = await store.get_app(request.app[keys.POOL], request.match_info["id"])
    if app is None:
        raise ApiError(404, f"no application {request.match_info['id']!r}")
    (app,) = await _visible(request, [app])
    return json_response(app)


async def _visible(request: web.Request, apps: list[App]) -> list[App]:
    """The apps as this caller may read them: owners' contacts only for those who may see them."""
    if access.shows_contacts(request.app[keys.CONFIG], await principal(request)):
        return apps
    return [without_contacts(a) for a in apps]


async def _save_app(request: web.Request, app: App, *, must_be_new: bool) -> web.Response:
    who = await require(request, "admin", "agency")
    async with request.app[keys.POOL].acquire() as conn:
        before = await changes.save_app(conn, app, by=who, must_be_new=must_be_new)
    return json_response(app, status=201 if before is None else 200)


async def create_app(request: web.Request) -> web.Response:
    await require(request, "admin", "agency")
    return await _save_app(request, await read_json(request, App), must_be_new=True)


async def put_app(request: web.Request) -> web.Response:
    await require(request, "admin", "agency")
    app = await read_json(request, App)
    if app.id != request.match_info["id"]:
        raise ApiError(400, "id in the body differs from the path", field="$.id")
    return await _save_app(request, app, must_be_new=False)


async def delete_app(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency")
    async with request.app[keys.POOL].acquire() as conn:
        await changes.delete_app(conn, request.match_info["id"], by=who)
    return web.Response(status=204)


IMPORT_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/csv",
    "application/octet-stream",
)


async def import_spreadsheet(request: web.Request) -> web.Response:
    """The spreadsheet agencies fill in (.xlsx or CSV, told apart by its bytes): with
    `dry_run=true` what it would change, else applied in one transaction as the token."""
    who = await require(request, "admin")
    q = query_of(request, ("dry_run",))
    dry_run = query_choice(q, "dry_run", ("true", "false")) == "true"
    data = await read_body(request)
    if not data:
        raise ApiError(400, "the body is empty: send the .xlsx or CSV file", field="body")
    try:
        async with request.app[keys.POOL].acquire() as conn:
            diff = await spreadsheet.import_catalog(
                conn, data, name="upload", actor=Actor.of_token(who, via="import"),
                dry_run=dry_run,
            )  # fmt: skip
    except spreadsheet.FileTooLarge as exc:
        raise ApiError(413, str(exc), field="body") from exc
    except CatalogError as exc:
        raise ApiError(400, str(exc), field="body") from exc
    return json_response(
        spreadsheet.ImportResult(
            dry_run=dry_run, created=diff.created, updated=diff.updated, kept=diff.kept
        )
    )


ROUTES = [
    Route(method="GET", path="/api/v1/agencies", handler=list_agencies, summary="List agencies",
          auth="read", tag="catalogue", response=list[Agency]),
    Route(method="POST", path="/api/v1/agencies", handler=create_agency, summary="Create an agency",
          auth="admin", tag="catalogue", request=Agency, response=Agency, statuses={201: "Created", 409: "Exists"}),
    Route(method="GET", path="/api/v1/agencies/{id}", handler=get_agency, summary="Get an agency",
          auth="read", tag="catalogue", response=Agency, statuses={404: "Not found"}),
    Route(method="PUT", path="/api/v1/agencies/{id}", handler=put_agency,
          summary="Create or replace an agency", auth="admin", tag="catalogue", request=Agency,
          response=Agency, statuses={201: "Created"}),
    Route(method="DELETE", path="/api/v1/agencies/{id}", handler=delete_agency,
          summary="Delete an agency (refused while it has applications)", auth="admin",
          tag="catalogue", statuses={204: "Deleted", 404: "Not found", 409: "Has applications"}),
    Route(method="GET", path="/api/v1/apps", handler=list_apps,
          summary="List applications; filter by agency, managed_by, lifecycle, category, zone, text (q)."
                  " Owners' e-mail and phone only for admin and agency tokens, unless public_contacts",
          auth="read", tag="catalogue", response=list[App], query=_APP_FILTERS,
          params={"managed_by": {"enum": list(ManagedBy.__args__)},  # type: ignore[attr-defined]
                  "lifecycle": {"enum": list(Lifecycle.__args__)}}),  # type: ignore[attr-defined]
    Route(method="POST", path="/api/v1/apps", handler=create_app, summary="Register an application",
          auth="admin_or_agency", tag="catalogue", request=App, response=App,
          statuses={201: "Created", 409: "Exists"}),
    Route(method="GET", path="/api/v1/apps/{id}", handler=get_app, summary="Get an application (owner's e-mail and phone as for the list)",
          auth="read", tag="catalogue", response=App, statuses={404: "Not found"}),
    Route(method="PUT", path="/api/v1/apps/{id}", handler=put_app,
          summary="Create or replace an application", auth="admin_or_agency", tag="catalogue",
          request=App, response=App, statuses={201: "Created"}),
    Route(method="POST", path="/api/v1/catalog/import", handler=import_spreadsheet,
          summary="Import the agencies' spreadsheet (.xlsx or CSV, the columns of"
                  " docs/configuration.md): creates and updates its apps, and the agencies it"
                  " names that do not exist yet; all rows or none. `dry_run=true`: only say what"
                  " would change. Row errors answer 400 naming the rows",
          auth="admin", tag="catalogue", upload=IMPORT_TYPES, query=("dry_run",),
          params={"dry_run": {"enum": ["true", "false"]}}, response=spreadsheet.ImportResult),
    Route(method="DELETE", path="/api/v1/apps/{id}", handler=delete_app,
          summary="Delete an application (retire it instead to keep its history visible)",
          auth="admin_or_agency", tag="catalogue", statuses={204: "Deleted", 404: "Not found"}),
]  # fmt: skip
