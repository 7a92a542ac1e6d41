"""The route table: one list that both registers the handlers and writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Auth = Literal["none", "read", "admin", "admin_or_agency", "staff", "probe", "app"]


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    auth: Auth
    tag: str
    request: Any = None  # msgspec type of the JSON body
    upload: tuple[str, ...] = ()  # or: the body is a file of one of these content types
    response: Any = None  # msgspec type of the JSON answer
    query: tuple[str, ...] = ()
    statuses: dict[int, str] = field(default_factory=dict)  # extra documented answers
    content_type: str = "application/json"
    # JSON Schemas of parameters that are more than "a string" (path parameters: a slug).
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Other content types of the success answer (text), chosen by a parameter.
    also_content_types: tuple[str, ...] = ()
