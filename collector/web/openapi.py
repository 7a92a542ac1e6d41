"""The OpenAPI 3.1 document, generated from the same route table that registers the handlers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from collector.web.routes import Route
from wire.messages import ErrorBody
from wire.specs import Slug

_SECURITY = {
    "read": "Open when `public_catalog` is on; otherwise any valid token.",
    "admin": "admin token",
    "admin_or_agency": "admin token, or an agency token for its own agency's applications",
    "staff": "admin or viewer token (every agency's), or an agency token (its own agency's)",
    "probe": "probe token (its zone)",
    "app": "app token (its application)",
}


_SLUG = msgspec.json.schema(Slug)


def build_openapi(routes: Sequence[Route], *, version: str) -> dict[str, Any]:
    types = {ErrorBody}
    for r in routes:
        for t in (r.request, r.response):
            if t is not None:
                types.add(t)
    ordered = sorted(types, key=repr)
    schemas, components = msgspec.json.schema_components(
        ordered, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(ordered, schemas, strict=True))
    error_ref = by_type[ErrorBody]
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path.lower()).strip('_')}",
            "tags": [r.tag],
            "responses": {},
        }
        path_params = re.findall(r"{(\w+)}", r.path)
        params = [
            {"name": n, "in": "path", "required": True, "schema": r.params.get(n, _SLUG)}
            for n in path_params
        ] + [
            {
                "name": n,
                "in": "query",
                "required": False,
                "schema": r.params.get(n, {"type": "string"}),
            }
            for n in r.query
        ]
        if params:
            op["parameters"] = params
        if r.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_type[r.request]}},
            }
        elif r.upload:
            op["requestBody"] = {
                "required": True,
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}} for t in r.upload
                },
            }
        ok: dict[str, Any] = {"description": "OK"}
        if r.response is not None:
            ok["content"] = {r.content_type: {"schema": by_type[r.response]}}
        elif r.content_type != "application/json":
            ok["content"] = {r.content_type: {"schema": {"type": "string"}}}
        for other in r.also_content_types:
            ok.setdefault("content", {})[other] = {"schema": {"type": "string"}}
        success = min((s for s in r.statuses if s < 300), default=200)
        op["responses"][str(success)] = ok
        if success != 200 and r.response is not None and 200 not in r.statuses:
            op["responses"]["200"] = {"description": "OK (updated)", "content": ok["content"]}
        errors = dict(r.statuses)
        # Any URL with a control character answers 400 (collector/web/errors.py), whatever route.
        errors.setdefault(400, "Invalid request; `field` names the failing parameter or field")
        if path_params:
            errors.setdefault(404, "Not found")
        if r.request is not None or r.upload:
            errors.setdefault(413, "Body too large")
            errors.setdefault(415, "Unsupported Content-Encoding (use gzip or none)")
        if r.auth == "read":
            errors.setdefault(401, "Missing or invalid token, when the catalogue is not public")
        elif r.auth != "none":
            errors.setdefault(401, "Missing or invalid token")
            errors.setdefault(403, "Token of the wrong kind or scope")
        if r.auth != "none":
            errors.setdefault(503, "Database unavailable; retry")
        for status, text in sorted(errors.items()):
            if status < 300 and str(status) in op["responses"]:
                continue
            entry: dict[str, Any] = {"description": text}
            if status >= 400:
                entry["content"] = {"application/json": {"schema": error_ref}}
            op["responses"][str(status)] = entry
        if r.auth not in ("none",):
            op["security"] = [{"bearer": []}] if r.auth != "read" else [{}, {"bearer": []}]
            op["description"] = f"Auth: {_SECURITY[r.auth]}."
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pantau collector API",
            "version": version,
            "description": "Catalogue, probe ingest and metrics of Pantau.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
