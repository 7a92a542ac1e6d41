"""The catalogue portal: server-rendered pages at `/` (apps, agencies), in Indonesian and English.

Pages: `/` (every application, grouped by agency, with search and filters), `/apps/{id}` and
`/agencies/{id}`; `/portal.js` is the small script that makes the filters instant, and
`/favicon.ico` the brand mark (an SVG) that browsers ask for on every page, the review's too.

When the config's `public_catalog` is false the pages answer 403 with a short page saying the
portal is not public (the catalogue stays readable through the API with a token). The language
is Bahasa Indonesia unless `?lang=en`; Accept-Language is not consulted, since many staff
browsers are set to English while the office wants its portal in Indonesian.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register the portal's pages on the collector's app."""
    from collector.portal import page, views
    from collector.web.errors import ERROR_PAGE

    app[ERROR_PAGE] = views.error_page

    app.router.add_get("/", views.page(views.list_page), name="portal-list")
    app.router.add_get("/apps/{id}", views.page(views.app_page), name="portal-app")
    app.router.add_get("/agencies/{id}", views.page(views.agency_page), name="portal-agency")
    app.router.add_get(page.SCRIPT_PATH, views.script, name="portal-script")
    app.router.add_get("/favicon.ico", views.favicon, name="portal-favicon")
