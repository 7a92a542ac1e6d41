"""Operations: /metrics, liveness, readiness and the API description."""

from __future__ import annotations

import gzip
import logging

from aiohttp import web
from prometheus_client import generate_latest

from collector import db
from collector.web import keys
from collector.web.errors import DB_UNAVAILABLE
from collector.web.requests import json_response
from collector.web.routes import Route

log = logging.getLogger(__name__)
OPENAPI = web.AppKey("openapi", dict)
# The classic text format, which both our renderer and generate_latest() write.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: web.Request) -> web.Response:
    # Per-app families were rendered in the background; only the collector's own few are here.
    snapshot = request.app[keys.APP_METRICS].snapshot
    own = generate_latest(request.app[keys.METRICS].registry)
    headers = {"Content-Type": CONTENT_TYPE}
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(snapshot.text) > 64 * 1024:
        # A gzip stream may be several members: the pre-compressed snapshot plus the small rest.
        body = snapshot.gzipped + gzip.compress(own, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    else:
        body = snapshot.text + own
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[keys.POOL].acquire(timeout=2) as conn:
            version = await db.current_version(conn)
    except DB_UNAVAILABLE as exc:
        log.warning(
            "readiness: database unreachable: %s", exc
        )  # details in the log, not to callers
        return json_response(
            {"status": "unavailable", "reason": "database unreachable"}, status=503
        )
    wanted = db.latest_version()
    if version != wanted:
        return json_response(
            {"status": "unavailable", "reason": f"schema at {version}, code needs {wanted}"},
            status=503,
        )
    return json_response({"status": "ready", "schema_version": version})


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


ROUTES = [
    Route(method="GET", path="/metrics", handler=metrics, summary="Prometheus metrics",
          auth="none", tag="operations", content_type=CONTENT_TYPE),
    Route(method="GET", path="/healthz", handler=healthz, summary="The process is alive",
          auth="none", tag="operations"),
    Route(method="GET", path="/readyz", handler=readyz,
          summary="Database reachable and migrations current", auth="none", tag="operations",
          statuses={503: "Not ready"}),
    Route(method="GET", path="/api/v1/openapi.json", handler=openapi,
          summary="This document", auth="none", tag="operations"),
]  # fmt: skip
