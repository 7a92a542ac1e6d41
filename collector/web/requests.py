"""Reading requests: bounded (and gzip-aware) bodies, typed decoding, and the caller's token."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections.abc import Sequence
from typing import TypeVar

import msgspec
from aiohttp import web

from collector import access
from collector.auth import Principal, TokenKind
from collector.web import keys
from collector.web.errors import ApiError, ClientDisconnected

T = TypeVar("T")


async def read_body(request: web.Request) -> bytes:
    """The body, decompressed; over either size limit answers 413 without reading it all, and
    a body not complete within the body timeout answers 408."""
    limits = request.app[keys.CONFIG].limits
    if request.content_length is not None and request.content_length > limits.max_body_bytes:
        raise ApiError(413, f"body larger than {limits.max_body_bytes} bytes")
    raw = bytearray()
    try:
        # One deadline for the whole body: a client that stalls or trickles (slow POST) does
        # not hold a connection and a handler for ever.
        async with asyncio.timeout(limits.body_timeout_seconds):
            async for chunk in request.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > limits.max_body_bytes:
                    raise ApiError(413, f"body larger than {limits.max_body_bytes} bytes")
    except TimeoutError:
        raise ApiError(
            408, f"the body did not arrive within {limits.body_timeout_seconds:g} seconds"
        ) from None
    except ConnectionResetError as exc:
        # aiohttp ends the body this way when the peer closes: an OSError, which would
        # otherwise read as "database unavailable".
        raise ClientDisconnected(
            f"the client closed the connection after {len(raw)} bytes of the body"
        ) from exc
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return bytes(raw)
    if encoding != "gzip":
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        # max_length bounds memory: a gzip bomb stops at the limit instead of inflating fully.
        out = inflater.decompress(bytes(raw), limits.max_decompressed_bytes + 1)
    except zlib.error as exc:
        raise ApiError(400, f"body is not valid gzip: {exc}") from exc
    if len(out) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
        raise ApiError(413, f"decompressed body larger than {limits.max_decompressed_bytes} bytes")
    if not inflater.eof:
        raise ApiError(400, "body is not valid gzip: truncated")
    return out


async def read_json(request: web.Request, type_: type[T]) -> T:
    body = await read_body(request)
    if not body:
        raise ApiError(400, "request body is empty")
    return msgspec.json.decode(body, type=type_)


def query_of(request: web.Request, known: Sequence[str]) -> dict[str, str]:
    """The query parameters, refusing those the route does not take (a typo is not ignored)."""
    q = request.query
    unknown = sorted(set(q) - set(known))
    if unknown:
        raise ApiError(
            400,
            f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(known)}",
            field="query",
        )
    return dict(q)


def query_choice(query: dict[str, str], name: str, choices: Sequence[str]) -> str | None:
    value = query.get(name)
    if value is not None and value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}", field=f"query.{name}")
    return value


def query_int(query: dict[str, str], name: str, low: int, high: int) -> int | None:
    """An integer parameter within [low, high], or None when it is not given."""
    raw = query.get(name)
    if raw is None:
        return None
    field = f"query.{name}"
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be a number", field=field) from exc
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}", field=field)
    return value


def query_time(query: dict[str, str], name: str) -> dt.datetime | None:
    """An ISO 8601 time parameter with its UTC offset, as UTC; None when it is not given."""
    raw = query.get(name)
    if raw is None:
        return None
    field = f"query.{name}"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(
            400, f"{name} must be an ISO 8601 time, e.g. 2026-11-01T00:00:00+07:00", field=field
        ) from exc
    if value.tzinfo is None:
        raise ApiError(400, f"{name} needs a UTC offset (e.g. +07:00)", field=field)
    try:
        # Year 1 at +14:00 is year 0 in UTC: no datetime (nor PostgreSQL) holds it.
        return value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ApiError(400, f"{name} is out of range", field=field) from exc


async def principal(request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return None
    return await request.app[keys.TOKENS].authenticate(request.app[keys.POOL], secret.strip())


async def require(request: web.Request, *kinds: TokenKind) -> Principal:
    """The caller's principal, if its token is valid and of one of `kinds`; else 401 or 403."""
    who = await principal(request)
    if who is None:
        raise ApiError(401, "a valid bearer token is required (Authorization: Bearer ...)")
    if who.kind not in kinds:
        raise ApiError(403, f"a {who.kind} token may not do this")
    return who


async def require_read(request: web.Request) -> None:
    """Catalogue reads: open when the config says so, else any valid token (`collector.access`)."""
    config = request.app[keys.CONFIG]
    if access.may_read_catalog(config, None):
        return
    who = await principal(request)
    if who is None:
        raise ApiError(401, "a valid bearer token is required (Authorization: Bearer ...)")
    if not access.may_read_catalog(config, who):
        raise ApiError(403, f"a {who.kind} token may not read the catalogue")


def json_response(value: object, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(value), content_type="application/json"
    )
