"""The catalogue portal: server-rendered pages at `/` (apps, agencies), in Indonesian and English.

Pages: `/` (the applications, grouped by agency, with search and filters), `/apps/{id}` (with
its audit trail for staff, the whole of it at `/apps/{id}/history`) and `/agencies/{id}`; the
forms that change the catalogue (`/apps/new`, `/apps/{id}/edit`, `/apps/{id}/delete`,
`/proposals`..., collector/portal/edit.py) and the admins' spreadsheet import (`/admin/import`); `/portal.js` is the small script that submits the filters as they change, and
`/favicon.ico` the brand mark (an SVG) that browsers ask for on every page, the review's too.

The list's search and filters are query parameters the server applies (`q`, `agency`,
`managed_by`, `lifecycle`, `category`, `state`), and the list comes in pages of 100 rows
(`page`, from 1; previous/next links keep the filters): the same URLs work without JavaScript,
and only the rows of the page are summarized and sent. A `page` that is not a whole number from
1 answers a 400 page; a page past the end is empty, with a link to the first.

When the config's `public_catalog` is false the pages answer 403 with a short page saying the
portal is not public (the catalogue stays readable through the API with a token). The language
is Bahasa Indonesia unless `?lang=en`; Accept-Language is not consulted, since many staff
browsers are set to English while the office wants its portal in Indonesian.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the portal's pages on the collector's app."""
    from collector.portal import edit, page, trail, upload, views
    from collector.web.errors import ERROR_PAGE

    app[ERROR_PAGE] = views.error_page

    app.router.add_get("/", views.page(views.list_page), name="portal-list")
    edit.routes(app.router)  # /apps/new before /apps/{id}
    app.router.add_get("/apps/{id}/history", views.page(trail.history_page), name="portal-history")
    app.router.add_get("/apps/{id}", views.page(views.app_page), name="portal-app")
    app.router.add_get("/agencies/{id}", views.page(views.agency_page), name="portal-agency")
    app.router.add_get(upload.IMPORT_PATH, upload.import_form, name="portal-spreadsheet")
    app.router.add_post(upload.IMPORT_PATH, upload.import_submit)
    app.router.add_get(page.SCRIPT_PATH, views.script, name="portal-script")
    app.router.add_get("/favicon.ico", views.favicon, name="portal-favicon")
