"""CSRF: every form carries a token that another site cannot know, checked for every portal
request that is not a GET (one middleware, `collector.accounts.web`).

- Signed in (any step), the token is derived from the session id (an HMAC of it: neither the id
  nor the hash the database keeps). A synchronizer token without storage: it lives and dies
  with the session.
- Not signed in (the sign-in and reset forms), it is derived from a random seed in its own
  cookie (`SameSite=Strict`, HttpOnly): login CSRF is refused as well.
- An `Origin` (or, without one, a `Referer`) naming another host is refused too.

Templates put the token in a form with `{{ csrf_field() }}` (a global of every environment).
The JSON API (`/api/`) is exempt: it authenticates by bearer token, never by cookie, so a
browser cannot be made to send a credential there.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup

from collector import templating
from collector.accounts import sessions
from collector.config import AccountsConfig

FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_NEW_SEED = web.RequestKey("pantau_csrf_new_seed", str)
_SESSION_TOKEN = web.RequestKey("pantau_csrf_session_token", str)


def seed_cookie(config: AccountsConfig) -> str:
    return sessions.cookie_name(config, "pantau_csrf")


def use_session(request: web.Request, token: str) -> None:
    """Forms of this request belong to a session (set by the middleware, or at sign-in)."""
    request[_SESSION_TOKEN] = token


def token_for(request: web.Request, config: AccountsConfig) -> str:
    """The token to put in this request's forms; mints an anonymous seed when there is none."""
    if _SESSION_TOKEN in request:
        return request[_SESSION_TOKEN]
    seed = request.get(_NEW_SEED) or request.cookies.get(seed_cookie(config))
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(32)
        request[_NEW_SEED] = seed
    return sessions.derive_csrf_token(seed)


def finish(request: web.Request, resp: web.StreamResponse, config: AccountsConfig) -> None:
    """Send the anonymous seed cookie if this request minted one for its forms."""
    seed = request.get(_NEW_SEED)
    if seed is not None and not resp.prepared:
        sessions.set_cookie(resp, config, seed_cookie(config), seed, samesite="Strict")


class LazyToken:
    """The token for a template, minted only if a form is actually rendered."""

    def __init__(self, request: web.Request, config: AccountsConfig) -> None:
        self._request, self._config = request, config

    def __str__(self) -> str:
        return token_for(self._request, self._config)


@templating.extend
def _globals(env: jinja2.Environment) -> None:
    env.globals["csrf_field"] = csrf_field


@jinja2.pass_context
def csrf_field(ctx: jinja2.runtime.Context) -> Markup:
    """The hidden input every form of the portal carries."""
    token = ctx.get(FIELD)
    if token is None:  # a template rendered outside a portal request has no forms to protect
        raise RuntimeError("csrf_field() needs a portal request (collector.accounts.web)")
    return Markup('<input type="hidden" name="%s" value="%s">') % (FIELD, str(token))


def foreign_origin(request: web.Request, base_url: str | None) -> bool:
    """The browser says the request comes from a page of another site."""
    origin = request.headers.get("Origin")
    source = origin if origin is not None else request.headers.get("Referer")
    if source is None:
        return False  # old browsers, privacy settings: the token alone decides
    if source == "null":
        return True
    try:
        host = urlsplit(source).netloc.lower()
    except ValueError:
        return True
    ours = {request.host.lower()}
    if base_url:
        ours.add(urlsplit(base_url).netloc.lower())
    return host not in ours


def expected_token(request: web.Request, config: AccountsConfig) -> str | None:
    """What this request's form must carry: its session's token, else its seed cookie's."""
    if _SESSION_TOKEN in request:
        return request[_SESSION_TOKEN]
    seed = request.cookies.get(seed_cookie(config))
    return sessions.derive_csrf_token(seed) if seed and len(seed) <= 100 else None


def token_matches(sent: str | None, expected: str | None) -> bool:
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())
