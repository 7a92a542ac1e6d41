"""Usage from a JSON document: the number at a dotted path."""

from __future__ import annotations

import msgspec

from probe.checks.base import (
    MISSING,
    CheckContext,
    Failure,
    authorization,
    json_lookup,
    secret_headers,
)
from probe.usage.base import as_number, fetch
from wire.specs import JsonSource


async def read_json(source: JsonSource, *, ctx: CheckContext, seconds: float) -> float:
    headers = dict(source.headers) | secret_headers(ctx, source.headers_env)
    auth = authorization(ctx, bearer_env=source.bearer_token_env)
    if auth is not None:
        headers["Authorization"] = auth
    body = await fetch(ctx, url=source.url, headers=headers, tls_verify=source.tls_verify)
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise Failure("json", "answer is not JSON") from exc
    value = json_lookup(doc, source.path)
    if value is MISSING:
        raise Failure("json", f"{source.path} is missing")
    number = as_number(value)
    if number is None:
        shown = msgspec.json.encode(value).decode()[:80]
        raise Failure("json", f"{source.path} is not a number: {shown}")
    return number
