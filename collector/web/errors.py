"""One error middleware: every failure answers JSON `{error, message, field}` with a fitting code."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg
import msgspec
from aiohttp import web

from collector.catalog.changes import ChangeError
from wire.messages import ErrorBody
from wire.text import CONTROL, plain_message, validation_field

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "timeout", 409: "conflict", 413: "too_large",
    415: "unsupported_media_type", 499: "client_closed_request", 503: "unavailable",
}  # fmt: skip

# Errors that mean "the database is not there right now": the client should retry later.
DB_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    # A multi-host URL while no server is a primary yet (a standby being promoted), and a
    # write reaching a server that has just become a standby.
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.ReadOnlySQLTransactionError,
)


class ClientDisconnected(Exception):
    """The client went away before its request was complete: no outage, and nobody to answer."""


# What nginx logs for it too; no client ever sees it, the request metrics do.
CLIENT_CLOSED_REQUEST = 499


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class ErrorPage(Protocol):
    """Answers an error as an HTML page for the routes that are pages (the portal), else None."""

    def __call__(self, request: web.Request, status: int) -> web.Response | None: ...


ERROR_PAGE = web.AppKey[ErrorPage]("error_page")


def error_response(status: int, message: str, *, field: str | None = None) -> web.Response:
    body = ErrorBody(error=_CODES.get(status, "error"), message=message, field=field)
    resp = web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )
    if status == 503:
        resp.headers["Retry-After"] = "5"
    if status == 408:  # the rest of a stalled body may never come: end the connection
        resp.force_close()
    return resp


_CONTROL = re.compile(f"[{CONTROL}]")


def control_character_field(request: web.Request) -> str | None:
    """`path`, `query` (a name) or `query.NAME` when that part of the URL holds a control
    character: no route has a use for one, and PostgreSQL cannot even compare a NUL."""
    if _CONTROL.search(request.path):
        return "path"
    for name, value in request.query.items():
        if _CONTROL.search(name):
            return "query"
        if _CONTROL.search(value):
            return f"query.{name}"
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        field = control_character_field(request)
        if field is not None:
            # Logged as sent: the log's formatter escapes it (wire/files.py).
            log.info("refused %s %s: control character in %s", request.method, request.path, field)
            raise ApiError(
                400, f"{field} contains a control character (NUL, line break...)", field=field
            )
        return await handler(request)
    except (ApiError, ChangeError) as exc:
        page = request.app.get(ERROR_PAGE)
        return (page and page(request, exc.status)) or error_response(
            exc.status, exc.message, field=exc.field
        )
    except msgspec.ValidationError as exc:
        return error_response(400, plain_message(str(exc)), field=validation_field(exc))
    except msgspec.DecodeError as exc:
        return error_response(400, f"body is not valid JSON: {exc}")
    except ClientDisconnected as exc:
        log.info("%s %s: %s", request.method, request.path, exc)
        return error_response(CLIENT_CLOSED_REQUEST, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except DB_UNAVAILABLE as exc:
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        return error_response(503, "database unavailable, retry later")
    except asyncpg.IntegrityConstraintViolationError as exc:
        return error_response(409, f"conflicts with other records: {exc.detail or exc}")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error; see the collector's log")
